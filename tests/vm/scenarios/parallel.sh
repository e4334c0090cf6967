#!/bin/sh
# Two chips on one gateway (their own GPIO lines, USB ports and serials) updated by one `mcu-ota update` of a bundle with an image for each: both are in their bootloaders at the same time, and each ends on its own new firmware; then one of them alone, from a URL.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

chip_start --profile F407 --flash-file "$FW/fw-1.0.0.bin" --faults "$MCUOTA_WORK/faults" ||
	fail "chip A did not start"
GPIO_A=$GPIOSIM_CHIP
STATE_A=$CHIP_STATE
wait_usb 0483 5740 5 || fail "chip A's firmware did not come up"
SERIAL_A=$(usb_string 0483 5740 serial)

gpio_sim_create "chip-$MCUOTA_SCENARIO-b" BOOT0 NRST || fail "no second gpio-sim chip"
GPIO_B=$GPIOSIM_CHIP
STATE_B=$MCUOTA_WORK/chip-b.state
stm32-chip --gpio-sim "chip-$MCUOTA_SCENARIO-b" --udc dummy_udc.1 --profile F411 \
	--uid 1A2B3C4D5E6F708192A3B4C5 --flash-file "$FW/fw-1.0.0.bin" --state "$STATE_B" \
	>>"$MCUOTA_WORK/chip-b.log" 2>&1 &
SERIAL_B=
serial_b() {
	for _d in /sys/bus/usb/devices/*; do
		[ "$(cat "$_d/idProduct" 2>/dev/null)" = 5740 ] || continue
		_s=$(cat "$_d/serial")
		[ "$_s" != "$SERIAL_A" ] && SERIAL_B=$_s && return 0
	done
	return 1
}
wait_for 10 serial_b || fail "chip B's firmware did not come up"
serial_b
log "chip A: F407, $GPIO_A, serial $SERIAL_A; chip B: F411, $GPIO_B, serial $SERIAL_B"
wait_version "$SERIAL_A" 1.0.0 && wait_version "$SERIAL_B" 1.0.0 || fail "the chips do not run 1.0.0"

write_config "$(device_block mcu-a "$GPIO_A" "$SERIAL_A")" "$(device_block mcu-b "$GPIO_B" "$SERIAL_B")"

# chip A holds its ROM's first DFU request: while it does, chip B must come into its
# bootloader too (one after the other, B would wait for A, and A's host would give up)
chip_hold_start
mcu-ota update "$FW/bundle-pair.swu" >upd.out 2>&1 &
pid=$!
both=0
if chip_wait_held start 60; then
	wait_for 30 eval "[ \"\$(sed -n 's/^mode=//p' \"\$STATE_B\")\" = rom ]" &&
		[ "$(sed -n 's/^mode=//p' "$STATE_A")" = rom ] && both=1
fi
chip_release
wait $pid
rc=$?
sed 's/^/    | /' upd.out
[ $rc = 0 ] || fail "mcu-ota update exit $rc"
[ $both = 1 ] || fail "the two chips were never in their bootloaders at the same time: not parallel"
grep -q "mcu-a: ok: 2.0.0 installed and running" upd.out || fail "mcu-a not reported installed"
grep -q "mcu-b: ok: 3.0.0 installed and running" upd.out || fail "mcu-b not reported installed"
wait_version "$SERIAL_A" 2.0.0 || fail "chip A reports '$(app_version "$SERIAL_A")', expected 2.0.0"
wait_version "$SERIAL_B" 3.0.0 || fail "chip B reports '$(app_version "$SERIAL_B")', expected 3.0.0"
[ "$(status_field mcu-a version)" = 2.0.0 ] || fail "status of mcu-a: $(status_field mcu-a version)"
[ "$(status_field mcu-b version)" = 3.0.0 ] || fail "status of mcu-b: $(status_field mcu-b version)"
log "both chips were in their bootloaders at once; A runs 2.0.0, B runs 3.0.0"

log "--device limits the run to one device, the other is left alone; the bundle comes from a URL"
# busybox httpd on loopback (plain HTTP, allowed by the configuration; HTTPS is tests/net's part)
ip link set lo up
mkdir -p www && cp "$FW/bundle-pair.swu" www/
httpd -p 127.0.0.1:8080 -h "$MCUOTA_WORK/www" || fail "no httpd"
sed -i 's/^bundle = /fetch = { allow_http = true; };\nbundle = /' "$CONF"
mcu-ota update --device mcu-b http://127.0.0.1:8080/bundle-pair.swu >upd.out 2>&1 || { cat upd.out; fail "update --device mcu-b failed"; }
sed 's/^/    | /' upd.out
grep -q "mcu-b: ok: 3.0.0 installed and running" upd.out || fail "mcu-b not reinstalled from the URL"
grep -q "mcu-a" upd.out && fail "mcu-a was touched by an update of mcu-b"
[ "$(sed -n 's/^mode=//p' "$STATE_A")" = app ] || fail "chip A left its application"
log "done"
