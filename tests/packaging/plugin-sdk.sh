#!/usr/bin/env bash
# The installed plugin SDK as a third party uses it, with the worked example of docs/plugin-sdk.md
# (docs/examples/file-health): pkg-config finds mcu-ota-plugin in the DESTDIR
# (PKG_CONFIG_SYSROOT_DIR, as in a cross build's sysroot), the example's own CMake build compiles
# it against the installed header alone, the installed mcu-ota loads it and checks its declared
# settings, and its check works as the guide says. The guide's example cannot rot unseen.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_stage
command -v pkg-config >/dev/null || skip "pkg-config is not installed"
example=$source_dir/docs/examples/file-health
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_LIBDIR=$stage$libdir/pkgconfig PKG_CONFIG_PATH=
cflags=$(pkg-config --cflags mcu-ota-plugin 2>&1)
cflags=${cflags%% } # pkgconf ends it with a space
check "pkg-config --cflags mcu-ota-plugin is -I$stage$includedir (got: $cflags)" \
	test "$cflags" = "-I$stage$includedir"
check "pkg-config --modversion mcu-ota-plugin is $version" \
	test "$(pkg-config --modversion mcu-ota-plugin)" = "$version"
# (pkgconf puts the sysroot before every path variable too)
check "the .pc file names the plugin directory $plugindir" \
	test "$(PKG_CONFIG_SYSROOT_DIR='' pkg-config --variable=plugindir mcu-ota-plugin)" = "$plugindir"

# The example's build as the guide gives it, with this build's compiler (a cross compiler in
# tests/cross) and -Werror on top of its own warnings.
mkdir "$tmp/plugins"
cp "$stage$plugindir"/*.so "$tmp/plugins/"
if "$cmake" -S "$example" -B "$tmp/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS=-Werror \
	>"$tmp/cmake.log" 2>&1 && "$cmake" --build "$tmp/build" >>"$tmp/cmake.log" 2>&1; then
	ok "docs/examples/file-health builds with its CMake file against the installed SDK"
else
	fail "docs/examples/file-health does not build: $(cat "$tmp/cmake.log")"
fi
if grep -q -- "-I$stage$includedir" "$tmp/build/CMakeFiles/file-health.dir/flags.make" 2>/dev/null; then
	ok "its build took the header from the installed tree (pkg-config), not the source"
else
	fail "its build did not use -I$stage$includedir: $(cat "$tmp/build/CMakeFiles/file-health.dir/flags.make" 2>&1)"
fi
cp "$tmp/build/mcu-ota-file-health.so" "$tmp/plugins/" 2>/dev/null

conf() {
	cat >"$tmp/example.conf" <<CONF
state_dir = "$tmp/state";
bundle = { keys = [ "$tmp/release.pem" ]; };
devices = ( {
	name = "sensor";
	entry = { plugin = "gpio"; chip = "gpiochip0"; boot0 = 0; nrst = 1; };
	flasher = { plugin = "dfuse"; serial = "3574364C3034"; };
	health = { plugin = "file-health"; $1 };
} );
CONF
}
bin=$stage$bindir/mcu-ota
conf 'path = "/run/sensor-version"; poll_ms = 50; check_version = true;'
out=$("$bin" --plugin-dir "$tmp/plugins" config check "$tmp/example.conf" 2>&1)
rc=$?
check "mcu-ota loads the example plugin with every setting it declares (config check exit $rc: $out)" \
	test $rc -eq 0
conf 'path = "/run/sensor-version"; timeout = 5;'
out=$("$bin" --plugin-dir "$tmp/plugins" config check "$tmp/example.conf" 2>&1)
rc=$?
if [ $rc -eq 3 ] && grep -q 'file-health plugin has no setting "timeout"' <<<"$out"; then
	ok "a setting the example does not declare is refused: $out"
else
	fail "a setting the example does not declare: exit $rc (want 3), $out"
fi

# Its check, run the way the engine runs it (plugin-run: loaded by the agent's loader).
run=$build_dir/tests/vm/plugin-run
if [ -x "$run" ]; then
	# expect WHAT RC FRAGMENT ARGS...: plugin-run exits RC and says FRAGMENT
	expect() {
		local what=$1 want=$2 fragment=$3 out rc
		shift 3
		out=$("$run" "$tmp/plugins" file-health check "$@" 2>&1)
		rc=$?
		if [ $rc -eq "$want" ] && grep -qF -- "$fragment" <<<"$out"; then
			ok "check: $what"
		else
			fail "check: $what: exit $rc (want $want), output: $out"
		fi
	}
	echo 2.0.0 >"$tmp/version"
	expect "the file names the installed version" 0 "" \
		--expect 2.0.0 --deadline 5000 path="$tmp/version"
	expect "another version is refused at the deadline" 1 'says "2.0.0", expected 3.0.0' \
		--expect 3.0.0 --deadline 200 path="$tmp/version"
	expect "check_version = false accepts any version" 0 "" \
		--expect 3.0.0 --deadline 200 path="$tmp/version" check_version=false
	expect "no file: fails at the deadline" 1 "did not appear within 200 ms" \
		--deadline 200 path="$tmp/missing"
	expect "no path: says what to set" 1 "set path" --deadline 200
	expect "poll_ms out of range is refused" 1 "poll_ms must be a number from 10 to 10000" \
		--deadline 200 path="$tmp/version" poll_ms=5
else
	fail "no $run to run the example's check with (built by tests/vm)"
fi
finish
