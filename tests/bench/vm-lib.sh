# shellcheck shell=bash
# Shared by the VM benchmarks (vm-flash.sh, vm-update.sh; bash, set -euo pipefail): they set top,
# build and out, then call vm_bench.

# vm_bench NAME SCENARIO LIMIT APPEND LAST: builds $build (or makes it with tests/build.sh), runs
# SCENARIO in one guest (LIMIT s for the scenario, kernel command line APPEND) and prints its
# report; with $out set, writes the BENCH lines and the report from "F407 in real time" to the
# line matching LAST into $out. Exits 1 when the run fails (the log's tail on stderr).
vm_bench() {
	local name=$1 scenario=$2 limit=$3 append=$4 last=$5 rc
	if [ -d "$build" ]; then
		cmake --build "$build" -j"$(nproc)" >/dev/null
	else
		# the benchmarks run the main build only, not the sanitizer tree of the tests
		MCU_OTA_SANITIZE=0 BUILD_DIR=$build "$top/tests/build.sh" >/dev/null
	fi
	vm_bench_log=$(mktemp "/tmp/mcu-ota-$name.XXXXXX")
	trap 'rm -f "$vm_bench_log"' EXIT
	set +e
	"$top/tests/vm/run.sh" --build-dir "$build" --scenario-timeout "$limit" \
		--timeout $((limit + 120)) --append "$append" "$scenario" >"$vm_bench_log" 2>&1
	rc=$?
	set -e
	sed -n "/^===== $scenario =====\$/,/^----- $scenario/p" "$vm_bench_log" | sed '1d'
	if [ "$rc" != 0 ]; then
		tail -n 45 "$vm_bench_log" >&2
		echo "$name: the benchmark failed (run.sh exit $rc)" >&2
		exit 1
	fi
	if [ -n "$out" ]; then
		{
			echo "# tests/bench/$name.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) $(git -C "$top" rev-parse --short HEAD 2>/dev/null)"
			sed -n "/^BENCH /p; /^F407 in real time/,/$last/p" "$vm_bench_log"
		} >"$out"
		echo "$name: results in $out" >&2
	fi
}
