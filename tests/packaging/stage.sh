#!/usr/bin/env bash
# Fixture of the packaging tests: `cmake --install` of this build into a DESTDIR (stage/).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
rm -rf "$stage"
DESTDIR=$stage "$cmake" --install "$build_dir" >"$stage.log" 2>&1 || {
	cat "$stage.log"
	exit 1
}
echo "installed into $stage"
