#!/bin/sh
# The chip in ROM DFU mode looks exactly like a real STM32F407 to dfu-util and to mcu-ota list.
# The expected listing below is the one dfu-util 0.11 prints for an F407's ROM (docs/protocol.md
# §3 for the alt strings, §1 for the functional descriptor); only devnum varies.
. /lib/mcu-ota-vm/lib.sh

chip_start --profile F407 --uid 003500283034510B353F3624 || fail "stm32-chip did not start"
wait_chip off 5 || fail "a blank chip with BOOT0 low must stay off the bus (mode $(chip_state mode))"
usb_dev 0483 df11 >/dev/null && fail "a DFU device is on the bus before BOOT0 + reset"
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb 0483 df11 5 || fail "0483:df11 did not enumerate after BOOT0 high + NRST pulse"
log "ROM DFU device enumerated at $(usb_dev 0483 df11)"

cat >expected.txt <<'LIST'
Found DFU: [0483:df11] ver=2200, devnum=N, cfg=1, intf=0, path="1-1", alt=3, name="@Device Feature/0xFFFF0000/01*004 e", serial="3574364C3034"
Found DFU: [0483:df11] ver=2200, devnum=N, cfg=1, intf=0, path="1-1", alt=2, name="@OTP Memory /0x1FFF7800/01*512 e,01*016 e", serial="3574364C3034"
Found DFU: [0483:df11] ver=2200, devnum=N, cfg=1, intf=0, path="1-1", alt=1, name="@Option Bytes  /0x1FFFC000/01*016 e", serial="3574364C3034"
Found DFU: [0483:df11] ver=2200, devnum=N, cfg=1, intf=0, path="1-1", alt=0, name="@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg", serial="3574364C3034"
LIST
dfu-util -l >list.raw 2>&1 || { cat list.raw; fail "dfu-util -l failed"; }
grep '^Found' list.raw | sed 's/devnum=[0-9]*/devnum=N/' >list.txt
cat list.txt
diff -u expected.txt list.txt || fail "dfu-util -l differs from a real F407's listing"
log "dfu-util -l: the four ROM alt settings, names and serial as on a real F407"

# identity strings as the kernel read them
[ "$(usb_string 0483 df11 manufacturer)" = STMicroelectronics ] || fail "manufacturer '$(usb_string 0483 df11 manufacturer)'"
[ "$(usb_string 0483 df11 product)" = "STM32  BOOTLOADER" ] || fail "product '$(usb_string 0483 df11 product)'"
[ "$(usb_string 0483 df11 serial)" = 3574364C3034 ] || fail "serial '$(usb_string 0483 df11 serial)'"
[ "$(usb_string 0483 df11 bcdDevice)" = 2200 ] || fail "bcdDevice '$(usb_string 0483 df11 bcdDevice)'"
[ "$(usb_string 0483 df11 bMaxPacketSize0)" = 64 ] || fail "bMaxPacketSize0 '$(usb_string 0483 df11 bMaxPacketSize0)'"
[ "$(cat "$(usb_dev 0483 df11)/1-1:1.0/bInterfaceClass")" = fe ] || fail "interface class is not 0xFE (application specific)"
log "USB identity: STMicroelectronics \"STM32  BOOTLOADER\", bcdDevice 2200, serial 3574364C3034"

# the functional descriptor as dfu-util reads it before an operation
dfu-util -a 0 -s 0x08000000:2048 -U up.bin >up.txt 2>&1 || { cat up.txt; fail "dfu-util -U of 2 KiB failed"; }
grep -x 'DFU mode device DFU version 011a' up.txt || { cat up.txt; fail "dfu-util does not see DfuSe version 011a"; }
grep -x 'Device returned transfer size 2048' up.txt || { cat up.txt; fail "dfu-util does not see transfer size 2048"; }
grep -x 'DfuSe interface name: "Internal Flash  "' up.txt || { cat up.txt; fail "dfu-util does not see the DfuSe alt name"; }
[ "$(od -An -v -tx1 up.bin | tr -d ' \n' | tr -d f)" = "" ] && [ "$(wc -c <up.bin)" = 2048 ] \
	|| fail "2 KiB read from a blank chip are not 2048 bytes of 0xFF"

# mcu-ota sees the same device
mcu-ota list >mlist.txt 2>&1 || { cat mlist.txt; fail "mcu-ota list failed"; }
cat mlist.txt
grep -q '^0483:df11  serial 3574364C3034  port 1-1  "STM32  BOOTLOADER"  DFU 1.1a, transfer 2048 bytes$' mlist.txt \
	|| fail "mcu-ota list does not show the ROM with serial, port, DfuSe 1.1a and 2048-byte transfers"
grep -q '^  alt 0  Internal Flash   0x08000000  1 MiB     4 x 16 KiB rew, 1 x 64 KiB rew, 7 x 128 KiB rew$' mlist.txt \
	|| fail "mcu-ota list does not show the F407 flash layout"
[ "$(grep -c '^  alt [0-3] ' mlist.txt)" = 4 ] || fail "mcu-ota list does not show 4 alt settings"

# NRST low takes it off the bus
_n=$(board_gpio NRST) && echo low >"$_n/direction"
wait_usb_gone 0483 df11 5 || fail "the device stayed on the bus with NRST low"
wait_chip reset 2 || fail "chip state is $(chip_state mode) with NRST low"
log "NRST low: the device left the bus"
echo in >"$_n/direction"
wait_usb 0483 df11 5 || fail "the ROM did not come back on NRST release with BOOT0 high"
log "NRST released with BOOT0 high: the ROM is back"
