#!/bin/sh
# usb and usb-version health plugins: the application 0483:5740 found (serial in any case), its version by string descriptor and by vendor request, a wrong version, the chip held in reset, the chip in the ROM (0483:df11 named), a wrong serial, bad settings.
. /lib/mcu-ota-vm/lib.sh

APP="vid=1155 pid=22336" # 0483:5740
SERIAL=3574364C3034      # the chip's default serial (ROM and application)
PR="plugin-run $MCU_OTA_PLUGIN_DIR"

# check PLUGIN ARGS...: a health check (plugin_run); must_fail WHAT PATTERN PLUGIN ARGS...
# expects it to exit 1.
check() {
	_p=$1
	shift
	plugin_run "$_p" check "$@"
}
RUN=check

chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" || fail "the chip model did not start"
app_up || fail "the factory firmware did not come up"
log "the application 1.0.0 runs"

# ---- the application is there
log "usb: vid/pid; with the serial; with the serial in lower case"
check usb $APP || fail "usb check failed with the application running"
check usb --deadline 2000 $APP serial=$SERIAL || fail "usb check with the serial failed"
check usb $APP serial=3574364c3034 || fail "usb check with the serial in lower case failed"

log "usb-version: 1.0.0 by string descriptor 4 (default) and by vendor request 0xC0/0x56"
check usb-version --expect 1.0.0 $APP || fail "usb-version (string) 1.0.0 failed"
check usb-version --expect 1.0.0 $APP version_from=string string_index=4 serial=$SERIAL \
	|| fail "usb-version (string, explicit) 1.0.0 failed"
check usb-version --expect 1.0.0 $APP version_from=vendor || fail "usb-version (vendor) 1.0.0 failed"
check usb-version --expect 1.0.0 $APP version_from=vendor request_type=192 request=86 length=31 \
	|| fail "usb-version (vendor, explicit) 1.0.0 failed"

log "usb-version: 2.0.0 expected, 1.0.0 reported, both ways; no waiting for the deadline"
# a deadline far beyond what the answers take on a busy guest: waiting for it would show
t0=$(now)
must_fail "usb-version (string) 2.0.0" "the application reports 1.0.0, expected 2.0.0" \
	usb-version --expect 2.0.0 --deadline 60000 $APP
must_fail "usb-version (vendor) 2.0.0" "the application reports 1.0.0, expected 2.0.0" \
	usb-version --expect 2.0.0 --deadline 60000 $APP version_from=vendor
el=$(since "$t0")
between "$el" 0 60 || fail "the mismatch took $el s: it waited for the deadline"
log "another string descriptor (product, 2) is not the version"
must_fail "usb-version string 2" "the application reports mcu-ota test application, expected 1.0.0" \
	usb-version --expect 1.0.0 $APP string_index=2
log "a vendor request the application stalls: asked again until the deadline"
must_fail "usb-version unknown request" "no 0483:5740 within 1000 ms (0483:5740 is on the bus but does not answer the version request (bmRequestType 0xc0, bRequest 0x55)" \
	usb-version --expect 1.0.0 --deadline 1000 $APP version_from=vendor request=85

# ---- a wrong serial
log "usb: a serial that is not on the bus"
must_fail "usb with a wrong serial" "no 0483:5740 with serial DEADBEEF within 1000 ms; on the bus: 0483:5740 serial $SERIAL" \
	usb --deadline 1000 $APP serial=DEADBEEF

# ---- the chip held in reset: nothing on the bus, the check fails after its deadline
log "usb with NRST held low"
nrst=$(board_gpio NRST) || fail "no NRST line"
echo low >"$nrst/direction"
wait_chip reset 5 || fail "the chip is in mode $(chip_state mode), not reset"
wait_usb_gone 0483 5740 5 || fail "the application stayed on the bus in reset"
t0=$(now)
must_fail "usb in reset" "no 0483:5740 within 1500 ms; on the bus: nothing with vendor id 0483" \
	usb --deadline 1500 $APP
el=$(since "$t0")
# not before its deadline (the message names it: 1500 ms); the upper bound only catches a hang
between "$el" 1.5 60 || fail "the check in reset took $el s, expected the 1.5 s deadline"
must_fail "usb-version in reset" "no 0483:5740 within 500 ms" usb-version --expect 1.0.0 --deadline 500 $APP

log "usb-version while NRST is released once the check waits: it waits and passes"
# released when the check says it waits (its deadline only ends a hang: a loaded builder may
# take long to get there)
plugin-run -v "$MCU_OTA_PLUGIN_DIR" usb-version check --expect 1.0.0 --deadline 60000 $APP version_from=vendor 2>run.err &
pid=$!
wait_for 60 grep -q "is not up yet: waiting" run.err || { cat run.err; fail "usb-version did not start waiting"; }
echo in >"$nrst/direction"
t0=$(now)
wait $pid || { cat run.err; fail "usb-version did not see the application come back (chip mode $(chip_state mode))"; }
log "the check passed $(since "$t0") s after NRST was released"
app_up || fail "the application did not come back after the reset"

# ---- the chip in the ROM bootloader: the message names 0483:df11
log "usb with the chip in the ROM (BOOT0 high + reset)"
board_reset dfu || fail "board_reset dfu failed"
wait_usb 0483 df11 5 || fail "no ROM DFU device"
wait_chip rom 2 || fail "the chip is in mode $(chip_state mode), not rom"
must_fail "usb in the ROM" "no 0483:5740 within 1000 ms; on the bus: 0483:df11 serial $SERIAL (the ROM bootloader: the chip did not leave DFU)" \
	usb --deadline 1000 $APP
must_fail "usb-version in the ROM" "0483:df11 serial $SERIAL (the ROM bootloader" \
	usb-version --expect 1.0.0 --deadline 500 $APP version_from=vendor

board_reset app || fail "board_reset app failed"
app_up || fail "the application did not come back from the ROM"
check usb-version --expect 1.0.0 $APP || fail "usb-version after the ROM failed"

# ---- settings
log "bad settings"
must_fail "version_from=bogus" 'version_from must be "string" or "vendor", not "bogus"' \
	usb-version --expect 1.0.0 $APP version_from=bogus
must_fail "vid as a string" "vid must be an integer from 0 to 65535" usb vid=0x0483 pid=22336
must_fail "no pid" "pid is not set" usb vid=1155
must_fail "pid out of range" "pid must be an integer from 0 to 65535" usb vid=1155 pid=70000
must_fail "serial as an int" "serial must be a string" usb $APP serial=1234
must_fail "length 0" "length must be an integer from 1 to 255" usb-version $APP length=0
must_fail "OUT request" "request_type 0x40 is host-to-device" usb-version $APP version_from=vendor request_type=64

[ "$(chip_state mode)" = app ] || fail "the checks disturbed the chip (mode $(chip_state mode))"
log "all checks passed"
