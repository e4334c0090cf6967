#!/usr/bin/env bash
# The main job, end to end: `mcu-ota daemon` keeps a simulated STM32F407 on the firmware its
# configuration names. An HTTPS server (nginx) serves a signed bundle of 2.0.0; the daemon
# downloads and verifies it, puts the chip (factory firmware 1.0.0) into its ROM bootloader
# through GPIO, keeps the old image, flashes 2.0.0 over USB DFU (the real kernel USB stack in a
# QEMU guest) and verifies it, and the chip boots it and reports 2.0.0 (`mcu-ota status` shows
# it). Then a tampered bundle is refused and an image that reports the wrong version is rolled
# back and not tried again.
#
# Installs what it needs from Debian's archive (root), builds into $BUILD_DIR (default build/),
# and boots the rig (tests/vm/README.md). The first run downloads Debian's kernel packages into
# /var/cache/mcu-ota-vm (~230 MB) and builds two modules; later runs take about a minute or less.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
t0=$(date +%s)

echo "== mcu-ota demo: the daemon keeps an STM32 on its firmware (HTTPS, signed bundle, USB DFU), end to end"
# every way out says how the demo ended, a failed set-up step included
trap 'rc=$?; [ "$rc" = 0 ] || echo "== demo FAILED in $(($(date +%s) - t0)) s (exit $rc)"' EXIT
echo "== 1/3 packages (tests/deps.sh)"
"$top/tests/deps.sh" || { echo "demo: installing the packages failed (above)" >&2; exit 1; }
echo "== 2/3 build into $build (tests/build.sh)"
# the demo needs the main build only, not the sanitizer tree of the tests
MCU_OTA_SANITIZE=0 BUILD_DIR=$build "$top/tests/build.sh" >"${TMPDIR:-/tmp}/mcu-ota-demo-build.log" 2>&1 || {
	tail -n 30 "${TMPDIR:-/tmp}/mcu-ota-demo-build.log"
	echo "demo: the build failed (full log: ${TMPDIR:-/tmp}/mcu-ota-demo-build.log)" >&2
	exit 1
}
echo "== 3/3 QEMU guest with the chip model (tests/vm/run.sh; first run prepares the kernel cache)"
"$top/tests/vm/run.sh" --build-dir "$build" --live demo
echo "== demo passed in $(($(date +%s) - t0)) s"
