#!/bin/sh
# Smoke: the USB chain of the rig works. gadget-smoke presents a DFU device 0483:df11 through
# raw_gadget on dummy_hcd; Debian's dfu-util must list it with its alt setting name.
. /lib/mcu-ota-vm/lib.sh

ALT='@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg'
command -v gadget-smoke >/dev/null || fail "gadget-smoke is not in the initramfs"

gadget-smoke --alt "$ALT" --serial SMOKE0001 --ready "$MCUOTA_WORK/configured" &
gpid=$!
wait_usb 0483 df11 10 || fail "0483:df11 did not enumerate within 10 s"
wait_for 5 test -e "$MCUOTA_WORK/configured" || fail "the host did not configure the device"
log "enumerated at $(usb_dev 0483 df11)"

dfu-util -l >list.txt 2>&1 || true
cat list.txt
grep -q '^Found DFU: \[0483:df11\].*alt=0, name="@Internal Flash  /0x08000000/04\*016Kg,01\*064Kg,07\*128Kg", serial="SMOKE0001"' list.txt \
  || fail "dfu-util -l does not show 0483:df11 alt 0 with its name and serial"

# GETSTATUS through a real host: dfu-util reads the status before its first DfuSe command.
# The smoke device holds no memory and stalls that command, so the upload itself must fail.
if dfu-util -a 0 -s 0x08000000:16 -U up.bin >status.txt 2>&1; then
	cat status.txt
	fail "upload from the smoke device succeeded; it has no memory to read"
fi
grep 'DFU state' status.txt
grep -q 'DFU state(2) = dfuIDLE, status(0)' status.txt || { cat status.txt; fail "GETSTATUS did not report dfuIDLE/OK to dfu-util"; }

kill "$gpid"
wait "$gpid" 2>/dev/null
wait_usb_gone 0483 df11 5 || fail "device still on the bus after the gadget closed /dev/raw-gadget"
log "device left the bus when the gadget exited"
