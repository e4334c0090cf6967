#!/bin/sh
# The main job, as a person would watch it: a chip running factory firmware 1.0.0 is put into
# its ROM bootloader through BOOT0/NRST, mcu-ota flashes 2.0.0 (erase, write, verify, leave), the
# chip boots the new image and reports 2.0.0. Lines "[chip ...]" are the chip's own account.
. /lib/mcu-ota-vm/lib.sh

step=0
say() {
	step=$((step + 1))
	echo
	echo "--- $step. $*"
}
mcu_ota_run() { # mcu-ota, live, with each progress bar shown once, when its phase is complete
	{ mcu-ota "$@"; echo $? >mcu-ota.rc; } 2>&1 | tee mcu-ota.out | tr '\r' '\n' | awk '
		/^(compare|erase|write|verify|read) / {
			if (/ 100% / && !done[$1]++) { print "    " $0; fflush() }
			next
		}
		{ print "    " $0; fflush() }'
	return "$(cat mcu-ota.rc)"
}

say "The board: an STM32F407 (the model, in real time) on the gateway's USB, BOOT0 and NRST on two GPIO lines. It left the factory with firmware 1.0.0."
CHIP_LOG=- chip_start --profile F407 --time-scale 1 --flash-file "$FW/fw-1.0.0.bin" \
	|| fail "the chip model did not start"
wait_usb 0483 5740 5 || fail "the factory firmware did not come up"
v=$(app-query version) || fail "the application did not answer GET_VERSION"
echo "    on the bus: $(usb_string 0483 5740 idVendor):$(usb_string 0483 5740 idProduct) \"$(usb_string 0483 5740 product)\", serial $(usb_string 0483 5740 serial)"
echo "    the application reports version $v"
[ "$v" = 1.0.0 ] || fail "factory firmware reports '$v', expected 1.0.0"

say "Into the ROM bootloader: BOOT0 high, NRST low for 50 ms, NRST released."
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb_gone 0483 5740 5 || fail "the application did not leave the bus on reset"
wait_usb 0483 df11 5 || fail "the ROM bootloader did not enumerate"

say "mcu-ota list"
mcu_ota_run list || fail "mcu-ota list failed"
serial=$(usb_string 0483 df11 serial)

say "mcu-ota flash fw-2.0.0.bin --serial $serial --leave   (erase only what changes, write, read back, start)"
t0=$(cut -d' ' -f1 /proc/uptime)
mcu_ota_run flash "$FW/fw-2.0.0.bin" --serial "$serial" --leave || fail "mcu-ota flash failed (exit $?)"
took=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
grep -q ', verified, application started$' mcu-ota.out || fail "mcu-ota did not report a verified flash"

say "BOOT0 low again, so that every later reset boots the application from flash."
board_boot0 low || fail "cannot drive BOOT0"
wait_usb 0483 5740 5 || fail "the new firmware did not come up"
v=$(app-query version) || fail "the new firmware did not answer GET_VERSION"
echo "    on the bus: 0483:5740 \"$(usb_string 0483 5740 product)\"; the application reports version $v"
[ "$v" = 2.0.0 ] || fail "the chip reports '$v' after the update, expected 2.0.0"

say "A power cycle of the chip (NRST pulse, BOOT0 low) boots 2.0.0 from flash again."
board_reset app || fail "cannot drive BOOT0/NRST"
wait_usb_gone 0483 5740 5 || fail "the application did not leave the bus on reset"
wait_usb 0483 5740 5 || fail "nothing came back after the reset"
v=$(app-query version) || fail "no answer to GET_VERSION after the reset"
echo "    the application reports version $v"
[ "$v" = 2.0.0 ] || fail "after a reset the chip reports '$v', expected 2.0.0"

echo
echo "=== Updated the STM32F407 (serial $serial) from 1.0.0 to 2.0.0 in $took s: flashed, verified, booted."
