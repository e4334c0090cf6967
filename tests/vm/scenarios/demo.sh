#!/bin/sh
# The main job, as a person would watch it: a chip running factory firmware 1.0.0, a configuration naming it, and `mcu-ota update` of a signed bundle: into the bootloader through BOOT0/NRST, the factory image read back, 2.0.0 written and verified, out again, the application confirmed reporting 2.0.0. Then a tampered bundle is refused and an image reporting the wrong version is rolled back. Lines "[chip ...]" are the chip's own account.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

step=0
say() {
	step=$((step + 1))
	echo
	echo "--- $step. $*"
}
run() { # run EXPECTED_EXIT mcu-ota ARGS...: live, indented
	_want=$1
	shift
	echo "    \$ $*"
	{ "$@"; echo $? >rc; } 2>&1 | sed 's/^/    /'
	[ "$(cat rc)" = "$_want" ] || fail "$* ended with exit $(cat rc), expected $_want"
}

say "The board: an STM32F407 (the model, in real time) on the gateway's USB, BOOT0 and NRST on two GPIO lines. It left the factory with firmware 1.0.0."
CHIP_LOG=- chip_start --profile F407 --time-scale 1 --flash-file "$FW/fw-1.0.0.bin" \
	|| fail "the chip model did not start"
wait_usb 0483 5740 5 || fail "the factory firmware did not come up"
SERIAL=$(usb_string 0483 5740 serial)
wait_version "$SERIAL" 1.0.0 || fail "the factory firmware does not report 1.0.0"
echo "    on the bus: 0483:5740 \"$(usb_string 0483 5740 product)\", serial $SERIAL, reporting version $(app_version "$SERIAL")"

say "The configuration: one device, entered through GPIO, flashed over DfuSe, confirmed by the version it reports over USB; bundles must be signed by the vendor's key."
write_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL")"
sed 's/^/    /' "$CONF"
run 0 mcu-ota status

say "A bundle whose image was changed after signing is refused before the chip is touched."
run 3 mcu-ota update "$FW/bundle-tampered.swu"
[ "$(chip_state mode)" = app ] || fail "the chip left its application for a bad bundle"

say "mcu-ota update bundle-2.0.0.swu: verify, bootloader, read back 1.0.0 (for a rollback), write 2.0.0, verify, start, confirm."
t0=$(cut -d' ' -f1 /proc/uptime)
run 0 mcu-ota update "$FW/bundle-2.0.0.swu"
took=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
wait_version "$SERIAL" 2.0.0 || fail "the chip does not report 2.0.0 after the update"
echo "    the application on the bus reports $(app_version "$SERIAL")"
run 0 mcu-ota status

say "A bundle whose image boots but reports the wrong version (3.1.0 promised, 2.0.0 inside): rolled back."
run 8 mcu-ota update "$FW/bundle-wrong-version.swu"
wait_version "$SERIAL" 2.0.0 || fail "the chip does not run 2.0.0 after the rollback"
echo "    the application on the bus reports $(app_version "$SERIAL")"
run 0 mcu-ota status

say "A power cycle of the chip (NRST pulse, BOOT0 low) boots 2.0.0 from flash again."
board_reset app || fail "cannot drive BOOT0/NRST"
wait_usb_gone 0483 5740 5 || fail "the application did not leave the bus on reset"
wait_version "$SERIAL" 2.0.0 || fail "after a reset the chip does not report 2.0.0"
echo "    the application reports version $(app_version "$SERIAL")"

echo
echo "=== Updated the STM32F407 (serial $SERIAL) from 1.0.0 to 2.0.0 in $took s (signed bundle verified, old image kept, written, verified, booted, confirmed); a tampered bundle refused; a bad image rolled back."
