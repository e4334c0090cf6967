#!/usr/bin/env bash
# Benchmark: dfu-util 0.11 against mcu-ota on the STM32F407 model in real time, through the
# kernel's USB stack in one QEMU guest (tests/vm). Each command runs N times, each time on a
# fresh blank chip entered through BOOT0/NRST: `dfu-util -a 0 -s 0x08000000:leave -D` and
# `mcu-ota flash --leave` (which also verifies) for 128 KiB, 512 KiB and 1 MiB images, and
# mcu-ota re-flashing 1 MiB with 1 of the 12 sectors changed (the last 128 KiB one). Reports the
# median times, mcu-ota/dfu-util, and the ratio to the physical floor (datasheet erase + program
# time of what the image needs, from stm32-chip --floor).
#
# usage: tests/bench/vm-flash.sh [--build-dir DIR] [--reps N] [--sizes 128k,512k,1m]
#                                [--tools dfu-util,mcu-ota] [--no-reflash] [--out FILE]
# Builds DIR first (default build/, as tests/build.sh). About 8 minutes with 3 runs.
set -euo pipefail
# shellcheck source=vm-lib.sh
. "$(dirname "$0")/vm-lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$top/build}
reps=3
sizes=128k,512k,1m
tools=dfu-util,mcu-ota
reflash=1
out=
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) build=${2:?}; shift 2 ;;
	--reps) reps=${2:?}; shift 2 ;;
	--sizes) sizes=${2:?}; shift 2 ;;
	--tools) tools=${2:?}; shift 2 ;;
	--no-reflash) reflash=0; shift ;;
	--out) out=${2:?}; shift 2 ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) echo "vm-flash: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "vm-flash: --reps wants a count" >&2; exit 2; }
[[ "$sizes" =~ ^(128k|512k|1m)(,(128k|512k|1m))*$ ]] || { echo "vm-flash: --sizes: 128k, 512k, 1m" >&2; exit 2; }

# dfu-util: 1 MiB ~60 s per run; mcu-ota ~15 s; plus chip starts
limit=$((reps * 200 + 120))
echo "vm-flash: $reps runs of each, sizes $sizes, tools $tools (limit ${limit}s)" >&2
vm_bench vm-flash bench-flash "$limit" \
	"bench_reps=$reps bench_sizes=$sizes bench_tools=$tools bench_reflash=$reflash" '^\* against'
