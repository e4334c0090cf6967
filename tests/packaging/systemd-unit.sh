#!/usr/bin/env bash
# The installed mcu-ota.service passes `systemd-analyze verify` (every directive known to this
# systemd, the binary and /bin/kill executable, Documentation= man pages found) and its
# `systemd-analyze security` exposure stays at or below the level it was written for.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
# Exposure times 10 (systemd-analyze's --threshold scale): 2.1 when written, systemd 252.
max_exposure=${MCU_OTA_MAX_EXPOSURE:-25}
is_on "$install_unit" || skip "MCU_OTA_INSTALL_SYSTEMD_UNIT is off"
need_stage
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart's binary exists: the copy runs the staged binary. That is the only
# change (the sed must change exactly one line).
unit=$stage$unitdir/mcu-ota.service
sed "s|^ExecStart=$bindir/mcu-ota |ExecStart=$stage$bindir/mcu-ota |" "$unit" >"$tmp/mcu-ota.service"
check "the copy differs from the unit in ExecStart only" \
	test "$(diff "$unit" "$tmp/mcu-ota.service" | grep -c '^[<>]')" -eq 2

# The man pages of Documentation= come from the stage.
if is_on "$install_man"; then
	man_opt=--man=yes
	export MANPATH=$stage$mandir
else
	man_opt=--man=no
fi
if out=$(cd "$tmp" && systemd-analyze verify "$man_opt" ./mcu-ota.service 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify $man_opt: clean"
else
	fail "systemd-analyze verify $man_opt: $out"
fi

# issue 12, finding 8: what the daemon creates is its own, and so are the folders systemd makes
for line in UMask=0077 StateDirectoryMode=0700 CacheDirectoryMode=0700; do
	check "the unit sets $line" grep -qx "$line" "$unit"
done

out=$(cd "$tmp" && systemd-analyze security --offline=yes --threshold="$max_exposure" \
	./mcu-ota.service 2>&1)
rc=$?
level=$(grep -o 'Overall exposure level for mcu-ota.service: [0-9.]* [A-Z]*' <<<"$out")
if [ $rc -eq 0 ] && [ -n "$level" ]; then
	ok "systemd-analyze security: $level (at most $max_exposure/10)"
else
	fail "systemd-analyze security (exit $rc), ${level:-no level}: above $max_exposure/10?"
	grep '✗' <<<"$out"
fi
# The sandbox as the daemon meets it, without systemd: the real daemon runs under strace through
# start (plugins loaded), a status request on its socket, SIGHUP and SIGTERM, and every system
# call, socket family and memory protection it used must be one the unit allows.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
	bin=$stage$bindir/mcu-ota
	opts=(--config "$tmp/mcu-ota.conf" --plugin-dir "$stage$plugindir")
	daemon_conf "$tmp"
	strace -f -qq -o "$tmp/trace" "$bin" "${opts[@]}" daemon 2>"$tmp/daemon.log" &
	tracer=$!
	# until it listens (60 s only when it never does: strace makes it slow, not that slow)
	for _ in $(seq 600); do [ -S "$tmp/run/control.sock" ] && break; sleep 0.1; done
	out=$("$bin" "${opts[@]}" status 2>&1)
	check "mcu-ota status answers the traced daemon: ${out//$'\n'/ | }" test $? -eq 0
	pid=$(cat "$tmp/run/control.sock.lock" 2>/dev/null)
	if [ -n "$pid" ] && kill -HUP "$pid"; then
		# the reload is in the trace once the daemon says it read the file again
		for _ in $(seq 600); do grep -q "reload: .* read" "$tmp/daemon.log" && break; sleep 0.1; done
		check "the traced daemon reloaded on SIGHUP" grep -q "reload: .* read" "$tmp/daemon.log"
		kill -TERM "$pid"
		wait "$tracer"
		rc=$?
		check "the traced daemon ran and exited 0 (exit $rc)" test $rc -eq 0
		if out=$(python3 "$(dirname "$0")/syscall-check.py" "$unit" "$tmp/trace"); then
			ok "the daemon stays inside the unit's sandbox: ${out%%$'\n'*}"
		else
			fail "the daemon steps outside the unit's sandbox:"
			echo "$out"
		fi
	else
		fail "the traced daemon did not start: $(cat "$tmp/daemon.log")"
		kill "$tracer" 2>/dev/null
	fi
else
	echo "note: strace is missing or not permitted: the sandbox is not checked against the daemon"
fi
finish
