#!/bin/sh
# Smoke: the GPIO side of the rig works. A gpio-sim chip with lines BOOT0 and NRST is created
# through configfs; the lines exist in sysfs; a level set from the simulator side (pull) reads
# back, both on the simulator's files and through the kernel's GPIO consumer side (sysfs export).
. /lib/mcu-ota-vm/lib.sh

gpio_sim_create stm32 BOOT0 NRST || fail "could not create the gpio-sim chip through configfs"
log "chip $GPIOSIM_CHIP on $GPIOSIM_DEV ($GPIOSIM_SYS)"

for off in 0 1; do
	[ -d "$(gpio_sim_line $off)" ] || fail "no $(gpio_sim_line $off)"
done

# line names as the GPIO core sees them (debugfs lists every line with its name)
mkdir -p /sys/kernel/debug
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
if [ -r /sys/kernel/debug/gpio ]; then
	grep -A3 "$GPIOSIM_CHIP" /sys/kernel/debug/gpio
	grep -q 'BOOT0' /sys/kernel/debug/gpio || fail "line BOOT0 not named in /sys/kernel/debug/gpio"
	grep -q 'NRST' /sys/kernel/debug/gpio || fail "line NRST not named in /sys/kernel/debug/gpio"
else
	fail "no /sys/kernel/debug/gpio to check the line names"
fi

# simulator side: pull sets the level of an input line
for off in 0 1; do
	l=$(gpio_sim_line $off)
	echo pull-up >"$l/pull"
	[ "$(cat "$l/value")" = 1 ] || fail "sim_gpio$off: pull-up does not read 1"
	echo pull-down >"$l/pull"
	[ "$(cat "$l/value")" = 0 ] || fail "sim_gpio$off: pull-down does not read 0"
done
log "pull-up/pull-down read back on sim_gpio0 and sim_gpio1"

# consumer side: export NRST (offset 1) through the sysfs GPIO interface and read the pull
base=$(gpio_sim_base) || { ls -l /sys/class/gpio; fail "no legacy gpiochip of $GPIOSIM_DEV in /sys/class/gpio"; }
n=$((base + 1))
echo "$n" >/sys/class/gpio/export || fail "cannot export gpio $n"
g=/sys/class/gpio/gpio$n
[ -d "$g" ] || fail "no $g after export"
echo pull-up >"$(gpio_sim_line 1)/pull"
[ "$(cat "$g/value")" = 1 ] || fail "consumer reads $(cat "$g/value") for NRST pulled up"
echo pull-down >"$(gpio_sim_line 1)/pull"
[ "$(cat "$g/value")" = 0 ] || fail "consumer reads $(cat "$g/value") for NRST pulled down"
log "consumer side (gpio $n) follows the simulator's pull"

# and the other way: the consumer drives BOOT0 as an output, the simulator sees it
n0=$base
echo "$n0" >/sys/class/gpio/export || fail "cannot export gpio $n0"
echo out >/sys/class/gpio/gpio$n0/direction
echo 1 >/sys/class/gpio/gpio$n0/value
[ "$(cat "$(gpio_sim_line 0)/value")" = 1 ] || fail "simulator does not see BOOT0 driven high"
echo 0 >/sys/class/gpio/gpio$n0/value
[ "$(cat "$(gpio_sim_line 0)/value")" = 0 ] || fail "simulator does not see BOOT0 driven low"
log "simulator side follows BOOT0 driven by the consumer"
echo "$n0" >/sys/class/gpio/unexport
echo "$n" >/sys/class/gpio/unexport
