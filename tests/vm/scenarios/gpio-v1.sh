#!/bin/sh
# gpio and gpio-ready on the GPIO v1 uapi (uapi = "v1"): enter -> ROM DFU and exit -> application with the levels of v2, active-low and push-pull variants, a busy line refused before anything is driven; gpio-ready passes, waits on edges, fails at the deadline as with v2; bias; uapi "auto"/"v2" use v2; bad uapi values refused.
. /lib/mcu-ota-vm/lib.sh

D=$MCU_OTA_PLUGIN_DIR

# run PLUGIN OP SETTINGS...: plugin_run with debug logs; must_fail WHAT PATTERN PLUGIN OP
# SETTINGS... expects exit 1.
run() { plugin_run -v "$@"; }
RUN=run
# used_uapi VERSION: the last run logged that it used the GPIO uapi VERSION.
used_uapi() { grep -q "GPIO $1 uapi" run.err; }
levels() { echo "$(cat "$BOOT0_V") $(cat "$NRST_V") $(chip_state mode)"; }
# sampled OP SETTINGS...: gpio OP with a 1 s pulse and a 2 s hold, the levels recorded while it
# runs (the chip's record, chip_lines_while); sets SEEN (every state, in order) and AFTER.
sampled() {
	_op=$1
	shift
	_mark=$(chip_lines_mark)
	plugin-run -v "$D" gpio "$_op" reset_pulse_ms=1000 boot_hold_ms=2000 "$@" 2>run.err &
	_pid=$!
	chip_lines_while $_pid "$_mark" levels.txt
	SEEN=$(tr '\n' '|' <levels.txt)
	PULSE= HOLD=
	wait $_pid || { cat run.err; fail "gpio $_op $* failed"; }
	AFTER=$(levels)
	log "BOOT0 NRST mode seen: '$SEEN', after '$AFTER'"
}

# pulse STATE HOLD...: PULSE is STATE when sampled saw it, HOLD the first of HOLD... after it.
pulse() {
	PULSE=$(state_seen levels.txt "$1")
	shift
	HOLD=$(state_after levels.txt "$PULSE" "$@")
}

chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --ready-line 2 \
	|| fail "the chip model did not start"
app_up 1.0.0 || fail "the factory firmware did not come up"
BOOT0_V=$(gpio_sim_line 0)/value
NRST_V=$(gpio_sim_line 1)/value
READY_V=$(gpio_sim_line 2)/value
LABEL=$(gpio_sim_label) || fail "cannot find the gpio-sim chip's label"
C="chip=$GPIOSIM_CHIP"
L="chip=$LABEL boot0=BOOT0 nrst=NRST uapi=v1"
log "gpio-sim chip $GPIOSIM_CHIP, label \"$LABEL\"; the application 1.0.0 runs"

# ---- gpio, v1: enter and exit, the levels of v2 (gpio-entry)
log "enter, uapi=v1, by label and names: the levels during the pulse, the hold and after"
roms=$(chip_state rom_starts)
sampled enter $L
pulse "1 0 reset" "1 1 rom" "1 1 reset"
used_uapi v1 || fail "uapi=v1 did not log that it uses the v1 uapi"
[ "$PULSE" = "1 0 reset" ] || fail "v1 enter, during the pulse: '$PULSE', expected BOOT0 high, NRST low, the chip in reset"
case "$HOLD" in "1 1 rom" | "1 1 reset") ;; *) fail "v1 enter, during the hold: '$HOLD', expected BOOT0 high, NRST high" ;; esac
wait_usb 0483 df11 5 || fail "no ROM DFU device 0483:df11 after v1 enter"
wait_chip rom 2 || fail "the chip is in mode $(chip_state mode), not rom"
set -- $(levels)
[ "$1 $2" = "0 1" ] || fail "after v1 enter BOOT0=$1 NRST=$2, expected BOOT0 low and NRST high (defined state)"
[ "$(chip_state rom_starts)" = $((roms + 1)) ] || fail "the ROM started $(chip_state rom_starts) times, expected $((roms + 1))"

log "exit, uapi=v1, by path and offsets"
boots=$(chip_state app_boots)
run gpio exit chip="/dev/$GPIOSIM_CHIP" boot0=0 nrst=1 uapi=v1 || fail "v1 exit failed"
used_uapi v1 || fail "v1 exit did not use the v1 uapi"
wait_usb_gone 0483 df11 5 || fail "the ROM stayed on the bus after v1 exit"
app_up 1.0.0 || fail "the application did not come back after v1 exit"
[ "$(chip_state app_boots)" = $((boots + 1)) ] || fail "the application booted $(chip_state app_boots) times, expected $((boots + 1))"
set -- $(levels)
[ "$1 $2" = "0 1" ] || fail "after v1 exit BOOT0=$1 NRST=$2, expected BOOT0 low and NRST high"

log "v1, default timings, chip by name"
run gpio enter $C boot0=BOOT0 nrst=NRST uapi=v1 || fail "v1 enter (default timings) failed"
wait_usb 0483 df11 5 && wait_chip rom 2 || fail "no ROM after v1 enter (default timings)"
run gpio exit $C boot0=BOOT0 nrst=NRST uapi=v1 || fail "v1 exit (default timings) failed"
app_up 1.0.0 || fail "no application after v1 exit (default timings)"

log "v1, boot0_active_low=true: BOOT0 driven low while selected, the application boots"
roms=$(chip_state rom_starts)
boots=$(chip_state app_boots)
sampled enter $L boot0_active_low=true
pulse "0 0 reset" "0 1 app" "0 1 reset"
[ "$PULSE" = "0 0 reset" ] || fail "v1 boot0_active_low, during the pulse: '$PULSE', expected BOOT0 low, NRST low"
case "$HOLD" in "0 1 app" | "0 1 reset") ;; *) fail "v1 boot0_active_low, during the hold: '$HOLD', expected BOOT0 low, NRST high" ;; esac
app_up 1.0.0 || fail "the application did not boot with BOOT0 inverted (v1)"
[ "$(chip_state rom_starts)" = "$roms" ] || fail "the ROM started although BOOT0 was inverted (v1)"
[ "$(chip_state app_boots)" = $((boots + 1)) ] || fail "the chip was not reset with boot0_active_low (v1)"

log "v1, nrst_active_low=false, push-pull: NRST asserted by a high line, the chip in reset during the hold"
sampled enter $L nrst_active_low=false nrst_open_drain=false
pulse "1 1 app" "1 0 reset"
[ "$PULSE" = "1 1 app" ] || fail "v1 nrst_active_low=false, during the pulse: '$PULSE', expected BOOT0 high, NRST high, the application running"
[ "$HOLD" = "1 0 reset" ] || fail "v1 nrst_active_low=false, during the hold: '$HOLD', expected BOOT0 high, NRST low, the chip in reset"
app_up 1.0.0 || fail "the application did not come back once NRST was released (v1, active high)"

log "v1, push-pull active-low NRST (nrst_open_drain=false): enter -> ROM, exit -> application, NRST driven high after"
sampled enter $L nrst_open_drain=false
pulse "1 0 reset" "1 1 rom" "1 1 reset"
[ "$PULSE" = "1 0 reset" ] || fail "v1 push-pull, during the pulse: '$PULSE'"
wait_usb 0483 df11 5 && wait_chip rom 2 || fail "no ROM after v1 enter with a push-pull NRST"
set -- $(levels)
[ "$1 $2" = "0 1" ] || fail "after v1 push-pull enter BOOT0=$1 NRST=$2, expected 0 1"
run gpio exit $L nrst_open_drain=false || fail "v1 exit with a push-pull NRST failed"
app_up 1.0.0 || fail "no application after v1 exit with a push-pull NRST"

log "v1, NRST held by another consumer (sysfs): refused with the consumers named, nothing driven"
boots=$(chip_state app_boots)
nrst=$(board_gpio NRST) || fail "no NRST line"
before=$(levels)
must_fail "v1 busy NRST" "gpio: BOOT0 ($GPIOSIM_CHIP line 0) or NRST ($GPIOSIM_CHIP line 1) is in use (consumers: \"\", \"sysfs\"); stop the program that holds it" \
	gpio enter $L
v1msg=$(cat run.err)
[ "$(levels)" = "$before" ] || fail "the refused v1 enter changed the levels: '$before' -> '$(levels)'"
must_fail "v2 busy NRST" "is in use (consumers: \"\", \"sysfs\")" gpio enter chip="$LABEL" boot0=BOOT0 nrst=NRST uapi=v2
[ "$(levels)" = "$before" ] || fail "the refused v2 enter changed the levels: '$before' -> '$(levels)'"
[ "$(grep 'plugin-run:' run.err)" = "$(echo "$v1msg" | grep 'plugin-run:')" ] \
	|| fail "v1 and v2 say different things about a busy line"
echo "${nrst##*gpio}" >/sys/class/gpio/unexport || fail "cannot unexport NRST"
sleep 0.2
[ "$(chip_state app_boots)" = "$boots" ] && [ "$(chip_state mode)" = app ] \
	|| fail "the refused requests reset the chip (mode $(chip_state mode))"

# ---- gpio-ready, v1 (gpio-ready)
R="$C ready=READY uapi=v1"
log "gpio-ready, uapi=v1: by name, by offset, chip by label; a version is not checked"
run gpio-ready check $R || fail "v1 gpio-ready by name failed"
used_uapi v1 || fail "gpio-ready uapi=v1 did not use the v1 uapi"
run gpio-ready check $C ready=2 uapi=v1 || fail "v1 gpio-ready by offset failed"
run gpio-ready check --expect 9.9.9 chip="$LABEL" ready=READY uapi=v1 || fail "v1 gpio-ready by label failed"
run gpio-ready check --deadline 0 $R || fail "v1 gpio-ready with deadline 0 failed although READY is high"
run gpio-ready check $R bias=pull-up || fail "v1 gpio-ready with bias=pull-up failed (v1 bias, Linux 5.5+)"

log "v1, ready_active_low=true: fails at the deadline with the message of v2"
t0=$(now)
must_fail "v1 active low" "gpio-ready: the ready line READY ($GPIOSIM_CHIP line 2) stayed inactive for 1000 ms: the application did not signal ready, or the line is wired elsewhere" \
	gpio-ready check --deadline 1000 $R ready_active_low=true
took "$t0" 1 60 || fail "the v1 active-low check took $(since "$t0") s, expected the 1 s deadline"

log "v1, NRST held low: READY low, fails at the deadline; active low passes"
nrst=$(board_gpio NRST) || fail "no NRST line"
echo low >"$nrst/direction"
wait_chip reset 5 || fail "the chip is in mode $(chip_state mode), not reset"
[ "$(cat "$READY_V")" = 0 ] || fail "READY is high in reset"
t0=$(now)
must_fail "v1 in reset" "the ready line $GPIOSIM_CHIP line 2 stayed inactive for 1500 ms" \
	gpio-ready check --deadline 1500 $C ready=2 uapi=v1
took "$t0" 1.5 60 || fail "the v1 check in reset took $(since "$t0") s, expected 1.5 s"
run gpio-ready check $R ready_active_low=true || fail "v1 active low with READY low failed"

log "v1, NRST released 2 s into the wait of a check: passes on the edge, little CPU spent waiting"
plugin-run "$D" gpio-ready check --deadline 60000 $R 2>run.err &
pid=$!
# the CPU it uses while it waits: 2 s from when it sleeps in its wait (its start-up, slow under
# emulation on a busy builder, is not part of the wait)
wait_waiting $pid || fail "v1 gpio-ready did not start waiting (a busy loop never sleeps)"
set -- $(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null)
ticks0=$(($1 + $2))
sleep 2 # the measuring window, not a wait for anything
set -- $(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null)
ticks=$(($1 + $2 - ticks0))
echo in >"$nrst/direction"
t0=$(now)
wait $pid || { cat run.err; fail "v1 gpio-ready did not see READY go high (chip mode $(chip_state mode))"; }
el=$(since "$t0")
log "passed $el s after NRST was released; $ticks clock ticks of CPU in 2 s of waiting"
# seen before the check's deadline (it passed); a hang would show here
awk -v e="$el" 'BEGIN { exit !(e < 60) }' || fail "READY took $el s to be seen (v1)"
[ "$ticks" -lt 40 ] || fail "the v1 check used $ticks ticks of CPU in 2 s of waiting: it polls instead of waiting"
echo "${nrst##*gpio}" >/sys/class/gpio/unexport || fail "cannot unexport NRST"
app_up 1.0.0 || fail "the application is not up after the reset"

log "v1, READY held by another consumer: refused naming it"
ready=$(board_gpio READY) || fail "no READY line"
must_fail "v1 busy READY" "gpio-ready: the ready line READY ($GPIOSIM_CHIP line 2) is in use (consumer \"sysfs\")" \
	gpio-ready check $R
echo "${ready##*gpio}" >/sys/class/gpio/unexport || fail "cannot unexport READY"

log "v1, in the ROM: READY low, fails"
run gpio enter $L || fail "v1 enter (for the ROM check) failed"
wait_chip rom 5 || fail "the chip is in mode $(chip_state mode), not rom"
must_fail "v1 in the ROM" "stayed inactive for 800 ms" gpio-ready check --deadline 800 $R
run gpio exit $L || fail "v1 exit (after the ROM check) failed"
app_up 1.0.0 || fail "the application did not come back from the ROM"
run gpio-ready check $R || fail "v1 gpio-ready after the ROM failed"

# ---- the uapi setting
log "uapi=auto and uapi=v2 use v2 on this kernel; unset is auto"
run gpio-ready check $C ready=READY uapi=auto && used_uapi v2 || fail "uapi=auto did not use v2"
run gpio-ready check $C ready=READY uapi=v2 && used_uapi v2 || fail "uapi=v2 did not use v2"
run gpio-ready check $C ready=READY && used_uapi v2 || fail "no uapi did not use v2"
log "bad uapi values are refused by both plugins, before the chip is touched"
for v in v3 V1 1 2 true ""; do
	must_fail "gpio-ready uapi=$v" 'gpio-ready: setting uapi must be "auto", "v2" or "v1"' \
		gpio-ready check $C ready=READY uapi=$v
	must_fail "gpio uapi=$v" 'gpio: setting uapi must be "auto", "v2" or "v1"' \
		gpio enter $C boot0=BOOT0 nrst=NRST uapi=$v
done
[ "$(chip_state mode)" = app ] || fail "the refused calls disturbed the chip (mode $(chip_state mode))"
log "all checks passed"
