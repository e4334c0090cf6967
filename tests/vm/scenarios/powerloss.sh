#!/bin/sh
# Power loss at every step: mcu-ota killed (SIGKILL) right after each journaled transition of an update and of a rollback, and in the middle of a write; `mcu-ota recover` then leaves a chip that boots a good image, a status that tells the truth and no half-written file.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --faults "$MCUOTA_WORK/faults" ||
	fail "the chip model did not start"
wait_usb 0483 5740 5 || fail "the factory firmware did not come up"
SERIAL=$(usb_string 0483 5740 serial)
write_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL" "allow_downgrade = true;")"

# good_state: after recovery the chip runs what status says, the journal is idle, nothing is
# half-written, and the store's images are whole (their SHA-256 matches their meta).
good_state() {
	_v=$(status_field mcu version)
	[ -n "$_v" ] || fail "$1: status knows no installed version"
	[ "$_v" = unknown ] && _v=1.0.0 # the image read back from the factory chip
	wait_version "$SERIAL" "$_v" 10 || fail "$1: status says $_v, the chip reports '$(app_version "$SERIAL")'"
	[ "$(status_field mcu state)" = idle ] || fail "$1: state $(status_field mcu state) after recovery"
	no_partial_files || fail "$1: half-written files after recovery"
	for _s in current previous; do
		[ -d "$STATE/devices/mcu/$_s" ] || continue
		_want=$(sed -n 's/^sha256=//p' "$STATE/devices/mcu/$_s/meta")
		_got=$(sha256sum "$STATE/devices/mcu/$_s/image.bin" | cut -d' ' -f1)
		[ "$_want" = "$_got" ] || fail "$1: the $_s image does not match its SHA-256"
	done
	log "  $1: recovered; the chip runs $_v, as status says"
}

# crash STATE BUNDLE: an update killed right after STATE was journaled, then recover. The updates
# alternate 2.0.0 and 3.0.0: root's --allow-downgrade lets 2.0.0 pass the high-water mark.
crash() {
	MCU_OTA_CRASH_AT=$1 mcu-ota update --allow-downgrade "$FW/$2" >crash.out 2>&1
	_rc=$?
	[ $_rc = 137 ] || { cat crash.out; fail "$1: mcu-ota was not killed at $1 (exit $_rc)"; }
	[ "$(status_field mcu state)" = "$1" ] || fail "$1: status says $(status_field mcu state) after the crash"
	mcu-ota recover --all >recover.out 2>&1
	_rc=$?
	sed 's/^/    | /' recover.out
	# a recovery ends installed (0) or rolled back (8), never failed
	[ $_rc = 0 ] || [ $_rc = 8 ] || fail "$1: recover exit $_rc"
	good_state "$1"
}

log "the first update of the chip, killed at each step (the read-back included)"
for s in staged backing-up; do
	rm -rf "$STATE"
	crash $s bundle-2.0.0.swu
done
v=2.0.0
for s in entering flashing exiting checking committing; do
	[ $v = 2.0.0 ] && v=3.0.0 || v=2.0.0
	crash $s bundle-$v.swu
	[ "$(status_field mcu version)" = $v ] || fail "$s: recovery did not complete the update to $v"
done

log "an update that fails its health check, killed while rolling back"
before=$(status_field mcu version)
crash rolling-back bundle-wrong-version.swu
[ "$(status_field mcu version)" = "$before" ] || fail "rolling-back: not back on $before"
[ "$(status_field mcu result)" = rolled-back ] || fail "rolling-back: result $(status_field mcu result)"

log "killed in the middle of the write of a 1 MiB image"
before=$(status_field mcu version)
# the chip holds the write after block 140 of 512 (27 %) until the kill is done
chip_hold_at 140
mcu-ota update --allow-downgrade "$FW/bundle-2.0.0-1m.swu" >mid.out 2>&1 &
pid=$!
chip_wait_held 140 60 || { cat mid.out; fail "the write did not start"; }
wait_for 5 grep -q "write  25%" mid.out || { cat mid.out; fail "the write did not start"; }
kill -9 $pid
wait $pid 2>/dev/null
chip_release
[ "$(chip_state mode)" = rom ] || fail "the chip is not in its bootloader after the kill"
[ "$(status_field mcu state)" = flashing ] || fail "status says $(status_field mcu state) after the kill"
mcu-ota recover --device mcu >recover.out 2>&1 || { cat recover.out; fail "recover after a cut write failed"; }
sed 's/^/    | /' recover.out
good_state "mid-write"
[ "$(status_field mcu version)" = 2.0.0 ] || fail "the cut update to 2.0.0 was not completed"

log "a crash while saving an image into the store: nothing half-written stays"
MCU_OTA_CRASH_AT=staged mcu-ota rollback --allow-downgrade --device mcu >crash.out 2>&1
[ $? = 137 ] || fail "rollback was not killed"
mcu-ota recover --all >recover.out 2>&1 || { cat recover.out; fail "recover after a killed rollback failed"; }
good_state "rollback staged"
log "done"
