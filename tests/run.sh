#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test,
# unit and VM rig alike (the rig's first run downloads Debian's kernel
# packages into /var/cache/mcu-ota-vm and builds two modules; later runs
# reuse them). Extra arguments go to ctest, e.g. `tests/run.sh -L unit`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/deps.sh"
"$top/tests/build.sh"
ctest --test-dir "${BUILD_DIR:-$top/build}" --output-on-failure "$@"
