#!/usr/bin/env bash
# The main job, end to end: a simulated STM32F407 running factory firmware 1.0.0 is put into its
# ROM bootloader through GPIO, mcu-ota flashes 2.0.0 over USB DFU (real kernel USB stack in a
# QEMU guest), verifies it, and the chip boots the new image and reports 2.0.0.
#
# Installs what it needs from Debian's archive (root), builds into $BUILD_DIR (default build/),
# and boots the rig (tests/vm/README.md). The first run downloads Debian's kernel packages into
# /var/cache/mcu-ota-vm (~230 MB) and builds two modules; later runs take about a minute or less.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
t0=$(date +%s)

echo "== mcu-ota demo: update an STM32 over USB DFU, end to end"
echo "== 1/3 packages (tests/deps.sh)"
"$top/tests/deps.sh"
echo "== 2/3 build into $build (tests/build.sh)"
BUILD_DIR=$build "$top/tests/build.sh" >"${TMPDIR:-/tmp}/mcu-ota-demo-build.log" 2>&1 || {
	tail -n 30 "${TMPDIR:-/tmp}/mcu-ota-demo-build.log"
	echo "demo: the build failed (full log: ${TMPDIR:-/tmp}/mcu-ota-demo-build.log)" >&2
	exit 1
}
echo "== 3/3 QEMU guest with the chip model (tests/vm/run.sh; first run prepares the kernel cache)"
rc=0
"$top/tests/vm/run.sh" --build-dir "$build" --live demo || rc=$?
echo "== demo $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(($(date +%s) - t0)) s"
exit "$rc"
