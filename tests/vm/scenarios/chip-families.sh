#!/bin/sh
# mcu-ota flashes every family profile through the kernel's USB stack, in real time (datasheet
# erase/program times): GPIO entry, flash + verify + leave, and the new image boots and reports
# its version. Covers 2048- and 1024-byte transfers, the F0's 2 KiB pages, the L4's stalls
# while busy and the H7's 128 KiB sectors.
. /lib/mcu-ota-vm/lib.sh

# profile  product string        transfer  flash
set -- \
	"F405 STM32__BOOTLOADER 2048 1_MiB" \
	"F407 STM32__BOOTLOADER 2048 1_MiB" \
	"F411 STM32__BOOTLOADER 2048 512_KiB" \
	"F072 STM32__BOOTLOADER 2048 128_KiB" \
	"L4 STM32__BOOTLOADER 2048 256_KiB" \
	"G474 DFU_in_FS_Mode 1024 512_KiB" \
	"H743 DFU_in_FS_Mode 1024 2_MiB"
for row in "$@"; do
	set -- $row
	profile=$1
	product=$(echo "$2" | tr _ ' ')
	xfer=$3
	size=$(echo "$4" | tr _ ' ')
	CHIP_LOG=$MCUOTA_WORK/chip-$profile.log chip_start --profile "$profile" --time-scale 1 \
		|| fail "$profile: stm32-chip did not start"
	board_reset dfu || fail "$profile: cannot drive BOOT0/NRST"
	wait_usb 0483 df11 5 || fail "$profile: no ROM DFU device"
	[ "$(usb_string 0483 df11 product)" = "$product" ] || fail "$profile: product '$(usb_string 0483 df11 product)', expected '$product'"
	mcu-ota list >list-$profile.txt 2>&1 || { cat list-$profile.txt; fail "$profile: mcu-ota list failed"; }
	grep -q "\"$product\"  DFU 1.1a, transfer $xfer bytes\$" list-$profile.txt \
		|| { cat list-$profile.txt; fail "$profile: mcu-ota list does not show transfer $xfer"; }
	grep -q "^  alt 0  Internal Flash   0x08000000  $size " list-$profile.txt \
		|| { cat list-$profile.txt; fail "$profile: mcu-ota list does not show $size of flash"; }
	timeout 120 mcu-ota flash "$FW/fw-2.0.0.bin" --leave >flash-$profile.txt 2>&1
	rc=$?
	if [ $rc != 0 ]; then
		tr '\r' '\n' <flash-$profile.txt
		echo "--- chip log"
		cat "$MCUOTA_WORK/chip-$profile.log"
		fail "$profile: mcu-ota flash exited $rc"
	fi
	grep -q '^flashed 128 KiB to 0x08000000 in .*, verified, application started$' flash-$profile.txt \
		|| { cat flash-$profile.txt; fail "$profile: mcu-ota did not report a verified flash and start"; }
	wait_usb 0483 5740 5 || fail "$profile: the image did not boot (chip: $(chip_state mode))"
	v=$(app-query version) || fail "$profile: GET_VERSION failed"
	[ "$v" = 2.0.0 ] || fail "$profile: the application reports '$v', expected 2.0.0"
	log "$profile: $(tail -n 1 flash-$profile.txt | sed 's/^flashed //'); boots 2.0.0; physical time $(awk -v u="$(chip_state busy_us)" 'BEGIN { printf "%.2f", u / 1e6 }') s"
	chip_stop
	wait_usb_gone 0483 5740 5 || fail "$profile: the application stayed on the bus after the chip stopped"
done
