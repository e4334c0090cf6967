#!/usr/bin/env bash
# Finding 11 of issue 12: `mcu-ota update`, working alone (no daemon), died on SIGHUP (an SSH
# hang-up) and SIGPIPE (`mcu-ota update ... | head`) in the middle of a flash, leaving the chip in
# its bootloader until a recovery (exit 129 or 141, the journal "flashing", before the fix).
# Against the chip tests/unit/update/fake_plugins.c simulates in a folder, whose write waits at its
# hold file: while the write is held,
#   hangup                  SIGHUP arrives (stderr a file): the CLI says it finishes first;
#   closed_pipe             the reader of stdout and stderr goes away;
#   closed_pipe_and_hangup  the same, then SIGHUP arrives too;
# then the hold is released. Each time the update completes: exit 0, the chip holds the whole new
# image and has left its bootloader, the store's current slot holds it, the journal is idle.
#
# Usage: test_cli_signals.sh MCU_OTA FAKE_PLUGIN_DIR
set -euo pipefail

m=${1:?usage: test_cli_signals.sh MCU_OTA FAKE_PLUGIN_DIR}
fakes=$(cd "${2:?}" && pwd)
for t in openssl cpio mkfifo; do
	command -v "$t" >/dev/null || { echo "test_cli_signals.sh: $t is missing" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/mcu-ota-signals-XXXXXX)
: >"$tmp/pids"
cleanup() {
	local pid
	# only what this test started, by id
	while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$tmp/pids"
	rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
ok() { echo "ok   $case: $1"; }
bad() {
	echo "FAIL $case: $1"
	failed=1
}

# ---- fixtures: a signing key, the fake plugins, a bundle of 2.0.0 ----
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out "$tmp/key.pub"
mkdir "$tmp/plugins"
ln -s "$fakes"/mcu-ota-fake-*.so "$tmp/plugins/"

# shellcheck source=tests/unit/update/fake_chip.sh
. "$(dirname "$0")/fake_chip.sh" # make_chip, chip_app, hold, release, held_at

w=$tmp/bundle
mkdir "$w"
{
	printf 'APP:2.0.0\0'
	head -c 39990 /dev/urandom
} >"$w/motor.bin"
cat >"$w/sw-description" <<EOF
software = {
  version = "2.0.0";
  images: ( { filename = "motor.bin"; type = "mcu-ota"; device = "motor";
              version = "2.0.0"; sha256 = "$(sha256sum "$w/motor.bin" | cut -c1-64)"; } );
}
EOF
(cd "$w" && openssl dgst -sha256 -sign "$tmp/key.pem" -out sw-description.sig sw-description &&
	printf '%s\n' sw-description sw-description.sig motor.bin |
	cpio --quiet -o -H newc >"$tmp/b2.swu")

chip=$tmp/chip conf=$tmp/mcu-ota.conf
cat >"$conf" <<EOF
state_dir = "$tmp/state";
cache_dir = "$tmp/cache";
plugin_dir = "$tmp/plugins";
daemon = { socket = "$tmp/no-daemon.sock"; };
bundle = { keys = ["$tmp/key.pub"]; };
devices = (
  { name = "motor"; backup = "required"; bootloader_timeout_ms = 300;
    entry = { plugin = "fake-entry"; chip = "$chip"; };
    flasher = { plugin = "fake-flasher"; chip = "$chip"; port = "fake-motor"; };
    health = { plugin = "fake-health"; chip = "$chip"; };
  } );
EOF

# wait_for MS CMD...: until CMD succeeds; false after MS milliseconds. The bound only matters
# when something is broken.
wait_for() {
	local ms=$1 waited=0
	shift
	until "$@"; do
		[ "$waited" -ge "$ms" ] && return 1
		sleep 0.05
		waited=$((waited + 50))
	done
}
ended() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
said() { grep -q "$1" "$2" 2>/dev/null; }

# start_update OUT ERR: the CLI updates the chip, its write held before sector 2. SIGHUP and
# SIGPIPE are given their default action first (env --default-signal), whatever the test runner
# ignores: what happens to them is the CLI's own doing.
start_update() {
	make_chip "$chip" 1.0.0
	rm -rf "$tmp/state"
	hold "$chip" 2
	env --default-signal=HUP,PIPE "$m" --config "$conf" update --device motor "$tmp/b2.swu" \
		>"$1" 2>"$2" &
	pid=$!
	echo "$pid" >>"$tmp/pids"
	if ! wait_for 30000 held_at "$chip" 2; then
		bad "the write did not reach its hold before sector 2 within 30 s"
		return 1
	fi
}

# finish_update: release the hold; the update ends (within 120 s) with exit 0, the new image on
# the chip and in the store, the journal idle.
finish_update() {
	local rc=0
	if ended "$pid"; then
		bad "the CLI died while the write was held: $(cat "$tmp/err" 2>/dev/null)"
	else
		ok "the CLI runs on, its write held"
	fi
	release "$chip"
	if ! wait_for 120000 ended "$pid"; then
		bad "the update did not end within 120 s of the release"
		return 1
	fi
	wait "$pid" || rc=$?
	if [ "$rc" = 0 ]; then ok "the update completed: exit 0"; else bad "exit $rc (141: SIGPIPE, 129: SIGHUP)"; fi
	if cmp -s -n "$(stat -c %s "$w/motor.bin")" "$w/motor.bin" "$chip/flash"; then
		ok "the chip holds the whole new image"
	else
		bad "the chip does not hold the whole new image (it reports $(chip_app "$chip"))"
	fi
	if [ ! -e "$chip/dfu" ]; then ok "... out of its bootloader"; else bad "the chip stayed in its bootloader"; fi
	if grep -qx 'version=2.0.0' "$tmp/state/devices/motor/current/meta" 2>/dev/null; then
		ok "the store's current slot holds 2.0.0"
	else
		bad "the store's current slot: $(cat "$tmp/state/devices/motor/current/meta" 2>&1)"
	fi
	if grep -qx 'state=idle' "$tmp/state/devices/motor/journal" 2>/dev/null; then
		ok "the journal is idle"
	else
		bad "the journal: $(cat "$tmp/state/devices/motor/journal" 2>&1)"
	fi
}

case=hangup
start_update "$tmp/out" "$tmp/err"
kill -HUP "$pid"
if wait_for 10000 said "hang-up received: finishing the update first" "$tmp/err"; then
	ok "SIGHUP: stderr says the update is finished first"
else
	bad "SIGHUP: no word on stderr within 10 s: $(cat "$tmp/err")"
fi
finish_update

# close_pipe_while_held [HUP]: stdout and stderr go to a pipe whose reader goes away while the
# write is held (every later write to it fails); with HUP the terminal hangs up too.
close_pipe_while_held() {
	rm -f "$tmp/fifo"
	mkfifo "$tmp/fifo"
	cat "$tmp/fifo" >/dev/null &
	reader=$!
	echo "$reader" >>"$tmp/pids"
	start_update "$tmp/fifo" "$tmp/fifo" || return 1
	kill "$reader"
	wait "$reader" || true
	[ $# = 0 ] || kill -HUP "$pid"
	finish_update
}
case=closed_pipe
close_pipe_while_held
case=closed_pipe_and_hangup
close_pipe_while_held HUP

[ "$failed" = 0 ] && echo "all cases passed"
exit "$failed"
