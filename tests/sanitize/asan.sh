#!/usr/bin/env bash
# The `asan` test (label asan): the unit, daemon and net tests of the sanitizer tree (clang, ASan,
# UBSan; tests/build.sh makes it in <build>/sanitize), with every program they start, the daemon
# and the CLI under the scripts included, running sanitized under options that make any report a
# failure (env.sh). Passes only with zero reports.
#   asan.sh SANITIZE_DIR [CTEST_ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
san=${1:?usage: asan.sh SANITIZE_DIR [CTEST_ARGS...]}
shift
canary=$san/tests/sanitize/sanitize_canary
if [ ! -f "$san/CTestTestfile.cmake" ] || [ ! -x "$canary" ]; then
	echo "asan: the sanitizer build $san is missing or incomplete: run tests/build.sh" >&2
	exit 1
fi
if ! grep -q '^MCU_OTA_FUZZ:BOOL=ON' "$san/CMakeCache.txt" ||
	! nm "$san/mcu-ota" 2>/dev/null | grep ' __asan_init$' >/dev/null; then
	echo "asan: $san/mcu-ota is not a sanitized build (MCU_OTA_FUZZ): run tests/build.sh" >&2
	exit 1
fi

# shellcheck source=tests/sanitize/env.sh
. "$here/env.sh"
tmp=$(mktemp -d /tmp/mcu-ota-asan.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ---- the options catch what they must: each bug of the canary is a report and a failure, in a
# subprocess whose exit status is ignored too; the canary without a bug passes without one
canary_case() { # NAME EXPECTED_STATUS REPORT_PATTERN COMMAND...
	local name=$1 want=$2 pattern=$3 rc=0
	shift 3
	(sanitize_env "$tmp/canary-$name" && "$@") >"$tmp/canary-$name.out" 2>&1 || rc=$?
	if [ "$rc" != "$want" ]; then
		echo "asan: canary $name exited $rc, not $want" >&2
		cat "$tmp/canary-$name.out" "$tmp/canary-$name".* >&2 2>/dev/null || true
		exit 1
	fi
	if [ -z "$pattern" ]; then
		if compgen -G "$tmp/canary-$name.[0-9]*" >/dev/null; then
			echo "asan: canary $name (no bug) left a report" >&2
			cat "$tmp/canary-$name".[0-9]* >&2
			exit 1
		fi
	elif ! cat "$tmp/canary-$name".[0-9]* 2>/dev/null | grep -q "$pattern"; then
		echo "asan: canary $name left no report saying '$pattern'" >&2
		exit 1
	fi
}
canary_case overflow "$SANITIZE_EXITCODE" 'heap-buffer-overflow' "$canary" overflow
canary_case ub "$SANITIZE_EXITCODE" 'runtime error: signed integer overflow' "$canary" ub
canary_case leak "$SANITIZE_EXITCODE" 'detected memory leaks' "$canary" leak
# shellcheck disable=SC2016 # $1 is the inner shell's
canary_case ignored-leak 0 'detected memory leaks' sh -c '"$1" leak || true' sh "$canary"
canary_case clean 0 '' "$canary" clean
echo "asan: the canary's overflow, undefined behaviour and leaks are caught"

# ---- the suite. Left out, each because it cannot run under ASan or would test nothing more:
#   test_config_memcheck  valgrind cannot run an ASan program (ASan's shadow memory needs a fixed
#                         address layout valgrind does not give); test_config itself runs here
#   clang-format          checks the sources' layout, no program of ours: the main build runs it
#   docs-check            checks the docs' pointers and links, no program of ours: likewise
exclude='^(test_config_memcheck|clang-format|docs-check)$'
sanitize_env "$tmp/report"
rc=0
ctest --test-dir "$san" -L 'unit|net' -E "$exclude" --no-tests=error --output-on-failure \
	-j"$(nproc)" "$@" || rc=$?

reports=$(compgen -G "$tmp/report.[0-9]*" || true)
if [ -n "$reports" ]; then
	echo "asan: $(echo "$reports" | wc -l) sanitizer report(s):" >&2
	for r in $reports; do
		echo "==== $(basename "$r")" >&2
		cat "$r" >&2
	done
	exit 1
fi
[ "$rc" = 0 ] || { echo "asan: sanitized tests failed (ctest exit $rc)" >&2; exit "$rc"; }
echo "asan: zero sanitizer reports"
