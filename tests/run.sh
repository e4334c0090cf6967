#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test, unit and VM rig alike
# (the rig's first run downloads Debian's kernel packages into /var/cache/mcu-ota-vm and builds
# two modules; later runs reuse them). Extra arguments go to ctest, e.g. `tests/run.sh -L unit`.
# Tests run one more at a time than there are cores (CTEST_PARALLEL_LEVEL, default nproc+1): a VM
# test keeps a core only about 58% busy (the chip model takes real time to erase and program), so
# a third test fills the gaps. They wait on events, not on time: a loaded machine makes them
# slower, never red.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/deps.sh"
"$top/tests/build.sh"
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-$(($(nproc) + 1))}
ctest --test-dir "${BUILD_DIR:-$top/build}" --output-on-failure "$@"
