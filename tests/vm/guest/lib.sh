# Helpers for scenarios running in the mcu-ota VM rig guest (busybox sh).
# Scenarios source it:   . /lib/mcu-ota-vm/lib.sh
# A scenario passes by exiting 0; anything else (or the init's timeout) fails it.

log() { echo "[$MCUOTA_SCENARIO] $*"; }
fail() { echo "[$MCUOTA_SCENARIO] FAIL: $*"; exit 1; }

# wait_for TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout.
wait_for() {
	_wf_deadline=$(awk -v t="$1" '{ printf "%d", $1 + t }' /proc/uptime)
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
