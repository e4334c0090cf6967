#!/bin/sh
# Faults through the kernel's USB stack, on an F407 in real time: the device leaves the bus in
# the middle of a write; an erase that outlasts every timeout; read protection. mcu-ota must stop
# with a clear message and the documented exit code (README: 5 device refused, 7 device left the
# bus or stopped answering), within its limits (never hang), and never report success. After
# each fault the chip is recovered (NRST, flash again, boots the image).
. /lib/mcu-ota-vm/lib.sh

FAULTS=$MCUOTA_WORK/faults
: >"$FAULTS"

# expect_failure NAME CODE MESSAGE-FRAGMENT MAX-SECONDS COMMAND...: the command must exit with
# CODE within MAX-SECONDS, print MESSAGE-FRAGMENT and no success line. MAX-SECONDS is a bound
# for a hang, far above what a busy guest takes (the limits mcu-ota keeps are in its messages).
expect_failure() {
	_name=$1 _code=$2 _msg=$3 _max=$4
	shift 4
	_t0=$(now)
	timeout "$((_max + 30))" "$@" >"$_name.txt" 2>&1
	_rc=$?
	_took=$(since "$_t0")
	tr '\r' '\n' <"$_name.txt" | grep -v '^\(compare\|erase\|write\|verify\|read\) ' | sed 's/^/    /'
	[ "$_rc" != 124 ] || fail "$_name: mcu-ota hung (killed after $((_max + 30)) s)"
	if [ "$_rc" = 5 ] && [ "$_code" = 7 ] && grep -q 'Input/output error' "$_name.txt"; then
		# seen when the guest is busy: the dfuse plugin asks ~10 times within ~0.2 s whether
		# the device is gone and gives up before the kernel's hub thread reports it
		log "$_name: the I/O error was not recognised as the device leaving the bus"
		log "$_name: kernel: $(dmesg | grep 'USB disconnect' | tail -n 1)"
	fi
	[ "$_rc" = "$_code" ] || fail "$_name: exit code $_rc, expected $_code"
	grep -q "$_msg" "$_name.txt" || fail "$_name: the message does not say '$_msg'"
	if grep -q '^flashed \|^read [0-9]* bytes' "$_name.txt"; then
		fail "$_name: mcu-ota reported success"
	fi
	awk -v t="$_took" -v m="$_max" 'BEGIN { exit !(t <= m) }' || fail "$_name: took $_took s, limit $_max s"
	log "$_name: exit $_rc after $_took s, as expected"
}

# recover: reset into the ROM without faults, flash, boot, check the version
recover() {
	: >"$FAULTS"
	board_reset dfu || fail "cannot drive BOOT0/NRST"
	wait_usb 0483 df11 5 || fail "no ROM DFU device after NRST"
	timeout 60 mcu-ota -q flash "$FW/fw-2.0.0.bin" --leave || fail "$1: flashing again failed"
	wait_usb 0483 5740 5 || fail "$1: the image did not boot after recovery"
	[ "$(app-query version)" = 2.0.0 ] || fail "$1: the recovered chip reports '$(app-query version)'"
	log "$1: recovered: NRST, flash again, boots 2.0.0"
}

chip_start --profile F407 --faults "$FAULTS" || fail "stm32-chip did not start"

# ---- 1. the device leaves the bus at the 20th data block (40 KiB into the write)
echo disconnect_at_block=20 >"$FAULTS"
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb 0483 df11 5 || fail "no ROM DFU device"
log "disconnect in the middle of a write (20th block)"
expect_failure disconnect 7 'the device left the bus during writing at 0x08009800' 60 \
	mcu-ota flash "$FW/fw-2.0.0.bin" --leave
chip_logged 'fault: the device left the bus' || fail "the chip did not inject the disconnect"
usb_dev 0483 df11 >/dev/null && fail "the device is still on the bus after the disconnect"
recover disconnect

# ---- 2. an erase that never ends (it outlasts its 100 ms poll timeout and mcu-ota's 6 s limit)
echo erase_stays_busy=1 >"$FAULTS"
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb 0483 df11 5 || fail "no ROM DFU device"
log "an erase that stays busy forever; mcu-ota lets the F4 6 s per operation"
expect_failure stays-busy 7 'did not finish erasing the sector at 0x08000000 within 6000 ms' 60 \
	mcu-ota flash "$FW/fw-1.0.0.bin" --no-skip-unchanged
recover stays-busy

# ---- contrast: an operation far longer than its poll timeout that does end (mass erase: the
# ROM reports 100 ms and holds the pipe for 8 s) must succeed
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb 0483 df11 5 || fail "no ROM DFU device"
t0=$(now)
timeout 60 mcu-ota -q flash "$FW/fw-1.0.0.bin" --mass-erase || fail "mass erase (8 s held pipe) + flash failed"
took=$(since "$t0")
# not before the 8 s the ROM holds the pipe; the upper bound (the timeout above) only catches a hang
awk -v t="$took" 'BEGIN { exit !(t >= 8 && t < 60) }' || fail "mass erase + flash took $took s, expected 8-60 s"
log "mass erase held the pipe 8 s (poll timeout 100 ms): mcu-ota waited and succeeded in $took s"
chip_stop

# ---- 3. read protection level 1
chip_start --profile F407 --read-protected --flash-file "$FW/fw-1.0.0.bin" || fail "stm32-chip did not start"
board_reset dfu || fail "cannot drive BOOT0/NRST"
wait_usb 0483 df11 5 || fail "no ROM DFU device"
[ "$(chip_state read_protected)" = 1 ] || fail "the chip is not read protected"
expect_failure rdp-flash 5 'refused (errVENDOR): read protection (RDP level 1) is active' 60 \
	mcu-ota flash "$FW/fw-2.0.0.bin" --leave
expect_failure rdp-read 5 'refused (errVENDOR): read protection (RDP level 1) is active' 60 \
	mcu-ota read --address 0x08000000 --length 1K rdp.bin
[ -e rdp.bin ] && fail "mcu-ota read left a file behind"
# Read Unprotect through dfu-util: the ROM mass-erases (8 s), clears RDP and resets itself
log "dfu-util read unprotect: mass erase, RDP 0, the chip resets itself"
timeout 60 dfu-util -a 0 -s 0x08000000:unprotect:force >unprotect.txt 2>&1 || true
wait_usb_gone 0483 df11 15 || fail "the chip did not reset itself after Read Unprotect"
wait_usb 0483 df11 10 || fail "the ROM did not come back after the self reset (BOOT0 is high)"
[ "$(chip_state read_protected)" = 0 ] || fail "read protection still on after Read Unprotect"
mcu-ota -q read --address 0x08000000 --length 128K erased.bin || fail "read after unprotect failed"
[ "$(od -An -v -tx1 erased.bin | tr -d ' \nf')" = "" ] || fail "flash not erased by Read Unprotect"
log "after Read Unprotect: RDP 0, flash erased, readable"
recover rdp
