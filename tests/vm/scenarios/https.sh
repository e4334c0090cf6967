#!/bin/sh
# The guest's HTTPS server (nginx on loopback, the rig's test CA): `mcu-ota fetch` of a signed bundle from it verifies and keeps it; the same with a CA that did not sign the server's certificate fails and keeps nothing, as without any CA; the server sends ETag and Last-Modified (the daemon scenario gets its 304s).
. /lib/mcu-ota-vm/lib.sh
. /lib/mcu-ota-vm/update-lib.sh

mkdir -p www && cp "$FW/bundle-2.0.0.swu" www/
https_start www || fail "nginx did not start"
url=$(https_url bundle-2.0.0.swu)
log "nginx (pid $HTTPS_PID) serves $url"

# fetch EXPECTED_EXIT URL OUT [OPTIONS]: mcu-ota fetch, its output indented, the exit checked
fetch() {
	_want=$1 _url=$2 _out=$3
	shift 3
	mcu-ota fetch "$_url" -o "$_out" --key "$KEY" "$@" >fetch.out 2>&1
	_rc=$?
	sed 's/^/    | /' fetch.out
	[ "$_rc" = "$_want" ] || fail "mcu-ota fetch $_url $*: exit $_rc, expected $_want"
}

log "the test CA: downloaded, verified, kept"
fetch 0 "$url" got.swu --tls-ca "$TLS_CA"
cmp -s got.swu "$FW/bundle-2.0.0.swu" || fail "the downloaded bundle differs from the served one"
[ "$(https_count bundle-2.0.0.swu 200)" = 1 ] || { cat "$HTTPS_LOG"; fail "no single 200 in the access log"; }
https_requests bundle-2.0.0.swu | grep -q 'etag="[0-9a-f]*-[0-9a-f]*" lm="[A-Z][a-z][a-z], ' ||
	{ cat "$HTTPS_LOG"; fail "nginx sent no ETag or no Last-Modified"; }

log "by address: the certificate names 127.0.0.1 too"
fetch 0 "https://127.0.0.1:$HTTPS_PORT/bundle-2.0.0.swu" got-ip.swu --tls-ca "$TLS_CA"
cmp -s got-ip.swu "$FW/bundle-2.0.0.swu" || fail "the bundle fetched by address differs"

log "a CA that did not sign the server's certificate: refused, nothing kept"
fetch 1 "$url" wrong.swu --tls-ca "$TLS_OTHER_CA"
grep -qi "certificate" fetch.out || fail "the refusal does not name the certificate"
[ ! -e wrong.swu ] || fail "a download over an untrusted connection was kept"
[ "$(https_count bundle-2.0.0.swu)" = 2 ] || { cat "$HTTPS_LOG"; fail "a request got through an untrusted TLS handshake"; }

log "without a CA setting the system's CAs apply: the guest has none, refused as unusable trust (exit 2)"
fetch 2 "$url" none.swu
[ ! -e none.swu ] || fail "kept a bundle from a server nothing vouches for"
log "done"
