#!/usr/bin/env bash
# `mcu-ota fetch` end to end, under servers.sh: test_fetch_cli.sh MCU_OTA
# Each case checks the exit code, the error line, and that FILE exists only
# when the bundle verified (and FILE.part never stays behind).
set -uo pipefail
bin=${1:?usage: test_fetch_cli.sh path/to/mcu-ota}
here=$(cd "$(dirname "$0")" && pwd)
: "${NET_DIR:?run through tests/net/servers.sh}"
www=$NET_DIR/www
pki=$NET_DIR/pki
work=$NET_DIR/cli
mkdir -p "$work"
failed=0
passed=0

"$here/mkbundle.sh" "$www/good.swu" "$work/sign.pem" 64K 300K >/dev/null
"$here/mkbundle.sh" "$work/other.swu" "$work/other.pem" 1K >/dev/null # another signer
cp "$www/good.swu" "$www/mtls/good.swu"
# a byte flipped in the last image
cp "$www/good.swu" "$www/tampered.swu"
size=$(stat -c %s "$www/good.swu")
printf '\x5a' | dd of="$www/tampered.swu" bs=1 seek=$((size - 2000)) conv=notrunc status=none
head -c $((size / 2)) "$www/good.swu" >"$www/truncated.swu"
chmod a+r "$www"/*.swu "$www"/mtls/*.swu
key=$work/sign.pub.pem
good="https://127.0.0.1:$NET_GOOD"
tls=(--tls-ca "$pki/ca.pem")

out=$work/out.swu
# run NAME WANT_EXIT WANT_TEXT ARGS...: fetch into $out, check exit and text
run() {
	local name=$1 want=$2 text=$3
	shift 3
	rm -f "$out" "$out.part"
	"$bin" fetch "$@" >"$work/stdout" 2>"$work/stderr"
	local got=$?
	local msg
	msg=$(cat "$work/stdout" "$work/stderr")
	local ok=1
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: exit $got, expected $want" >&2
		ok=0
	fi
	if ! grep -qF -- "$text" <<<"$msg"; then
		echo "FAIL $name: output lacks \"$text\"" >&2
		ok=0
	fi
	if [ -e "$out.part" ]; then
		echo "FAIL $name: $out.part left behind" >&2
		ok=0
	fi
	if [ "$want" = 0 ] && [ "$name" != help ] && ! cmp -s "$out" "$www/good.swu"; then
		echo "FAIL $name: $out is not the bundle" >&2
		ok=0
	fi
	if [ "$want" != 0 ] && [ -e "$out" ]; then
		echo "FAIL $name: $out exists after a failure" >&2
		ok=0
	fi
	if [ $ok = 1 ]; then
		echo "ok   $name"
		passed=$((passed + 1))
	else
		sed 's/^/     | /' <<<"$msg" >&2
		failed=$((failed + 1))
	fi
}

run help 0 "Usage: mcu-ota fetch URL -o FILE" --help
run verified_bundle_is_saved 0 "verified, version 1.2.0, 2 images, ECDSA signature" \
	"$good/good.swu" -o "$out" --key "$key" "${tls[@]}"
run localhost_and_tls_ca_dir 0 "verified" \
	"https://localhost:$NET_GOOD/good.swu" -o "$out" --key "$key" --tls-ca-dir "$pki/capath"
run tampered_image_is_refused 3 "/tampered.swu: image \"app1.bin\": SHA-256 mismatch" \
	"$good/tampered.swu" -o "$out" --key "$key" "${tls[@]}"
run truncated_bundle_is_refused 3 "truncated" \
	"$good/truncated.swu" -o "$out" --key "$key" "${tls[@]}"
run other_signer_is_refused 3 "signature" \
	"$good/good.swu" -o "$out" --key "$work/other.pub.pem" "${tls[@]}"
run key_rotation_accepts_either_key 0 "verified" \
	"$good/good.swu" -o "$out" --key "$work/other.pub.pem" --key "$key" "${tls[@]}"
run no_trust_is_a_usage_error 2 "give the trusted --key" "$good/good.swu" -o "$out" "${tls[@]}"
run no_output_is_a_usage_error 2 "-o FILE" "$good/good.swu" --key "$key"
run unreadable_key_is_a_usage_error 2 "key $work/nothere.pem: cannot open" \
	"$good/good.swu" -o "$out" --key "$work/nothere.pem" "${tls[@]}"
run expired_server_certificate 1 "certificate has expired" \
	"https://127.0.0.1:$NET_EXPIRED/good.swu" -o "$out" --key "$key" "${tls[@]}"
run wrong_host 1 "not for host \"127.0.0.1\"" \
	"https://127.0.0.1:$NET_WRONGHOST/good.swu" -o "$out" --key "$key" "${tls[@]}"
run untrusted_server_ca 1 "not signed by a trusted CA" \
	"https://127.0.0.1:$NET_UNTRUSTED/good.swu" -o "$out" --key "$key" "${tls[@]}"
run system_cas_only 1 "--tls-ca" "$good/good.swu" -o "$out" --key "$key"
run not_found 1 "/missing.swu: not found on the server (HTTP 404)" \
	"$good/missing.swu" -o "$out" --key "$key" "${tls[@]}"
run plain_http_refused 2 "--allow-http" \
	"http://127.0.0.1:$NET_PLAIN/good.swu" -o "$out" --key "$key"
run plain_http_allowed 0 "verified" \
	"http://127.0.0.1:$NET_PLAIN/good.swu" -o "$out" --key "$key" --allow-http
run mtls_without_certificate 1 "--client-cert" \
	"$good/mtls/good.swu" -o "$out" --key "$key" "${tls[@]}"
run mtls_with_certificate 0 "verified" "$good/mtls/good.swu" -o "$out" --key "$key" "${tls[@]}" \
	--client-cert "$pki/client.pem" --client-key "$pki/client.key"
run size_cap 3 "more than the size limit of 100 KiB" \
	"$good/good.swu" -o "$out" --key "$key" "${tls[@]}" --max-size 100K
run proxy 0 "verified" "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" \
	--proxy "http://127.0.0.1:$NET_PROXY"
run cut_connection_resumes 0 "resumed" \
	"https://127.0.0.1:$NET_FAULT/s/cli-cut/cut/good.swu?n=100000" -o "$out" --key "$key" "${tls[@]}"
# the second request asked for the rest only
if ! awk 'NR == 2 && $2 == 206 && $3 == 100000 { found = 1 } END { exit !found }' \
	"$NET_FAULT_LOG/cli-cut"; then
	echo "FAIL cut_connection_resumes: no Range request from byte 100000:" >&2
	cat "$NET_FAULT_LOG/cli-cut" >&2
	failed=$((failed + 1))
fi
run server_errors_exhaust_retries 1 "gave up after 2 attempts" \
	"https://127.0.0.1:$NET_FAULT/s/cli-500/fail500/good.swu?k=9" -o "$out" --key "$key" \
	"${tls[@]}" --retries 1

# `mcu-ota bundle verify URL` takes the same TLS options as fetch
# check NAME WANT_EXIT WANT_TEXT CMD...
check() {
	local name=$1 want=$2 text=$3 got msg
	shift 3
	msg=$("$@" 2>&1)
	got=$?
	if [ "$got" = "$want" ] && grep -qF -- "$text" <<<"$msg"; then
		echo "ok   $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: exit $got, expected $want and \"$text\"" >&2
		sed 's/^/     | /' <<<"$msg" >&2
		failed=$((failed + 1))
	fi
}
check bundle_mtls_with_certificate 0 "OK: version 1.2.0" "$bin" bundle verify \
	"$good/mtls/good.swu" --key "$key" "${tls[@]}" --client-cert "$pki/client.pem" \
	--client-key "$pki/client.key"
check bundle_mtls_without_certificate 1 "--client-cert" "$bin" bundle verify \
	"$good/mtls/good.swu" --key "$key" "${tls[@]}"
tunnels=$(cat "$NET_FAULT_LOG/proxy" 2>/dev/null | wc -l)
check bundle_through_a_proxy 0 "OK" "$bin" bundle verify "$good/good.swu" --key "$key" \
	"${tls[@]}" --proxy "http://127.0.0.1:$NET_PROXY"
if [ "$(cat "$NET_FAULT_LOG/proxy" | wc -l)" != $((tunnels + 1)) ]; then
	echo "FAIL bundle_through_a_proxy: no tunnel in the proxy's log" >&2
	failed=$((failed + 1))
fi
check bundle_plain_http_allowed 0 "OK" "$bin" bundle verify \
	"http://127.0.0.1:$NET_PLAIN/good.swu" --key "$key" --allow-http

# a failed download leaves an existing FILE as it was
echo "previous bundle" >"$out"
"$bin" fetch "$good/tampered.swu" -o "$out" --key "$key" "${tls[@]}" 2>/dev/null
if [ "$(cat "$out")" = "previous bundle" ] && [ ! -e "$out.part" ]; then
	echo "ok   failure_keeps_the_previous_file"
	passed=$((passed + 1))
else
	echo "FAIL failure_keeps_the_previous_file" >&2
	failed=$((failed + 1))
fi

# interrupted (SIGTERM) in the middle: nothing at FILE, no FILE.part
rm -f "$out" "$out.part"
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" --limit-rate 40K \
	>/dev/null 2>"$work/stderr" &
pid=$!
for _ in $(seq 50); do
	[ -s "$out.part" ] && break
	sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" != 0 ] && [ ! -e "$out" ] && [ ! -e "$out.part" ] && grep -q "canceled" "$work/stderr"; then
	echo "ok   interrupted_download_leaves_nothing"
	passed=$((passed + 1))
else
	echo "FAIL interrupted_download_leaves_nothing: exit $rc, files: $(ls "$work")" >&2
	cat "$work/stderr" >&2
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
