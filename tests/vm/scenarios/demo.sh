#!/bin/sh
# The whole product, as a person would watch it: a chip running factory firmware 1.0.0, an HTTPS server with signed bundles, and `mcu-ota daemon` with a configuration that wants 2.0.0 from it: download, signature, bootloader through BOOT0/NRST, the factory image read back, 2.0.0 written and verified, the application confirmed; `mcu-ota status` while and after. Then the configuration names a tampered bundle (refused, chip untouched) and an image reporting the wrong version (rolled back, not retried). Lines "[chip ...]" are the chip's own account, "[daemon]" the daemon's log.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

step=0
say() {
	step=$((step + 1))
	echo
	echo "--- $step. $*"
}
run() { # run EXPECTED_EXIT COMMAND...: live, indented
	_want=$1
	shift
	echo "    \$ $*"
	{ "$@"; echo $? >rc; } 2>&1 | sed 's/^/    /'
	[ "$(cat rc)" = "$_want" ] || fail "$* ended with exit $(cat rc), expected $_want"
}
# want URL [VERSION]: the configuration, wanting that firmware for the device
want() {
	write_https_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL" \
		"firmware = { source = \"$1\";${2:+ version = \"$2\";} };")"
}
# reload: what an operator does after editing the file (systemctl reload: SIGHUP), then waits
# until the daemon is done with it
reload() {
	_mark=$(notify_mark)
	echo "    \$ kill -HUP \$(pidof mcu-ota)        # systemctl reload mcu-ota"
	kill -HUP "$DAEMON_PID"
	notify_wait "$_mark" "RELOADING=1" 10 || fail "the daemon did not reload"
	notify_wait "$_mark" "STATUS=idle" 60 || fail "the daemon did not finish"
	sleep 0.3
}

say "The board: an STM32F407 (the model, in real time) on the gateway's USB, BOOT0 and NRST on two GPIO lines. It left the factory with firmware 1.0.0."
CHIP_LOG=- chip_start --profile F407 --time-scale 1 --flash-file "$FW/fw-1.0.0.bin" --faults "$MCUOTA_WORK/faults" \
	|| fail "the chip model did not start"
wait_usb 0483 5740 5 || fail "the factory firmware did not come up"
SERIAL=$(usb_string 0483 5740 serial)
wait_version "$SERIAL" 1.0.0 || fail "the factory firmware does not report 1.0.0"
echo "    on the bus: 0483:5740 \"$(usb_string 0483 5740 product)\", serial $SERIAL, reporting version $(app_version "$SERIAL")"

say "The update server: nginx over HTTPS (a test CA made by the build), serving bundles signed with the vendor's key."
mkdir -p www run
for b in 2.0.0 tampered wrong-version; do cp "$FW/bundle-$b.swu" www/; done
https_start www || fail "nginx did not start"
for b in www/*.swu; do echo "    $(https_url "${b#www/}")"; done

say "The configuration: one device, entered through GPIO, flashed over DfuSe, confirmed by the version it reports over USB; it should run 2.0.0 from that server."
CONF_EXTRA=$(daemon_settings 0)
want "$(https_url bundle-2.0.0.swu)" 2.0.0
sed 's/^/    /' "$CONF"
run 0 mcu-ota config check

say "The daemon starts (as systemd runs it) and brings the chip to 2.0.0: download, signature, bootloader, read back 1.0.0 (for a rollback), write, verify, start, confirm."
notify_start || fail "notify-listen did not start"
# the daemon's log, as it comes (a fifo held open here, so that it never ends)
DAEMON_LOG=$MCUOTA_WORK/daemon.fifo
mkfifo "$DAEMON_LOG"
exec 3<>"$DAEMON_LOG"
while IFS= read -r l; do
	case "$l" in "---- "*) ;; *) echo "    [daemon] ${l#mcu-ota: }" ;; esac
done <&3 &
t0=$(cut -d' ' -f1 /proc/uptime)
# the chip holds the write at block 8 while status is asked, so the progress is always shown
# (a 128 KiB write can be over between two looks)
chip_hold_at 8
daemon_start || fail "the daemon did not start"
chip_wait_held 8 60 || fail "the daemon never got to write block 8"
echo "    \$ mcu-ota status        # while it writes"
mcu-ota status 2>&1 | grep "now:" | sed 's/^/    /'
chip_release
wait_version "$SERIAL" 2.0.0 30 || fail "the chip does not report 2.0.0"
wait_for 10 eval "[ \"\$(status_field mcu state)\" = idle ]" || fail "the daemon did not finish"
took=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
sleep 0.3
echo "    the application on the bus reports $(app_version "$SERIAL")"
run 0 mcu-ota status

say "The configuration now names a bundle whose image was changed after signing: downloaded, refused, the chip never touched."
starts=$(chip_state rom_starts)
want "$(https_url bundle-tampered.swu)"
reload
[ "$(chip_state rom_starts)" = "$starts" ] || fail "the chip was put into its bootloader for a bad bundle"
[ "$(app_version "$SERIAL")" = 2.0.0 ] || fail "the chip no longer runs 2.0.0"

say "Then one whose image boots but reports the wrong version (3.1.0 promised, 2.0.0 inside): installed, not confirmed, rolled back."
want "$(https_url bundle-wrong-version.swu)" 3.1.0
reload
wait_version "$SERIAL" 2.0.0 || fail "the chip does not run 2.0.0 after the rollback"
echo "    the application on the bus reports $(app_version "$SERIAL")"
run 0 mcu-ota status

say "The next reload asks the server whether that bundle changed (304: no): it is not tried again."
starts=$(chip_state rom_starts)
reload
[ "$(chip_state rom_starts)" = "$starts" ] || fail "the failed bundle was tried again"

say "A power cycle of the chip (NRST pulse, BOOT0 low) boots 2.0.0 from flash again; the daemon stops on SIGTERM."
board_reset app || fail "cannot drive BOOT0/NRST"
wait_usb_gone 0483 5740 5 || fail "the application did not leave the bus on reset"
wait_version "$SERIAL" 2.0.0 || fail "after a reset the chip does not report 2.0.0"
echo "    the application reports version $(app_version "$SERIAL")"
daemon_stop
[ "$DAEMON_RC" = 0 ] || fail "the daemon exited $DAEMON_RC"

echo
echo "=== The daemon brought the STM32F407 (serial $SERIAL) from 1.0.0 to the wanted 2.0.0 in $took s (downloaded over HTTPS, signature verified, old image kept, written, verified, booted, confirmed); a tampered bundle refused; a bad image rolled back."
