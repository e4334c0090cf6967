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
"$here/../flip-byte.sh" "$www/tampered.swu" $((size - 2000))
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
	rm -f "$out" "$out.part" "$out.part.meta"
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
	if [ -e "$out.part" ] || [ -e "$out.part.meta" ]; then
		echo "FAIL $name: $out.part or its .meta left behind" >&2
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
run image_count_limit 3 "2 images, more than the limit of 1" \
	"$good/good.swu" -o "$out" --key "$key" "${tls[@]}" --max-images 1
run description_size_limit 3 "more than the limit of 100" \
	"$good/good.swu" -o "$out" --key "$key" "${tls[@]}" --max-description 100
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

# verdict NAME CONDITION_STATUS DETAILS: count a check done by hand
verdict() {
	if [ "$2" = 0 ]; then
		echo "ok   $1"
		passed=$((passed + 1))
	else
		echo "FAIL $1: $3" >&2
		failed=$((failed + 1))
	fi
}
access=$NET_DIR/nginx/logs/access.log
# last_request PATH: nginx's log line (status "range" bytes uri) of the last request for PATH
last_request() { grep " $1\$" "$access" | tail -n 1; }
# logged PATH N: nginx has logged N requests for PATH (it logs after the response)
logged() { [ "$(grep -c " $1\$" "$access")" -ge "$2" ]; }
# wait_logged PATH N: until logged PATH N; 30 s only when nginx never logs it
wait_logged() {
	local i
	for i in $(seq 600); do logged "$1" "$2" && return 0; sleep 0.05; done
	echo "nginx did not log request $2 for $1 within 30 s" >&2
}
# part_over N: FILE.part has more than N bytes
part_over() { [ "$(stat -c %s "$out.part" 2>/dev/null || echo 0)" -gt "$1" ]; }
# wait_part N PID: until FILE.part has more than N bytes, while PID runs (30 s at most)
wait_part() {
	local i
	for i in $(seq 600); do
		part_over "$1" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "FILE.part did not grow past $1 bytes (the fetch ended or hung)" >&2
	return 1
}
# interrupt URL [fetch options]: start a slow fetch into $out, stop it with
# SIGTERM once FILE.part has some bytes; leaves the exit code in $rc
interrupt() {
	local u=$1
	shift
	rm -f "$out" "$out.part" "$out.part.meta"
	"$bin" fetch "$u" -o "$out" --key "$key" "${tls[@]}" --limit-rate 40K "$@" \
		>/dev/null 2>"$work/stderr" &
	local pid=$!
	wait_part 20000 "$pid"
	partmode=$(stat -c %a "$out.part" 2>/dev/null)
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
}

# interrupted (SIGTERM) in the middle: nothing at FILE; FILE.part (mode 0600)
# and its .meta stay for the next run
interrupt "$good/good.swu"
ok=0
[ "$rc" != 0 ] && [ ! -e "$out" ] && [ -s "$out.part" ] && [ -s "$out.part.meta" ] &&
	[ "$partmode" = 600 ] && grep -q "canceled" "$work/stderr" &&
	grep -q "run the same command again to resume" "$work/stderr" || ok=1
verdict interrupted_download_keeps_the_part "$ok" \
	"exit $rc, mode $partmode, files: $(ls "$work" | tr '\n' ' ') $(cat "$work/stderr")"
# the .meta names the URL by its digest only
verdict part_meta_has_no_url "$(grep -qF 127.0.0.1 "$out.part.meta" && echo 1 || echo 0)" \
	"$(cat "$out.part.meta")"

# the next run checks FILE.part again and asks only for the rest
held=$(stat -c %s "$out.part")
requests=$(grep -c " /good.swu\$" "$access")
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" >"$work/stdout" 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && cmp -s "$out" "$www/good.swu" && [ ! -e "$out.part" ] &&
	[ ! -e "$out.part.meta" ] && grep -q "resumed from byte $held" "$work/stdout" &&
	[ "$(stat -c %a "$out")" = 644 ] || ok=1
verdict second_run_resumes_the_part "$ok" "exit $rc: $(cat "$work/stdout" "$work/stderr")"
want="206 \"bytes=$held-\""
wait_logged /good.swu $((requests + 1))
verdict second_run_asks_for_the_rest_only \
	"$([[ "$(last_request /good.swu)" == "$want"* ]] && echo 0 || echo 1)" \
	"last request: $(last_request /good.swu), want $want"

# killed outright (SIGKILL): the .meta was written before the first byte
rm -f "$out" "$out.part" "$out.part.meta"
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" --limit-rate 40K \
	>/dev/null 2>&1 &
pid=$!
wait_part 20000 "$pid"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" >"$work/stdout" 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && cmp -s "$out" "$www/good.swu" && grep -q "resumed from byte" "$work/stdout" &&
	[ ! -e "$out.part" ] || ok=1
verdict killed_download_resumes "$ok" "exit $rc: $(cat "$work/stdout" "$work/stderr")"

# the network gone past the retries: the part stays, the next run goes on
rm -f "$out" "$out.part" "$out.part.meta"
cutu="https://127.0.0.1:$NET_FAULT/s/cli-gone/cut/good.swu?n=100000"
"$bin" fetch "$cutu" -o "$out" --key "$key" "${tls[@]}" --retries 0 >/dev/null 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 1 ] && [ ! -e "$out" ] && [ "$(stat -c %s "$out.part")" = 100000 ] || ok=1
verdict network_gone_keeps_the_part "$ok" "exit $rc: $(cat "$work/stderr")"
"$bin" fetch "$cutu" -o "$out" --key "$key" "${tls[@]}" >"$work/stdout" 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && cmp -s "$out" "$www/good.swu" &&
	awk 'NR == 2 && $2 == 206 && $3 == 100000 { f = 1 } END { exit !f }' \
		"$NET_FAULT_LOG/cli-gone" || ok=1
verdict network_gone_then_resumed "$ok" \
	"exit $rc: $(cat "$work/stdout" "$work/stderr" "$NET_FAULT_LOG/cli-gone")"

# a part that does not verify any more is not trusted: start over
interrupt "$good/good.swu"
printf '\x01' | dd of="$out.part" bs=1 seek=200 conv=notrunc status=none # in sw-description
requests=$(grep -c " /good.swu\$" "$access")
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" >"$work/stdout" 2>"$work/stderr"
rc=$?
wait_logged /good.swu $((requests + 1))
ok=0
[ "$rc" = 0 ] && cmp -s "$out" "$www/good.swu" && grep -q "does not verify" "$work/stderr" &&
	[[ "$(last_request /good.swu)" == "200 \"-\""* ]] || ok=1
verdict tampered_part_starts_over "$ok" \
	"exit $rc: $(cat "$work/stdout" "$work/stderr"); last: $(last_request /good.swu)"

# ... and a byte flipped inside an image the part cut in two is found only
# when that image ends: one more try from byte 0
interrupt "$good/good.swu"
size=$(stat -c %s "$out.part")
"$here/../flip-byte.sh" "$out.part" $((size - 10))
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" >"$work/stdout" 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && cmp -s "$out" "$www/good.swu" && grep -q "downloading it again" "$work/stderr" ||
	ok=1
verdict tampered_image_in_the_part_starts_over "$ok" "exit $rc: $(cat "$work/stdout" "$work/stderr")"

# the file changed on the server since: its new ETag makes it start over
cp "$www/good.swu" "$www/changing.swu"
interrupt "$good/changing.swu" --key "$work/other.pub.pem"
cp "$work/other.swu" "$www/changing.swu"
"$bin" fetch "$good/changing.swu" -o "$out" --key "$key" --key "$work/other.pub.pem" "${tls[@]}" \
	>"$work/stdout" 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && cmp -s "$out" "$work/other.swu" && grep -q "restarted" "$work/stdout" || ok=1
verdict changed_file_starts_over "$ok" "exit $rc: $(cat "$work/stdout" "$work/stderr")"

# a part of another URL is not continued
interrupt "$good/good.swu"
"$bin" fetch "$good/good.swu?v=2" -o "$out" --key "$key" "${tls[@]}" >"$work/stdout" 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && cmp -s "$out" "$www/good.swu" && grep -q "another URL" "$work/stderr" ||
	ok=1
verdict part_of_another_url_starts_over "$ok" "exit $rc: $(cat "$work/stdout" "$work/stderr")"

# FILE.part is never written through a link: a hard link or a symbolic link
# at FILE.part is replaced, the file it points to stays as it was
rm -f "$out" "$out.part" "$out.part.meta"
echo "someone else's file" >"$work/victim"
ln "$work/victim" "$out.part"
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" >/dev/null 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && [ "$(cat "$work/victim")" = "someone else's file" ] &&
	cmp -s "$out" "$www/good.swu" || ok=1
verdict hard_link_at_part_is_not_written_through "$ok" "exit $rc: $(cat "$work/stderr")"
rm -f "$out"
ln -s "$work/victim" "$out.part"
"$bin" fetch "$good/good.swu" -o "$out" --key "$key" "${tls[@]}" >/dev/null 2>"$work/stderr"
rc=$?
ok=0
[ "$rc" = 0 ] && [ "$(cat "$work/victim")" = "someone else's file" ] &&
	cmp -s "$out" "$www/good.swu" || ok=1
verdict symlink_at_part_is_not_followed "$ok" "exit $rc: $(cat "$work/stderr")"

# two runs for the same FILE: the second one stops, the first one is not disturbed.
# The first is held by the server (faultd.py's pause point) after 100000 bytes
# until the second has run.
rm -f "$out" "$out.part" "$out.part.meta"
holdu="https://127.0.0.1:$NET_FAULT/s/cli-hold/hold/good.swu?n=100000"
touch "$NET_FAULT_LOG/hold-cli-hold"
"$bin" fetch "$holdu" -o "$out" --key "$key" "${tls[@]}" >/dev/null 2>"$work/stderr.a" &
pid=$!
wait_part 99999 "$pid"
"$bin" fetch "$holdu" -o "$out" --key "$key" "${tls[@]}" >/dev/null 2>"$work/stderr.b"
rc_b=$?
rm -f "$NET_FAULT_LOG/hold-cli-hold"
wait "$pid"
rc_a=$?
ok=0
[ "$rc_b" = 1 ] && grep -q "being written by another mcu-ota fetch" "$work/stderr.b" &&
	[ "$rc_a" = 0 ] && cmp -s "$out" "$www/good.swu" || ok=1
verdict second_run_does_not_clobber_the_first "$ok" \
	"exits $rc_a and $rc_b: $(cat "$work/stderr.a" "$work/stderr.b")"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
