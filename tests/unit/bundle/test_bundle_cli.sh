#!/usr/bin/env bash
# `mcu-ota bundle verify|inspect` on the bundles make_bundles.sh built with
# openssl, cpio and swugenerator: every good bundle accepted, every tampered
# one refused with exit 3 and the reason that names what is wrong.
#
# Usage: test_bundle_cli.sh MCU_OTA FIXTURES
set -uo pipefail

m=${1:?usage: test_bundle_cli.sh MCU_OTA FIXTURES}
fx=${2:?usage: test_bundle_cli.sh MCU_OTA FIXTURES}
if [ ! -s "$fx/count" ]; then
	echo "no test bundles in $fx: build the bundle_fixtures target (it needs swugenerator," \
		"cpio and openssl when cmake runs: tests/deps.sh)" >&2
	exit 1
fi
cd "$fx" || exit 1
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
# hidden NAME SECRET CMD...: CMD exits 0 and its output never shows SECRET.
hidden() {
	local name=$1 secret=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && [[ $out != *"$secret"* ]]; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name: exit $rc (want 0) or \"$secret\" shown:"
		echo "$out" | sed 's/^/       /'
	fi
}
verify() { "$m" bundle verify "$@"; }
inspect() { "$m" bundle inspect "$@"; }
# every reason is one line
one_line() {
	local out lines
	out=$("$@" 2>&1)
	lines=$(printf '%s\n' "$out" | wc -l)
	[ "$lines" = 1 ] || { echo "more than one line: $out"; return 1; }
}
CA=(--ca pki/ca.pem)
ALLKEYS=(--key keys/rsa.pub --key keys/p256.pub --key keys/p384.pub --key keys/ed25519.pub)

# ---- accepted: every signature kind, both cpio formats ----
for fmt in newc crc; do
	expect "rsa $fmt" 0 "RSA PKCS#1 v1.5 signature by key keys/rsa.pub, SHA256:" \
		verify good-rsa-$fmt.swu --key keys/rsa.pub
	expect "rsa-pss $fmt" 0 "RSA-PSS signature" verify good-pss-$fmt.swu --key keys/rsa.pub
	expect "ecdsa p-256 $fmt" 0 "ECDSA signature" verify good-p256-$fmt.swu --key keys/p256.pub
	expect "ecdsa p-384 $fmt" 0 "ECDSA signature" verify good-p384-$fmt.swu --key keys/p384.pub
	expect "ed25519 $fmt" 0 "Ed25519 signature" verify good-ed25519-$fmt.swu \
		--key keys/ed25519.pub
	expect "cms $fmt" 0 "CMS signature by CN = firmware signer, O = mcu-ota tests" \
		verify good-signer-$fmt.swu "${CA[@]}"
done
expect "all keys at once" 0 "OK: version 1.2.0, 4 images" verify good-p384-newc.swu "${ALLKEYS[@]}"
expect "key rotation: old and new key" 0 "keys/rsa.pub" \
	verify good-rsa-newc.swu --key keys/rsa2.pub --key keys/rsa.pub
expect "cms via CA directory" 0 "OK" verify good-signer-newc.swu --ca-dir pki/cadir
expect "cms through an intermediate CA" 0 "CN = chained signer" verify good-chained-newc.swu "${CA[@]}"
expect "cms codeSigning signer" 0 "CN = code signer" verify good-codesign-newc.swu "${CA[@]}"
expect "cms signer without EKU" 0 "CN = plain signer" verify good-noeku-newc.swu "${CA[@]}"
expect "cms required signer CN" 0 "OK" verify good-signer-newc.swu "${CA[@]}" \
	--signer-cn "firmware signer"
expect "cms with a CRL" 0 "OK" verify good-signer-newc.swu "${CA[@]}" --crl pki/crl.pem
expect "revoked signer without a CRL" 0 "OK" verify good-revoked-newc.swu "${CA[@]}"
expect "swugenerator RSA" 0 "OK: version 2.0.0, 2 images, RSA PKCS#1 v1.5" \
	verify swugen-rsa.swu --key keys/rsa.pub
expect "swugenerator CMS" 0 "OK: version 2.0.0, 2 images, CMS" verify swugen-cms.swu "${CA[@]}"
expect "images in another order" 0 "OK" verify good-reordered-newc.swu --key keys/rsa.pub
expect "one file for two devices" 0 "2 images" verify good-shared-newc.swu --key keys/rsa.pub
expect "size and properties" 0 "OK" verify good-props-newc.swu "${CA[@]}"
expect "standard input" 0 "-: OK" sh -c "\"$m\" bundle verify - --key keys/rsa.pub <good-rsa-newc.swu"
expect "standard input from a pipe (read on where it cannot seek)" 0 "-: OK" sh -c "cat good-rsa-newc.swu | \"$m\" bundle verify - --key keys/rsa.pub"

# ---- refused: tampered content ----
for t in rsa-newc rsa-crc cms-newc cms-crc; do
	trust=(--key keys/rsa.pub)
	[[ $t == rsa-* ]] || trust=("${CA[@]}")
	expect "byte flipped in an image ($t)" 3 'image "ccc.hex": SHA-256 mismatch' \
		verify bad-flipimage-$t.swu "${trust[@]}"
	want="signature of sw-description does not verify"
	[[ $t == rsa-* ]] || want="CMS signature of sw-description does not verify"
	expect "byte flipped in sw-description ($t)" 3 "$want" verify bad-flipdesc-$t.swu "${trust[@]}"
	expect "byte flipped in the signature ($t)" 3 "$want" verify bad-flipsig-$t.swu "${trust[@]}"
done
for s in rsa signer; do
	trust=(--key keys/rsa.pub)
	[ $s = rsa ] || trust=("${CA[@]}")
	expect "sw-description edited and re-packed ($s)" 3 "signature of sw-description does not verify" \
		verify bad-editeddesc-$s-newc.swu "${trust[@]}"
	expect "image replaced and re-packed, newc ($s)" 3 'image "a.bin": SHA-256 mismatch' \
		verify bad-replaced-$s-newc.swu "${trust[@]}"
	expect "image replaced and re-packed, crc ($s)" 3 'image "a.bin": SHA-256 mismatch' \
		verify bad-replaced-$s-crc.swu "${trust[@]}"
	expect "signature first ($s)" 3 'the first entry must be sw-description, not "sw-description.sig"' \
		verify bad-sigfirst-$s-newc.swu "${trust[@]}"
	expect "image first ($s)" 3 'the first entry must be sw-description, not "a.bin"' \
		verify bad-imagefirst-$s-newc.swu "${trust[@]}"
	expect "image before the signature ($s)" 3 'sw-description.sig must follow sw-description, found "a.bin"' \
		verify bad-imagebeforesig-$s-newc.swu "${trust[@]}"
	expect "image missing ($s)" 3 'image "dddd.bin" (sw-description line 31) is missing from the bundle' \
		verify bad-missing-$s-newc.swu "${trust[@]}"
	expect "extra file ($s)" 3 'entry "extra.bin" is not listed in sw-description' \
		verify bad-extra-$s-newc.swu "${trust[@]}"
	expect "duplicate entry ($s)" 3 'duplicate entry "a.bin"' \
		verify bad-duplicate-$s-newc.swu "${trust[@]}"
	expect "path in an entry name ($s)" 3 'entry "sub/a.bin" is not a plain file name' \
		verify bad-path-$s-newc.swu "${trust[@]}"
	expect "\"..\" in an entry name ($s)" 3 'entry "../a.bin" is not a plain file name' \
		verify bad-dotdot-$s-newc.swu "${trust[@]}"
done
expect "crc checksum field" 3 'entry "bb.bin": cpio crc checksum mismatch' \
	verify bad-crcfield-crc.swu --key keys/rsa.pub
expect "non-zero padding" 3 "non-zero byte in cpio padding after a name" \
	verify bad-padding-newc.swu --key keys/rsa.pub
expect "truncated in an image" 3 'bundle truncated at byte' verify bad-truncated-newc.swu --key keys/rsa.pub
expect "truncated in an image names it" 3 'inside image "dddd.bin"' \
	verify bad-truncated-newc.swu --key keys/rsa.pub
expect "truncated in the signature" 3 "bundle truncated at byte 2000" \
	verify bad-truncated2-newc.swu "${CA[@]}"
expect "garbage after the trailer" 3 "after the trailer" verify bad-trailing-newc.swu --key keys/rsa.pub
expect "not a bundle" 3 "not a .swu bundle" verify keys/rsa.pub --key keys/rsa.pub
expect "empty file" 3 "truncated at byte 0" verify /dev/null --key keys/rsa.pub
expect "missing file" 3 "No such file or directory" verify nothere.swu --key keys/rsa.pub

# ---- refused: signature and signer ----
# (a trusted key or CA that cannot be read or used is a command-line error,
# exit 2, like an unreadable --tls-ca: the bundle was never looked at)
expect "unsigned" 3 "bundle is not signed" verify bad-unsigned-newc.swu --key keys/rsa.pub
expect "unsigned (CMS trust)" 3 "bundle is not signed" verify bad-unsigned-newc.swu "${CA[@]}"
expect "wrong key" 3 "does not verify with any of the 1 trusted key(s)" \
	verify bad-wrongkey-newc.swu --key keys/rsa.pub
expect "ed25519 bundle, RSA key" 3 "does not verify with any of the 1 trusted key(s)" \
	verify good-ed25519-newc.swu --key keys/rsa.pub
expect "CMS bundle, keys only" 3 "is a CMS signature but no CA is configured" \
	verify good-signer-newc.swu --key keys/rsa.pub
expect "detached signature, CA only" 3 "detached signature (not CMS) but no trusted public key" \
	verify good-rsa-newc.swu "${CA[@]}"
expect "expired signer" 3 "CN = expired signer, O = mcu-ota tests is not trusted: certificate has expired" \
	verify bad-expired-newc.swu "${CA[@]}"
expect "not yet valid signer" 3 "is not trusted: certificate is not yet valid" \
	verify bad-future-newc.swu "${CA[@]}"
expect "not yet valid signer: check the clock" 3 "check this device's clock" \
	verify bad-future-newc.swu "${CA[@]}"
expect "untrusted signer" 3 "is not trusted: unable to get local issuer certificate" \
	verify bad-stranger-newc.swu "${CA[@]}"
expect "revoked signer" 3 "is not trusted: certificate revoked" \
	verify good-revoked-newc.swu "${CA[@]}" --crl pki/crl.pem
expect "signer for the wrong purpose" 3 "CN = web server, O = mcu-ota tests is not allowed to sign" \
	verify bad-server-newc.swu "${CA[@]}"
expect "codeSigning signer whose key usage lacks digitalSignature" 3 \
	"CN = encipherment signer, O = mcu-ota tests is not allowed to sign: its key usage lacks digitalSignature" \
	verify bad-codeku-newc.swu "${CA[@]}"
expect "CMS over an MD5 digest" 3 "uses the MD5 digest; only SHA-256, SHA-384 and SHA-512" \
	verify bad-md5-newc.swu "${CA[@]}"
expect "CMS over a SHA-1 digest" 3 "uses the SHA-1 digest" verify bad-sha1-newc.swu "${CA[@]}"
# finding 13 of issue 12: the digestAlgorithms outside the signature, judged before CMS_verify
expect "CMS naming an unknown digest in digestAlgorithms" 3 \
	"lists the digest 2.16.840.1.101.3.4.2.127 in its digestAlgorithms; only SHA-256" \
	verify bad-digestalg-unknown-newc.swu "${CA[@]}"
expect "CMS with an empty digestAlgorithms" 3 "lists no digest algorithm" \
	verify bad-digestalg-empty-newc.swu "${CA[@]}"
expect "another signer CN" 3 "is not the required signer CN=someone else" \
	verify good-signer-newc.swu "${CA[@]}" --signer-cn "someone else"
expect "CMS with embedded content" 3 "a detached signature is required" \
	verify bad-attached-newc.swu "${CA[@]}"
expect "short RSA key refused" 2 "RSA key of 1024 bits; at least 2048 required" \
	verify bad-shortkey-newc.swu --key keys/rsa1024.pub
expect "curve other than P-256/P-384 refused" 2 "EC curve secp256k1 is not supported" \
	verify bad-k256-newc.swu --key keys/k256.pub
expect "RSA-PSS key restricted to SHA-512 refused when loaded" 2 \
	"key keys/pss512.pub: cannot check SHA-256 signatures with it" \
	verify good-rsa-newc.swu --key keys/pss512.pub --key keys/rsa.pub
expect "key file missing" 2 "key nokey.pub: cannot open" verify good-rsa-newc.swu --key nokey.pub
expect "key file not a key" 2 "not a PEM public key" verify good-rsa-newc.swu --key payload/a.bin

# ---- refused: limits ----
expect "image over the size limit" 3 'image "dddd.bin" is 1004 bytes, more than the limit of 1003' \
	verify good-rsa-newc.swu --key keys/rsa.pub --max-image-size 1003
expect "declared size over the limit" 3 "image size 1001 is larger than the limit of 1000 bytes" \
	verify good-props-newc.swu "${CA[@]}" --max-image-size 1000
expect "bundle over the size limit" 3 "bundle larger than the limit of 4096 bytes" \
	verify good-rsa-newc.swu --key keys/rsa.pub --max-size 4K
expect "too many images" 3 "4 images, more than the limit of 3" \
	verify good-rsa-newc.swu --key keys/rsa.pub --max-images 3
expect "sw-description over the limit" 3 "more than the limit of 100" \
	verify good-rsa-newc.swu --key keys/rsa.pub --max-description 100

# ---- refused: what mcu-ota does not implement (each validly signed) ----
f() { expect "sw-description: $1" 3 "$2" verify bad-feature-$1-newc.swu "${CA[@]}"; }
f scripts "line 6: software.scripts: mcu-ota does not support scripts"
f embedded "line 6: software.embedded-script: mcu-ota does not support embedded Lua scripts"
f files "line 6: software.files: mcu-ota does not support files"
f bootenv "line 6: software.bootenv: mcu-ota does not support bootloader environment"
f board "line 6: software.myboard: mcu-ota does not support board and software-set selections"
f ref "line 6: software.ref: mcu-ota does not support links (ref)"
f encrypted "line 13: software.images[0].encrypted: mcu-ota does not support encrypted images"
f compressed "line 13: software.images[0].compressed: mcu-ota does not support compressed images"
f hook "software.images[0].hook: mcu-ota does not support embedded script hooks"
f property "software.images[0].properties.erase: mcu-ota does not support this property"
f unknown "software.images[0].colour: mcu-ota does not support this setting"
f type 'line 9: image type "raw" is not supported by mcu-ota'
f include "line 6: directives (@include) are not supported"
f syntax "sw-description line 6: syntax error"
f nohash 'image "a.bin" has no sha256'
f size 'image "a.bin" is 1001 bytes but sw-description (line 7) says 999'
f slash '"sub/a.bin" is not a plain file name'

# ---- every refusal is one line ----
for b in bad-flipimage-rsa-newc bad-missing-rsa-newc bad-expired-newc bad-feature-scripts-newc; do
	if one_line verify $b.swu --key keys/rsa.pub "${CA[@]}"; then
		passed=$((passed + 1))
		echo "ok   one line: $b"
	else
		failed=$((failed + 1))
		echo "FAIL one line: $b"
	fi
done

# ---- inspect ----
expect "inspect without trust" 0 "signature:    NOT verified (CMS naming CN = firmware signer" \
	inspect good-signer-newc.swu
expect "inspect detached without trust" 0 "NOT verified (give --key or --ca to verify)" \
	inspect good-rsa-newc.swu
expect "inspect verifies with trust" 0 "signature:    verified, CMS, signer CN = firmware signer" \
	inspect good-signer-newc.swu "${CA[@]}"
expect "inspect shows the images" 0 "device    dev-3" inspect good-rsa-newc.swu
expect "inspect shows sizes" 0 "size      1004 bytes" inspect good-rsa-newc.swu
expect "inspect shows addresses" 0 "address   0x08004000" inspect swugen-cms.swu
expect "inspect shows the key fingerprint" 0 "key keys/rsa.pub, SHA256:" \
	inspect good-rsa-newc.swu --key keys/rsa.pub
expect "inspect checks hashes without trust" 3 "SHA-256 mismatch" inspect bad-flipimage-rsa-newc.swu
expect "inspect refuses a bad signature with trust" 3 "does not verify" \
	inspect bad-flipsig-rsa-newc.swu --key keys/rsa.pub
expect "inspect an unsigned bundle" 0 "NOT verified" inspect bad-unsigned-newc.swu

json=$(inspect swugen-cms.swu --json "${CA[@]}" 2>&1)
sha_a=$(sha256sum payload/a.bin | cut -d' ' -f1)
if printf '%s' "$json" | python3 -c '
import json, sys
j = json.load(sys.stdin)
sha = sys.argv[1]
assert j["version"] == "2.0.0", j
assert j["hardware_compatibility"] == ["1.0"], j
assert j["signature"] == {"verified": True, "kind": "CMS",
                          "signer": "CN = firmware signer, O = mcu-ota tests"}, j
a, c = j["images"]
assert (a["device"], a["version"], a["size"], a["sha256"], a["address"], a["format"]) == \
       ("motor", "2.0.0", 1001, sha, "0x08004000", "bin"), a
assert a["install_if_higher"] is True and c["install_if_different"] is True, j
assert c["filename"] == "ccc.hex" and c["address"] == "0x08000000", c
' "$sha_a"; then
	passed=$((passed + 1))
	echo "ok   inspect --json"
else
	failed=$((failed + 1))
	echo "FAIL inspect --json: $json"
fi

# ---- URL: the same reader fed by the downloader (agent/fetch) ----
# A throwaway HTTPS server on loopback, with a certificate made here.
tls=$(mktemp -d)
trap 'kill $server $plain 2>/dev/null; rm -rf "$tls"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls"/srv.key \
	-out "$tls"/srv.pem -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	>/dev/null 2>&1
# serve [CERT KEY]: the fixtures over HTTPS (plain HTTP without a certificate)
serve() {
	exec python3 -c '
import functools, http.server, ssl, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=".")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
if len(sys.argv) > 1:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
' "$@"
}
serve "$tls"/srv.pem "$tls"/srv.key >"$tls"/port &
server=$!
serve >"$tls"/plainport &
plain=$!
for _ in $(seq 50); do [ -s "$tls"/port ] && [ -s "$tls"/plainport ] && break; sleep 0.1; done
url=https://127.0.0.1:$(cat "$tls"/port)
plainurl=http://127.0.0.1:$(cat "$tls"/plainport)
expect "URL verified" 0 "$url/good-signer-crc.swu: OK: version 1.2.0, 4 images, CMS" \
	verify "$url/good-signer-crc.swu" "${CA[@]}" --tls-ca "$tls"/srv.pem
expect "URL inspected" 0 "sha256    " inspect "$url/swugen-rsa.swu" --tls-ca "$tls"/srv.pem
expect "URL with a tampered image" 3 "$url/bad-flipimage-rsa-newc.swu: image \"ccc.hex\": SHA-256 mismatch" \
	verify "$url/bad-flipimage-rsa-newc.swu" --key keys/rsa.pub --tls-ca "$tls"/srv.pem
expect "URL over the bundle size limit" 3 "more than the size limit of 4 KiB" \
	verify "$url/good-rsa-newc.swu" --key keys/rsa.pub --tls-ca "$tls"/srv.pem --max-size 4K
expect "URL not found" 1 "HTTP 404" verify "$url/nothere.swu" --key keys/rsa.pub --tls-ca "$tls"/srv.pem
expect "URL with an untrusted server" 1 "not signed by a trusted CA" \
	verify "$url/good-rsa-newc.swu" --key keys/rsa.pub
# a URL's user name, password and query (a presigned token) are never shown
secret=$(printf '%s' "$url" | sed 's#https://#https://fw:hunter2@#')
hidden "URL password not shown by verify" hunter2 \
	verify "$secret/good-signer-crc.swu?token=s3cr3t" "${CA[@]}" --tls-ca "$tls"/srv.pem
hidden "URL token not shown by verify" s3cr3t \
	verify "$secret/good-signer-crc.swu?token=s3cr3t" "${CA[@]}" --tls-ca "$tls"/srv.pem
expect "URL shown redacted by verify" 0 "$url/good-signer-crc.swu?...: OK" \
	verify "$secret/good-signer-crc.swu?token=s3cr3t" "${CA[@]}" --tls-ca "$tls"/srv.pem
hidden "URL password not shown by inspect" hunter2 \
	inspect "$secret/swugen-rsa.swu?token=s3cr3t" --tls-ca "$tls"/srv.pem
hidden "URL token not shown by inspect" s3cr3t \
	inspect "$secret/swugen-rsa.swu?token=s3cr3t" --tls-ca "$tls"/srv.pem
expect "URL shown redacted by inspect" 0 "bundle:       $url/swugen-rsa.swu?..." \
	inspect "$secret/swugen-rsa.swu?token=s3cr3t" --tls-ca "$tls"/srv.pem
hidden "URL password not shown by inspect --json" hunter2 \
	inspect "$secret/swugen-rsa.swu?token=s3cr3t" --json --tls-ca "$tls"/srv.pem
hidden "URL token not shown by inspect --json" s3cr3t \
	inspect "$secret/swugen-rsa.swu?token=s3cr3t" --json --tls-ca "$tls"/srv.pem
expect "URL with a tampered image, redacted" 3 "$url/bad-flipimage-rsa-newc.swu?...: image" \
	verify "$secret/bad-flipimage-rsa-newc.swu?token=s3cr3t" --key keys/rsa.pub \
	--tls-ca "$tls"/srv.pem
# the TLS options of mcu-ota fetch
expect "plain http refused" 2 "--allow-http" verify "$plainurl/good-rsa-newc.swu" --key keys/rsa.pub
expect "plain http with --allow-http" 0 "OK: version 1.2.0" \
	verify "$plainurl/good-rsa-newc.swu" --key keys/rsa.pub --allow-http
expect "client certificate given" 0 "OK" verify "$url/good-rsa-newc.swu" --key keys/rsa.pub \
	--tls-ca "$tls"/srv.pem --client-cert "$tls"/srv.pem --client-key "$tls"/srv.key
expect "unreadable client certificate" 2 "cannot read the client certificate" \
	verify "$url/good-rsa-newc.swu" --key keys/rsa.pub --tls-ca "$tls"/srv.pem \
	--client-cert nothere.pem
expect "client key without certificate" 2 "--client-key needs --client-cert" \
	verify "$url/good-rsa-newc.swu" --key keys/rsa.pub --client-key "$tls"/srv.key
expect "no proxy" 0 "OK" verify "$url/good-rsa-newc.swu" --key keys/rsa.pub \
	--tls-ca "$tls"/srv.pem --proxy ""
expect "unreadable TLS CA" 2 "cannot read the CA file" \
	verify "$url/good-rsa-newc.swu" --key keys/rsa.pub --tls-ca nothere.pem

# ---- command line ----
expect "bundle --help" 0 "Usage: mcu-ota bundle inspect" "$m" bundle --help
expect "inspect --help" 0 "Usage: mcu-ota bundle inspect" inspect --help
expect "verify --help" 0 "TRUST" verify --help
expect "mcu-ota --help lists bundle" 0 "bundle" "$m" --help
expect "verify without trust" 2 "give the trusted --key" verify good-rsa-newc.swu
expect "no file" 2 "no FILE or URL given" verify --key keys/rsa.pub
expect "two files" 2 "more than one FILE" verify a b --key keys/rsa.pub
expect "unknown option" 2 "unknown option --frobnicate" verify --frobnicate x
expect "--crl without a CA" 2 "give --ca" verify x --key keys/rsa.pub --crl pki/crl.pem
expect "bad limit" 2 "not a positive size" verify x --key keys/rsa.pub --max-size lots
expect "--json is for inspect" 2 "--json is for inspect" verify x --json --key keys/rsa.pub
expect "no subcommand" 2 "which subcommand" "$m" bundle
expect "unknown subcommand" 2 "unknown subcommand \"sign\"" "$m" bundle sign x

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
