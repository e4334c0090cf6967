#!/bin/sh
# gpio-ready health plugin on the chip's READY line (gpio-sim offset 2): passes while the application runs (by name, by offset, chip by label), waits on edges for a reset to end without burning CPU, fails at the deadline in reset and in the ROM, active-low inverted, unknown line, bad settings.
. /lib/mcu-ota-vm/lib.sh

PR="plugin-run $MCU_OTA_PLUGIN_DIR gpio-ready check"

# check ARGS...: gpio-ready's check (plugin_run); must_fail WHAT PATTERN ARGS... runs it.
check() { plugin_run gpio-ready check "$@"; }
RUN=check
ready() { cat "$(gpio_sim_line 2)/value"; }

chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --ready-line 2 \
	|| fail "the chip model did not start"
app_up || fail "the factory firmware did not come up"
wait_for 2 eval '[ "$(ready)" = 1 ]' || fail "READY is not high while the application runs"
LABEL=$(gpio_sim_label) || fail "cannot find the gpio-sim chip's label"
C="chip=$GPIOSIM_CHIP"
log "the application 1.0.0 runs, READY high; chip $GPIOSIM_CHIP, label \"$LABEL\""

# ---- the application is up
log "ready=READY; ready=2; chip by label and by path; a version is not checked"
check $C ready=READY || fail "gpio-ready by name failed"
check $C ready=2 || fail "gpio-ready by offset failed"
check chip="$LABEL" ready=READY || fail "gpio-ready with the chip's label failed"
check --expect 9.9.9 chip="/dev/$GPIOSIM_CHIP" ready=READY || fail "gpio-ready with a version failed"
check --deadline 0 $C ready=READY || fail "gpio-ready with deadline 0 failed although READY is high"

log "ready_active_low=true: READY high is inactive; fails at the deadline"
t0=$(now)
must_fail "active low" "the ready line READY ($GPIOSIM_CHIP line 2) stayed inactive for 1000 ms: the application did not signal ready, or the line is wired elsewhere" \
	--deadline 1000 $C ready=READY ready_active_low=true
took "$t0" 1 60 || fail "the active-low check took $(since "$t0") s, expected the 1 s deadline"

# ---- the chip held in reset
log "NRST held low: READY low, the check fails at the deadline"
nrst=$(board_gpio NRST) || fail "no NRST line"
echo low >"$nrst/direction"
wait_chip reset 5 || fail "the chip is in mode $(chip_state mode), not reset"
[ "$(ready)" = 0 ] || fail "READY is high in reset"
t0=$(now)
must_fail "in reset" "the ready line $GPIOSIM_CHIP line 2 stayed inactive for 1500 ms" \
	--deadline 1500 $C ready=2
took "$t0" 1.5 60 || fail "the check in reset took $(since "$t0") s, expected the 1.5 s deadline"
log "ready_active_low=true in reset: the low line is active, passes at once"
check $C ready=READY ready_active_low=true || fail "active low with READY low failed"

log "NRST released 2 s into the wait of a check: it passes on the edge, with little CPU spent waiting"
$PR --deadline 60000 $C ready=READY 2>run.err &
pid=$!
# the CPU it uses while it waits: 2 s from when it sleeps in its wait (its start-up, slow under
# emulation on a busy builder, is not part of the wait)
wait_waiting $pid || fail "gpio-ready did not start waiting (a busy loop never sleeps)"
set -- $(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null)
ticks0=$(($1 + $2))
sleep 2 # the measuring window, not a wait for anything
set -- $(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null)
ticks=$(($1 + $2 - ticks0))
echo in >"$nrst/direction"
t0=$(now)
wait $pid || { cat run.err; fail "gpio-ready did not see READY go high (chip mode $(chip_state mode))"; }
el=$(since "$t0")
log "passed $el s after NRST was released (boot 20 ms + ready delay 50 ms); $ticks clock ticks of CPU in 2 s of waiting"
# seen before the check's deadline (it passed); a hang would show here
awk -v e="$el" 'BEGIN { exit !(e < 60) }' || fail "READY took $el s to be seen"
# 2 s of busy polling would be ~200 ticks
[ "$ticks" -lt 40 ] || fail "the check used $ticks ticks of CPU in 2 s of waiting: it polls instead of waiting"
app_up || fail "the application is not up after the reset"

# ---- the chip in the ROM bootloader
log "the chip in the ROM (BOOT0 high + reset): READY low, fails"
board_reset dfu || fail "board_reset dfu failed"
wait_chip rom 5 || fail "the chip is in mode $(chip_state mode), not rom"
must_fail "in the ROM" "stayed inactive for 800 ms" --deadline 800 $C ready=READY
board_reset app || fail "board_reset app failed"
app_up || fail "the application did not come back from the ROM"
check $C ready=READY || fail "gpio-ready after the ROM failed"

# ---- settings
log "bad settings"
must_fail "unknown line" "gpio-ready: no line named BUSY on $GPIOSIM_CHIP .*(lines: 0 BOOT0, 1 NRST, 2 READY)" \
	$C ready=BUSY
must_fail "offset out of range" "ready line 5 is not on $GPIOSIM_CHIP, which has 3 lines" $C ready=5
must_fail "no ready" "gpio-ready: no ready line set" $C
must_fail "no chip" "gpio-ready: no chip set" ready=READY
must_fail "missing chip" "cannot open /dev/gpiochip99" chip=/dev/gpiochip99 ready=READY
must_fail "bias" 'setting bias must be "none", "pull-up" or "pull-down"' $C ready=READY bias=strong
must_fail "active low type" "ready_active_low must be true or false" $C ready=READY ready_active_low=1
[ "$(chip_state mode)" = app ] || fail "the checks disturbed the chip (mode $(chip_state mode))"
log "all checks passed"
