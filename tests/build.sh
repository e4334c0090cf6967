#!/usr/bin/env bash
# Configures and builds mcu-ota with its tests into BUILD_DIR (default: build),
# then the sanitizer tree into BUILD_DIR/sanitize (MCU_OTA_SANITIZE=0 leaves it out).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCU_OTA_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

# The sanitizer tree: the same sources built by clang with ASan, UBSan and libFuzzer's coverage
# (MCU_OTA_FUZZ), warnings as errors (clang warns where gcc does not). The main build's `asan`
# test runs its unit and net tests, its fuzz_* tests the harnesses (tests/sanitize, tests/fuzz).
# -O1: a quicker build than -O2, and stack traces that still match the source.
[ "${MCU_OTA_SANITIZE:-1}" = 0 ] && exit 0
command -v clang >/dev/null || {
	echo "build.sh: clang is missing for the sanitizer tree (apt-get install clang libclang-rt-14-dev llvm)" >&2
	exit 1
}
cmake -S "$top" -B "$build/sanitize" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DMCU_OTA_FUZZ=ON -DMCU_OTA_WERROR=ON >/dev/null
cmake --build "$build/sanitize" -j"$(nproc)"
