#!/bin/sh
# Benchmark (tests/bench/vm-flash.sh runs it; not a CTest test): dfu-util vs mcu-ota flash --leave on an F407 in real time, blank chips, plus an mcu-ota re-flash that changes 1 of 12 sectors.
#
# Each run starts a fresh chip (blank flash, or the 1 MiB image for the re-flash), enters the
# ROM through BOOT0/NRST, times only the command, then checks that the chip booted 2.0.0.
# Kernel command line (run.sh --append): bench_reps=N (3), bench_sizes=128k,512k,1m,
# bench_tools=dfu-util,mcu-ota, bench_reflash=0|1 (1). Prints one "BENCH ..." line per run and
# a summary table with medians, ratios and the physical floor (stm32-chip --floor).
. /lib/mcu-ota-vm/lib.sh

reps=3
sizes="128k 512k 1m"
tools="dfu-util mcu-ota"
reflash=1
for w in $(cat /proc/cmdline); do
	case "$w" in
	bench_reps=*) reps=${w#*=} ;;
	bench_sizes=*) sizes=$(echo "${w#*=}" | tr , ' ') ;;
	bench_tools=*) tools=$(echo "${w#*=}" | tr , ' ') ;;
	bench_reflash=*) reflash=${w#*=} ;;
	esac
done
RESULTS=$MCUOTA_WORK/results
FLOORS=$MCUOTA_WORK/floors
: >"$RESULTS"
: >"$FLOORS"


# floor JOB IMAGE [PRELOAD]
floor() {
	_f=$(stm32-chip --profile F407 ${3:+--flash-file "$3"} --floor "$2" | sed -n 's/^floor_us=\([0-9]*\) .*/\1/p')
	[ -n "$_f" ] || fail "no floor for $1"
	echo "$1 $_f" >>"$FLOORS"
}

# run_one JOB TOOL REP IMAGE [PRELOAD]
run_one() {
	_job=$1 _tool=$2 _rep=$3 _img=$4 _pre=${5:-}
	CHIP_LOG=$MCUOTA_WORK/chip-$_job-$_tool-$_rep.log chip_start --profile F407 --time-scale 1 \
		${_pre:+--flash-file "$_pre"} || fail "$_job: stm32-chip did not start"
	board_reset dfu || fail "cannot drive BOOT0/NRST"
	wait_usb 0483 df11 5 || fail "$_job: no ROM DFU device"
	_t0=$(now)
	case "$_tool" in
	dfu-util) dfu-util -a 0 -s 0x08000000:leave -D "$_img" >out.txt 2>&1 ;;
	mcu-ota) mcu-ota flash "$_img" --leave >out.txt 2>&1 ;;
	esac
	_rc=$?
	_s=$(since "$_t0")
	if [ "$_rc" != 0 ]; then
		tr '\r' '\n' <out.txt | tail -n 20
		fail "$_job: $_tool exited $_rc"
	fi
	wait_usb 0483 5740 10 || fail "$_job: $_tool: the image did not boot (chip $(chip_state mode))"
	_v=$(app-query version)
	[ "$_v" = 2.0.0 ] || fail "$_job: $_tool: the chip reports '$_v'"
	_busy=$(chip_state busy_us)
	# mcu-ota's own phase times (the last progress line of each phase)
	_ph=$(tr '\r' '\n' <out.txt | awk '/^(compare|erase|write|verify) / { t[$1] = $(NF - 1) }
		END { printf "compare=%s,erase=%s,write=%s,verify=%s", t["compare"], t["erase"], t["write"], t["verify"] }')
	[ "$_tool" = mcu-ota ] || _ph=-
	chip_stop
	wait_usb_gone 0483 5740 5 || fail "the application stayed on the bus after the chip stopped"
	echo "BENCH job=$_job tool=$_tool rep=$_rep seconds=$_s busy_us=$_busy phases=$_ph" | tee -a "$RESULTS"
}

for size in $sizes; do
	floor "$size" "$FW/fw-2.0.0-$size.bin"
done
[ "$reflash" = 1 ] && floor 1m-reflash "$FW/fw-2.0.0-1m-last.bin" "$FW/fw-2.0.0-1m.bin"
log "floors (datasheet erase + program time, us): $(tr '\n' ' ' <"$FLOORS")"

rep=1
while [ "$rep" -le "$reps" ]; do
	for size in $sizes; do
		for tool in $tools; do
			run_one "$size" "$tool" "$rep" "$FW/fw-2.0.0-$size.bin"
		done
	done
	if [ "$reflash" = 1 ]; then
		run_one 1m-reflash mcu-ota "$rep" "$FW/fw-2.0.0-1m-last.bin" "$FW/fw-2.0.0-1m.bin"
	fi
	rep=$((rep + 1))
done

echo
echo "F407 in real time (time scale 1.0), $reps runs each, median wall time of the command:"
awk -v floors="$FLOORS" '
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	BEGIN { while ((getline l < floors) > 0) { split(l, f, " "); floor[f[1]] = f[2] / 1e6 } }
	/^BENCH / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		k = v["job"] SUBSEP v["tool"]
		times[k] = times[k] " " v["seconds"]
		if (!(v["job"] in seen)) { seen[v["job"]] = 1; jobs[++nj] = v["job"] }
	}
	END {
		printf "%-30s %8s %11s %10s %9s %10s %10s\n", "job", "floor s", "dfu-util s", "mcu-ota s", "mcu/dfu", "mcu/floor", "dfu/floor"
		for (j = 1; j <= nj; j++) {
			job = jobs[j]
			d = (job SUBSEP "dfu-util") in times ? median(times[job, "dfu-util"]) : ""
			m = (job SUBSEP "mcu-ota") in times ? median(times[job, "mcu-ota"]) : ""
			ref = d
			name = job " blank chip"
			if (job == "1m-reflash") { ref = (("1m" SUBSEP "dfu-util") in times) ? median(times["1m", "dfu-util"]) : ""; name = "1m, 1 of 12 sectors changed" }
			printf "%-30s %8.2f %11s %10s %9s %10s %10s\n", name, floor[job],
				d == "" ? "-" : sprintf("%.2f", d), m == "" ? "-" : sprintf("%.2f", m),
				(m == "" || ref == "") ? "-" : sprintf("%.3f", m / ref) (job == "1m-reflash" ? "*" : ""),
				m == "" ? "-" : sprintf("%.3f", m / floor[job]), d == "" ? "-" : sprintf("%.2f", d / floor[job])
		}
		print "* against dfu-util writing the same 1 MiB (it erases and writes every sector again)"
	}' "$RESULTS"
