#!/usr/bin/env bash
# Builds the signed .swu bundles of the VM rig's update scenarios from the test firmware, with
# openssl and cpio as a vendor would (nothing is committed; the key is made fresh).
#   mkbundles.sh FWDIR   (reads FWDIR/fw-*.bin, writes FWDIR/bundle-*.swu and bundle-key.pub.pem)
set -euo pipefail
fw=${1:?usage: mkbundles.sh FWDIR}
here=$(cd "$(dirname "$0")" && pwd)
key=$fw/bundle-key.pem
[ -s "$key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
openssl pkey -in "$key" -pubout -out "$fw/bundle-key.pub.pem"

# bundle NAME DEVICE:FILE:VERSION...
bundle() {
	local name=$1 work entries="" names=() spec dev file ver sum
	shift
	work=$(mktemp -d)
	for spec in "$@"; do
		IFS=: read -r dev file ver <<<"$spec"
		cp "$fw/$file" "$work/$dev-$file"
		sum=$(sha256sum "$work/$dev-$file" | cut -d' ' -f1)
		entries+="${entries:+,}
		{ filename = \"$dev-$file\"; type = \"mcu-ota\"; device = \"$dev\";
		  version = \"$ver\"; sha256 = \"$sum\"; }"
		names+=("$dev-$file")
	done
	printf 'software = {\n\tversion = "%s";\n\tdescription = "VM rig %s";\n\timages: (%s\n\t);\n}\n' \
		"$ver" "$name" "$entries" >"$work/sw-description"
	openssl dgst -sha256 -sign "$key" -out "$work/sw-description.sig" "$work/sw-description"
	(cd "$work" && printf '%s\n' sw-description sw-description.sig "${names[@]}" |
		cpio --quiet -o -H newc) >"$fw/bundle-$name.swu"
	rm -rf "$work"
}

bundle 2.0.0 mcu:fw-2.0.0.bin:2.0.0
bundle 3.0.0 mcu:fw-3.0.0.bin:3.0.0
bundle 2.0.0-1m mcu:fw-2.0.0-1m.bin:2.0.0
# boots, but reports 2.0.0 where the bundle promises 3.1.0
bundle wrong-version mcu:fw-2.0.0.bin:3.1.0
# noise: no vector table, the chip does not start it
bundle noboot mcu:fw-noise.bin:2.1.0
# two chips, each its own firmware
bundle pair mcu-a:fw-2.0.0.bin:2.0.0 mcu-b:fw-3.0.0.bin:3.0.0
# a byte of the image changed after signing: the hash in sw-description no longer matches
cp "$fw/bundle-2.0.0.swu" "$fw/bundle-tampered.swu"
size=$(stat -c %s "$fw/bundle-tampered.swu")
"$here/../flip-byte.sh" "$fw/bundle-tampered.swu" $((size - 1024 * 20))
