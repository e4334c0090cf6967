#!/bin/sh
# mcu-ota daemon with one F407 and bundles on the guest's HTTPS server: READY over NOTIFY_SOCKET, the device brought to the wanted 2.0.0; SIGHUP without a change fetches and flashes nothing (304s without a pinned version); an edited configuration (3.0.0) applied; broken ones refused with the running one kept; a failing image rolled back and not retried until asked; a configured downgrade refused, then root's --allow-downgrade through the socket: during that 1 MiB update progress moves, a second daemon, update and recover are refused; SIGTERM mid-flash exits 0 and a restarted daemon completes.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

# a failure shows what the daemon logged last
fail() {
	[ -s "$DAEMON_LOG" ] && { echo "    daemon log (last lines):"; tail -n 25 "$DAEMON_LOG" | sed 's/^/    : /'; }
	echo "[$MCUOTA_SCENARIO] FAIL: $*"
	exit 1
}
# cli EXPECTED_EXIT ARGS...: mcu-ota ARGS, output in cli.out (shown indented), exit status checked
cli() {
	_want=$1
	shift
	mcu-ota "$@" >cli.out 2>&1
	_rc=$?
	sed 's/^/    | /' cli.out
	[ "$_rc" = "$_want" ] || fail "mcu-ota $*: exit $_rc, expected $_want"
}
says() { grep -q -- "$1" cli.out || fail "the output does not say '$1'"; }
logs() { grep -q -- "$1" "$DAEMON_LOG" || fail "the daemon's log does not say '$1'"; }
alive() { kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died: $*"; }
runs() { # runs VERSION: the chip runs it, the status says so, no update in progress
	wait_version "$SERIAL" "$1" 30 || fail "the chip does not run $1 (it reports '$(app_version "$SERIAL")')"
	wait_for 10 eval "[ \"\$(status_field mcu state)\" = idle ]" ||
		fail "status state $(status_field mcu state), expected idle"
	[ "$(status_field mcu version)" = "$1" ] || fail "status says $(status_field mcu version), the chip runs $1"
}
# firmware URL [VERSION]: the device's firmware setting
firmware() { echo "firmware = { source = \"$1\";${2:+ version = \"$2\";} };"; }
# configure URL [VERSION]: the configuration with that firmware wanted (and $DEVICE_EXTRA settings)
configure() {
	write_https_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL" "$(firmware "$@") ${DEVICE_EXTRA:-}")"
}
# settled: the daemon is done with the last reload: its reconciling pass ended (STATUS=idle), or
# it refused the configuration (STATUS=reload refused: ...)
settled() {
	notify_wait "$_reload_mark" "STATUS=(idle|reload refused)" 60 || fail "the daemon did not come back to idle"
	alive "after a reload"
}
reload() {
	_reload_mark=$(notify_mark)
	daemon_reload || { tail -n 5 "$NOTIFY_LOG"; fail "no RELOADING=1/READY=1 after SIGHUP"; }
}
rom_starts() { chip_state rom_starts; }
# served NAME STATUS COUNT: the server answered NAME with STATUS COUNT times (nginx writes its
# access log line after the answer went out, so it may come just after the daemon is done)
served() { wait_for 10 eval "[ \"\$(https_count $1 $2)\" = $3 ]"; }

: >faults
chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --faults "$MCUOTA_WORK/faults" ||
	fail "the chip model did not start"
wait_usb 0483 5740 5 || fail "the factory firmware did not come up"
SERIAL=$(usb_string 0483 5740 serial)
wait_version "$SERIAL" 1.0.0 || fail "the factory firmware does not report 1.0.0"

mkdir -p www run
for b in 2.0.0 3.0.0 2.0.0-1m wrong-version; do cp "$FW/bundle-$b.swu" www/; done
https_start www || fail "nginx did not start"
CONF_EXTRA=$(daemon_settings 0)
configure "$(https_url bundle-2.0.0.swu)" 2.0.0
cli 0 config check
notify_start || fail "notify-listen did not start"

log "1. start: READY=1, then the device is brought to the wanted 2.0.0 (downloaded over https)"
_reload_mark=$(notify_mark)
daemon_start || fail "the daemon sent no READY=1"
log "the daemon runs as pid $DAEMON_PID"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "the socket is mode $(stat -c %a "$SOCK"), expected 600 (no socket_group)"
runs 2.0.0
settled
[ "$(status_field mcu result)" = installed ] || fail "status result $(status_field mcu result)"
served bundle-2.0.0.swu 200 1 || { cat "$HTTPS_LOG"; fail "not one download of bundle-2.0.0.swu"; }
notify_seen 0 "STATUS=mcu: " || fail "no STATUS= line about the device while it updated"
cli 0 status
says "installed: 2.0.0"

log "2. SIGHUP, nothing changed: 2.0.0 is wanted and runs, so nothing is fetched and nothing flashed"
rs=$(rom_starts)
n=$(wc -l <"$HTTPS_LOG")
reload
settled
[ "$(rom_starts)" = "$rs" ] || fail "the chip was put into its bootloader again"
[ "$(wc -l <"$HTTPS_LOG")" = "$n" ] || { tail -n 3 "$HTTPS_LOG"; fail "a request for a version that runs already"; }

log "3. no version pinned (whatever the URL holds): a conditional GET (the ETag of the last answer), answered 304"
configure "$(https_url bundle-2.0.0.swu)"
reload
settled
served bundle-2.0.0.swu 304 1 || { cat "$HTTPS_LOG"; fail "no 304 for the unchanged bundle"; }
https_requests bundle-2.0.0.swu | tail -n 1 | sed 's/^/    | /'
https_requests bundle-2.0.0.swu | tail -n 1 | grep -q 'inm="' || fail "the request carried no If-None-Match"
[ "$(rom_starts)" = "$rs" ] || fail "the chip was flashed for an unchanged bundle"
log "   SIGHUP again: 304 again"
reload
settled
served bundle-2.0.0.swu 304 2 || { cat "$HTTPS_LOG"; fail "no second 304"; }
[ "$(rom_starts)" = "$rs" ] || fail "the chip was flashed for an unchanged bundle"
log "   the server's file touched (a redeploy: new ETag, same bytes), SIGHUP: downloaded again (200)"
touch www/bundle-2.0.0.swu
reload
settled
served bundle-2.0.0.swu 200 2 || { cat "$HTTPS_LOG"; fail "a changed ETag was not downloaded"; }
https_requests bundle-2.0.0.swu | tail -n 1 | sed 's/^/    | /'
# the bytes are what runs: the chip is not put through its bootloader for them
[ "$(rom_starts)" = "$rs" ] || fail "the same image was written again"
logs "already runs (the same image"
rs=$(rom_starts)

log "4. the configuration edited to want 3.0.0, SIGHUP: downloaded and installed"
configure "$(https_url bundle-3.0.0.swu)" 3.0.0
reload
runs 3.0.0
settled
[ "$(status_field mcu previous_version)" = 2.0.0 ] || fail "previous is $(status_field mcu previous_version)"
logs "3.0.0"

log "5. broken configurations are refused and the running one kept (each would want 2.0.0)"
cp "$CONF" good.conf
rs=$(rom_starts)
n=$(wc -l <"$HTTPS_LOG")
configure "$(https_url bundle-2.0.0.swu)" 2.0.0
sed -i 's/^devices = (/devices = ( oops/' "$CONF"
log "   a syntax error:"
reload
settled
tail -n 3 "$DAEMON_LOG" | sed 's/^/    | /'
logs "$CONF:[0-9]"
cli 0 --config good.conf status
says "installed: 3.0.0"
log "   'mcu-ota status' with the broken file in place:"
mcu-ota status 2>&1 | sed 's/^/    | /'
configure "$(https_url bundle-2.0.0.swu)" 2.0.0
sed -i 's/^state_dir = /colour = "blue";\nstate_dir = /' "$CONF"
log "   an unknown setting:"
reload
settled
tail -n 3 "$DAEMON_LOG" | sed 's/^/    | /'
logs "colour"
cli 0 --config good.conf status
[ "$(rom_starts)" = "$rs" ] || fail "a broken configuration was acted on"
[ "$(wc -l <"$HTTPS_LOG")" = "$n" ] || { tail -n 3 "$HTTPS_LOG"; fail "a broken configuration's source was fetched"; }
[ "$(app_version "$SERIAL")" = 3.0.0 ] || fail "the chip left 3.0.0"

log "6. a failing image wanted (boots, reports 2.0.0, promises 3.1.0): rolled back, not retried"
configure "$(https_url bundle-wrong-version.swu)" 3.1.0
reload
settled
runs 3.0.0
[ "$(status_field mcu result)" = rolled-back ] || fail "status result $(status_field mcu result)"
logs "rolled back"
rs=$(rom_starts)
log "   SIGHUP, nothing changed: the failed bundle is not tried again"
reload
settled
[ "$(rom_starts)" = "$rs" ] || fail "the failed bundle was tried again"
https_requests bundle-wrong-version.swu | sed 's/^/    | /'
log "   asked for by name (update now of the configured firmware, through the socket): tried again, rolled back again (exit 8)"
cli 8 update --device mcu
says "rolled back"
runs 3.0.0

log "7. a 1 MiB 2.0.0 wanted, below the 3.0.0 high-water mark: the daemon refuses it on its own; root asks for it (update --allow-downgrade through the socket), and while the daemon writes it, progress moves and nobody else gets the device"
configure "$(https_url bundle-2.0.0-1m.swu)" 2.0.0
reload
settled
logs "2.0.0 is below 3.0.0"
runs 3.0.0
# From block 8 (of 512) on the chip holds the write (one block each 1.5 s, within mcu-ota's
# limits) until the scenario releases it: every check below happens in the middle of the write,
# however slow the builder.
chip_hold_at 8
mcu-ota update --allow-downgrade --device mcu >root.out 2>&1 &
root_job=$!
chip_wait_held 8 60 || { cat root.out; fail "the chip never got to block 8 of the 1 MiB image"; }
wait_for 30 eval "[ \"\$(progress_field mcu phase)\" = write ]" || fail "no write phase in the status"
d1=$(progress_field mcu done)
mcu-ota status >st.out 2>&1
sed 's/^/    | /' st.out
grep -q "now:" st.out || fail "status shows no 'now:' line during the update"
wait_for 30 eval "[ \"\$(progress_field mcu done)\" != \"$d1\" ]"
d2=$(progress_field mcu done)
log "   progress: $d1 then $d2 bytes written"
[ -n "$d1" ] && [ -n "$d2" ] && [ "$d1" != "$d2" ] || fail "the progress did not move ($d1, $d2)"
log "   a second daemon on the same configuration:"
timeout 60 mcu-ota daemon >second.out 2>&1
rc=$?
sed 's/^/    | /' second.out
[ $rc = 1 ] || fail "the second daemon exited $rc, expected 1"
grep -q "pid $DAEMON_PID" second.out || fail "the second daemon does not name the first one's pid"
log "   an update of the same device through the socket:"
cli 1 update --device mcu "$FW/bundle-3.0.0.swu"
says "try again when it is done"
log "   recover run directly (not through the daemon):"
cli 1 recover --all
says "another mcu-ota process"
[ "$(progress_field mcu phase)" = write ] || fail "the update is no longer writing: the checks came too late"

log "8. SIGTERM during the write: the update is finished first, then exit 0"
mark=$(notify_mark)
kill -TERM "$DAEMON_PID"
notify_wait "$mark" "STOPPING=1" 10 || fail "no STOPPING=1"
chip_release
daemon_stop
log "   exit $DAEMON_RC"
tail -n 5 "$DAEMON_LOG" | sed 's/^/    | /'
[ "$DAEMON_RC" = 0 ] || fail "the daemon exited $DAEMON_RC after SIGTERM, expected 0"
wait $root_job
rc=$?
sed 's/^/    | /' root.out
[ $rc = 0 ] || fail "root's update through the socket exited $rc, expected 0 (the daemon finished it before it stopped)"
notify_seen "$mark" "STOPPING=1" || fail "no STOPPING=1"
[ ! -e "$SOCK" ] || fail "the socket is left behind"
cli 0 status
no_partial_files || fail "half-written files in the store"
[ "$(status_field mcu state)" = idle ] || fail "the journal is not idle after a clean stop"
runs 2.0.0
cmp -s "$FW/fw-2.0.0-1m.bin" "$STATE/devices/mcu/current/image.bin" || fail "current is not fw-2.0.0-1m.bin"

log "9. killed (SIGKILL) in the middle of flashing 3.0.0: the next daemon finishes what the journal says, then installs what is wanted"
configure "$(https_url bundle-3.0.0.swu)" 3.0.0
# held in the middle of the write (from block 20 of 64) while it is killed
chip_hold_at 20
mark=$(notify_mark)
export WATCHDOG_USEC=1000000
daemon_start || fail "the daemon sent no READY=1"
unset WATCHDOG_USEC
chip_wait_held 20 60 || fail "the daemon never got to write 3.0.0"
wait_for 30 eval "case \"\$(progress_field mcu phase)\" in erase|write) true ;; *) false ;; esac" ||
	fail "the status does not show the erase or the write of 3.0.0"
# the pings go on while the write is held: two are due within a second of each other
wait_for 30 eval "[ \$(tail -n \"+$((mark + 1))\" \"\$NOTIFY_LOG\" | grep -c \"pid=$DAEMON_PID .*WATCHDOG=1\") -ge 2 ]"
w=$(tail -n "+$((mark + 1))" "$NOTIFY_LOG" | grep -c "pid=$DAEMON_PID .*WATCHDOG=1")
log "   killed while in $(progress_field mcu phase) ($w WATCHDOG=1 with WATCHDOG_USEC=1000000 till then)"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
chip_release
[ "$w" -ge 2 ] || fail "no WATCHDOG=1 every half second"
st=$(status_field mcu state)
log "   the journal says: $st"
[ "$st" != idle ] || fail "the journal is idle although the flash was cut short"
daemon_start || fail "the daemon did not start after a kill (stale socket $SOCK?)"
runs 3.0.0
logs "finishing the update a stop interrupted"
grep "interrupted\|mcu: .*installed and running" "$DAEMON_LOG" | tail -n 3 | sed 's/^/    | /'
cmp -s "$FW/fw-3.0.0.bin" "$STATE/devices/mcu/current/image.bin" || fail "current is not fw-3.0.0.bin"
no_partial_files || fail "half-written files in the store"

log "10. SIGTERM when idle: exit 0"
daemon_stop
[ "$DAEMON_RC" = 0 ] || fail "exit $DAEMON_RC, expected 0"
log "done"
