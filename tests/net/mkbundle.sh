#!/usr/bin/env bash
# Builds a signed .swu bundle the way a vendor would, with cpio and openssl:
#   mkbundle.sh OUT.swu KEY.pem SIZE [SIZE...]
# one image of SIZE bytes (random; K and M suffixes) per SIZE, for device
# mcu0, mcu1, ..., named app0.bin, app1.bin, ...; sw-description signed with KEY.pem
# (openssl dgst -sha256 -sign). KEY.pem is made (EC P-256) when missing, and
# its public key written beside it as KEY.pub.pem.
set -euo pipefail
out=${1:?usage: mkbundle.sh OUT.swu KEY.pem SIZE...}
key=${2:?}
shift 2
[ $# -ge 1 ] || { echo "mkbundle.sh: give at least one image SIZE" >&2; exit 2; }
if [ ! -s "$key" ]; then
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
fi
openssl pkey -in "$key" -pubout -out "${key%.pem}.pub.pem"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bytes() { # 512K -> 524288
	local v=$1
	case $v in
	*K) echo $((${v%K} * 1024)) ;;
	*M) echo $((${v%M} * 1048576)) ;;
	*) echo "$v" ;;
	esac
}
names=()
entries=""
i=0
for size in "$@"; do
	name=app$i.bin
	n=$(bytes "$size")
	head -c "$n" /dev/urandom >"$work/$name"
	sum=$(sha256sum "$work/$name" | cut -d' ' -f1)
	entries+="${entries:+,}
		{
			filename = \"$name\";
			type = \"mcu-ota\";
			device = \"mcu$i\";
			version = \"1.2.$i\";
			sha256 = \"$sum\";
			size = $n;
		}"
	names+=("$name")
	i=$((i + 1))
done
cat >"$work/sw-description" <<SWD
software =
{
	version = "1.2.0";
	description = "tests/net bundle";
	hardware-compatibility = [ "1.0" ];
	images: ($entries
	);
}
SWD
openssl dgst -sha256 -sign "$key" -out "$work/sw-description.sig" "$work/sw-description"
(cd "$work" && printf '%s\n' sw-description sw-description.sig "${names[@]}" |
	cpio --quiet -o -H newc) >"$out"
