#!/usr/bin/env bash
# Benchmark: peak resident memory of `mcu-ota update` and of the daemon against the size of the
# bundle and the number of images in it, on a chip simulated in a folder
# (tests/unit/update/fake_plugins.c). Bundles are made here with openssl and cpio.
#   tests/bench/memory.sh [--quick] [MCU_OTA [FAKE_PLUGIN_DIR]]
# Cases (the configured device is "motor", its chip a 64 KiB fake):
#   other   a 6 KB image for motor beside images for devices this gateway does not have
#           (at most 60 MiB each: an image may not pass 64 MiB), 2, 32 and 180 MiB in all
#   many    180 MiB as 45 images of 4 MiB for other devices, plus motor's
#   own     one large image for motor: an ELF whose loadable part is 6 KB and the rest a
#           section that is not loaded (debug information), 2, 32 and 64 MiB (the image limit)
# Each run installs 2.0.0 on a fresh chip and state, and the chip is checked to run it.
# update: GNU time's maximum resident set size; daemon: VmHWM of the daemon process after its
# first reconcile installed the bundle (firmware.source is the file).
# --quick: the 2 and 32 MiB "other" cases and "own" at 32 MiB (the memory_flat test).
# Exit 1 when a peak passes the 2 MiB "other" case's by more than 2 MiB (issue 14: "flat").
# Needs openssl, cpio, python3 and GNU time (/usr/bin/time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

quick=0
if [ "${1:-}" = --quick ]; then
	quick=1
	shift
fi
bin=${1:-$root/build/mcu-ota}
fakes=${2:-$(dirname "$bin")/tests/unit/update/fake-plugins}
[ -x "$bin" ] || { echo "memory.sh: no mcu-ota at $bin (give its path)" >&2; exit 2; }
[ -f "$fakes/mcu-ota-fake-flasher.so" ] || {
	echo "memory.sh: no fake plugins in $fakes (give the folder)" >&2
	exit 2
}
[ -x /usr/bin/time ] || { echo "memory.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
for t in openssl cpio python3 sha256sum; do
	command -v "$t" >/dev/null || { echo "memory.sh: needs $t" >&2; exit 2; }
done
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
fakes=$(cd "$fakes" && pwd)

tmp=$(mktemp -d /tmp/mcu-ota-bench-memory-XXXXXX)
dpid=
cleanup() {
	[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=tests/unit/update/fake_chip.sh
. "$root/tests/unit/update/fake_chip.sh" # make_chip, chip_app

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out "$tmp/key.pub"

MiB=$((1 << 20))
# app FILE: motor's 6 KB application, version 2.0.0.
app() {
	{
		printf 'APP:2.0.0\0'
		head -c 6000 /dev/urandom
	} >"$1"
}
# elf FILE TOTAL: motor's application as the one loadable segment of an ELF32 of TOTAL bytes,
# the rest a section no program header loads.
elf() {
	python3 - "$1" "$2" <<'EOF'
import os, struct, sys
out, total = sys.argv[1], int(sys.argv[2])
app = b"APP:2.0.0\0" + os.urandom(6000)
off = 0x1000
ehdr = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), 2, 40, 1,
                   0x08000001, 52, 0, 0x05000000, 52, 32, 1, 40, 0, 0)
phdr = struct.pack("<IIIIIIII", 1, off, 0x08000000, 0x08000000, len(app), len(app), 5, 0x1000)
with open(out, "wb") as f:
    f.write(ehdr + phdr)
    f.write(bytes(off - len(ehdr) - len(phdr)))
    f.write(app)
    left = total - off - len(app)
    chunk = bytes(range(256)) * 4096
    while left > 0:
        n = min(left, len(chunk))
        f.write(chunk[:n])
        left -= n
EOF
}
# bundle OUT FILE... : a signed bundle of FILEs; a file named motor.* is motor's, any other
# <name>.bin is for device <name>, which this gateway does not have.
bundle() {
	local out=$1 w entries="" sep="" f name dev
	shift
	w=$(dirname "$1")
	for f in "$@"; do
		name=$(basename "$f")
		dev=${name%%.*}
		entries+="$sep{ filename = \"$name\"; type = \"mcu-ota\"; device = \"$dev\";"
		entries+=" version = \"2.0.0\"; sha256 = \"$(sha256sum "$f" | cut -c1-64)\"; }"
		sep=$',\n    '
	done
	printf 'software = {\n  version = "2.0.0";\n  images: (\n    %s\n  );\n}\n' "$entries" \
		>"$w/sw-description"
	(
		cd "$w"
		openssl dgst -sha256 -sign "$tmp/key.pem" -out sw-description.sig sw-description
		{
			printf '%s\n' sw-description sw-description.sig
			for f in "$@"; do basename "$f"; done
		} | cpio --quiet -o -H newc
	) >"$out"
}
# make_case NAME: $tmp/NAME.swu; the images in $tmp/w-NAME.
make_case() {
	local name=$1 w=$tmp/w-$1 files=() left i
	rm -rf "$w" && mkdir "$w"
	case $name in
	other-*)
		app "$w/motor.bin"
		files=("$w/motor.bin")
		left=$((${name#other-} * MiB - 8192))
		i=0
		while [ "$left" -gt 0 ]; do
			local n=$((left > 60 * MiB ? 60 * MiB : left))
			head -c "$n" /dev/zero >"$w/elsewhere$i.bin"
			files+=("$w/elsewhere$i.bin")
			left=$((left - n))
			i=$((i + 1))
		done
		;;
	many-180)
		app "$w/motor.bin"
		files=("$w/motor.bin")
		for i in $(seq 45); do
			head -c $((4 * MiB - 2048)) /dev/zero >"$w/elsewhere$i.bin"
			files+=("$w/elsewhere$i.bin")
		done
		;;
	own-*)
		elf "$w/motor.elf" $((${name#own-} * MiB - 4096))
		files=("$w/motor.elf")
		;;
	esac
	bundle "$tmp/$name.swu" "${files[@]}"
	rm -rf "$w"
	images[$name]=${#files[@]}
}

conf=$tmp/mcu-ota.conf
chip=$tmp/chip
# write_conf [SOURCE]: motor on the fake chip; the daemon's firmware from SOURCE.
write_conf() {
	local fw=""
	[ -n "${1:-}" ] && fw="firmware = { source = \"$1\"; version = \"2.0.0\"; };"
	cat >"$conf" <<EOF
state_dir = "$tmp/state";
cache_dir = "$tmp/cache";
plugin_dir = "$fakes";
log_level = "warning";
daemon = { socket = "$tmp/mcu-ota.sock"; poll_interval_s = 0; };
bundle = { keys = ["$tmp/key.pub"]; };
devices = (
  { name = "motor"; bootloader_timeout_ms = 300;
    entry = { plugin = "fake-entry"; chip = "$chip"; };
    flasher = { plugin = "fake-flasher"; chip = "$chip"; serial = "motor"; };
    health = { plugin = "fake-health"; chip = "$chip"; };
    $fw
  } );
EOF
}
fresh() {
	rm -rf "$tmp/state" "$tmp/cache"
	make_chip "$chip" 1.0.0
}
installed() { [ "$(chip_app "$chip")" = 2.0.0 ] && grep -qx 'state=idle' "$tmp/state/devices/motor/journal" 2>/dev/null; }

# update_rss NAME: peak RSS (KiB) of `mcu-ota update` of the bundle.
update_rss() {
	fresh
	write_conf
	if ! /usr/bin/time -f %M -o "$tmp/time" "$bin" --config "$conf" update "$tmp/$1.swu" \
		>"$tmp/out" 2>&1 || ! installed; then
		echo "memory.sh: update of $1 failed:" >&2
		cat "$tmp/out" >&2
		exit 1
	fi
	tail -n 1 "$tmp/time"
}

# daemon_rss NAME: the daemon's VmHWM (KiB) once its first reconcile installed the bundle.
daemon_rss() {
	fresh
	write_conf "$tmp/$1.swu"
	"$bin" --config "$conf" daemon >"$tmp/daemon.log" 2>&1 &
	dpid=$!
	local deadline=$(($(date +%s) + 120)) hwm
	until installed; do
		if ! kill -0 "$dpid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
			echo "memory.sh: the daemon did not install $1 within 120 s:" >&2
			cat "$tmp/daemon.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$dpid/status")
	kill -TERM "$dpid"
	wait "$dpid" || true
	dpid=
	echo "$hwm"
}

declare -A images
if [ $quick = 1 ]; then
	cases=(other-2 other-32 own-32)
else
	cases=(other-2 other-32 other-180 many-180 own-2 own-32 own-64)
fi
echo "mcu-ota: $bin" >&2
printf '%-10s %8s %7s %14s %14s\n' case "bundle" images "update peak" "daemon peak"
worst=0
for c in "${cases[@]}"; do
	make_case "$c"
	size=$(stat -c %s "$tmp/$c.swu")
	u=$(update_rss "$c")
	d=$(daemon_rss "$c")
	rm -f "$tmp/$c.swu"
	if [ "$c" = other-2 ]; then
		base_u=$u base_d=$d
	fi
	du=$((u - base_u)) dd=$((d - base_d))
	[ $du -gt "$worst" ] && worst=$du
	[ $dd -gt "$worst" ] && worst=$dd
	printf '%-10s %4d MiB %7d %8d KiB %8d KiB   (%+d / %+d KiB)\n' "$c" $(((size + MiB / 2) / MiB)) \
		"${images[$c]}" "$u" "$d" "$du" "$dd"
done
if [ "$worst" -le 2048 ]; then
	echo "flat: no peak passes the 2 MiB case's by more than 2 MiB (largest: +$worst KiB)"
else
	echo "NOT flat: a peak passes the 2 MiB case's by $worst KiB (more than 2048)"
	exit 1
fi
