#!/bin/sh
# gpio entry plugin on the chardev: enter -> ROM DFU, exit -> application; chip by label, path and name, lines by name and offset; active-low levels; swapped lines, missing line, missing chip.
. /lib/mcu-ota-vm/lib.sh

PR="plugin-run $MCU_OTA_PLUGIN_DIR gpio"

# run OP SETTINGS...: the gpio plugin (plugin_run).
run() { plugin_run gpio "$@"; }
# levels: "BOOT0 NRST" as the chip side sees them, and the chip's mode.
levels() { echo "$(cat "$BOOT0_V") $(cat "$NRST_V") $(chip_state mode)"; }
# watch MARK PID PULSE HOLD...: the chip's record of its lines since MARK once PID ends;
# during_pulse is PULSE when it was seen, during_hold the first of HOLD... seen after it
# (chip_lines_while, state_seen, state_after)
watch() {
	_wm=$1 _wp=$2 _wpulse=$3
	shift 3
	chip_lines_while "$_wp" "$_wm" levels.txt
	during_pulse=$(state_seen levels.txt "$_wpulse")
	during_hold=$(state_after levels.txt "$_wpulse" "$@")
}

CHIP_LOG=$MCUOTA_WORK/chip.log chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" \
	|| fail "the chip model did not start"
app_up 1.0.0 || fail "the factory firmware did not come up"
BOOT0_V=$(gpio_sim_line 0)/value
NRST_V=$(gpio_sim_line 1)/value
LABEL=$(gpio_sim_label) || fail "cannot find the gpio-sim chip's label"
log "gpio-sim chip $GPIOSIM_CHIP, label \"$LABEL\"; the application 1.0.0 runs"

# ---- enter by label and line names; the levels during the pulse, during the hold and after
log "enter: chip=$LABEL boot0=BOOT0 nrst=NRST (pulse 1 s, hold 2 s, to sample the levels)"
roms=$(chip_state rom_starts)
mark=$(chip_lines_mark)
$PR enter chip="$LABEL" boot0=BOOT0 nrst=NRST reset_pulse_ms=1000 boot_hold_ms=2000 2>run.err &
pid=$!
watch "$mark" $pid "1 0 reset" "1 1 rom" "1 1 reset"
wait $pid || { cat run.err; fail "gpio enter failed"; }
after=$(levels)
log "BOOT0 NRST mode: pulse '$during_pulse', hold '$during_hold', after '$after'"
[ "$during_pulse" = "1 0 reset" ] || fail "during the pulse: '$during_pulse', expected BOOT0 high, NRST low, the chip in reset"
case "$during_hold" in "1 1 rom" | "1 1 reset") ;; *) fail "during the hold: '$during_hold', expected BOOT0 high, NRST high" ;; esac
wait_usb 0483 df11 5 || fail "no ROM DFU device 0483:df11 after gpio enter"
wait_chip rom 2 || fail "the chip is in mode $(chip_state mode), not rom"
set -- $(levels)
[ "$1 $2" = "0 1" ] || fail "after enter BOOT0=$1 NRST=$2, expected BOOT0 low and NRST high (defined state)"
[ "$(chip_state rom_starts)" = $((roms + 1)) ] || fail "the ROM started $(chip_state rom_starts) times, expected $((roms + 1))"
mcu-ota list >list.txt 2>&1 || { cat list.txt; fail "mcu-ota list failed"; }
grep -q '^0483:df11 ' list.txt || { cat list.txt; fail "mcu-ota list does not show the ROM"; }

# ---- exit by path: the application comes back
log "exit: chip=/dev/$GPIOSIM_CHIP"
boots=$(chip_state app_boots)
t0=$(cut -d' ' -f1 /proc/uptime)
run exit chip="/dev/$GPIOSIM_CHIP" boot0=BOOT0 nrst=NRST || fail "gpio exit failed"
wait_usb_gone 0483 df11 5 || fail "the ROM stayed on the bus after gpio exit"
app_up 1.0.0 || fail "the application did not come back after gpio exit"
log "application back $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.2f", b - a }') s after exit started"
[ "$(chip_state app_boots)" = $((boots + 1)) ] || fail "the application booted $(chip_state app_boots) times, expected $((boots + 1))"
set -- $(levels)
[ "$1 $2" = "0 1" ] || fail "after exit BOOT0=$1 NRST=$2, expected BOOT0 low and NRST high"

# ---- chip by name, lines by offset, default timings
log "enter/exit: chip=$GPIOSIM_CHIP boot0=0 nrst=1"
run enter chip="$GPIOSIM_CHIP" boot0=0 nrst=1 || fail "gpio enter by offsets failed"
wait_usb 0483 df11 5 || fail "no ROM DFU device after gpio enter by offsets"
wait_chip rom 2 || fail "the chip is in mode $(chip_state mode), not rom (offsets)"
run exit chip="$GPIOSIM_CHIP" boot0=0 nrst=1 || fail "gpio exit by offsets failed"
app_up 1.0.0 || fail "the application did not come back after gpio exit by offsets"

# ---- the lines swapped: the plugin cannot tell, but no ROM may start
log "enter with the lines swapped: boot0=NRST nrst=BOOT0"
roms=$(chip_state rom_starts)
run enter chip="$LABEL" boot0=NRST nrst=BOOT0 || fail "gpio enter (swapped) failed: $(cat run.err)"
if wait_usb 0483 df11 2; then fail "a DFU device appeared with the lines swapped"; fi
[ "$(chip_state rom_starts)" = "$roms" ] || fail "the ROM started with the lines swapped"
app_up 1.0.0 || fail "the chip is not running the application after the swapped enter (mode $(chip_state mode))"

# ---- active-low: the kernel inverts, the chip side sees the physical levels
log "enter with boot0_active_low=true: BOOT0 is driven low while selected, the application boots"
roms=$(chip_state rom_starts)
boots=$(chip_state app_boots)
mark=$(chip_lines_mark)
$PR enter chip="$LABEL" boot0=BOOT0 nrst=NRST boot0_active_low=true reset_pulse_ms=1000 \
	boot_hold_ms=2000 2>run.err &
pid=$!
watch "$mark" $pid "0 0 reset" "0 1 app" "0 1 reset"
wait $pid || { cat run.err; fail "gpio enter (boot0_active_low) failed"; }
log "BOOT0 NRST mode: pulse '$during_pulse', hold '$during_hold'"
[ "$during_pulse" = "0 0 reset" ] || fail "boot0_active_low, during the pulse: '$during_pulse', expected BOOT0 low, NRST low"
case "$during_hold" in "0 1 app" | "0 1 reset") ;; *) fail "boot0_active_low, during the hold: '$during_hold', expected BOOT0 low, NRST high" ;; esac
app_up 1.0.0 || fail "the application did not boot with BOOT0 inverted"
[ "$(chip_state rom_starts)" = "$roms" ] || fail "the ROM started although BOOT0 was inverted"
[ "$(chip_state app_boots)" = $((boots + 1)) ] || fail "the chip was not reset with boot0_active_low"

log "enter with nrst_active_low=false: NRST is asserted by a high line, so the chip sits in reset during the hold"
mark=$(chip_lines_mark)
$PR enter chip="$LABEL" boot0=BOOT0 nrst=NRST nrst_active_low=false nrst_open_drain=false \
	reset_pulse_ms=1000 boot_hold_ms=2000 2>run.err &
pid=$!
watch "$mark" $pid "1 1 app" "1 0 reset"
wait $pid || { cat run.err; fail "gpio enter (nrst_active_low=false) failed"; }
log "BOOT0 NRST mode: pulse '$during_pulse', hold '$during_hold'"
[ "$during_pulse" = "1 1 app" ] || fail "nrst_active_low=false, during the pulse: '$during_pulse', expected BOOT0 high, NRST high, the application running"
[ "$during_hold" = "1 0 reset" ] || fail "nrst_active_low=false, during the hold: '$during_hold', expected BOOT0 high, NRST low, the chip in reset"
app_up 1.0.0 || fail "the application did not come back once NRST was released"

# ---- errors: non-zero, and the message says what to check
log "a line that does not exist"
if run enter chip="$LABEL" boot0=BOOT1 nrst=NRST; then fail "gpio enter with boot0=BOOT1 succeeded"; fi
grep -q "no line named BOOT1 on $GPIOSIM_CHIP .*(lines: 0 BOOT0, 1 NRST)" run.err \
	|| fail "the message does not name the line and list the chip's lines"
if run enter chip="$LABEL" boot0=0 nrst=7; then fail "gpio enter with nrst=7 succeeded"; fi
grep -q "nrst line 7 is not on $GPIOSIM_CHIP, which has 2 lines" run.err \
	|| fail "the message does not say that offset 7 is not on the chip"

log "a chip that does not exist"
if run enter chip=/dev/gpiochip99 boot0=BOOT0 nrst=NRST; then fail "gpio enter on /dev/gpiochip99 succeeded"; fi
grep -q "cannot open /dev/gpiochip99: No such file or directory" run.err \
	|| fail "the message does not name the missing chip"
if run enter chip=no-such-label boot0=BOOT0 nrst=NRST; then fail "gpio enter on a missing label succeeded"; fi
grep -q "no GPIO chip named or labelled \"no-such-label\" (chips: .*$GPIOSIM_CHIP \"$LABEL\"" run.err \
	|| fail "the message does not list the chips there are"

log "settings of the wrong type or out of range"
if run enter chip="$LABEL" boot0=BOOT0 nrst=NRST boot0_active_low=1; then fail "boot0_active_low=1 was accepted"; fi
grep -q "boot0_active_low must be true or false" run.err || fail "no message for boot0_active_low=1"
if run enter chip="$LABEL" boot0=BOOT0 nrst=NRST boot_hold_ms=100000; then fail "boot_hold_ms=100000 was accepted"; fi
grep -q "boot_hold_ms must be a number of milliseconds from 0 to 60000" run.err || fail "no message for boot_hold_ms=100000"
if run enter chip="$LABEL" boot0=BOOT0 nrst=BOOT0; then fail "the same line for boot0 and nrst was accepted"; fi
grep -q "boot0 and nrst are the same line" run.err || fail "no message for boot0=nrst"

[ "$(chip_state mode)" = app ] || fail "the failed calls disturbed the chip (mode $(chip_state mode))"
log "all checks passed"
