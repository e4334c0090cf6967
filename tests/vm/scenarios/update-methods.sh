#!/bin/sh
# mcu-ota update through every entry method (gpio, usb-vendor, dfu-detach, serial) and every health check (usb, usb-version, gpio-ready, serial-query), each with its failure: lines wired wrong (no bootloader appears, the likely causes named), the application ignoring the command, no ready signal, a wrong version reported over the UART.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

TTY=$MCUOTA_WORK/ttyMCU
upd() { # upd EXPECTED_EXIT ARGS...
	_want=$1
	shift
	mcu-ota "$@" >upd.out 2>&1
	_rc=$?
	grep -v ": \(compare\|erase\|write\|verify\|read\) " upd.out | sed 's/^/    | /'
	[ "$_rc" = "$_want" ] || fail "mcu-ota $*: exit $_rc, expected $_want"
}
# unchanged ARGS...: mcu-ota fails without touching the chip (not 0, not 8 rolled back, not 9)
unchanged() {
	mcu-ota "$@" >upd.out 2>&1
	_rc=$?
	sed 's/^/    | /' upd.out
	case $_rc in 0 | 8 | 9) fail "mcu-ota $*: exit $_rc, expected a failure that changes nothing" ;; esac
	[ "$(status_field mcu result)" = unchanged ] || fail "result $(status_field mcu result), expected unchanged"
}
expect_out() { grep -q "$1" upd.out || fail "the output does not say '$1'"; }
runs() {
	wait_version "$SERIAL" "$1" 10 || fail "the chip does not run $1 (it reports '$(app_version "$SERIAL")')"
	[ "$(status_field mcu version)" = "$1" ] || fail "status says $(status_field mcu version), the chip runs $1"
}
APP="vid = 0x0483; pid = 0x5740;"
# config ENTRY HEALTH: one device, the dfuse flasher by serial. The updates go up and down
# between 2.0.0 and 3.0.0 (and the 2.1.0 that does not boot): root's --allow-downgrade lets
# them below the high-water mark
config() {
	cat >"$CONF" <<CONF
state_dir = "$STATE";
bundle = { keys = ["$KEY"]; };
devices = ( {
  name = "mcu";
  allow_downgrade = true;
  bootloader_timeout_ms = 4000;
  health_timeout_ms = 4000;
  entry = { $1 };
  flasher = { plugin = "dfuse"; serial = "$SERIAL"; };
  health = { $2 };
} );
CONF
}

start() { # start [stm32-chip options]: the chip with its UART and READY line, running 1.0.0
	chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --serial-link "$TTY" --ready-line 2 "$@" ||
		fail "the chip model did not start"
	wait_usb 0483 5740 5 || fail "the factory firmware did not come up"
	SERIAL=$(usb_string 0483 5740 serial)
}
start

log "usb-vendor entry ('B' request) + gpio-ready health"
config "plugin = \"usb-vendor\"; $APP request = 0x42;" \
	"plugin = \"gpio-ready\"; chip = \"$GPIOSIM_CHIP\"; ready = \"READY\";"
upd 0 update --allow-downgrade "$FW/bundle-2.0.0.swu"
runs 2.0.0

log "dfu-detach entry (DFU runtime DETACH) + serial-query health over the UART"
config "plugin = \"dfu-detach\"; $APP" "plugin = \"serial-query\"; device = \"$TTY\";"
upd 0 update "$FW/bundle-3.0.0.swu"
runs 3.0.0

log "serial entry ('bootloader' on the UART) + usb health"
config "plugin = \"serial\"; device = \"$TTY\"; command = \"bootloader\\\\n\"; reply = \"ok\";" \
	"plugin = \"usb\"; $APP serial = \"$SERIAL\";"
upd 0 update --allow-downgrade "$FW/bundle-2.0.0.swu"
runs 2.0.0

log "gpio entry + usb-version health"
GPIO="plugin = \"gpio\"; chip = \"$GPIOSIM_CHIP\"; boot0 = \"BOOT0\"; nrst = \"NRST\";"
config "$GPIO" "plugin = \"usb-version\"; $APP serial = \"$SERIAL\";"
upd 0 update "$FW/bundle-3.0.0.swu"
runs 3.0.0

log "failure: BOOT0 configured on the wrong line: no bootloader appears, the causes are named, nothing changes"
config "plugin = \"gpio\"; chip = \"$GPIOSIM_CHIP\"; boot0 = 2; nrst = \"NRST\";" \
	"plugin = \"usb-version\"; $APP serial = \"$SERIAL\";"
unchanged update --allow-downgrade "$FW/bundle-2.0.0.swu"
expect_out "no bootloader appeared within 4000 ms after gpio entry"
expect_out "BOOT0 or NRST wired to other lines"
runs 3.0.0

log "failure: usb-vendor with a request the application does not know: it stays, nothing changes"
config "plugin = \"usb-vendor\"; $APP request = 0x43;" "plugin = \"usb\"; $APP"
unchanged update --allow-downgrade "$FW/bundle-2.0.0.swu"
expect_out "stayed on the bus"
runs 3.0.0

log "failure: an image that never signals ready (it does not boot): rolled back, ready again"
config "$GPIO" "plugin = \"gpio-ready\"; chip = \"$GPIOSIM_CHIP\"; ready = \"READY\";"
upd 8 update --allow-downgrade "$FW/bundle-noboot.swu"
expect_out "stayed inactive"
expect_out "rolled back to 3.0.0"
runs 3.0.0

log "failure: the UART reports 2.0.0 where the bundle says 3.1.0: rolled back"
config "$GPIO" "plugin = \"serial-query\"; device = \"$TTY\";"
upd 8 update "$FW/bundle-wrong-version.swu"
expect_out "reports 2.0.0, expected 3.1.0"
expect_out "rolled back to 3.0.0"
runs 3.0.0

log "failure: an application that ignores every 'enter the bootloader' command (usb-vendor, dfu-detach, serial)"
chip_stop
start --app-ignores-commands
for e in "plugin = \"usb-vendor\"; $APP request = 0x42;" "plugin = \"dfu-detach\"; $APP"; do
	config "$e" "plugin = \"usb\"; $APP"
	unchanged update --allow-downgrade "$FW/bundle-2.0.0.swu"
	expect_out "stayed on the bus"
done
config "plugin = \"serial\"; device = \"$TTY\"; command = \"bootloader\\\\n\"; reply = \"ok\";" "plugin = \"usb\"; $APP"
unchanged update --allow-downgrade "$FW/bundle-2.0.0.swu"
expect_out "no bootloader appeared within 4000 ms after serial entry"
wait_version "$SERIAL" 1.0.0 || fail "the application is not running 1.0.0 any more"
no_partial_files || fail "half-written files"

log "a read-protected chip cannot be read back: with backup = required (the default) the update is refused"
chip_stop
rm -rf "$STATE"
start --read-protected
config "$GPIO" "plugin = \"usb\"; $APP"
unchanged update --allow-downgrade "$FW/bundle-2.0.0.swu"
expect_out "cannot read the firmware back from the chip"
expect_out 'Set backup = "optional" for mcu'
wait_version "$SERIAL" 1.0.0 || fail "the protected chip does not run 1.0.0 any more"
log "done"
