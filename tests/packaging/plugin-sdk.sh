#!/usr/bin/env bash
# The installed plugin SDK as a third party uses it: pkg-config finds mcu-ota-plugin in the
# DESTDIR (PKG_CONFIG_SYSROOT_DIR, as in a cross build's sysroot), an out-of-tree plugin
# (example-plugin/example.c) compiles against the installed header alone, and the installed
# mcu-ota loads it and checks its declared settings.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_stage
command -v pkg-config >/dev/null || skip "pkg-config is not installed"
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

mkdir "$tmp/plugins"
cp "$stage$plugindir"/*.so "$tmp/plugins/"
# shellcheck disable=SC2086 # cflags is a list of options
if "$cc" -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden $cflags \
	-o "$tmp/plugins/mcu-ota-example.so" "$here/example-plugin/example.c" 2>"$tmp/cc.log"; then
	ok "the out-of-tree plugin compiles against the installed header alone"
else
	fail "the out-of-tree plugin does not compile: $(cat "$tmp/cc.log")"
fi

conf() {
	cat >"$tmp/example.conf" <<CONF
state_dir = "$tmp/state";
bundle = { keys = [ "$tmp/release.pem" ]; };
devices = ( {
	name = "sensor";
	entry = { plugin = "gpio"; chip = "gpiochip0"; boot0 = 0; nrst = 1; };
	flasher = { plugin = "dfuse"; serial = "3574364C3034"; };
	health = { plugin = "example"; $1 };
} );
CONF
}
bin=$stage$bindir/mcu-ota
conf 'path = "/run/sensor-ready";'
out=$("$bin" --plugin-dir "$tmp/plugins" config check "$tmp/example.conf" 2>&1)
rc=$?
check "mcu-ota loads the out-of-tree plugin (config check exit $rc: $out)" test $rc -eq 0
conf 'path = "/run/sensor-ready"; timeout = 5;'
out=$("$bin" --plugin-dir "$tmp/plugins" config check "$tmp/example.conf" 2>&1)
rc=$?
if [ $rc -eq 3 ] && grep -q timeout <<<"$out"; then
	ok "a setting the plugin does not declare is refused: $out"
else
	fail "a setting the plugin does not declare: exit $rc (want 3), $out"
fi
finish
