#!/bin/sh
# usb-vendor and dfu-detach entry plugins: the application's 'B' request and DFU DETACH -> ROM DFU (with serial, port, interface), dfu-util -l/-e on the runtime interface; an application that ignores both, a wrong request or value, no application (reset, ROM), a wrong serial or port, several matches, no runtime interface, bad settings.
. /lib/mcu-ota-vm/lib.sh

APP="vid=1155 pid=22336" # 0483:5740
SERIAL=3574364C3034      # the chip's default serial (ROM and application)
PR="plugin-run $MCU_OTA_PLUGIN_DIR"

back_to_app() {
	board_reset app || fail "board_reset app failed"
	app_up || fail "the application did not come back (chip $(chip_state mode))"
}

# enter PLUGIN SETTINGS...: the plugin's enter (plugin_run); must_fail WHAT PATTERN PLUGIN
# SETTINGS... expects it to exit 1.
enter() {
	_p=$1
	shift
	plugin_run "$_p" enter "$@"
}
RUN=enter
# into_rom WHAT PLUGIN SETTINGS...: enter succeeds, the ROM comes up, mcu-ota list sees it.
into_rom() {
	_what=$1
	shift
	_roms=$(chip_state rom_starts)
	_t0=$(now)
	enter "$@" || fail "$_what: enter failed"
	_el=$(since "$_t0")
	usb_dev 0483 5740 >/dev/null && fail "$_what: enter returned with the application on the bus"
	wait_usb 0483 df11 5 || fail "$_what: no ROM DFU device 0483:df11 (chip $(chip_state mode))"
	wait_chip rom 2 || fail "$_what: the chip is in mode $(chip_state mode), not rom"
	[ "$(chip_state rom_starts)" = $((_roms + 1)) ] || fail "$_what: the ROM started $(chip_state rom_starts) times, expected $((_roms + 1))"
	mcu-ota list >list.txt 2>&1 || { cat list.txt; fail "$_what: mcu-ota list failed"; }
	grep -q "^0483:df11 " list.txt || { cat list.txt; fail "$_what: mcu-ota list does not show the ROM"; }
	# it returns once the application left: well before a leave_ms of 60 s (below); the
	# bound only catches a plugin that waits its whole leave_ms
	between "$_el" 0 30 || fail "$_what: enter took $_el s"
	log "$_what: the ROM is up (enter took $_el s)"
}

chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" || fail "the chip model did not start"
app_up || fail "the factory firmware did not come up"
PORT=$(basename "$(usb_dev 0483 5740)")
log "the application 1.0.0 runs at port $PORT"

# ---- the runtime interface as dfu-util sees it: listed, and -e (detach) starts the ROM
log "dfu-util -l with the application running"
dfu-util -l >dfu-l.txt 2>&1 || { cat dfu-l.txt; fail "dfu-util -l failed"; }
grep '^Found' dfu-l.txt
grep -q "^Found Runtime: \[0483:5740\] ver=0200, devnum=[0-9]*, cfg=1, intf=1, path=\"$PORT\", alt=0, name=\"mcu-ota DFU runtime\", serial=\"$SERIAL\"" dfu-l.txt \
	|| fail "dfu-util -l does not list the application's DFU runtime interface"
grep -q '^Found DFU' dfu-l.txt && fail "dfu-util -l lists a DFU-mode device while the application runs"
log "dfu-util -e: DETACH from dfu-util"
dfu-util -e >dfu-e.txt 2>&1
rc=$?
cat dfu-e.txt
[ $rc = 0 ] || fail "dfu-util -e exited $rc"
wait_usb 0483 df11 5 || fail "no ROM DFU device after dfu-util -e (chip $(chip_state mode))"
wait_chip rom 2 || fail "the chip is in mode $(chip_state mode) after dfu-util -e, not rom"
log "dfu-util -e: the application detached into the ROM"
back_to_app

# ---- into the ROM
into_rom "usb-vendor request 0x42" usb-vendor $APP request=66
back_to_app
into_rom "usb-vendor with serial, port and every request setting" usb-vendor $APP \
	serial=3574364c3034 port="$PORT" request_type=64 request=66 value=0 index=0 \
	timeout_ms=500 leave_ms=60000
back_to_app
into_rom "dfu-detach" dfu-detach $APP
back_to_app
into_rom "dfu-detach with serial, port, interface 1 and detach_timeout_ms" dfu-detach $APP \
	serial=$SERIAL port="$PORT" interface=1 detach_timeout_ms=500 leave_ms=60000
log "exit has nothing to do: both return 0 with the chip in the ROM"
$PR usb-vendor exit $APP request=66 || fail "usb-vendor exit failed"
$PR dfu-detach exit $APP || fail "dfu-detach exit failed"
[ "$(chip_state mode)" = rom ] || fail "exit changed the chip's mode to $(chip_state mode)"

# ---- no application on the bus
log "the chip in the ROM: no application, the message names the ROM"
must_fail "usb-vendor in the ROM" "no 0483:5740 on the bus; on the bus: 0483:df11 serial $SERIAL (the ROM bootloader: the chip is in DFU mode already)" \
	usb-vendor $APP request=66
must_fail "dfu-detach in the ROM" "no 0483:5740 on the bus; on the bus: 0483:df11 serial $SERIAL (the ROM bootloader" \
	dfu-detach $APP
log "dfu-detach pointed at the ROM itself: a DFU-mode interface, not a runtime one"
must_fail "dfu-detach to 0483:df11" "0483:df11 (serial $SERIAL at port $PORT) has a DFU-mode interface (fe/01/02), not a runtime one: it is a bootloader already" \
	dfu-detach vid=1155 pid=57105
[ "$(chip_state mode)" = rom ] || fail "the failed calls disturbed the ROM (mode $(chip_state mode))"

log "the chip held in reset: nothing with the vendor id"
nrst=$(board_gpio NRST) || fail "no NRST line"
echo low >"$nrst/direction"
wait_chip reset 5 || fail "the chip is in mode $(chip_state mode), not reset"
wait_usb_gone 0483 df11 5 || fail "the ROM stayed on the bus in reset"
t0=$(now)
# a leave_ms of 60 s: a plugin that waited for it would show
must_fail "usb-vendor in reset" "no 0483:5740 on the bus; on the bus: nothing with vendor id 0483" \
	usb-vendor $APP request=66 leave_ms=60000
must_fail "dfu-detach in reset" "no 0483:5740 on the bus; on the bus: nothing with vendor id 0483" \
	dfu-detach $APP leave_ms=60000
el=$(since "$t0")
between "$el" 0 60 || fail "with nothing on the bus the plugins took $el s: they must not wait"
echo in >"$nrst/direction"
back_to_app

# ---- the application is there, but it is not the one, or not asked the right way
log "a serial or a port that is not on the bus"
must_fail "usb-vendor with a wrong serial" "no 0483:5740 with serial DEADBEEF on the bus; on the bus: 0483:5740 serial $SERIAL" \
	usb-vendor $APP request=66 serial=DEADBEEF
must_fail "dfu-detach with a wrong serial" "no 0483:5740 with serial DEADBEEF on the bus; on the bus: 0483:5740 serial $SERIAL" \
	dfu-detach $APP serial=DEADBEEF
must_fail "usb-vendor with a wrong port" "no 0483:5740 at port 9-9 on the bus; on the bus: 0483:5740 serial $SERIAL at port $PORT" \
	usb-vendor $APP request=66 port=9-9

log "a request the application does not know (bRequest 0x43, or wValue 1): stalled, it stays"
t0=$(now)
must_fail "usb-vendor request 0x43" "the application 0483:5740 stalled the request and stayed on the bus: it does not implement the command, or it is wired to other values (request_type, request, value, index)" \
	usb-vendor $APP request=67 leave_ms=4000
el=$(since "$t0")
# not before leave_ms, which is above the 3 s default (so the setting is the one used); the
# upper bound only catches a hang
between "$el" 4 60 || fail "the stalled request failed after $el s, expected about leave_ms (4 s)"
must_fail "usb-vendor wValue 1" "stalled the request and stayed on the bus.*wValue 0x0001" \
	usb-vendor $APP request=66 value=1 leave_ms=1000
[ "$(chip_state mode)" = app ] || fail "a wrong request moved the chip to $(chip_state mode)"

log "several devices match (the two root hubs 1d6b:0002); one without a DFU runtime interface"
hubs=$(for d in /sys/bus/usb/devices/usb*; do
	[ "$(cat "$d/idVendor")" = 1d6b ] && [ "$(cat "$d/idProduct")" = 0002 ] && cat "$d/serial"
done)
log "root hubs: $(echo $hubs)"
if [ "$(echo "$hubs" | wc -l)" -ge 2 ]; then
	must_fail "dfu-detach on two root hubs" "2 devices match 1d6b:0002: serial .* at port [0-9]*, serial .* at port [0-9]*; set serial or port to choose one" \
		dfu-detach vid=7531 pid=2
fi
hub=$(echo "$hubs" | head -n 1)
must_fail "dfu-detach on a hub" "the application 1d6b:0002 (serial $hub at port [0-9]*) has no DFU runtime interface (class fe, subclass 01, protocol 01; its interfaces: 0 09/00/00): use the usb-vendor entry plugin .* or gpio .* instead" \
	dfu-detach vid=7531 pid=2 serial="$hub"
must_fail "dfu-detach interface 0" "interface 0 of the application 0483:5740 (serial $SERIAL at port $PORT) is not a DFU runtime interface (class fe/01/01); its interfaces: 0 ff/00/00, 1 fe/01/01" \
	dfu-detach $APP interface=0

# ---- bad settings: refused before any USB traffic
log "bad settings"
must_fail "no pid" "pid is not set" usb-vendor vid=1155 request=66
must_fail "no pid (dfu-detach)" "pid is not set" dfu-detach vid=1155
must_fail "no request" "request is not set" usb-vendor $APP
must_fail "request 256" "request must be an integer from 0 to 255" usb-vendor $APP request=256
must_fail "request_type 300" "request_type must be an integer from 0 to 255" usb-vendor $APP request=66 request_type=300
must_fail "request_type 0x60" "request_type 0x60 is reserved by USB" usb-vendor $APP request=66 request_type=96
must_fail "data not hex" "data must be hex bytes of two digits each" usb-vendor $APP request=66 data=zz
must_fail "data odd" "data must be hex bytes of two digits each" usb-vendor $APP request=66 data=01:2
must_fail "data 65 bytes" "data is longer than 64 bytes" usb-vendor $APP request=66 \
	data="$(i=0; while [ $i -lt 65 ]; do printf '0a '; i=$((i + 1)); done)"
must_fail "data with an IN request" "data is sent with host-to-device requests only; request_type 0xc0 is device-to-host" \
	usb-vendor $APP request=66 request_type=192 data=01:02
must_fail "length with an OUT request" "length is read with device-to-host requests only" \
	usb-vendor $APP request=66 length=4
must_fail "port not a path" "port must be a USB port path as the kernel names it" \
	usb-vendor $APP request=66 port=1.2
must_fail "leave_ms too long" "leave_ms must be an integer from 0 to 60000" dfu-detach $APP leave_ms=70000
must_fail "interface 300" "interface must be an integer from 0 to 255" dfu-detach $APP interface=300
must_fail "detach_timeout_ms" "detach_timeout_ms must be an integer from 0 to 65535" dfu-detach $APP detach_timeout_ms=-1
[ "$(chip_state mode)" = app ] || fail "bad settings disturbed the chip (mode $(chip_state mode))"

# ---- an application that acknowledges the commands but stays
log "the chip again, its application acknowledging both commands but staying"
chip_stop
wait_usb_gone 0483 5740 5 || fail "the application stayed on the bus after the chip stopped"
chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --app-ignores-commands -v \
	|| fail "the chip model did not start (--app-ignores-commands)"
app_up || fail "the application did not come up (--app-ignores-commands)"
t0=$(now)
must_fail "usb-vendor ignored" "the application 0483:5740 acknowledged the request but stayed on the bus: it does not implement the command, or it is wired to other values (request_type, request, value, index)" \
	usb-vendor $APP request=66
el=$(since "$t0")
# not before the default leave_ms (3 s); the upper bound only catches a hang
between "$el" 3 60 || fail "the ignored request failed after $el s, expected about the default leave_ms (3 s)"
t0=$(now)
must_fail "dfu-detach ignored" "the application 0483:5740 (serial $SERIAL at port $PORT) acknowledged DFU_DETACH on interface 1 but stayed on the bus after it for 1500 ms" \
	dfu-detach $APP leave_ms=1500
el=$(since "$t0")
# not before leave_ms (the message names it: 1500 ms); the upper bound only catches a hang
between "$el" 1.5 60 || fail "the ignored DETACH failed after $el s, expected about leave_ms (1.5 s)"
chip_logged "setup 21 00 03e8 0001    0 " \
	|| fail "the chip did not see DETACH with wValue 1000 (the descriptor's wDetachTimeOut) on interface 1"

log "what goes on the wire: OUT data and an IN read (the chip's log)"
must_fail "usb-vendor with data" "the application 0483:5740 stalled the request and stayed on the bus" \
	usb-vendor $APP request=66 data="01:02 0a" leave_ms=300
chip_logged "setup 40 42 0000 0000    3 -> -1" \
	|| fail "the chip did not see 'B' with 3 bytes of data"
must_fail "usb-vendor IN" "the application 0483:5740 acknowledged the request but stayed on the bus" \
	usb-vendor $APP request_type=192 request=86 length=31 leave_ms=300
chip_logged "setup c0 56 0000 0000   31 -> 5" \
	|| fail "the chip did not answer GET_VERSION with wLength 31"
usb_dev 0483 df11 >/dev/null && fail "a ROM appeared although the application ignores the commands"
[ "$(chip_state mode)" = app ] || fail "the chip is in mode $(chip_state mode), not app"
[ "$(chip_state rom_starts)" = 0 ] || fail "the ROM started $(chip_state rom_starts) times"
log "all checks passed"
