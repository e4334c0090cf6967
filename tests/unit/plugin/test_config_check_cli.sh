#!/usr/bin/env bash
# `mcu-ota config check` and plugin sections: a typo in one (conf/mcu-ota.conf
# with one setting misspelt) exits 3 with the file, line, setting and a
# suggestion, and changes nothing (the file, its directory, the state_dir it
# names); the example itself passes; a plugin without a settings list passes,
# and -v says that it was not checked; files others may change are refused.
#
# Usage: test_config_check_cli.sh MCU_OTA SOURCE_DIR PLUGIN_DIR FAKE_PLUGIN_DIR
set -uo pipefail

m=${1:?usage: test_config_check_cli.sh MCU_OTA SOURCE_DIR PLUGIN_DIR FAKE_PLUGIN_DIR}
src=${2:?}
plugins=${3:?}
fakes=${4:?}
tmp=$(mktemp -d /tmp/mcu-ota-config-check-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# expect NAME CODE FRAGMENT CMD...: CMD exits CODE and its output (stdout and
# stderr) contains FRAGMENT.
expect() {
	local name=$1 code=$2 fragment=$3 out rc
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$code" ] && [[ $out == *"$fragment"* ]]; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: exit $rc (want $code), output:"
		echo "$out" | sed 's/^/       /'
		echo "     wanted: $fragment"
	fi
}

# same NAME A B: the two snapshots are equal.
same() {
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1))
		echo "ok   $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1: before:"
		echo "$2" | sed 's/^/       /'
		echo "     after:"
		echo "$3" | sed 's/^/       /'
	fi
}

snapshot() { (cd "$tmp" && find . -printf '%p %s %T@\n' | sort && cat ./*.conf | sha256sum); }

expect "the example passes" 0 "OK, 2 devices" \
	"$m" --plugin-dir "$plugins" config check "$src/conf/mcu-ota.conf"

# The example with its state_dir in $tmp and version_from misspelt.
conf=$tmp/typo.conf
sed -e "s|^state_dir = .*|state_dir = \"$tmp/state\";|" \
	-e 's|version_from = "string";|verison_from = "string";|' "$src/conf/mcu-ota.conf" >"$conf"
line=$(grep -n 'verison_from' "$conf" | cut -d: -f1)
before=$(snapshot)
expect "a typo in a plugin section is refused" 3 \
	"mcu-ota: error: $conf:$line: devices[0].health.verison_from: the usb-version plugin has no setting \"verison_from\"; it knows: vid, pid, serial, port, version_from, string_index, request_type, request, value, index, length; did you mean \"version_from\"?" \
	"$m" --plugin-dir "$plugins" config check "$conf"
expect "... also through --config and the default plugin directory" 3 \
	"$conf:$line: devices[0].health.verison_from: the usb-version plugin" \
	"$m" --config "$conf" config check
same "the refused check changed nothing" "$before" "$(snapshot)"
if [ -e "$tmp/state" ]; then
	failed=$((failed + 1))
	echo "FAIL the refused check created the state_dir"
fi

# A misspelt plugin name is named at its setting, with the close one.
sed -e 's|plugin = "usb-vendor";|plugin = "usb-vender";|' "$src/conf/mcu-ota.conf" >"$tmp/name.conf"
line=$(grep -n 'usb-vender' "$tmp/name.conf" | cut -d: -f1)
expect "a misspelt plugin is refused at its line" 3 \
	"$tmp/name.conf:$line: devices[1].entry.plugin: no entry plugin \"usb-vender\": $plugins/mcu-ota-usb-vender.so does not exist" \
	"$m" --plugin-dir "$plugins" config check "$tmp/name.conf"
expect "... with the close name" 3 'did you mean "usb-vendor"?' \
	"$m" --plugin-dir "$plugins" config check "$tmp/name.conf"

# The libraries say what is missing; the command adds the option that names another.
expect "a missing --config file: how to name another" 1 \
	"cannot read the configuration $tmp/none.conf: No such file or directory (give another with --config FILE or MCU_OTA_CONFIG)" \
	"$m" --config "$tmp/none.conf" config check
expect "... the same for a command that uses it" 1 \
	"cannot read the configuration $tmp/none.conf: No such file or directory (give another with --config FILE or MCU_OTA_CONFIG)" \
	"$m" --config "$tmp/none.conf" status
expect "a missing flasher plugin: how to name the directory" 1 \
	"$tmp/none/mcu-ota-dfuse.so does not exist (give the plugin directory with --plugin-dir or MCU_OTA_PLUGIN_DIR)" \
	"$m" --plugin-dir "$tmp/none" list

# A plugin without a settings list (the fake "good") is loaded, not checked.
mkdir "$tmp/plugins"
ln -s "$fakes/mcu-ota-good.so" "$tmp/plugins/mcu-ota-good.so"
ln -s "$plugins/mcu-ota-usb.so" "$tmp/plugins/mcu-ota-usb.so"
ln -s "$plugins/mcu-ota-dfuse.so" "$tmp/plugins/mcu-ota-dfuse.so"
cat >"$tmp/undeclared.conf" <<EOF
state_dir = "$tmp/state";
bundle = { keys = ["/k"]; };
devices = (
  { name = "a";
    entry = { plugin = "good"; anything = 1; };
    health = { plugin = "usb"; vid = 1; pid = 2; }; } );
EOF
expect "a plugin without a settings list passes" 0 "OK, 1 device" \
	"$m" --plugin-dir "$tmp/plugins" config check "$tmp/undeclared.conf"
expect "... and -v says it was not checked" 0 \
	"$tmp/undeclared.conf:5: devices[0].entry: the good plugin ($tmp/plugins/mcu-ota-good.so) declares no settings list: its settings are not checked" \
	"$m" -v --plugin-dir "$tmp/plugins" config check "$tmp/undeclared.conf"

# Finding 8 of issue 12: the configuration and the files it names are judged as the commands
# that read them judge them: a key or CA file others may write, a client key others may read, a
# configuration others may write, each refused (exit 3) with the reason and the fix, every one
# named. chmod sets each mode: the umask does not decide.
for f in release.pem ca.pem client.pem client.key; do echo x >"$tmp/$f"; done
chmod 644 "$tmp/release.pem" "$tmp/ca.pem" "$tmp/client.pem"
chmod 600 "$tmp/client.key"
cat >"$tmp/files.conf" <<EOF
state_dir = "$tmp/state";
bundle = { keys = ["$tmp/release.pem"]; ca = "$tmp/ca.pem"; };
fetch = { client_cert = "$tmp/client.pem"; client_key = "$tmp/client.key"; };
devices = (
  { name = "a";
    entry = { plugin = "good"; };
    health = { plugin = "usb"; vid = 1; pid = 2; }; } );
EOF
chmod 644 "$tmp/files.conf"
fc=(--plugin-dir "$tmp/plugins" config check "$tmp/files.conf")
expect "private files pass" 0 "OK, 1 device" "$m" "${fc[@]}"
chmod 666 "$tmp/release.pem"
chmod 640 "$tmp/client.key"
expect "a key others may write is refused" 3 \
	"$tmp/files.conf: key $tmp/release.pem is writable by group or others (mode 0666): chmod go-w it" \
	"$m" "${fc[@]}"
expect "... and a client key others may read, in the same run" 3 \
	"client key $tmp/client.key is readable by group or others (mode 0640): chmod go-rwx it" \
	"$m" "${fc[@]}"
chmod 644 "$tmp/release.pem"
chmod 600 "$tmp/client.key"
chmod 664 "$tmp/ca.pem"
expect "a CA file others may write is refused" 3 \
	"CA file $tmp/ca.pem is writable by group or others (mode 0664): chmod go-w it" "$m" "${fc[@]}"
chmod 644 "$tmp/ca.pem"
chmod 666 "$tmp/files.conf"
expect "a configuration others may write is refused" 3 \
	"configuration $tmp/files.conf is writable by group or others (mode 0666): chmod go-w it" \
	"$m" "${fc[@]}"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
