# Helpers for the update scenarios (mcu-ota update/rollback/status/recover on chips started
# with chip_start). Scenarios source it after lib.sh:   . /lib/mcu-ota-vm/update-lib.sh

KEY=$FW/bundle-key.pub.pem
STATE=$MCUOTA_WORK/state
CONF=$MCUOTA_WORK/mcu-ota.conf
export MCU_OTA_CONFIG=$CONF

# device_block NAME GPIOCHIP SERIAL [MORE SETTINGS]: one device of the configuration: gpio entry on
# the lines BOOT0/NRST of GPIOCHIP, the dfuse flasher and the usb-version health check, both
# matched by SERIAL (the ROM and the application report the same one, from the chip's UID).
device_block() {
	cat <<CONF
  { name = "$1";
    bootloader_timeout_ms = 5000;
    health_timeout_ms = 5000;
    entry = { plugin = "gpio"; chip = "$2"; boot0 = "BOOT0"; nrst = "NRST"; };
    flasher = { plugin = "dfuse"; serial = "$3"; };
    health = { plugin = "usb-version"; vid = 0x0483; pid = 0x5740; serial = "$3"; };
    ${4:-}
  }
CONF
}

# write_config BLOCK...: the configuration file $CONF with these devices.
write_config() {
	{
		echo "state_dir = \"$STATE\";"
		echo "bundle = { keys = [\"$KEY\"]; };"
		echo "devices = ("
		_wc_first=1
		for _wc_b in "$@"; do
			[ $_wc_first = 1 ] || echo ","
			_wc_first=0
			echo "$_wc_b"
		done
		echo ");"
	} >"$CONF"
}

# app_version SERIAL: the version the application with this USB serial reports, as the kernel
# read it at enumeration (its interface string, descriptor 4); fails when it is not on the bus.
app_version() {
	for _av in /sys/bus/usb/devices/*; do
		[ "$(cat "$_av/idVendor" 2>/dev/null)" = 0483 ] || continue
		[ "$(cat "$_av/idProduct")" = 5740 ] || continue
		[ "$(cat "$_av/serial" 2>/dev/null)" = "$1" ] || continue
		cat "$_av/${_av##*/}:1.0/interface"
		return
	done
	return 1
}

# wait_version SERIAL VERSION [TIMEOUT_S]: until the application reports VERSION.
wait_version() { wait_for "${3:-10}" eval "[ \"\$(app_version $1)\" = $2 ]"; }

# status_field DEVICE KEY: a value of `mcu-ota status --json` for one device (strings unquoted).
status_field() {
	mcu-ota status --json | tr -d '\n' | sed 's/},/}\n/g' | grep "\"device\": \"$1\"" |
		sed -n -e "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p" -e t -e "s/.*\"$2\": \([^,}]*\).*/\1/p"
}

# no_partial_files: nothing half-written anywhere in the store.
no_partial_files() {
	_np=$(find "$STATE" -name '*.new' -o -name '*.tmp*' -o -name '.*' -type f 2>/dev/null)
	[ -z "$_np" ] || { echo "half-written files: $_np"; return 1; }
}

# board_release: give BOOT0 and NRST back (unexport them from sysfs), so that mcu-ota can take them.
board_release() {
	for _br_n in BOOT0 NRST; do
		_br_d=$(board_gpio "$_br_n") || return 1
		echo "${_br_d##*/gpio}" >/sys/class/gpio/unexport || return 1
	done
}
