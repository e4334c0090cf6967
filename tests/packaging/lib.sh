# shellcheck shell=bash
# Shared by the packaging tests (bash): the layout, and check/ok/fail counting.
# shellcheck source=/dev/null
. "${MCU_OTA_PACKAGING_PATHS:?run through ctest (tests/packaging/CMakeLists.txt)}"
failed=0
passed=0

ok() {
	passed=$((passed + 1))
	echo "ok: $*"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL: $*"
}

# check WHAT COMMAND...: ok when the command succeeds
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# skip WHY: exit 77, which CTest reports as skipped
skip() {
	echo "SKIP: $*"
	exit 77
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# is_on VALUE: CMake's idea of a true option value
is_on() {
	case ${1^^} in 1 | ON | YES | TRUE | Y) return 0 ;; *) return 1 ;; esac
}
