#!/bin/sh
# dfu-util and mcu-ota agree on the chip's flash: dfu-util writes and leaves, the chip boots the
# image and reports its version (string descriptor + vendor request), mcu-ota reads the same
# bytes; mcu-ota writes, dfu-util -U reads the same bytes. Noise does not boot.
. /lib/mcu-ota-vm/lib.sh

# the application's answer through USB, both ways, must be exactly $1
check_app_version() {
	wait_usb 0483 5740 5 || fail "no application (0483:5740) on the bus; chip: $(chip_state mode)"
	v1=$(app-query version) || fail "vendor request GET_VERSION failed"
	v2=$(app-query string 4) || fail "string descriptor 4 could not be read"
	v3=$(cat "$(usb_dev 0483 5740)/1-1:1.0/interface")
	[ "$v1" = "$1" ] || fail "vendor request reports '$v1', expected '$1'"
	[ "$v2" = "$1" ] || fail "string descriptor 4 reports '$v2', expected '$1'"
	[ "$v3" = "$1" ] || fail "the kernel read the interface string '$v3', expected '$1'"
	[ "$(usb_string 0483 5740 product)" = "mcu-ota test application" ] || fail "application product string"
	[ "$(usb_string 0483 5740 serial)" = 3574364C3034 ] || fail "the application's serial differs from the ROM's"
	log "application 0483:5740 reports version $1 (vendor request, string 4, sysfs)"
}

chip_start --profile F407 || fail "stm32-chip did not start"
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb 0483 df11 5 || fail "no ROM DFU device"

# ---- dfu-util writes and leaves
log "dfu-util -a 0 -s 0x08000000:leave -D fw-2.0.0.bin"
t0=$(cut -d' ' -f1 /proc/uptime)
dfu-util -a 0 -s 0x08000000:leave -D "$FW/fw-2.0.0.bin" >dl.txt 2>&1
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
tr '\r' '\n' <dl.txt | grep -v '^\(Erase\|Download\)[[:space:]]*\[' | tail -n 8
[ $rc = 0 ] || fail "dfu-util -D exited $rc"
grep -q 'File downloaded successfully' dl.txt || fail "dfu-util did not report the download"
log "dfu-util took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
wait_usb_gone 0483 df11 5 || fail "the ROM stayed on the bus after :leave"
check_app_version 2.0.0
[ "$(chip_state app_boots)" = 1 ] || fail "chip booted $(chip_state app_boots) times"

# ---- mcu-ota reads the same bytes
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb_gone 0483 5740 5 || fail "the application stayed on the bus through NRST"
wait_usb 0483 df11 5 || fail "no ROM DFU device after BOOT0 high + reset"
mcu-ota -q read --address 0x08000000 --length 128K back.bin || fail "mcu-ota read failed"
cmp back.bin "$FW/fw-2.0.0.bin" || fail "mcu-ota read returns other bytes than dfu-util wrote"
log "mcu-ota read: the 128 KiB dfu-util wrote, byte for byte"

# ---- mcu-ota writes, dfu-util reads
mcu-ota flash "$FW/fw-1.0.0.bin" >fl.txt 2>&1 || { cat fl.txt; fail "mcu-ota flash failed"; }
tail -n 1 fl.txt
grep -q '^flashed 128 KiB to 0x08000000 in .*, verified$' fl.txt || fail "mcu-ota did not report a verified flash"
usb_dev 0483 df11 >/dev/null || fail "mcu-ota flash without --leave left DFU mode"
dfu-util -a 0 -s 0x08000000:131072 -U up.bin >up.txt 2>&1 || { cat up.txt; fail "dfu-util -U failed"; }
cmp up.bin "$FW/fw-1.0.0.bin" || fail "dfu-util -U returns other bytes than mcu-ota wrote"
log "dfu-util -U: the 128 KiB mcu-ota wrote, byte for byte"

# ---- a reset with BOOT0 low boots what is in flash (flash survives resets)
board_reset app || fail "cannot drive BOOT0/NRST"
wait_usb_gone 0483 df11 5 || fail "the ROM stayed on the bus through NRST"
check_app_version 1.0.0

# ---- the application's ENTER_BOOTLOADER request: the ROM comes up without touching the lines
app-query enter-dfu || fail "ENTER_BOOTLOADER request failed"
wait_usb_gone 0483 5740 5 || fail "the application stayed on the bus after ENTER_BOOTLOADER"
wait_usb 0483 df11 5 || fail "no ROM DFU device after ENTER_BOOTLOADER"
[ "$(chip_state mode)" = rom ] || fail "chip is '$(chip_state mode)' after ENTER_BOOTLOADER"
log "vendor request ENTER_BOOTLOADER: the application jumped to the ROM (BOOT0 untouched)"

# ---- noise has no vector table: nothing comes up
dfu-util -a 0 -s 0x08000000:leave -D "$FW/fw-noise.bin" >noise.txt 2>&1 || { cat noise.txt; fail "dfu-util -D of noise failed"; }
wait_chip off 5 || fail "chip is '$(chip_state mode)' after booting noise, expected off"
sleep 1
usb_dev 0483 5740 >/dev/null && fail "an application appeared from an image without a vector table"
usb_dev 0483 df11 >/dev/null && fail "the ROM is still on the bus"
chip_logged 'no plausible vector table at 0x08000000' || fail "the chip did not say why nothing booted"
log "an image without a plausible vector table leaves the bus empty"
