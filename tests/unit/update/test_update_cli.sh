#!/usr/bin/env bash
# `mcu-ota update`, `rollback` and `status` working alone (no daemon) on a chip simulated in a
# folder (fake_plugins.c): the high-water mark in status and --json, a downgrade refused with
# what to do, --allow-downgrade refused to anyone but root and honoured for root, a rollback
# below the mark, and a bundle for another hardware revision (issue 12, findings 5 and 6).
#   test_update_cli.sh MCU_OTA FAKE_PLUGIN_DIR
set -euo pipefail

m=$(cd "$(dirname "${1:?usage: test_update_cli.sh MCU_OTA FAKE_PLUGIN_DIR}")" && pwd)/$(basename "$1")
fakes=$(cd "${2:?}" && pwd)
tmp=$(mktemp -d /tmp/mcu-ota-update-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # the non-root case reads the configuration

failed=0
ok() { echo "ok   $1"; }
bad() {
	echo "FAIL $1"
	shift
	printf '%s\n' "$@" | sed 's/^/       | /'
	failed=1
}
# want WHAT WANT_RC TEXT CMD...: CMD exits WANT_RC and says TEXT (stdout or stderr).
want() {
	local what=$1 rc_want=$2 text=$3 rc=0
	shift 3
	"$@" >"$tmp/out" 2>&1 || rc=$?
	if [ "$rc" != "$rc_want" ]; then
		bad "$what: exit $rc, want $rc_want" "$(cat "$tmp/out")"
	elif ! grep -qF -- "$text" "$tmp/out"; then
		bad "$what: no \"$text\" in the output" "$(cat "$tmp/out")"
	else
		ok "$what"
	fi
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out "$tmp/key.pub"
# shellcheck source=tests/unit/update/fake_chip.sh
. "$(dirname "$0")/fake_chip.sh"
chip=$tmp/chip
make_chip "$chip" 1.0.0

# bundle NAME VERSION [SW_EXTRA]: a signed bundle for device motor whose image reports VERSION.
bundle() {
	local w
	w=$(mktemp -d "$tmp/b-XXXXXX")
	{
		printf 'APP:%s\0' "$2"
		head -c 6000 /dev/urandom
	} >"$w/motor.bin"
	cat >"$w/sw-description" <<EOF
software = {
  version = "$2";
  ${3:-}
  images: ( { filename = "motor.bin"; type = "mcu-ota"; device = "motor";
              version = "$2"; sha256 = "$(sha256sum "$w/motor.bin" | cut -c1-64)"; } );
}
EOF
	(cd "$w" && openssl dgst -sha256 -sign "$tmp/key.pem" -out sw-description.sig sw-description &&
		printf '%s\n' sw-description sw-description.sig motor.bin | cpio --quiet -o -H newc) \
		>"$tmp/$1.swu"
}
bundle b2 2.0.0
bundle b3 3.0.0
bundle b15 1.5.0
bundle hw 3.1.0 'hardware-compatibility = [ "rev-A" ];'

cat >"$tmp/mcu-ota.conf" <<EOF
state_dir = "$tmp/state";
plugin_dir = "$fakes";
daemon = { socket = "$tmp/none.sock"; };
bundle = { keys = ["$tmp/key.pub"]; };
hardware = { revision_file = "$tmp/hwrevision"; };
devices = (
  { name = "motor"; bootloader_timeout_ms = 300; allow_downgrade = true;
    entry = { plugin = "fake-entry"; chip = "$chip"; };
    flasher = { plugin = "fake-flasher"; chip = "$chip"; serial = "motor"; };
    health = { plugin = "fake-health"; chip = "$chip"; }; } );
EOF
cli() { "$m" --config "$tmp/mcu-ota.conf" "$@"; }

want "update --help names --allow-downgrade" 0 "--allow-downgrade  install below the high-water mark (root only)" cli update --help
want "rollback --help names --allow-downgrade" 0 "--allow-downgrade  roll back below the high-water mark" cli rollback --help
want "2.0.0 installs" 0 "motor: ok: 2.0.0 installed and running" cli update "$tmp/b2.swu"
want "3.0.0 installs" 0 "motor: ok: 3.0.0 installed and running" cli update "$tmp/b3.swu"
want "status shows the mark" 0 "  mark:      3.0.0 (the high-water mark" cli status
want "status --json shows the mark" 0 '"high_water_mark": "3.0.0", "min_version": null' cli status --json
# finding 5: the device's allow_downgrade = true does not pass the mark
want "1.5.0 is refused, with what to do" 1 \
	"motor: error: 1.5.0 is below 3.0.0, the lowest version device motor may run (its high-water mark): root must allow the downgrade to install it (as root: --allow-downgrade)" \
	cli update "$tmp/b15.swu"
want "a rollback below the mark is refused" 1 \
	"2.0.0 is below 3.0.0, the lowest version device motor may run (its high-water mark): root must allow the downgrade to roll back to it (as root: --allow-downgrade)" \
	cli rollback --device motor
# --allow-downgrade is root's: as another user (nobody) it is refused before anything happens
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	# from a copy under $tmp: the checkout may lie where only root may enter (/root)
	cp "$m" "$tmp/mcu-ota-pub" && chmod 755 "$tmp/mcu-ota-pub"
	as_other=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	m_other=$tmp/mcu-ota-pub
else
	as_other=()
fi
if [ "$(id -u)" != 0 ] || [ ${#as_other[@]} -gt 0 ]; then
	want "--allow-downgrade as another user than root is refused" 1 "--allow-downgrade is for root" \
		"${as_other[@]}" "${m_other:-$m}" --config "$tmp/mcu-ota.conf" update --allow-downgrade "$tmp/b15.swu"
	want "... rollback --allow-downgrade too" 1 "--allow-downgrade is for root" \
		"${as_other[@]}" "${m_other:-$m}" --config "$tmp/mcu-ota.conf" rollback --allow-downgrade --device motor
fi
if [ "$(id -u)" = 0 ]; then
	want "root's rollback --allow-downgrade" 0 "motor: ok: 2.0.0 installed and running" \
		cli rollback --allow-downgrade --device motor
	want "root's update --allow-downgrade" 0 "motor: ok: 1.5.0 installed and running" \
		cli update --allow-downgrade "$tmp/b15.swu"
	want "the mark stays 3.0.0" 0 "  mark:      3.0.0" cli status
else
	echo "skip the root cases: not root"
fi
# finding 6: the gateway's revision
echo "gw rev-B" >"$tmp/hwrevision"
want "a bundle for another hardware revision is refused, naming both" 3 \
	"the bundle is for hardware revision \"rev-A\", not for this gateway's revision \"rev-B\" (board \"gw\", from $tmp/hwrevision): nothing installed" \
	cli update "$tmp/hw.swu"
echo "gw rev-A" >"$tmp/hwrevision"
want "... and installed where it fits" 0 "motor: ok: 3.1.0 installed and running" cli update "$tmp/hw.swu"
exit $failed
