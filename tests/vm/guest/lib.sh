# Helpers for scenarios running in the mcu-ota VM rig guest (busybox sh).
# Scenarios source it:   . /lib/mcu-ota-vm/lib.sh
# A scenario passes by exiting 0; anything else (or the init's timeout) fails it.

log() { echo "[$MCUOTA_SCENARIO] $*"; }
fail() { echo "[$MCUOTA_SCENARIO] FAIL: $*"; exit 1; }

# wait_for TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout. TIMEOUT_S is a
# bound for a broken rig, written as an idle machine would need it; it is stretched by
# $MCUOTA_WAIT_SCALE (5 unless set), since a guest on a loaded builder runs several times slower.
# (A wait that expects nothing to happen, `if wait_usb ... 2; then fail`, just looks longer.)
MCUOTA_WAIT_SCALE=${MCUOTA_WAIT_SCALE:-5}
wait_for() {
	_wf_deadline=$(awk -v t="$1" -v k="$MCUOTA_WAIT_SCALE" '{ printf "%d", $1 + t * k }' /proc/uptime)
	shift
	while ! "$@" >/dev/null 2>&1; do
		_wf_now=$(awk '{ printf "%d", $1 }' /proc/uptime)
		[ "$_wf_now" -lt "$_wf_deadline" ] || return 1
		sleep 0.1
	done
}

# usb_dev VID PID: prints the sysfs path of the first USB device with that id (hex, 4 digits).
usb_dev() {
	for _d in /sys/bus/usb/devices/*; do
		[ -r "$_d/idVendor" ] || continue
		if [ "$(cat "$_d/idVendor")" = "$1" ] && [ "$(cat "$_d/idProduct")" = "$2" ]; then
			echo "$_d"
			return 0
		fi
	done
	return 1
}

# wait_usb VID PID [TIMEOUT_S]: waits until the device is enumerated.
wait_usb() { wait_for "${3:-10}" usb_dev "$1" "$2"; }
# wait_usb_gone VID PID [TIMEOUT_S]
wait_usb_gone() { wait_for "${3:-10}" eval "! usb_dev $1 $2"; }

# gpio_sim_create NAME LINE_NAME...: creates a live gpio-sim chip with one bank whose lines carry
# the given names (offset 0, 1, ...). Sets GPIOSIM_DEV (platform device, e.g. gpio-sim.0),
# GPIOSIM_CHIP (e.g. gpiochip0) and GPIOSIM_SYS (/sys/devices/platform/$DEV/$CHIP).
gpio_sim_create() {
	_gs=/sys/kernel/config/gpio-sim/$1
	shift
	mkdir "$_gs" && mkdir "$_gs/bank0" || return 1
	echo "$#" >"$_gs/bank0/num_lines" || return 1
	_i=0
	for _n in "$@"; do
		mkdir "$_gs/bank0/line$_i" && echo "$_n" >"$_gs/bank0/line$_i/name" || return 1
		_i=$((_i + 1))
	done
	echo 1 >"$_gs/live" || return 1
	GPIOSIM_DEV=$(cat "$_gs/dev_name")
	GPIOSIM_CHIP=$(cat "$_gs/bank0/chip_name")
	GPIOSIM_SYS=/sys/devices/platform/$GPIOSIM_DEV/$GPIOSIM_CHIP
	[ -d "$GPIOSIM_SYS" ]
}

# gpio_sim_line OFFSET: the sim_gpioN directory of a line of the last created chip
# (files: value = what the consumer drives or the pull when it is an input; pull = pull-up|pull-down).
gpio_sim_line() { echo "$GPIOSIM_SYS/sim_gpio$1"; }

# gpio_sim_base: the global number of line 0 of the last created chip (legacy sysfs GPIO numbers,
# for /sys/class/gpio/export).
gpio_sim_base() {
	for _c in /sys/class/gpio/gpiochip*; do
		case "$(readlink -f "$_c")" in
		*/"$GPIOSIM_DEV"/*) cat "$_c/base"; return 0 ;;
		esac
	done
	return 1
}

# gpio_sim_label: the label of the last created chip (what the gpio plugins' chip= matches).
gpio_sim_label() {
	for _c in /sys/class/gpio/gpiochip*; do
		case "$(readlink -f "$_c")" in
		*/"$GPIOSIM_DEV"/*) cat "$_c/label"; return 0 ;;
		esac
	done
	return 1
}

# ---- the chip (stm32-chip: the STM32 model on raw_gadget + gpio-sim) and the board around it

# Test firmware built by tests/vm/CMakeLists.txt (fw-1.0.0.bin, fw-2.0.0.bin, fw-2.0.0-1m.bin, ...).
FW=/usr/share/mcu-ota-vm/firmware

# chip_start [stm32-chip options...]: starts the chip model in the background, wired to the
# lines BOOT0 and NRST of a gpio-sim chip named chip-$MCUOTA_SCENARIO (created on first use;
# with a third line READY, offset 2, when the options include --ready-line).
# Its log goes to $CHIP_LOG (default $MCUOTA_WORK/chip.log; "-" for this script's output).
# Sets CHIP_PID and CHIP_STATE (the state file: mode=reset|rom|app|off, version=, busy_us=...).
# Returns once the chip has written its first state.
chip_start() {
	if [ -z "$GPIOSIM_SYS" ]; then
		# READY (offset 2) only for a chip that drives it: scenarios pin the line list
		case " $* " in
		*" --ready-line "*) gpio_sim_create "chip-$MCUOTA_SCENARIO" BOOT0 NRST READY || return 1 ;;
		*) gpio_sim_create "chip-$MCUOTA_SCENARIO" BOOT0 NRST || return 1 ;;
		esac
	fi
	CHIP_STATE=$MCUOTA_WORK/chip.state
	rm -f "$CHIP_STATE" "$CHIP_STATE.lines"
	if [ "${CHIP_LOG:-}" = - ]; then
		stm32-chip --gpio-sim "chip-$MCUOTA_SCENARIO" --state "$CHIP_STATE" "$@" &
	else
		stm32-chip --gpio-sim "chip-$MCUOTA_SCENARIO" --state "$CHIP_STATE" "$@" \
			>>"${CHIP_LOG:-$MCUOTA_WORK/chip.log}" 2>&1 &
	fi
	CHIP_PID=$!
	wait_for 5 test -e "$CHIP_STATE"
}

# chip_stop: ends the chip (its flash is gone with it).
chip_stop() {
	[ -n "$CHIP_PID" ] || return 0
	kill "$CHIP_PID" 2>/dev/null
	wait "$CHIP_PID" 2>/dev/null
	CHIP_PID=
}

# chip_state KEY: a value from the chip's state file.
chip_state() { sed -n "s/^$1=//p" "$CHIP_STATE" 2>/dev/null; }

# wait_chip MODE [TIMEOUT_S]: until the chip says it is in MODE (reset, rom, app, off).
wait_chip() { wait_for "${2:-10}" eval "[ \"\$(chip_state mode)\" = $1 ]"; }

# chip_logged TEXT: until the chip's log has a line containing TEXT (the bound only ends a hang). The
# model answers a console line first and logs it after, so a reply seen is not yet a line logged.
chip_logged() { wait_for 20 grep -qF -- "$1" "${CHIP_LOG:-$MCUOTA_WORK/chip.log}"; }

# The chip's pause points (stm32-chip hold_at_block and hold_at_start, read from the --faults
# file of the chip, by default $MCUOTA_WORK/faults): from data block N of a write, or from the
# first DFU request of a ROM start, the update goes on in slow motion (one DFU request each
# 1.5 s: within mcu-ota's limits, and still in the phase it was in) until the file no longer
# asks for it. A test that needs an update in progress waits for the hold, looks for as long as
# it needs, then moves the pause point on or releases it.
# chip_hold_at N [FAULTS]: arm (or move on to) a hold after block N; other fault lines stay.
chip_hold_at() {
	_ch=${2:-$MCUOTA_WORK/faults}
	{ grep -v '^hold_at_block=' "$_ch" 2>/dev/null; echo "hold_at_block=$1"; } >"$_ch.new" &&
		mv "$_ch.new" "$_ch" # in one step: the chip reads it while it holds
}
# chip_hold_start [FAULTS]: arm a hold of the first DFU request of the next ROM start.
chip_hold_start() {
	_ch=${1:-$MCUOTA_WORK/faults}
	{ grep -v '^hold_at_start=' "$_ch" 2>/dev/null; echo "hold_at_start=1"; } >"$_ch.new" &&
		mv "$_ch.new" "$_ch"
}
# chip_release [FAULTS]: no hold any more (a held update goes on).
chip_release() {
	_ch=${1:-$MCUOTA_WORK/faults}
	{ grep -v '^hold_at_block=\|^hold_at_start=' "$_ch" 2>/dev/null; } >"$_ch.new"
	mv "$_ch.new" "$_ch"
}
# chip_wait_held N|start [TIMEOUT_S]: until the chip holds the update from block N, or from the
# ROM's first request (default 30 s).
chip_wait_held() { wait_for "${2:-30}" eval "[ \"\$(chip_state held_block)\" = $1 ]"; }

# The gateway's side of the lines, through the legacy sysfs GPIO interface (what a shell script
# on a gateway would do; mcu-ota's gpio entry plugin will use the chardev).
# board_gpio NAME: the /sys/class/gpio/gpioN folder of the line NAME of the last gpio-sim chip,
# exported on first use.
board_gpio() {
	_bg_base=$(gpio_sim_base) || return 1
	_bg_off=
	for _bg_d in /sys/kernel/config/gpio-sim/*; do
		[ "$(cat "$_bg_d/dev_name" 2>/dev/null)" = "$GPIOSIM_DEV" ] || continue
		for _bg_l in "$_bg_d"/bank0/line*; do
			if [ "$(cat "$_bg_l/name")" = "$1" ]; then
				_bg_off=${_bg_l##*/line}
			fi
		done
	done
	[ -n "$_bg_off" ] || return 1
	_bg_n=$((_bg_base + _bg_off))
	[ -d "/sys/class/gpio/gpio$_bg_n" ] || echo "$_bg_n" >/sys/class/gpio/export || return 1
	echo "/sys/class/gpio/gpio$_bg_n"
}

# board_boot0 high|low: drive BOOT0.
board_boot0() {
	_bb=$(board_gpio BOOT0) || return 1
	echo "$1" >"$_bb/direction"
}

# board_reset [dfu|app]: BOOT0 high (dfu: the ROM bootloader) or low (app: boot from flash),
# then NRST low and released (an input again: the board's pull-up takes it high). With a chip
# started by chip_start, NRST is released once the chip says it is in reset (it polls the line:
# a fixed pulse could end before a busy guest lets it look); otherwise after 50 ms.
board_reset() {
	case "${1:-}" in
	dfu) board_boot0 high || return 1 ;;
	app) board_boot0 low || return 1 ;;
	"") ;;
	*) return 1 ;;
	esac
	_br=$(board_gpio NRST) || return 1
	echo low >"$_br/direction" || return 1
	if [ -n "${CHIP_PID:-}" ] && [ -n "${CHIP_STATE:-}" ]; then
		wait_chip reset 30 || { echo in >"$_br/direction"; return 1; }
	else
		sleep 0.05
	fi
	echo in >"$_br/direction"
}

# usb_string VID PID ATTR: a sysfs string of the device (product, manufacturer, serial).
usb_string() { _us=$(usb_dev "$1" "$2") && cat "$_us/$3"; }

# app_up [VERSION]: the example application (0483:5740) is on the bus and the chip model runs it
# (and it reports VERSION over its vendor request).
app_up() {
	wait_usb 0483 5740 5 && wait_chip app 5 && { [ -z "${1:-}" ] || [ "$(app-query version)" = "$1" ]; }
}

# chip_lines_mark: where the chip's record of its lines ends now. chip_lines_while PID MARK FILE:
# once PID ends, the chip's own record since MARK ("BOOT0 NRST mode", one line per change) into
# FILE: the states a program drove the chip through. The chip polls its lines every few ms at
# real-time priority; a shell sampling the levels missed a 1 s pulse in a guest on a loaded host.
chip_lines_mark() { if [ -e "$CHIP_STATE.lines" ]; then wc -l <"$CHIP_STATE.lines"; else echo 0; fi; }
chip_lines_while() {
	while kill -0 "$1" 2>/dev/null; do sleep 0.05; done
	tail -n "+$(($2 + 1))" "$CHIP_STATE.lines" >"$3"
}
# state_seen FILE STATE: prints STATE when it is in FILE (chip_lines_while), else what is.
state_seen() {
	grep -qxF "$2" "$1" && { echo "$2"; return; }
	echo "not seen (seen: $(tr '\n' '|' <"$1"))"
}
# state_after FILE STATE ALT...: prints the first state after STATE that is one of ALT.
state_after() {
	_sa_f=$1 _sa_s=$2
	shift 2
	_sa_on=0
	while IFS= read -r _sa_l; do
		if [ $_sa_on = 1 ]; then
			for _sa_a in "$@"; do [ "$_sa_l" = "$_sa_a" ] && { echo "$_sa_l"; return; }; done
		fi
		[ "$_sa_l" = "$_sa_s" ] && _sa_on=1
	done <"$_sa_f"
	echo "none after '$_sa_s' (seen: $(tr '\n' '|' <"$_sa_f"))"
}

# wait_waiting PID [TIMEOUT_S]: until the program PID started in the background runs (it
# exec'd: not a shell any more) and sleeps, i.e. it is in its wait (for a device, a line, a
# reply) rather than still starting up: the event a test waits for before it changes what the
# program waits on.
wait_waiting() {
	wait_for "${2:-30}" eval "! grep -q '^Name:.*sh\$' /proc/$1/status && grep -q '^State:.*S' /proc/$1/status"
}

# ---- time: now (seconds since boot), since T (seconds since now was T), between E LO HI
# (LO <= E < HI), took T LO HI (between LO and HI seconds since T)
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
between() { awk -v e="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(e >= lo && e < hi) }'; }
took() { between "$(since "$1")" "$2" "$3"; }

# ---- plugins one operation at a time (plugin-run, tests/vm/plugin-run.c)
# plugin_run [-v] PLUGIN OP ARGS...: the operation of an installed plugin, its stderr shown and
# kept in run.err; returns its exit status (1: the operation failed).
plugin_run() {
	_pr_v=
	[ "$1" != -v ] || { _pr_v=-v; shift; }
	plugin-run $_pr_v "$MCU_OTA_PLUGIN_DIR" "$@" 2>run.err
	_rc=$?
	cat run.err
	return $_rc
}
# must_fail WHAT PATTERN ARGS...: $RUN ARGS... (the scenario's plugin call; plugin_run unless it
# sets RUN) exits 1 and its message in run.err matches PATTERN.
must_fail() {
	_what=$1 _pat=$2
	shift 2
	${RUN:-plugin_run} "$@"
	_rc=$?
	[ $_rc = 1 ] || fail "$_what: exit $_rc, expected 1"
	grep -q "$_pat" run.err || fail "$_what: the message does not match '$_pat'"
}
