#!/bin/sh
# Benchmark (tests/bench/vm-update.sh runs it; not a CTest test): mcu-ota update 1.0.0 -> 2.0.0 (1 MiB) and its rollbacks on an F407 in real time, side by side with the same steps by hand (gpioset + dfu-util).
#
# Every run starts a fresh chip running factory firmware 1.0.0 (fw-1.0.0.bin) and times the whole
# job, from the first command to the application reporting its version:
#   update        mcu-ota update bundle-2.0.0-1m.swu, the state dir already holding the chip's
#                 image (1.0.0), so nothing is read back first; then, on the same chip:
#   rollback      mcu-ota rollback --device mcu (2.0.0, 1 MiB -> 1.0.0, 128 KiB), after which the
#                 flash is read back with dfu-util (untimed) to see what is left of 2.0.0
#   update-first  the same update with an empty state dir: the engine reads 1 MiB back first
#   wrong-version mcu-ota update bundle-wrong-version.swu (boots, reports 2.0.0, not 3.1.0):
#                 rolled back; total, and from mcu-ota's lines (stamped as they come) the
#                 health check and the rollback (failed check -> 1.0.0 confirmed)
#   by hand       what a user scripts with Debian's gpiod 1.6 and dfu-util 0.11: BOOT0 held high
#                 by a gpioset that keeps running, NRST pulsed, wait for 0483:df11, dfu-util -D,
#                 [dfu-util -U of 1 MiB + cmp], BOOT0 let go + NRST pulsed, wait for 2.0.0
# Kernel command line (run.sh --append): bench_reps=N (3), bench_hand=0|1 (1: the by-hand runs).
# Prints one "BENCH ..." line per run and a table of medians with the physical floor.
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

reps=3
hand=1
for w in $(cat /proc/cmdline); do
	case "$w" in
	bench_reps=*) reps=${w#*=} ;;
	bench_hand=*) hand=${w#*=} ;;
	esac
done
RESULTS=$MCUOTA_WORK/results
: >"$RESULTS"
IMG=$FW/fw-2.0.0-1m.bin
SIZE=1048576
FACTORY=$FW/fw-1.0.0.bin

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# stamp: each line of stdin prefixed with the uptime when it came (awk: no process per line)
stamp() { awk '{ getline u < "/proc/uptime"; close("/proc/uptime"); split(u, a, " "); print a[1], $0; fflush() }'; }

for t in gpioset gpioget gpiofind gpioinfo; do
	command -v $t >/dev/null || fail "no $t in the guest: the host needs Debian's gpiod (tests/deps.sh)"
done

# ---- floors (datasheet erase + programming, stm32-chip --floor)
floor_field() { # IMAGE PRELOAD FIELD
	stm32-chip --profile F407 --flash-file "$2" --floor "$1" | tr ' ' '\n' | sed -n "s/^$3=//p"
}
F_UPDATE=$(floor_field "$IMG" "$FACTORY" floor_us)
F_SMALL=$(floor_field "$FW/fw-2.0.0.bin" "$FACTORY" floor_us)
F_BACK=$(floor_field "$FACTORY" "$IMG" floor_us)
E_ALL=$(floor_field "$IMG" "$FACTORY" erase_us)
E_SMALL=$(floor_field "$FACTORY" "$IMG" erase_us)
[ -n "$F_UPDATE" ] && [ -n "$F_SMALL" ] && [ -n "$F_BACK" ] && [ -n "$E_ALL" ] && [ -n "$E_SMALL" ] ||
	fail "stm32-chip --floor gave no figures"
# the manual rollback: 1.0.0 written back, and the sectors only 2.0.0 covered erased
F_ROLLBACK=$((F_BACK + E_ALL - E_SMALL))
log "floors (us): update=$F_UPDATE wrong-version=$((F_SMALL + F_BACK)) (rolling back $F_BACK) rollback=$F_ROLLBACK (without erasing the rest $F_BACK)"

# ---- the chip
SERIAL=
# fresh_chip NAME: a new chip running the factory firmware 1.0.0
fresh_chip() {
	chip_stop
	wait_usb_gone 0483 5740 5 || fail "the last chip's application stayed on the bus"
	CHIP_LOG=$MCUOTA_WORK/chip-$1.log chip_start --profile F407 --time-scale 1 --flash-file "$FACTORY" ||
		fail "$1: stm32-chip did not start"
	wait_usb 0483 5740 5 || fail "$1: the factory firmware did not come up"
	if [ -z "$SERIAL" ]; then
		SERIAL=$(usb_string 0483 5740 serial)
		write_config "$(device_block mcu "$GPIOSIM_CHIP" "$SERIAL")"
	fi
	wait_version "$SERIAL" 1.0.0 5 || fail "$1: the factory firmware does not report 1.0.0"
}

# seed_state: a state dir that holds the chip's image (1.0.0) as current, as after an earlier
# update: the engine has nothing to read back
seed_state() {
	rm -rf "$STATE"
	_ss=$STATE/devices/mcu/current
	mkdir -p "$_ss" || fail "cannot create $_ss"
	cp "$FACTORY" "$_ss/image.bin"
	printf 'version=1.0.0\nsha256=%s\nsize=%s\naddress=0x08000000\n' \
		"$(sha256sum "$FACTORY" | cut -d' ' -f1)" "$(stat -c %s "$FACTORY")" >"$_ss/meta"
	sync
}

# mcu OUT ARGS...: mcu-ota ARGS, every line stamped into OUT; sets RC and S (seconds)
mcu() {
	_out=$1
	shift
	_t0=$(now)
	{
		mcu-ota "$@" 2>&1
		echo "EXIT $?"
	} | stamp >"$_out.tmp"
	_t1=$(now)
	S=$(secs "$_t0" "$_t1")
	{ echo "$_t0 START"; cat "$_out.tmp"; } >"$_out"
	rm -f "$_out.tmp"
	RC=$(sed -n 's/^[0-9.]* EXIT //p' "$_out")
}
# show FILE: mcu-ota's lines with the seconds since the command started
show() {
	awk '$2 == "START" { t0 = $1 } { l[NR] = $0 } END {
		for (i = 1; i <= NR; i++) {
			n = split(l[i], a, " "); if (a[2] == "START" || a[2] == "EXIT") continue
			s = l[i]; sub(/^[0-9.]* /, "", s); printf "    | %6.2f %s\n", a[1] - t0, s
		}
	}' "$1"
}
# at FILE PATTERN [AFTER]: the stamp of the first line matching PATTERN, from the first line
# matching AFTER on
at() { awk -v p="$2" -v q="${3:-}" 'q != "" && !seen { if ($0 !~ q) next; seen = 1 } $0 ~ p { print $1; exit }' "$1"; }
# span FILE FROM TO [AFTER]: seconds between the first lines matching FROM and TO after AFTER
span() {
	_a=$(at "$1" "$2" "${4:-}")
	_b=$(at "$1" "$3" "${4:-}")
	if [ -n "$_a" ] && [ -n "$_b" ]; then secs "$_a" "$_b"; else echo -; fi
}
# mcu_phases FILE: where an update's or rollback's time went, from the stamps
mcu_phases() {
	_e=$(at "$1" "entering the bootloader")
	_b=$(at "$1" "reading the chip's firmware back")
	_i=$(at "$1" ": installing ")
	echo "start=$(span "$1" " START$" "(verified|rolling back to)"),enter=$(secs "$_e" "${_b:-$_i}")${_b:+,read_back=$(secs "$_b" "$_i")},flash_leave_exit=$(span "$1" ": installing " "waiting for the application"),health=$(span "$1" "waiting for the application" "as expected"),end=$(span "$1" "as expected" " EXIT ")"
}

# ---- by hand: gpiod 1.6 + dfu-util, as a careful user scripts it
# gpioset holds a line only while it runs; a line it lets go falls back to the board's resistors
# (BOOT0 pulled down, NRST pulled up). So BOOT0 is held by a gpioset left running (--mode=signal)
# while a second one pulses NRST: one gpioset driving both for the pulse would let go of BOOT0
# at the very moment NRST comes back up, a race the chip may lose by sampling BOOT0 already low.
HOLD=
rom_by_hand() {
	set -- $(gpiofind BOOT0)
	_chip=$1 _boot0=$2
	_nrst=$(gpiofind NRST | cut -d' ' -f2)
	gpioset --mode=signal "$_chip" "$_boot0=1" &
	HOLD=$!
	# the line is held once gpioinfo shows gpioset as its consumer
	wait_for 2 eval "gpioinfo $_chip | grep -q '\"BOOT0\" *\"gpioset\"'" || return 1
	gpioset --mode=time --usec=50000 "$_chip" "$_nrst=0" || return 1
	wait_usb 0483 df11 5
}
app_by_hand() { # let go of BOOT0 (pull-down), then BOOT0 low + NRST pulse: boots from flash
	[ -z "$HOLD" ] || { kill "$HOLD"; wait "$HOLD" 2>/dev/null; }
	HOLD=
	gpioset --mode=time --usec=50000 "$_chip" "$_boot0=0" "$_nrst=0"
}

# by_hand REP VERIFY: the whole update by hand, timed to the application reporting 2.0.0
by_hand() {
	_tool=hand
	[ "$2" = 1 ] && _tool=hand-verify
	_t0=$(now)
	rom_by_hand || fail "by hand: the ROM did not come up (chip $(chip_state mode))"
	_t1=$(now)
	if [ "$2" = 1 ]; then
		dfu-util -a 0 -s 0x08000000 -D "$IMG" >dfu.out 2>&1 || { tail -n 20 dfu.out; fail "by hand: dfu-util -D"; }
		_t2=$(now)
		rm -f readback.bin
		dfu-util -a 0 -s 0x08000000:$SIZE -U readback.bin >dfu-u.out 2>&1 ||
			{ tail -n 20 dfu-u.out; fail "by hand: dfu-util -U"; }
		cmp -s readback.bin "$IMG" || fail "by hand: the read-back differs from the image"
	else
		dfu-util -a 0 -s 0x08000000:leave -D "$IMG" >dfu.out 2>&1 || { tail -n 20 dfu.out; fail "by hand: dfu-util -D"; }
		_t2=$(now)
	fi
	_t3=$(now)
	app_by_hand || fail "by hand: cannot pulse NRST"
	wait_version "$SERIAL" 2.0.0 10 || fail "by hand: the chip reports '$(app_version "$SERIAL")', not 2.0.0"
	_t4=$(now)
	echo "BENCH job=update tool=$_tool rep=$1 seconds=$(secs "$_t0" "$_t4") phases=enter=$(secs "$_t0" "$_t1"),download=$(secs "$_t1" "$_t2"),readback_cmp=$(secs "$_t2" "$_t3"),exit_health=$(secs "$_t3" "$_t4")" |
		tee -a "$RESULTS"
}

# leftover: LEFT = bytes of the chip's flash after the factory image that are not erased (read back by
# hand with dfu-util, untimed); fails when the factory image itself is not there
leftover() {
	rom_by_hand || fail "rollback check: the ROM did not come up"
	rm -f flash.bin
	dfu-util -a 0 -s 0x08000000:$SIZE -U flash.bin >dfu-u.out 2>&1 || { tail -n 20 dfu-u.out; fail "rollback check: dfu-util -U"; }
	app_by_hand
	_n=$(stat -c %s "$FACTORY")
	head -c "$_n" flash.bin | cmp -s - "$FACTORY" || fail "rollback check: 1.0.0 is not at the start of flash"
	LEFT=$(tail -c +$((_n + 1)) flash.bin | tr -d '\377' | wc -c)
}

rep=1
while [ "$rep" -le "$reps" ]; do
	# update with the chip's image in the state dir, then the manual rollback on the same chip
	fresh_chip update-$rep
	seed_state
	mcu upd-$rep.out update "$FW/bundle-2.0.0-1m.swu"
	[ "$RC" = 0 ] || { show upd-$rep.out; fail "update: exit $RC"; }
	[ "$(app_version "$SERIAL")" = 2.0.0 ] || fail "update: the chip reports '$(app_version "$SERIAL")'"
	grep -q "reading the chip's firmware back" upd-$rep.out && fail "update: the engine read the chip back although the state holds its image"
	[ "$rep" = 1 ] && show upd-$rep.out
	echo "BENCH job=update tool=mcu-ota rep=$rep seconds=$S phases=$(mcu_phases upd-$rep.out)" | tee -a "$RESULTS"

	mcu rb-$rep.out rollback --allow-downgrade --device mcu # 1.0.0 is below the mark 2.0.0 set
	[ "$RC" = 0 ] || { show rb-$rep.out; fail "rollback: exit $RC"; }
	wait_version "$SERIAL" 1.0.0 5 || fail "rollback: the chip reports '$(app_version "$SERIAL")'"
	[ "$rep" = 1 ] && show rb-$rep.out
	_ph=$(mcu_phases rb-$rep.out)
	leftover
	echo "BENCH job=rollback tool=mcu-ota rep=$rep seconds=$S phases=$_ph left_of_2.0.0_bytes=$LEFT" | tee -a "$RESULTS"

	# the first update of a chip: 1 MiB read back first
	fresh_chip first-$rep
	rm -rf "$STATE"
	mcu first-$rep.out update "$FW/bundle-2.0.0-1m.swu"
	[ "$RC" = 0 ] || { show first-$rep.out; fail "first update: exit $RC"; }
	[ "$(app_version "$SERIAL")" = 2.0.0 ] || fail "first update: the chip reports '$(app_version "$SERIAL")'"
	[ "$rep" = 1 ] && show first-$rep.out
	echo "BENCH job=update-first tool=mcu-ota rep=$rep seconds=$S phases=$(mcu_phases first-$rep.out)" | tee -a "$RESULTS"

	# a wrong version: rolled back
	fresh_chip wrong-$rep
	seed_state
	mcu wrong-$rep.out update "$FW/bundle-wrong-version.swu"
	[ "$RC" = 8 ] || { show wrong-$rep.out; fail "wrong version: exit $RC, expected 8"; }
	wait_version "$SERIAL" 1.0.0 5 || fail "wrong version: the chip reports '$(app_version "$SERIAL")'"
	[ "$rep" = 1 ] && show wrong-$rep.out
	_w=wrong-$rep.out _f="the update to 3.1.0 failed"
	_hc=$(span $_w "waiting for the application to report 3.1.0" "$_f")
	_rb=$(span $_w "$_f" "rolled back to")
	_ph="start=$(span $_w " START$" "verified"),enter=$(span $_w "entering the bootloader" ": installing "),flash_leave_exit=$(span $_w ": installing " "waiting for the application")"
	_ph="$_ph,rb_enter=$(span $_w "$_f" "rolling back to" "$_f")+$(span $_w "rolling back to" "entering the bootloader" "$_f")+$(span $_w "entering the bootloader" "(compare|erase|write|verify) " "$_f")"
	_ph="$_ph,rb_flash_leave_exit=$(span $_w "(compare|erase|write|verify) " "waiting for the application" "$_f"),rb_health=$(span $_w "waiting for the application" "as expected" "$_f")"
	echo "BENCH job=wrong-version tool=mcu-ota rep=$rep seconds=$S health_fail_s=$_hc rollback_s=$_rb phases=$_ph" |
		tee -a "$RESULTS"

	if [ "$hand" = 1 ]; then
		fresh_chip hand-verify-$rep
		by_hand "$rep" 1
		fresh_chip hand-$rep
		by_hand "$rep" 0
	fi
	rep=$((rep + 1))
done
chip_stop

echo
echo "F407 in real time (time scale 1.0), factory 1.0.0 -> 2.0.0 (1 MiB), $reps runs each, medians (s):"
awk -v fu="$F_UPDATE" -v fw="$((F_SMALL + F_BACK))" -v fb="$F_BACK" -v fr="$F_ROLLBACK" '
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		if (!n) return ""
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function f(x) { return x == "" ? "-" : sprintf("%.2f", x) }
	function r(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.3f", a / b) }
	function row(name, m, h, fl) {
		printf "| %s | %s | %s | %s | %s | %s |\n", name, f(m), f(h), r(m, h), fl == "" ? "-" : f(fl / 1e6), fl == "" ? "-" : r(m, fl / 1e6)
	}
	/^BENCH / {
		delete v
		for (i = 2; i <= NF; i++) { k = $i; sub(/=.*/, "", k); x = $i; sub(/^[^=]*=/, "", x); v[k] = x }
		key = v["job"] "/" v["tool"]
		t[key] = t[key] " " v["seconds"]
		if (v["job"] == "wrong-version") { hc = hc " " v["health_fail_s"]; rb = rb " " v["rollback_s"] }
		if (v["job"] == "rollback") left = left " " v["left_of_2.0.0_bytes"]
	}
	END {
		mu = median(t["update/mcu-ota"]); mf = median(t["update-first/mcu-ota"])
		hv = median(t["update/hand-verify"]); hn = median(t["update/hand"])
		print "| job | mcu-ota | by hand | mcu-ota/by hand | floor | mcu-ota/floor |"
		print "| --- | --- | --- | --- | --- | --- |"
		row("1 MiB update, both verifying (by hand: dfu-util -D, -U, cmp)", mu, hv, fu)
		row("1 MiB update, by hand without read-back (dfu-util -D :leave)", mu, hn, fu)
		row("1 MiB first update (mcu-ota reads 1 MiB back first) vs by hand verifying", mf, hv, fu)
		row("wrong version 3.1.0 -> rolled back to 1.0.0: whole command", median(t["wrong-version/mcu-ota"]), "", fw)
		row("  of which health check that fails (boot, read version)", median(hc), "", "")
		row("  of which failed health check -> 1.0.0 confirmed", median(rb), "", fb)
		row("mcu-ota rollback --device mcu: 2.0.0 (1 MiB) -> 1.0.0 (128 KiB)", median(t["rollback/mcu-ota"]), "", fr)
		print ""
		print "floors: datasheet erase of the sectors written + programming (stm32-chip --floor); the"
		print "rollback floor includes erasing the 7 sectors that only 2.0.0 covered (" f(fb / 1e6) " s without)."
		print "bytes of 2.0.0 still in flash after mcu-ota rollback (median):" median(left) " of " (1048576 - 131072)
	}' "$RESULTS"
