#!/usr/bin/env bash
# The installed SysV init script (etc/init.d/mcu-ota, unchanged) drives the real `mcu-ota daemon`:
# start, status, reload, stop, restart, try-restart, force-reload, with LSB exit codes, under
#   dash:    Debian's /bin/sh and dpkg's start-stop-daemon;
#   busybox: busybox sh, with busybox's start-stop-daemon, mkdir, rm and sleep mounted over the
#            system's (the script sets PATH itself, as init scripts do, so a PATH of applet links
#            would not reach it).
# It runs in its own mount and PID namespaces: the test's defaults file is mounted over
# SYSCONFDIR/default (the script reads it from there), and every process left at the end dies
# with the namespace. The daemon gets a configuration in a temporary folder (state, cache and
# socket there; one device without firmware: nothing touches hardware).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
shell=${1:?usage: sysv-init.sh dash|busybox}

if [ -z "${MCU_OTA_SYSV_IN_NS:-}" ]; then
	is_on "$install_sysv" || skip "MCU_OTA_INSTALL_SYSV_INIT is off"
	need_stage
	[ "$(id -u)" -eq 0 ] || skip "needs root (mount and PID namespaces)"
	command -v "$shell" >/dev/null || skip "$shell is not installed"
	[ -d "$sysconfdir" ] || skip "no $sysconfdir to mount the test's defaults over"
	unshare -m -p -f --mount-proc true 2>/dev/null || skip "unshare -m -p is not permitted here"
	exec unshare -m -p -f --mount-proc env MCU_OTA_SYSV_IN_NS=1 "$0" "$@"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
init=$stage$sysconfdir/init.d/mcu-ota
bin=$stage$bindir/mcu-ota
mkdir -p "$tmp/default" "$tmp/run"
cat >"$tmp/default/mcu-ota" <<EOF
DAEMON=$bin
PIDFILE=$tmp/run/mcu-ota.pid
MCU_OTA_OPTS="--config $tmp/mcu-ota.conf --plugin-dir $stage$plugindir"
STOP_TIMEOUT=20
EOF
good_conf() { daemon_conf "$tmp"; }
bad_conf() { echo 'devices = ( { name = "motor"; } );' >"$tmp/mcu-ota.conf"; }
good_conf
# A prefix like /usr/local has no SYSCONFDIR/default: an empty SYSCONFDIR gets one.
if [ ! -d "$sysconfdir/default" ] && [ "$sysconfdir" != /etc ]; then
	mount -t tmpfs tmpfs "$sysconfdir" && mkdir "$sysconfdir/default"
fi
mount --bind "$tmp/default" "$sysconfdir/default" || {
	echo "cannot mount over $sysconfdir/default"
	exit 1
}

if [ "$shell" = busybox ]; then
	bb=$(command -v busybox)
	for tool in start-stop-daemon mkdir rm sleep; do
		p=$(PATH=/sbin:/usr/sbin:/bin:/usr/bin command -v "$tool") || {
			echo "no $tool on the script's PATH to mount busybox over"
			exit 1
		}
		mount --bind "$bb" "$p"
	done
	run_sh=(busybox sh)
	check "start-stop-daemon is busybox's" bash -c 'start-stop-daemon --help 2>&1 | grep -q BusyBox'
else
	run_sh=(dash)
	check "start-stop-daemon is dpkg's" bash -c '! start-stop-daemon --help 2>&1 | grep -q BusyBox'
fi

# act ACTION WANT_EXIT: run the script, check its exit status
act() {
	local out rc
	out=$("${run_sh[@]}" "$init" "$1" 2>&1)
	rc=$?
	if [ "$rc" -eq "$2" ]; then
		ok "$1 exits $2: ${out//$'\n'/ | }"
	else
		fail "$1 exits $rc, not $2: ${out//$'\n'/ | }"
	fi
}
pidfile=$tmp/run/mcu-ota.pid
daemon_pid() { cat "$pidfile" 2>/dev/null; }
# alive PID: the process runs the daemon (not a zombie)
alive() {
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ] &&
		tr '\0' ' ' <"/proc/$1/cmdline" | grep -q " daemon --syslog"
}
gone() { ! alive "$1"; }

act status 3
act force-reload 7
act try-restart 0
act status 3
act frobnicate 2

bad_conf
act start 6
check "a bad configuration starts nothing" test ! -e "$pidfile"
good_conf

act start 0
pid=$(daemon_pid)
check "the pid file names the daemon (pid ${pid:-none})" alive "$pid"
# issue 12, finding 8: what the daemon creates is its own (the script sets umask 077)
umask_of() { awk '/^Umask:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
check "the daemon runs with umask 0077 (it has $(umask_of "$pid"))" test "$(umask_of "$pid")" = 0077
# until it listens (60 s only when it never does)
for _ in $(seq 600); do [ -S "$tmp/run/control.sock" ] && break; sleep 0.1; done
check "the daemon listens on its control socket" test -S "$tmp/run/control.sock"
out=$("$bin" --config "$tmp/mcu-ota.conf" --plugin-dir "$stage$plugindir" status 2>&1)
check "mcu-ota status answers while it runs: ${out//$'\n'/ | }" test $? -eq 0
act start 0
check "a second start leaves the daemon as it was" test "$(daemon_pid)" = "$pid"
act status 0

act reload 0
sleep 1
check "the daemon took SIGHUP and runs on (pid $pid)" alive "$pid"
bad_conf
act reload 1
check "a bad configuration is not signalled; the daemon runs on" alive "$pid"
good_conf
act force-reload 0
sleep 1
check "force-reload reloads: the daemon runs on" alive "$pid"

act stop 0
check "stopped: the daemon is gone" gone "$pid"
check "stopped: no pid file" test ! -e "$pidfile"
act status 3
act stop 0

act restart 0
pid2=$(daemon_pid)
check "restart from stopped starts it (pid ${pid2:-none})" alive "$pid2"
act try-restart 0
pid3=$(daemon_pid)
check "try-restart while running restarts it (pid $pid2 -> ${pid3:-none})" alive "$pid3"
check "try-restart stopped the daemon before (pid $pid2 gone)" gone "$pid2"
act stop 0
act status 3

# A daemon that does not end its step: stop waits STOP_TIMEOUT, then kills it.
mkdir "$tmp/stuck"
cat >"$tmp/stuck/mcu-ota" <<'EOF'
#!/bin/sh
# Stands in for a daemon stuck in a device step: SIGTERM does nothing.
case " $* " in *" config check "*) exit 0 ;; esac
trap '' TERM
while :; do sleep 1; done
EOF
chmod +x "$tmp/stuck/mcu-ota"
sed -i -e "s|^DAEMON=.*|DAEMON=$tmp/stuck/mcu-ota|" -e 's|^STOP_TIMEOUT=.*|STOP_TIMEOUT=2|' \
	"$tmp/default/mcu-ota"
act start 0
pid=$(daemon_pid)
check "the stuck stand-in runs (pid ${pid:-none})" alive "$pid"
start=$(date +%s)
out=$("${run_sh[@]}" "$init" stop 2>&1)
rc=$?
took=$(($(date +%s) - start))
# at least STOP_TIMEOUT; the upper bound only catches a stop that never gives up
check "stop of a stuck daemon exits 0 after STOP_TIMEOUT (${took}s): ${out//$'\n'/ | }" \
	test $rc -eq 0 -a "$took" -ge 2 -a "$took" -le 60
check "it says it kills the daemon" grep -q "killing it" <<<"$out"
check "the stuck daemon is gone" gone "$pid"
act status 3
finish
