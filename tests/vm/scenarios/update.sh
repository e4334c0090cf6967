#!/bin/sh
# mcu-ota update/rollback/status on the chip: a tampered bundle never reaches it; 1.0.0 -> 2.0.0 (read back first); rolled back for real after a wrong version, an image that does not boot and a bit flipped in flash; a manual rollback and its undo; a second process refused; a failed rollback reported.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

# upd EXPECTED_EXIT ARGS...: mcu-ota ARGS, output in upd.out, its exit status checked
upd() {
	_want=$1
	shift
	mcu-ota "$@" >upd.out 2>&1
	_rc=$?
	sed 's/^/    | /' upd.out
	[ "$_rc" = "$_want" ] || fail "mcu-ota $*: exit $_rc, expected $_want"
}
expect_out() { grep -q "$1" upd.out || fail "the output does not say '$1'"; }
runs() { # runs VERSION: the chip runs it, as the kernel and the status both say
	wait_version "$SERIAL" "$1" 10 || fail "the chip does not run $1 (it reports '$(app_version "$SERIAL")')"
	[ "$(status_field mcu version)" = "$1" ] || fail "status says $(status_field mcu version), the chip runs $1"
	[ "$(status_field mcu state)" = idle ] || fail "status state $(status_field mcu state), expected idle"
}

: >faults
chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --faults "$MCUOTA_WORK/faults" ||
	fail "the chip model did not start"
wait_usb 0483 5740 5 || fail "the factory firmware did not come up"
SERIAL=$(usb_string 0483 5740 serial)
write_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL")"
wait_version "$SERIAL" 1.0.0 || fail "the factory firmware does not report 1.0.0"

log "status before any update"
upd 0 status
expect_out "never updated"

log "a tampered bundle is refused before the chip is touched"
upd 3 update "$FW/bundle-tampered.swu"
expect_out "SHA-256 mismatch"
[ "$(chip_state mode)" = app ] || fail "the chip left its application for a bad bundle"
[ ! -e "$STATE/devices/mcu/staged" ] || fail "a bad bundle left a staged image"

log "1.0.0 -> 2.0.0: the chip's firmware is read back first, then the update"
upd 0 update "$FW/bundle-2.0.0.swu"
expect_out "reading the chip's firmware back"
expect_out "mcu: ok: 2.0.0 installed and running"
runs 2.0.0
[ "$(status_field mcu previous_version)" = unknown ] || fail "previous is not the read-back image"
head -c "$(stat -c %s "$STATE/devices/mcu/previous/image.bin")" "$FW/fw-1.0.0.bin" |
	cmp -s - "$STATE/devices/mcu/previous/image.bin" || fail "the read-back image is not fw-1.0.0.bin"
cmp -s "$FW/fw-2.0.0.bin" "$STATE/devices/mcu/current/image.bin" || fail "current is not fw-2.0.0.bin"
no_partial_files || fail "the update left half-written files"

log "an image that boots but reports 2.0.0 where the bundle says 3.1.0: rolled back"
upd 8 update "$FW/bundle-wrong-version.swu"
expect_out "reports 2.0.0, expected 3.1.0"
expect_out "rolled back to 2.0.0"
runs 2.0.0
[ "$(status_field mcu result)" = rolled-back ] || fail "status result $(status_field mcu result)"
status_field mcu error | grep -q "expected 3.1.0" || fail "status does not give the reason"
[ ! -e "$STATE/devices/mcu/staged" ] || fail "the failed image is still staged"

log "an image that does not boot (no vector table): rolled back"
upd 8 update "$FW/bundle-noboot.swu"
expect_out "rolled back to 2.0.0"
runs 2.0.0

log "a bit flipped in flash while writing 3.0.0: the read-back catches it, rolled back"
echo "flip_bit_address=0x08001000" >faults
echo "flip_bit_once=1" >>faults
upd 8 update "$FW/bundle-3.0.0.swu"
expect_out "rolled back to 2.0.0"
runs 2.0.0
: >faults

log "3.0.0, cleanly"
upd 0 update "$FW/bundle-3.0.0.swu"
runs 3.0.0
[ "$(status_field mcu previous_version)" = 2.0.0 ] || fail "previous is not 2.0.0"

log "rollback: 2.0.0 again (below the 3.0.0 high-water mark: root's --allow-downgrade), and 3.0.0 becomes the previous image; a second rollback undoes it"
upd 1 rollback --device mcu
expect_out "2.0.0 is below 3.0.0"
runs 3.0.0
upd 0 rollback --allow-downgrade --device mcu
runs 2.0.0
[ "$(status_field mcu previous_version)" = 3.0.0 ] || fail "previous is not 3.0.0 after the rollback"
upd 0 rollback --device mcu
runs 3.0.0

log "two processes on one device: the second is refused while the first runs"
# the chip holds the first one's first DFU request while the second tries
chip_hold_start
mcu-ota update "$FW/bundle-3.0.0.swu" >first.out 2>&1 &
first=$!
chip_wait_held start 60 || { cat first.out; fail "the first update did not start"; }
grep -q "entering the bootloader" first.out || { cat first.out; fail "the first update did not start"; }
upd 1 update "$FW/bundle-2.0.0.swu"
expect_out "being driven by another mcu-ota process"
chip_release
upd 0 status
wait $first || { cat first.out; fail "the first update failed"; }
runs 3.0.0

log "a downgrade below the high-water mark is refused without root's --allow-downgrade"
upd 1 update "$FW/bundle-noboot.swu"
expect_out "2.1.0 is below 3.0.0"
[ "$(chip_state mode)" = app ] || fail "a refused downgrade touched the chip"

log "a bootloader of another family than the configuration names is refused before anything is written"
write_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL" "allow_downgrade = true;" | sed '/flasher =/s/; };/; family = "STM32L4"; };/')"
grep -q 'family = "STM32L4"' "$CONF" || fail "the family setting is not in the configuration"
upd 1 update --allow-downgrade "$FW/bundle-2.0.0.swu"
expect_out 'is an STM32F2/F4 (told by its memory layout), but the configuration says family "STM32L4"'
expect_out "nothing was written"
[ "$(chip_state mode)" = app ] || fail "the refused chip was left in its bootloader"
runs 3.0.0
write_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL" "allow_downgrade = true;")"

log "a rollback that fails too (the erase never ends once the ROM restarts): the device is marked failed, exit 9"
# the fault is armed while the chip holds the update's first DFU request: the ROM reads its
# faults when it starts, so it applies from the rollback's ROM start on, not to this write
chip_hold_start
mcu-ota update --allow-downgrade "$FW/bundle-noboot.swu" >upd.out 2>&1 &
bad=$!
chip_wait_held start 60 || { cat upd.out; fail "the update did not reach the bootloader"; }
echo "erase_stays_busy=1" >>faults
chip_release
wait_for 60 grep -q "waiting for the application to report 2.1.0" upd.out || { cat upd.out; fail "the update did not reach its health check"; }
wait $bad
rc=$?
sed 's/^/    | /' upd.out
[ $rc = 9 ] || fail "exit $rc, expected 9"
expect_out "the rollback failed too"
[ "$(status_field mcu state)" = failed ] || fail "status state $(status_field mcu state), expected failed"
[ "$(status_field mcu result)" = failed ] || fail "status result $(status_field mcu result), expected failed"
log "a person resets the chip; the next update works"
: >faults
board_reset dfu
wait_chip rom 5 || fail "the ROM did not restart"
board_release || fail "cannot release the lines"
upd 0 update "$FW/bundle-3.0.0.swu"
runs 3.0.0
no_partial_files || fail "half-written files in the store"
log "done"
