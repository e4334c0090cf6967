#!/usr/bin/env bash
# Benchmark: `mcu-ota update` and its rollbacks against the same steps done by hand with Debian's
# tools, on the STM32F407 model in real time, through the kernel's USB and GPIO stacks in one
# QEMU guest (tests/vm, scenario bench-update). Each run starts a fresh chip running factory
# firmware 1.0.0: mcu-ota update to 2.0.0 (1 MiB; gpio entry, write + read-back, exit, usb-version
# health) with the chip's image already in the state dir, and as a chip's first update (1 MiB
# read back first); by hand: gpioset (BOOT0 held, NRST pulsed), dfu-util -D, with and without
# dfu-util -U + cmp, gpioset reset, wait for 2.0.0; rollback times: a wrong version rolled back,
# and `mcu-ota rollback` from 2.0.0 (1 MiB) to 1.0.0. Reports medians, mcu-ota/by-hand ratios
# and the physical floor (stm32-chip --floor). Times, never assertions: this is not a test.
#
# usage: tests/bench/vm-update.sh [--build-dir DIR] [--reps N] [--no-hand] [--out FILE]
# Builds DIR first (default build/, as tests/build.sh). About 5 minutes a run (N=3: 15 minutes);
# the by-hand runs are most of it (dfu-util writes 1 MiB in ~115 s). Needs gpiod (tests/deps.sh).
set -euo pipefail
# shellcheck source=vm-lib.sh
. "$(dirname "$0")/vm-lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$top/build}
reps=3
hand=1
out=
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) build=${2:?}; shift 2 ;;
	--reps) reps=${2:?}; shift 2 ;;
	--no-hand) hand=0; shift ;;
	--out) out=${2:?}; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "vm-update: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "vm-update: --reps wants a count" >&2; exit 2; }
if [ "$hand" = 1 ]; then
	for t in gpioset gpioget gpiofind gpioinfo; do
		command -v "$t" >/dev/null ||
			{ echo "vm-update: no $t: the by-hand runs need Debian's gpiod (tests/deps.sh), or use --no-hand" >&2; exit 2; }
	done
fi

# a run: mcu-ota ~16 + 4 + 17 + 8 s, by hand 2 x ~116 s, chip starts and checks
limit=$((reps * (hand ? 320 : 80) + 120))
echo "vm-update: $reps runs of each job$([ "$hand" = 1 ] || echo ", no by-hand runs") (limit ${limit}s)" >&2
vm_bench vm-update bench-update "$limit" "bench_reps=$reps bench_hand=$hand" '^bytes of 2.0.0'
