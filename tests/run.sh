#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test, unit and VM rig alike
# (the rig's first run downloads Debian's kernel packages into /var/cache/mcu-ota-vm and builds
# two modules; later runs reuse them). Extra arguments go to ctest, e.g. `tests/run.sh -L unit`.
# Tests run on every core (CTEST_PARALLEL_LEVEL, default nproc): they wait on events, not on
# time, so a loaded machine makes them slower, never red.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/deps.sh"
"$top/tests/build.sh"
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-$(nproc)}
ctest --test-dir "${BUILD_DIR:-$top/build}" --output-on-failure "$@"
