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

# need_stage: the tree the build installs for these tests (the packaging_stage target) is there
need_stage() {
	[ -d "$stage" ] && return 0
	echo "FAIL: no $stage: build the packaging_stage target (cmake --build)"
	exit 1
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# is_on VALUE: CMake's idea of a true option value
is_on() {
	case ${1^^} in 1 | ON | YES | TRUE | Y) return 0 ;; *) return 1 ;; esac
}

# daemon_conf DIR: writes DIR/mcu-ota.conf, a configuration the real daemon starts with (state,
# cache and socket in DIR; one device without firmware: nothing touches hardware)
daemon_conf() {
	cat >"$1/mcu-ota.conf" <<CONF
state_dir = "$1/state";
cache_dir = "$1/cache";
daemon = { socket = "$1/run/control.sock"; poll_interval_s = 0; };
bundle = { keys = [ "$1/release.pem" ]; };
devices = ( {
	name = "motor";
	entry = { plugin = "gpio"; chip = "gpiochip0"; boot0 = "BOOT0"; nrst = "NRST"; };
	flasher = { plugin = "dfuse"; serial = "3574364C3034"; };
	health = { plugin = "usb-version"; vid = 0x0483; pid = 0x5740; };
} );
CONF
}
