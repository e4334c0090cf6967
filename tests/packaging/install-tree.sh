#!/usr/bin/env bash
# cmake --install into a DESTDIR gives exactly the expected tree: the binary, the plugins, the SDK
# headers and pkg-config file, the unit, the init script, the udev rules, the example
# configuration and the man pages, with their modes and the install paths filled in; and the
# installed binary runs and loads the installed plugins.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_stage

# The built-in plugins; a new plugin goes here (and into the Yocto recipe's test).
plugins=(dfu-detach dfuse gpio gpio-ready serial serial-query usb usb-vendor usb-version)
declare -A mode=(
	["$bindir/mcu-ota"]=755
	["$includedir/mcu-ota/plugin.h"]=644
	["$includedir/mcu-ota/cleanup.h"]=644
	["$libdir/pkgconfig/mcu-ota-plugin.pc"]=644
	["$sysconfdir/mcu-ota/mcu-ota.conf"]=644
	["$rulesdir/60-mcu-ota.rules"]=644
)
# Plugins: 644 where CMake installs shared objects without x (CMAKE_INSTALL_SO_NO_EXE, Debian's
# default), 755 elsewhere (Yocto sets it off).
for p in "${plugins[@]}"; do mode["$plugindir/mcu-ota-$p.so"]='644|755'; done
is_on "$install_unit" && mode["$unitdir/mcu-ota.service"]=644
is_on "$install_sysv" && mode["$sysconfdir/init.d/mcu-ota"]=755
if is_on "$install_man"; then
	mode["$mandir/man1/mcu-ota.1"]=644
	mode["$mandir/man5/mcu-ota.conf.5"]=644
fi

expected=$(printf '%s\n' "${!mode[@]}" | sort)
actual=$(cd "$stage" && find . ! -type d | sed 's/^\.//' | sort)
if [ "$expected" = "$actual" ]; then
	ok "the tree is exactly the ${#mode[@]} expected files"
else
	fail "the installed tree differs (< expected, > installed):"
	diff <(echo "$expected") <(echo "$actual") | grep '^[<>]'
fi
for f in "${!mode[@]}"; do
	[ -e "$stage$f" ] || continue
	m=$(stat -c %a "$stage$f")
	[[ $m =~ ^(${mode[$f]})$ ]] || fail "$f has mode $m, not ${mode[$f]}"
done
ok "modes checked"

# Installed as they are in the source tree
same() { cmp -s "$source_dir/$1" "$stage$2"; }
check "mcu-ota.conf is conf/mcu-ota.conf" same conf/mcu-ota.conf "$sysconfdir/mcu-ota/mcu-ota.conf"
check "60-mcu-ota.rules is conf/60-mcu-ota.rules" same conf/60-mcu-ota.rules "$rulesdir/60-mcu-ota.rules"
check "plugin.h is include/mcu-ota/plugin.h" same include/mcu-ota/plugin.h "$includedir/mcu-ota/plugin.h"
check "cleanup.h is include/mcu-ota/cleanup.h" same include/mcu-ota/cleanup.h "$includedir/mcu-ota/cleanup.h"
if is_on "$install_man"; then
	check "man pages as written" same man/mcu-ota.1 "$mandir/man1/mcu-ota.1"
	check "mcu-ota.conf.5 as written" same man/mcu-ota.conf.5 "$mandir/man5/mcu-ota.conf.5"
fi

# Configured: the paths of this build, no placeholder left
if is_on "$install_unit"; then
	unit=$stage$unitdir/mcu-ota.service
	check "the unit starts $bindir/mcu-ota daemon" grep -qx "ExecStart=$bindir/mcu-ota daemon" "$unit"
	check "no @placeholder@ in the unit" bash -c "! grep -n '@[A-Za-z_]*@' '$unit'"
fi
if is_on "$install_sysv"; then
	init=$stage$sysconfdir/init.d/mcu-ota
	check "the init script runs $bindir/mcu-ota" grep -qx "DAEMON=$bindir/mcu-ota" "$init"
	check "the init script reads $sysconfdir/default/mcu-ota" \
		grep -q "\. $sysconfdir/default/mcu-ota\$" "$init"
	check "no @placeholder@ in the init script" bash -c "! grep -n '@[A-Za-z_]*@' '$init'"
fi

# The installed binary: its version, the plugin directory compiled in, and the installed example
# configuration checked with the installed plugins (each one loaded, its settings declared).
bin=$stage$bindir/mcu-ota
check "mcu-ota --version says $version" bash -c "[ \"\$('$bin' --version)\" = 'mcu-ota $version' ]"
check "the binary looks for plugins in $plugindir" grep -qaF "$plugindir" "$bin"
out=$("$bin" --plugin-dir "$stage$plugindir" config check "$stage$sysconfdir/mcu-ota/mcu-ota.conf" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok "the installed example configuration checks with the installed plugins: $out"
else fail "config check of the installed example configuration exited $rc: $out"; fi
finish
