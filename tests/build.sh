#!/usr/bin/env bash
# Configures and builds mcu-ota with its tests into BUILD_DIR (default: build).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCU_OTA_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
