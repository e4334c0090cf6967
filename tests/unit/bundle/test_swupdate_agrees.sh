#!/usr/bin/env bash
# Two implementations agree: Debian's swupdate (-c, check only) and mcu-ota
# judge the same bundles, built by openssl, cpio and swugenerator, the same
# way. Debian's swupdate is built for CMS signatures only, so the CMS
# bundles are compared; for detached signatures it is shown to refuse the
# key outright. Where the two differ on purpose, the difference is pinned
# here so that it cannot change unnoticed.
#
# SWUpdate refuses an image whose type has no handler; swupdate_handlers.lua
# (next to this script, loaded through LUA_PATH) registers a check-only
# handler for type "mcu-ota", the way a vendor extends SWUpdate.
#
# Usage: test_swupdate_agrees.sh MCU_OTA FIXTURES SOURCE_DIR
set -uo pipefail

m=${1:?usage: test_swupdate_agrees.sh MCU_OTA FIXTURES SOURCE_DIR}
fx=${2:?}
src=${3:?}
if ! command -v swupdate >/dev/null; then
	echo "swupdate is missing (apt-get install swupdate)" >&2
	exit 1
fi
if [ ! -s "$fx/count" ]; then
	echo "no test bundles in $fx: build the bundle_fixtures target (it needs swugenerator," \
		"cpio and openssl when cmake runs: tests/deps.sh)" >&2
	exit 1
fi
cd "$fx" || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LUA_PATH="$src/?.lua;;"
passed=0 failed=0

# swupdate_start N BUNDLE [OPTIONS]: run swupdate -c in the background (it
# spends about a second per bundle waiting for its threads), each run in its
# own TMPDIR: it unpacks sw-description and opens its sockets there.
swupdate_start() {
	local n=$1 b=$2
	shift 2
	while [ "$(jobs -rp | wc -l)" -ge 8 ]; do wait -n; done
	mkdir -p "$work/$n"
	(TMPDIR=$work/$n timeout 60 swupdate -c -i "$b" -H mcu-ota-test:1.0 "$@" \
		>"$work/$n.out" 2>&1) &
}
# swupdate_says N: "accept" or "reject: <first error>". Its output decides:
# Debian's swupdate 2022.12 sometimes exits 1 after printing "SWUPDATE
# successful" (a race at exit), and its errors all say ERROR.
swupdate_says() {
	local out
	out=$(cat "$work/$1.out")
	if [[ $out == *"SWUPDATE successful"* ]] && [[ $out != *"ERROR"* ]]; then
		echo accept
	else
		echo "reject: $(printf '%s\n' "$out" | grep -m1 ERROR | sed 's/.*ERROR : //')"
	fi
}
mcu_ota_says() {
	local b=$1 out rc
	shift
	out=$("$m" bundle verify "$b" "$@" 2>&1)
	rc=$?
	if [ $rc = 0 ]; then echo accept; else echo "reject: ${out#mcu-ota: error: }"; fi
}

# case_ NAME BUNDLE WANT_SWUPDATE WANT_MCU_OTA [swupdate options] -- [mcu-ota options]
# mcu-ota runs now, swupdate in the background; report() judges them all.
names=() want_s=() want_m=() got_m=()
case_() {
	local n=${#names[@]} name=$1 b=$2 sw=()
	names+=("$name")
	want_s+=("$3")
	want_m+=("$4")
	shift 4
	while [ $# -gt 0 ] && [ "$1" != -- ]; do sw+=("$1"); shift; done
	[ $# = 0 ] || shift
	swupdate_start "$n" "$b" "${sw[@]}"
	got_m+=("$(mcu_ota_says "$b" "$@")")
}
report() {
	local i s mres
	wait
	for i in "${!names[@]}"; do
		s=$(swupdate_says "$i")
		mres=${got_m[$i]}
		if [ "${s%%:*}" = "${want_s[$i]}" ] && [ "${mres%%:*}" = "${want_m[$i]}" ]; then
			passed=$((passed + 1))
			printf 'ok   %-48s swupdate %-7s mcu-ota %s\n' "${names[$i]}" "${s%%:*}" \
				"${mres%%:*}"
		else
			failed=$((failed + 1))
			printf 'FAIL %s: want swupdate %s, mcu-ota %s\n' "${names[$i]}" "${want_s[$i]}" \
				"${want_m[$i]}"
			printf '       swupdate: %s\n       mcu-ota:  %s\n' "$s" "$mres"
		fi
	done
}
CA=(-k pki/ca.pem)
MCA=(--ca pki/ca.pem)

# ---- both accept ----
case_ "CMS, newc" good-signer-newc.swu accept accept "${CA[@]}" -- "${MCA[@]}"
case_ "CMS, crc" good-signer-crc.swu accept accept "${CA[@]}" -- "${MCA[@]}"
case_ "swugenerator CMS" swugen-cms.swu accept accept "${CA[@]}" -- "${MCA[@]}"
case_ "signer without EKU" good-noeku-newc.swu accept accept "${CA[@]}" -- "${MCA[@]}"
case_ "size and properties" good-props-newc.swu accept accept "${CA[@]}" -- "${MCA[@]}"
case_ "required signer CN" good-signer-newc.swu accept accept "${CA[@]}" \
	--forced-signer-name "firmware signer" -- "${MCA[@]}" --signer-cn "firmware signer"
case_ "codeSigning signer, codeSigning purpose" good-codesign-newc.swu accept accept \
	"${CA[@]}" --cert-purpose codeSigning -- "${MCA[@]}"
cat pki/ca.pem pki/sub.pem >"$work"/root-and-sub.pem
case_ "intermediate CA in the CA file" good-chained-newc.swu accept accept \
	-k "$work"/root-and-sub.pem -- --ca "$work"/root-and-sub.pem
case_ "revoked signer, no CRL given" good-revoked-newc.swu accept accept "${CA[@]}" -- "${MCA[@]}"

# ---- both refuse ----
for t in newc crc; do
	case_ "byte flipped in an image ($t)" bad-flipimage-cms-$t.swu reject reject "${CA[@]}" -- "${MCA[@]}"
	case_ "byte flipped in sw-description ($t)" bad-flipdesc-cms-$t.swu reject reject "${CA[@]}" -- "${MCA[@]}"
	case_ "byte flipped in the signature ($t)" bad-flipsig-cms-$t.swu reject reject "${CA[@]}" -- "${MCA[@]}"
	case_ "image replaced, re-packed ($t)" bad-replaced-signer-$t.swu reject reject "${CA[@]}" -- "${MCA[@]}"
done
case_ "sw-description edited, re-packed" bad-editeddesc-signer-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "signature before sw-description" bad-sigfirst-signer-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "image first" bad-imagefirst-signer-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "image between sw-description and signature" bad-imagebeforesig-signer-newc.swu reject reject \
	"${CA[@]}" -- "${MCA[@]}"
case_ "image missing" bad-missing-signer-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "path in an entry name" bad-path-signer-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "\"..\" in an entry name" bad-dotdot-signer-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "unsigned" bad-unsigned-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "truncated in the signature" bad-truncated2-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "truncated in an image" bad-truncated-cms-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "expired signer" bad-expired-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "not yet valid signer" bad-future-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "signer from an untrusted CA" bad-stranger-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "signer for TLS servers only" bad-server-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "another signer CN" good-signer-newc.swu reject reject "${CA[@]}" \
	--forced-signer-name "someone else" -- "${MCA[@]}" --signer-cn "someone else"
case_ "sw-description syntax error" bad-feature-syntax-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "image without sha256" bad-feature-nohash-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"
case_ "@include" bad-feature-include-newc.swu reject reject "${CA[@]}" -- "${MCA[@]}"

# ---- where they differ, on purpose (mcu-ota is stricter or reads less) ----
# SWUpdate skips files sw-description does not list, and takes a repeated
# entry; mcu-ota refuses both (a bundle carries exactly what it declares).
case_ "extra file (mcu-ota stricter)" bad-extra-signer-newc.swu accept reject "${CA[@]}" -- "${MCA[@]}"
case_ "duplicate entry (mcu-ota stricter)" bad-duplicate-signer-newc.swu accept reject \
	"${CA[@]}" -- "${MCA[@]}"
# A CMS signature that embeds sw-description: SWUpdate verifies the detached
# file and ignores the embedded copy; mcu-ota wants what openssl cms -sign
# and swugenerator make, a detached signature.
case_ "CMS with embedded content (mcu-ota stricter)" bad-attached-newc.swu accept reject \
	"${CA[@]}" -- "${MCA[@]}"
# SWUpdate ignores an image's size; mcu-ota checks it.
case_ "declared size wrong (mcu-ota stricter)" bad-feature-size-newc.swu accept reject \
	"${CA[@]}" -- "${MCA[@]}"
# Features SWUpdate implements and mcu-ota refuses by name.
for f in board bootenv embedded hook property type unknown; do
	case_ "SWUpdate feature '$f' (mcu-ota refuses)" bad-feature-$f-newc.swu accept reject \
		"${CA[@]}" -- "${MCA[@]}"
done
# Debian's swupdate builds the signer's chain from its CA file only; mcu-ota
# also uses the intermediates the CMS signature carries (as openssl cms
# -verify does).
case_ "intermediate only in the signature" good-chained-newc.swu reject accept "${CA[@]}" -- "${MCA[@]}"
# SWUpdate takes one purpose (emailProtection by default, or codeSigning);
# mcu-ota takes a signer with either.
case_ "codeSigning signer, default purpose" good-codesign-newc.swu reject accept "${CA[@]}" -- "${MCA[@]}"
case_ "emailProtection signer, codeSigning purpose" good-signer-newc.swu reject accept \
	"${CA[@]}" --cert-purpose codeSigning -- "${MCA[@]}"
# SWUpdate takes any digest OpenSSL verifies, MD5 and SHA-1 included;
# mcu-ota only SHA-256, -384 and -512 (collisions forge the others).
case_ "CMS over MD5 (mcu-ota stricter)" bad-md5-newc.swu accept reject "${CA[@]}" -- "${MCA[@]}"
case_ "CMS over SHA-1 (mcu-ota stricter)" bad-sha1-newc.swu accept reject "${CA[@]}" -- "${MCA[@]}"
case_ "CMS naming an unknown digest in digestAlgorithms" bad-digestalg-unknown-newc.swu reject reject \
	"${CA[@]}" -- "${MCA[@]}"
case_ "CMS with an empty digestAlgorithms" bad-digestalg-empty-newc.swu reject reject "${CA[@]}" -- \
	"${MCA[@]}"
# SWUpdate's codeSigning purpose checks the extended key usage only; mcu-ota
# also wants digitalSignature when the key usage is restricted.
case_ "codeSigning signer without digitalSignature (mcu-ota stricter)" bad-codeku-newc.swu \
	accept reject "${CA[@]}" --cert-purpose codeSigning -- "${MCA[@]}"
# Debian's swupdate verifies CMS only: it cannot load a public key.
case_ "detached RSA signature" good-rsa-newc.swu reject accept -k keys/rsa.pub -- --key keys/rsa.pub

report
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
