#!/usr/bin/env bash
# Benchmark (not a CTest test): `mcu-ota fetch` against the pipeline a user
# would write by hand, over loopback HTTPS from the tests/net nginx.
#   tests/bench/fetch.sh [path/to/mcu-ota] [RUNS]
# For a 2 MiB and a 32 MiB bundle (built here with cpio + openssl), each tool
# runs RUNS times (default 7), alternating (a run of the 2 MiB bundle is 20
# fetches in a row, of the 32 MiB one 3, for GNU time's 10 ms resolution); the table shows the median wall
# time, CPU time (user + system) and peak RSS (GNU time's %M: the largest
# process of the pipeline), and mcu-ota's ratio to the pipeline.
#   by hand:  curl -o bundle.swu URL; cpio -i < bundle.swu;
#             openssl dgst -sha256 -verify KEY -signature sw-description.sig
#             sw-description; sha256sum each image and compare with
#             sw-description's sha256
#   mcu-ota:  mcu-ota fetch URL -o bundle.swu --key KEY --tls-ca CA
# Needs nginx, openssl, curl, cpio, python3 and time (/usr/bin/time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ "${1:-}" != --inner ]; then
	bin=${1:-$root/build/mcu-ota}
	[ -x "$bin" ] || { echo "fetch.sh: no mcu-ota at $bin (give its path)" >&2; exit 2; }
	[ -x /usr/bin/time ] || { echo "fetch.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
	command -v curl >/dev/null || { echo "fetch.sh: needs curl" >&2; exit 2; }
	exec "$root/tests/net/servers.sh" "$0" --inner "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" "${2:-7}"
fi
bin=$2
runs=$3
www=$NET_DIR/www
ca=$NET_DIR/pki/ca.pem
work=$NET_DIR/bench
mkdir -p "$work"

echo "building bundles..." >&2
"$root/tests/net/mkbundle.sh" "$www/b2.swu" "$work/sign.pem" 1M 1M >/dev/null
"$root/tests/net/mkbundle.sh" "$www/b32.swu" "$work/sign.pem" 8M 8M 8M 8M >/dev/null
chmod a+r "$www"/*.swu
key=$work/sign.pub.pem

# The pipeline by hand, as a user would script it.
cat >"$work/byhand.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
url=$1 ca=$2 key=$3 dir=$4
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
curl -sS --fail --cacert "$ca" -o bundle.swu "$url"
mkdir x && cd x
cpio -i --quiet <../bundle.swu
openssl dgst -sha256 -verify "$key" -signature sw-description.sig sw-description >/dev/null
# filename/sha256 pairs from sw-description, then check each image
sed -n 's/.*filename = "\(.*\)";/\1/p; s/.*sha256 = "\(.*\)";/\1/p' sw-description |
	paste - - | awk '{ print $2 "  " $1 }' >sums
sha256sum --quiet -c sums
EOF
chmod +x "$work/byhand.sh"

# GNU time counts in 10 ms steps: a sample is `batch` runs in a row under one
# /usr/bin/time, reported per run (peak RSS is the largest single process).
measure() { # out-file batch command...: appends "wall user sys maxrss_kib"
	local out=$1 batch=$2
	shift 2
	/usr/bin/time -f "%e %U %S %M" -o "$work/t" \
		bash -c 'n=$1; shift; for ((i = 0; i < n; i++)); do "$@" || exit 1; done' _ \
		"$batch" "$@" >/dev/null 2>"$work/err" || {
		echo "fetch.sh: failed: $*" >&2
		cat "$work/err" >&2
		exit 1
	}
	awk -v n="$batch" '{ printf "%f %f %f %d\n", $1 / n, $2 / n, $3 / n, $4 }' "$work/t" >>"$out"
}

median() { # file column(awk expression over $1..$4)
	awk "{ print $2 }" "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

printf '%-8s %-8s %9s %9s %10s\n' bundle tool "wall s" "cpu s" "peak RSS"
declare -A res
for b in b2 b32; do
	url="https://127.0.0.1:$NET_GOOD/$b.swu"
	: >"$work/$b.mcu"
	: >"$work/$b.hand"
	# one warm-up of each (page cache, nginx) that is not counted
	"$bin" -q fetch "$url" -o "$work/out.swu" --key "$key" --tls-ca "$ca"
	"$work/byhand.sh" "$url" "$ca" "$key" "$work/hand"
	batch=$([ $b = b2 ] && echo 20 || echo 3)
	for _ in $(seq "$runs"); do
		rm -f "$work/out.swu"
		measure "$work/$b.mcu" "$batch" "$bin" -q fetch "$url" -o "$work/out.swu" --key "$key" \
			--tls-ca "$ca"
		measure "$work/$b.hand" "$batch" "$work/byhand.sh" "$url" "$ca" "$key" "$work/hand"
	done
	cmp -s "$work/out.swu" "$www/$b.swu" || { echo "fetch.sh: mcu-ota saved something else" >&2; exit 1; }
	for t in mcu hand; do
		f=$work/$b.$t
		res[$b.$t.wall]=$(median "$f" '$1')
		res[$b.$t.cpu]=$(median "$f" '$2 + $3')
		res[$b.$t.rss]=$(median "$f" '$4')
		printf '%-8s %-8s %9.3f %9.3f %7d KiB\n' "$(du -h "$www/$b.swu" | cut -f1)" \
			"$([ $t = mcu ] && echo mcu-ota || echo by-hand)" "${res[$b.$t.wall]}" \
			"${res[$b.$t.cpu]}" "${res[$b.$t.rss]}"
	done
done
echo
echo "mcu-ota / by hand (below 1: mcu-ota uses less), medians of $runs runs:"
printf '%-8s %9s %9s %10s\n' bundle wall cpu "peak RSS"
for b in b2 b32; do
	printf '%-8s %9.2f %9.2f %10.2f\n' "$(du -h "$www/$b.swu" | cut -f1)" \
		"$(awk "BEGIN { print ${res[$b.mcu.wall]} / ${res[$b.hand.wall]} }")" \
		"$(awk "BEGIN { c = ${res[$b.hand.cpu]}; print (c > 0 ? ${res[$b.mcu.cpu]} / c : 0) }")" \
		"$(awk "BEGIN { print ${res[$b.mcu.rss]} / ${res[$b.hand.rss]} }")"
done
echo
echo "mcu-ota peak RSS, 32 MiB bundle / 2 MiB bundle: $(awk "BEGIN { printf \"%.2f\\n\", ${res[b32.mcu.rss]} / ${res[b2.mcu.rss]} }")"
