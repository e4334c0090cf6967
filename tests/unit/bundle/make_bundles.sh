#!/usr/bin/env bash
# Build every .swu test bundle with the tools vendors use: openssl (keys,
# certificates, every signature kind), GNU cpio (newc and crc archives) and
# swugenerator. Then derive the tampered variants. Nothing here is committed;
# everything is made fresh in OUT.
#
# Usage: make_bundles.sh OUT
#
# Layout of OUT:
#   keys/     rsa, rsa2 (another key), p256, p384, ed25519: *.key and *.pub
#   pki/      ca.pem (root), sub.pem (intermediate), other-ca.pem (untrusted),
#             crl.pem, and signer certificates *.pem with keys *.key
#   payload/  the images: a.bin (1001 bytes), bb.bin (1002), ccc.hex (1003),
#             dddd.bin (1004), empty.bin (0); name and data lengths cover every
#             cpio padding
#   *.swu     the bundles (see the list at the end, and README in OUT)
set -euo pipefail

out=${1:?usage: make_bundles.sh OUT}
missing=""
for tool in openssl cpio swugenerator python3; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "make_bundles.sh: missing:$missing (apt-get install openssl cpio swugenerator)" >&2
	exit 1
fi

rm -rf "$out"
mkdir -p "$out"/keys "$out"/pki "$out"/payload "$out"/work
out=$(cd "$out" && pwd)
cd "$out"
quiet() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; exit 1; }; }

# ---- keys for detached signatures ----
quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out keys/rsa.key
quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out keys/rsa2.key
quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out keys/rsa1024.key
quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out keys/p256.key
quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out keys/p384.key
quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out keys/k256.key
quiet openssl genpkey -algorithm ED25519 -out keys/ed25519.key
# an RSA-PSS key whose parameters allow SHA-512 only: it cannot check the
# SHA-256 signatures of .swu bundles
quiet openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 \
	-pkeyopt rsa_pss_keygen_md:sha512 -pkeyopt rsa_pss_keygen_mgf1_md:sha512 -out keys/pss512.key
for k in rsa rsa2 rsa1024 p256 p384 k256 ed25519 pss512; do
	quiet openssl pkey -in keys/$k.key -pubout -out keys/$k.pub
done

# ---- a PKI for CMS: root, intermediate, signers, an untrusted root ----
cat >pki/ca.cnf <<'EOF'
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = .
database = index.txt
new_certs_dir = issued
serial = serial
crlnumber = crlnumber
default_md = sha256
default_days = 3650
default_crl_days = 3650
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
organizationName = optional
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ email ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
[ code ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
[ noeku ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
[ codeku ]
basicConstraints = CA:FALSE
keyUsage = critical, keyEncipherment
extendedKeyUsage = codeSigning
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
EOF

# new_ca DIR SUBJECT [ISSUER_DIR]: a CA in pki/DIR (self-signed without issuer)
new_ca() {
	local d=pki/$1
	mkdir -p "$d"/issued
	: >"$d"/index.txt
	echo 1000 >"$d"/serial
	echo 1000 >"$d"/crlnumber
	cp pki/ca.cnf "$d"/ca.cnf
	quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d"/ca.key
	if [ -z "${3:-}" ]; then
		quiet openssl req -new -x509 -key "$d"/ca.key -out "$d"/ca.pem -days 3650 -subj "$2" \
			-config "$d"/ca.cnf -extensions v3_ca
	else
		quiet openssl req -new -key "$d"/ca.key -out "$d"/ca.csr -subj "$2"
		sign_csr "$3" "$d"/ca.csr "$d"/ca.pem v3_ca
	fi
}
# sign_csr CA_DIR CSR OUT EXTENSIONS [openssl ca options]
sign_csr() {
	local ca=$1 csr=$2 pem=$3 ext=$4
	shift 4
	(cd pki/"$ca" && quiet openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key \
		-in "$out/$csr" -out "$out/$pem" -extensions "$ext" -notext "$@")
}
# new_signer NAME CA_DIR SUBJECT EXTENSIONS [openssl ca options]
new_signer() {
	local name=$1 ca=$2 subj=$3 ext=$4
	shift 4
	quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pki/$name.key
	quiet openssl req -new -key pki/$name.key -out pki/$name.csr -subj "$subj"
	sign_csr "$ca" pki/$name.csr pki/$name.pem "$ext" "$@"
}

new_ca root "/CN=mcu-ota test root CA/O=mcu-ota tests"
new_ca sub "/CN=mcu-ota test intermediate CA/O=mcu-ota tests" root
new_ca other "/CN=somebody else's CA/O=elsewhere"
cp pki/root/ca.pem pki/ca.pem
cp pki/sub/ca.pem pki/sub.pem
cp pki/other/ca.pem pki/other-ca.pem

# The main signer: an RSA key, emailProtection (SWUpdate's default purpose).
quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pki/signer.key
quiet openssl req -new -key pki/signer.key -out pki/signer.csr \
	-subj "/CN=firmware signer/O=mcu-ota tests"
sign_csr root pki/signer.csr pki/signer.pem email
new_signer codesign root "/CN=code signer/O=mcu-ota tests" code
new_signer noeku root "/CN=plain signer/O=mcu-ota tests" noeku
new_signer codeku root "/CN=encipherment signer/O=mcu-ota tests" codeku
new_signer server root "/CN=web server/O=mcu-ota tests" server
new_signer expired root "/CN=expired signer/O=mcu-ota tests" email \
	-startdate 20200101000000Z -enddate 20200201000000Z
new_signer future root "/CN=future signer/O=mcu-ota tests" email \
	-startdate 20990101000000Z -enddate 20990201000000Z
new_signer revoked root "/CN=revoked signer/O=mcu-ota tests" email
new_signer chained sub "/CN=chained signer/O=mcu-ota tests" email
new_signer stranger other "/CN=firmware signer/O=mcu-ota tests" email
(cd pki/root && quiet openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key \
	-revoke "$out"/pki/revoked.pem)
(cd pki/root && quiet openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl \
	-out "$out"/pki/crl.pem)
# A CA directory in OpenSSL's hashed layout, as --ca-dir expects.
mkdir -p pki/cadir
cp pki/ca.pem pki/cadir/
quiet openssl rehash pki/cadir

# ---- payloads ----
quiet openssl rand -out payload/a.bin 1001
quiet openssl rand -out payload/bb.bin 1002
quiet openssl rand -out payload/ccc.hex 1003
quiet openssl rand -out payload/dddd.bin 1004
: >payload/empty.bin
IMAGES="a.bin bb.bin ccc.hex dddd.bin"

# ---- building blocks ----
sha() { sha256sum "$1" | cut -d' ' -f1; }

# write_desc DIR FILE...: sw-description listing the files (device dev-N).
# Environment: EXTRA_SW (lines inside software), EXTRA_IMG (lines inside
# the first image), VERSION.
write_desc() {
	local d=$1 n=0 f
	shift
	{
		echo "software ="
		echo "{"
		echo "	version = \"${VERSION:-1.2.0}\";"
		echo "	description = \"mcu-ota test bundle\";"
		echo "	hardware-compatibility = [ \"1.0\", \"1.1\" ];"
		[ -z "${EXTRA_SW:-}" ] || echo "$EXTRA_SW"
		echo "	images: ("
		for f in "$@"; do
			[ $n = 0 ] || echo "		,"
			echo "		{"
			echo "			filename = \"$f\";"
			echo "			type = \"mcu-ota\";"
			echo "			device = \"dev-$n\";"
			echo "			version = \"1.2.$n\";"
			echo "			sha256 = \"$(sha payload/"$f")\";"
			[ $n != 0 ] || [ -z "${EXTRA_IMG:-}" ] || echo "$EXTRA_IMG"
			echo "		}"
			n=$((n + 1))
		done
		echo "	);"
		echo "}"
	} >"$d"/sw-description
}

# sign DIR KIND: sw-description.sig over DIR/sw-description.
sign() {
	local d=$1 in=$1/sw-description sig=$1/sw-description.sig
	case $2 in
	rsa | rsa2 | rsa1024 | p256 | p384 | k256)
		quiet openssl dgst -sha256 -sign keys/$2.key -out "$sig" "$in" ;;
	pss)
		quiet openssl dgst -sha256 -sign keys/rsa.key -sigopt rsa_padding_mode:pss \
			-sigopt rsa_pss_saltlen:-2 -out "$sig" "$in" ;;
	ed25519)
		quiet openssl pkeyutl -sign -rawin -inkey keys/ed25519.key -in "$in" -out "$sig" ;;
	cms-md5 | cms-sha1)
		quiet openssl cms -sign -in "$in" -out "$sig" -signer pki/signer.pem \
			-inkey pki/signer.key -md ${2#cms-} -outform DER -nosmimecap -binary ;;
	cms-chained)
		quiet openssl cms -sign -in "$in" -out "$sig" -signer pki/chained.pem \
			-inkey pki/chained.key -certfile pki/sub.pem -outform DER -nosmimecap -binary ;;
	cms-*)
		local who=${2#cms-}
		quiet openssl cms -sign -in "$in" -out "$sig" -signer pki/$who.pem \
			-inkey pki/$who.key -outform DER -nosmimecap -binary ;;
	*) echo "sign: unknown kind $2" >&2; exit 1 ;;
	esac
}

# pack NAME FORMAT ENTRY...: NAME.swu from the entries of work/NAME, in order.
pack() {
	local name=$1 fmt=$2
	shift 2
	(cd work/"$name" && printf '%s\n' "$@" | cpio -o -H "$fmt" --quiet >"$out/$name.swu")
}

# bundle NAME KIND FORMAT [FILE...]: a complete signed bundle of the files
# (default: all four), sw-description written by write_desc.
bundle() {
	local name=$1 kind=$2 fmt=$3
	shift 3
	[ $# -gt 0 ] || set -- $IMAGES
	mkdir -p work/"$name"
	cp "${@/#/payload/}" work/"$name"/
	write_desc work/"$name" "$@"
	sign work/"$name" "$kind"
	pack "$name" "$fmt" sw-description sw-description.sig "$@"
}

# ---- good bundles: every signature kind, both cpio formats ----
for fmt in newc crc; do
	for kind in rsa pss p256 p384 ed25519 cms-signer; do
		bundle good-${kind#cms-}-$fmt $kind $fmt
	done
done
bundle good-chained-newc cms-chained newc
bundle good-codesign-newc cms-codesign newc
bundle good-noeku-newc cms-noeku newc
bundle good-revoked-newc cms-revoked newc      # good only without the CRL
bundle good-one-newc rsa newc a.bin
bundle good-empty-newc rsa newc a.bin empty.bin bb.bin
# images in another order than sw-description lists them: accepted
mkdir -p work/good-reordered-newc
cp work/good-rsa-newc/* work/good-reordered-newc/
pack good-reordered-newc newc sw-description sw-description.sig dddd.bin ccc.hex bb.bin a.bin
# one file for two devices
mkdir -p work/good-shared-newc
cp payload/a.bin work/good-shared-newc/
write_desc work/good-shared-newc a.bin a.bin
sign work/good-shared-newc rsa
pack good-shared-newc newc sw-description sw-description.sig a.bin
# sizes and properties given, as vendors write them
mkdir -p work/good-props-newc
cp payload/a.bin work/good-props-newc/
EXTRA_IMG='			size = 1001;
			install-if-higher = true;
			properties = { address = "0x08004000"; format = "bin"; };' \
	write_desc work/good-props-newc a.bin
sign work/good-props-newc cms-signer
pack good-props-newc newc sw-description sw-description.sig a.bin

# ---- swugenerator, its RSA and CMS modes ----
mkdir -p work/swugen
cp payload/* work/swugen/
cat >work/swugen/sw-description.in <<'EOF'
software =
{
	version = "2.0.0";
	description = "built by swugenerator";
	hardware-compatibility = [ "1.0" ];
	images: (
		{
			filename = "a.bin";
			type = "mcu-ota";
			device = "motor";
			version = "2.0.0";
			install-if-higher = true;
			size = "$swupdate_get_size(a.bin)";
			properties = { address = "0x08004000"; format = "bin"; };
		},
		{
			filename = "ccc.hex";
			type = "mcu-ota";
			device = "radio";
			version = "1.0.0-rc1";
			install-if-different = true;
		}
	);
}
EOF
(cd work/swugen &&
	quiet swugenerator -s sw-description.in -a . -o "$out"/swugen-rsa.swu \
		-k RSA,"$out"/keys/rsa.key create &&
	quiet swugenerator -s sw-description.in -a . -o "$out"/swugen-cms.swu \
		-k CMS,"$out"/pki/signer.key,"$out"/pki/signer.pem create)

# ---- refused by signature or signer ----
bundle bad-wrongkey-newc rsa2 newc a.bin
bundle bad-shortkey-newc rsa1024 newc a.bin
bundle bad-k256-newc k256 newc a.bin
bundle bad-expired-newc cms-expired newc a.bin
bundle bad-future-newc cms-future newc a.bin
bundle bad-stranger-newc cms-stranger newc a.bin
bundle bad-server-newc cms-server newc a.bin
bundle bad-codeku-newc cms-codeku newc a.bin   # codeSigning, key usage without digitalSignature
bundle bad-md5-newc cms-md5 newc a.bin         # CMS over an MD5 digest
bundle bad-sha1-newc cms-sha1 newc a.bin       # ... and SHA-1
# finding 13 of issue 12: a valid CMS signature whose SignedData.digestAlgorithms (not covered by
# the signature) names an unknown digest (2.16.840.1.101.3.4.2.127), or none: OpenSSL 3.0's
# CMS_verify leaked 272 bytes on each (fixed upstream in 2026); mcu-ota refuses both first
digestalgs() { # SRC DST unknown|empty
	python3 - "$@" <<'EOF'
import sys
src, dst, how = sys.argv[1:4]
d = bytearray(open(src, "rb").read())
def head(pos):  # (tag, header length, content length) of the DER element at pos
	n = d[pos + 1]
	if n < 0x80:
		return d[pos], 2, n
	k = n & 0x7f
	return d[pos], 2 + k, int.from_bytes(d[pos + 2:pos + 2 + k], "big")
# ContentInfo { contentType, [0] { SignedData { version, digestAlgorithms, ...
_, h, _ = head(0)
_, h2, l2 = head(h)
ctx = h + h2 + l2
_, h3, _ = head(ctx)
sd = ctx + h3
_, h4, _ = head(sd)
ver = sd + h4
_, h5, l5 = head(ver)
st = ver + h5 + l5
tag, h6, l6 = head(st)
assert tag == 0x31 and h6 == 2, "digestAlgorithms"
sha256 = bytes.fromhex("0609608648016503040201")
body = bytes(d[st + 2:st + 2 + l6])
assert sha256 in body
new = body.replace(sha256, sha256[:-1] + b"\x7f") if how == "unknown" else b""
delta = len(new) - len(body)
d[st:st + 2 + l6] = bytes([0x31, len(new)]) + new
for pos in (sd, ctx, 0):  # every enclosing length (long form, 2 bytes)
	assert d[pos + 1] == 0x82
	n = int.from_bytes(d[pos + 2:pos + 4], "big") + delta
	d[pos + 2:pos + 4] = n.to_bytes(2, "big")
open(dst, "wb").write(d)
EOF
}
for how in unknown empty; do
	mkdir -p work/bad-digestalg-$how-newc
	cp payload/a.bin work/bad-digestalg-$how-newc/
	write_desc work/bad-digestalg-$how-newc a.bin
	sign work/bad-digestalg-$how-newc cms-signer
	digestalgs work/bad-digestalg-$how-newc/sw-description.sig work/sig-$how.der $how
	mv work/sig-$how.der work/bad-digestalg-$how-newc/sw-description.sig
	pack bad-digestalg-$how-newc newc sw-description sw-description.sig a.bin
done
# unsigned: no sw-description.sig at all
mkdir -p work/bad-unsigned-newc
cp work/good-rsa-newc/* work/bad-unsigned-newc/
pack bad-unsigned-newc newc sw-description $IMAGES
# a CMS signature that embeds its content instead of being detached
mkdir -p work/bad-attached-newc
cp work/good-rsa-newc/* work/bad-attached-newc/
quiet openssl cms -sign -in work/bad-attached-newc/sw-description -signer pki/signer.pem \
	-inkey pki/signer.key -outform DER -nosmimecap -binary -nodetach \
	-out work/bad-attached-newc/sw-description.sig
pack bad-attached-newc newc sw-description sw-description.sig $IMAGES

# ---- tampered after signing: bytes flipped in place ----
# flip IN NEEDLE_FILE OFFSET OUT: xor 0x01 into the byte OFFSET bytes after
# where the first 32 bytes of NEEDLE_FILE appear in IN.
flip() {
	python3 - "$@" <<'EOF'
import sys
src, needle, off, dst = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
data = bytearray(open(src, "rb").read())
pos = data.find(open(needle, "rb").read(32))
assert pos >= 0, "needle not found"
data[pos + off] ^= 1
open(dst, "wb").write(data)
EOF
}
for pair in rsa-newc:good-rsa-newc cms-newc:good-signer-newc rsa-crc:good-rsa-crc \
	cms-crc:good-signer-crc; do
	tag=${pair%%:*} src=${pair#*:}
	flip $src.swu payload/ccc.hex 500 bad-flipimage-$tag.swu
	flip $src.swu work/$src/sw-description 40 bad-flipdesc-$tag.swu
	flip $src.swu work/$src/sw-description.sig 100 bad-flipsig-$tag.swu
done
# the crc checksum alone: an image's header field rewritten
python3 - good-rsa-crc.swu bad-crcfield-crc.swu <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
pos = data.find(b"bb.bin\0") - 110
assert data[pos:pos + 6] == b"070702"
data[pos + 102:pos + 110] = b"00000001"
open(sys.argv[2], "wb").write(data)
EOF
# a non-zero byte in the padding after a name (bb.bin: 110 + 7 -> 3 bytes)
python3 - good-rsa-newc.swu bad-padding-newc.swu <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
pos = data.find(b"bb.bin\0") + 7
assert data[pos] == 0
data[pos] = 0x55
open(sys.argv[2], "wb").write(data)
EOF
# truncated inside the last image, and inside the cpio header of an image
size=$(stat -c %s good-rsa-newc.swu)
head -c $((size - 700)) good-rsa-newc.swu >bad-truncated-newc.swu
head -c 2000 good-signer-newc.swu >bad-truncated2-newc.swu
size=$(stat -c %s good-signer-newc.swu)
head -c $((size - 700)) good-signer-newc.swu >bad-truncated-cms-newc.swu
# something after the trailer
{ cat good-rsa-newc.swu; printf 'garbage'; } >bad-trailing-newc.swu

# ---- tampered by re-packing: entries reordered, missing, extra, renamed ----
repack() { # NAME SRC_DIR FORMAT ENTRY...
	local name=$1 src=$2 fmt=$3
	shift 3
	mkdir -p work/"$name"
	cp work/"$src"/* work/"$name"/
	pack "$name" "$fmt" "$@"
}
for s in rsa signer; do
	repack bad-sigfirst-$s-newc good-$s-newc newc sw-description.sig sw-description $IMAGES
	repack bad-imagefirst-$s-newc good-$s-newc newc a.bin sw-description sw-description.sig \
		bb.bin ccc.hex dddd.bin
	repack bad-imagebeforesig-$s-newc good-$s-newc newc sw-description a.bin \
		sw-description.sig bb.bin ccc.hex dddd.bin
	repack bad-missing-$s-newc good-$s-newc newc sw-description sw-description.sig \
		a.bin bb.bin ccc.hex
	repack bad-extra-$s-newc good-$s-newc newc sw-description sw-description.sig $IMAGES
	printf 'not in sw-description' >work/bad-extra-$s-newc/extra.bin
	pack bad-extra-$s-newc newc sw-description sw-description.sig $IMAGES extra.bin
	repack bad-duplicate-$s-newc good-$s-newc newc sw-description sw-description.sig \
		$IMAGES a.bin
	# a path: the entry sub/a.bin (sw-description lists a.bin)
	repack bad-path-$s-newc good-$s-newc newc sw-description
	mkdir -p work/bad-path-$s-newc/sub
	cp payload/a.bin work/bad-path-$s-newc/sub/
	pack bad-path-$s-newc newc sw-description sw-description.sig sub/a.bin bb.bin \
		ccc.hex dddd.bin
	# "..": the entry ../a.bin, written from a subdirectory
	repack bad-dotdot-$s-newc good-$s-newc newc sw-description
	mkdir -p work/bad-dotdot-$s-newc/in
	cp work/good-$s-newc/sw-description* payload/bb.bin payload/ccc.hex payload/dddd.bin \
		work/bad-dotdot-$s-newc/in/
	(cd work/bad-dotdot-$s-newc/in &&
		printf '%s\n' sw-description sw-description.sig ../a.bin bb.bin ccc.hex dddd.bin |
		cpio -o -H newc --quiet >"$out"/bad-dotdot-$s-newc.swu)
	# an image replaced by another file of the same name, re-packed
	repack bad-replaced-$s-newc good-$s-newc newc sw-description
	cp payload/bb.bin work/bad-replaced-$s-newc/a.bin
	pack bad-replaced-$s-newc newc sw-description sw-description.sig $IMAGES
	# the same in a crc archive: cpio computes a correct checksum
	repack bad-replaced-$s-crc good-$s-crc crc sw-description
	cp payload/bb.bin work/bad-replaced-$s-crc/a.bin
	pack bad-replaced-$s-crc crc sw-description sw-description.sig $IMAGES
	# sw-description edited after signing, re-packed
	repack bad-editeddesc-$s-newc good-$s-newc newc sw-description
	sed -i 's/version = "1.2.0"/version = "9.9.9"/' work/bad-editeddesc-$s-newc/sw-description
	pack bad-editeddesc-$s-newc newc sw-description sw-description.sig $IMAGES
done

# ---- sw-description with what mcu-ota does not implement (validly signed) ----
# feature NAME EXTRA_SW EXTRA_IMG
feature() {
	local name=bad-feature-$1-newc
	mkdir -p work/$name
	cp payload/a.bin work/$name/
	EXTRA_SW=$2 EXTRA_IMG=$3 write_desc work/$name a.bin
	sign work/$name cms-signer
	pack $name newc sw-description sw-description.sig a.bin
}
feature scripts '	scripts: ( { filename = "a.bin"; type = "lua"; } );' ''
feature embedded '	embedded-script = "print(1)";' ''
feature files '	files: ( { filename = "a.bin"; path = "/tmp/a"; } );' ''
feature bootenv '	bootenv: ( { name = "x"; value = "1"; } );' ''
feature board '	myboard = { images: ( { filename = "a.bin"; } ); };' ''
feature ref '	ref = "#./other";' ''
feature encrypted '' '			encrypted = true;'
feature compressed '' '			compressed = "zlib";'
feature hook '' '			hook = "f";'
feature property '' '			properties = { erase = "all"; };'
feature unknown '' '			colour = "blue";'
feature type '' ''
sed -i 's/type = "mcu-ota"/type = "raw"/' work/bad-feature-type-newc/sw-description
sign work/bad-feature-type-newc cms-signer
pack bad-feature-type-newc newc sw-description sw-description.sig a.bin
feature include '@include "/etc/passwd"' ''
feature syntax '	broken = "x" y;' ''
feature nohash '' ''
sed -i '/sha256 =/d' work/bad-feature-nohash-newc/sw-description
sign work/bad-feature-nohash-newc cms-signer
pack bad-feature-nohash-newc newc sw-description sw-description.sig a.bin
feature size '' '			size = 999;'
feature slash '' ''
mkdir -p work/bad-feature-slash-newc/sub
cp payload/a.bin work/bad-feature-slash-newc/sub/
sed -i 's#filename = "a.bin"#filename = "sub/a.bin"#' work/bad-feature-slash-newc/sw-description
sign work/bad-feature-slash-newc cms-signer
pack bad-feature-slash-newc newc sw-description sw-description.sig sub/a.bin

ls *.swu | wc -l >count
echo "make_bundles.sh: $(cat count) bundles in $out"
