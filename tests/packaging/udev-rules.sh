#!/usr/bin/env bash
# 60-mcu-ota.rules read by udev's own rule parser (udevadm test; systemd 252 has no
# `udevadm verify`) beside the system's rules, and applied to simulated devices: the STM32 ROM
# bootloader 0483:df11 and the example application 0483:5740 get group mcu-ota and mode 0660 as
# the last word (no later rule changes them), and so does a GPIO chip; an ST-LINK (0483:3748),
# a USB interface and a remove event are left alone; the parser reports nothing about the file.
#
# It runs in a mount namespace with a tmpfs /sys holding the simulated devices (udev's test suite
# does the same; SYSTEMD_DEVICE_VERIFY_SYSFS=0 lets sd-device accept a /sys that is not sysfs),
# tmpfs /run (the rules under test go to /run/udev/rules.d, udev's database stays there) and
# /dev (udevadm test creates /dev/char links), and an /etc/group that has the group mcu-ota.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ -z "${MCU_OTA_UDEV_IN_NS:-}" ]; then
	command -v udevadm >/dev/null || skip "udevadm is not installed (Debian: apt-get install udev)"
	[ "$(id -u)" -eq 0 ] || skip "needs root (a mount namespace)"
	unshare -m true 2>/dev/null || skip "unshare -m is not permitted here"
	exec unshare -m env MCU_OTA_UDEV_IN_NS=1 "$0" "$@"
fi

rules=$stage$rulesdir/60-mcu-ota.rules
[ -f "$rules" ] || rules=$source_dir/conf/60-mcu-ota.rules
ours=/run/udev/rules.d/60-mcu-ota.rules

mount -t tmpfs tmpfs /run
mkdir -p /run/udev/rules.d /run/etc
cp "$rules" "$ours"
cp /etc/group /run/etc/group
gid=$(getent group mcu-ota | cut -d: -f3)
if [ -z "$gid" ]; then
	gid=4242
	echo "mcu-ota:x:$gid:" >>/run/etc/group
fi
mount --bind /run/etc/group /etc/group
touch /run/null
mount --bind /dev/null /run/null
mount -t tmpfs tmpfs /dev
touch /dev/null
mount --bind /run/null /dev/null
mount -t tmpfs tmpfs /sys
mkdir -p /sys/bus/usb /sys/bus/gpio /sys/class

# device SYSPATH SUBSYSTEM UEVENT [ATTR=VALUE...]: a simulated sysfs device
device() {
	local d=$1 subsystem=$2 uevent=$3
	shift 3
	mkdir -p "$d"
	printf '%b\n' "$uevent" >"$d/uevent" # sd-device drops a last line without newline
	ln -s "$(realpath --relative-to="$d" "/sys/bus/$subsystem")" "$d/subsystem"
	for a in "$@"; do echo "${a#*=}" >"$d/${a%%=*}"; done
}
usb=/sys/devices/pci0000:00/0000:00:14.0/usb1
node() { printf 'MAJOR=189\\nMINOR=%d\\nDEVNAME=bus/usb/001/%03d\\nDEVTYPE=usb_device' "$1" "$1"; }
device "$usb/1-1" usb "$(node 1)" idVendor=0483 idProduct=df11 dev=189:1
device "$usb/1-2" usb "$(node 2)" idVendor=0483 idProduct=5740 dev=189:2
device "$usb/1-3" usb "$(node 3)" idVendor=0483 idProduct=3748 dev=189:3
device "$usb/1-1/1-1:1.0" usb 'DEVTYPE=usb_interface\nINTERFACE=254/1/2' bInterfaceClass=fe
device /sys/devices/platform/gpio-sim.0/gpiochip0 gpio 'MAJOR=254\nMINOR=0\nDEVNAME=gpiochip0' \
	dev=254:0

# run ACTION SYSPATH: udevadm test's output
run() { SYSTEMD_DEVICE_VERIFY_SYSFS=0 udevadm test --action="$1" "$2" 2>&1; }

out=$(run add "$usb/1-1")
check "udev reads $ours" grep -q "Reading rules file: $ours" <<<"$out"
diag=$(grep "^$ours:" <<<"$out")
check "udev's parser says nothing about the rules${diag:+: $diag}" test -z "$diag"

# granted NAME SYSPATH: our rule sets GROUP and MODE, and no later rule changes them
granted() {
	local out last_group last_mode
	out=$(run add "$2")
	last_group=$(grep -E ': /[^ ]+:[0-9]+ GROUP ' <<<"$out" | tail -n1)
	last_mode=$(grep -E ': /[^ ]+:[0-9]+ MODE ' <<<"$out" | tail -n1)
	if [[ $last_group == *"$ours:"*" GROUP $gid" && $last_mode == *"$ours:"*" MODE 0660" ]]; then
		ok "$1: group mcu-ota ($gid), mode 0660"
	else
		fail "$1: last GROUP: '${last_group:-none}', last MODE: '${last_mode:-none}'"
	fi
}
# untouched NAME ACTION SYSPATH: no rule of ours applies
untouched() {
	local hits
	hits=$(run "$2" "$3" | grep -F ": $ours:")
	check "$1: left alone${hits:+ (but: $hits)}" test -z "$hits"
}
granted "the ROM bootloader 0483:df11" "$usb/1-1"
granted "the example application 0483:5740" "$usb/1-2"
granted "a GPIO chip" /sys/devices/platform/gpio-sim.0/gpiochip0
untouched "an ST-LINK 0483:3748" add "$usb/1-3"
untouched "a USB interface of the bootloader" add "$usb/1-1/1-1:1.0"
untouched "the bootloader's remove event" remove "$usb/1-1"
finish
