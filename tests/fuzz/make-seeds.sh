#!/usr/bin/env bash
# Writes the base seeds of every harness into tests/fuzz/corpus/<name>/seed-* with the tools our
# tests use (openssl, cpio, arm-none-eabi-gcc/objcopy, dfuse-pack, dfu-suffix) or by hand. The
# outputs are committed; run this again only to change them. Regression inputs (crash-*, leak-*,
# ...) in the same folders are never touched.
#   tests/fuzz/make-seeds.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
keys=$here/keys
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seed() { # seed HARNESS NAME < bytes
	mkdir -p "$corpus/$1"
	cat >"$corpus/$1/seed-$2"
}
for d in "$corpus"/*/; do
	[ -d "$d" ] && rm -f "$d"seed-*
done

# ---- firmware images: a tiny Cortex-M program, as the image unit tests build it ----
fx=$here/../unit/image/fixture
arm=(-mcpu=cortex-m4 -mthumb -Os -ffreestanding -nostdlib -fno-tree-loop-distribute-patterns)
arm-none-eabi-gcc "${arm[@]}" -c -o "$work/fw.o" "$fx/firmware.c"
arm-none-eabi-gcc "${arm[@]}" -T "$fx/firmware.ld" -Wl,--build-id=none -o "$work/fw.elf" "$work/fw.o"
arm-none-eabi-objcopy --strip-all "$work/fw.elf" "$work/fw-stripped.elf"
arm-none-eabi-objcopy -O binary "$work/fw.elf" "$work/fw.bin"
seed elf fixture <"$work/fw-stripped.elf"
arm-none-eabi-objcopy -O ihex "$work/fw.elf" "$work/fw.hex"
seed hex fixture <"$work/fw.hex"
head -c 64 "$work/fw.bin" >"$work/small.bin"
objcopy -I binary -O ihex --change-addresses 0x08000000 "$work/small.bin" "$work/small.hex"
seed hex small <"$work/small.hex"
# 02 (extended segment address) records: data that crosses 64 KiB from 0xfff0
objcopy -I binary -O ihex --change-addresses 0xfff0 "$work/small.bin" "$work/seg.hex"
seed hex segment <"$work/seg.hex"
printf ':0400000508000101ED\n:00000001FF\n' | seed hex entry-only
printf ':020000040800F2\r\n:10000000000102030405060708090A0B0C0D0E0F78\r\n:0400000300001000E9\r\n:00000001FF\r\n' |
	seed hex crlf-start-segment
dfuse-pack -D 0x0483:0xdf11 -b 0x08000000:"$work/small.bin" "$work/one.dfu" >/dev/null
seed dfuse one-element <"$work/one.dfu"
dfuse-pack -D 0x1209:0x2001 -a 1 -b 0x08004000:"$work/small.bin" -b 0x08000000:"$work/small.bin" \
	"$work/two.dfu" >/dev/null
seed dfuse two-elements <"$work/two.dfu"
cp "$work/small.bin" "$work/plain.dfu"
dfu-suffix -v 0483 -p df11 -d 0200 -a "$work/plain.dfu" >/dev/null
seed dfuse plain <"$work/plain.dfu"

# ---- DfuSe memory layouts, as STM32 ROMs print them ----
seed layout f4 <<<'@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg'
seed layout options <<<'@Option Bytes  /0x1FFFC000/01*016 e'
seed layout two-groups <<<'@Internal Flash /0x08000000/64*002Kg/0x08080000/2*1Ma'
printf '%s' '@OTP Memory /0x1FFF7800/01*512 e,01*016 e' | seed layout otp

# ---- versions: NUL-separated strings, the last byte picks the policy ----
printf '1.2.0\0001.2.10\0001.2.9-rc.1\005' | seed version numbers
printf '1.0.0-rc.10\0001.0.0-rc.2\0001.0.0-rc10\002' | seed version suffixes
printf '01.002\0001.2.0\0001.2.0-0\001' | seed version zeros

# ---- .swu bundles signed with the test key ----
b=$work/swu
mkdir -p "$b"
cp "$work/small.bin" "$b/app.bin"
cp "$work/small.hex" "$b/app.hex"
cat >"$b/sw-description" <<SWD
software =
{
	version = "1.2.0";
	description = "fuzz seed";
	hardware-compatibility = [ "1.0" ];
	images: (
		{
			filename = "app.bin";
			type = "mcu-ota";
			device = "motor";
			version = "1.2.0";
			sha256 = "$(sha256sum "$b/app.bin" | cut -d' ' -f1)";
			size = $(stat -c %s "$b/app.bin");
			install-if-different = true;
			properties = { address = "0x08004000"; format = "bin"; };
		},
		{
			filename = "app.hex";
			type = "mcu-ota";
			device = "pump";
			sha256 = "$(sha256sum "$b/app.hex" | cut -d' ' -f1)";
		}
	);
}
SWD
seed manifest two-images <"$b/sw-description"
cat <<'SWD' | seed manifest minimal
software = { version = "1"; images = ( { filename = "a"; type = "mcu-ota"; device = "d";
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"; } ); };
SWD
cpio_of() { # cpio_of FORMAT NAMES... > archive
	local format=$1
	shift
	(cd "$b" && printf '%s\n' "$@" | cpio --quiet -o -H "$format")
}
openssl pkeyutl -sign -rawin -inkey "$keys/seed-key.pem" -in "$b/sw-description" \
	-out "$b/sw-description.sig"
cpio_of newc sw-description sw-description.sig app.bin app.hex | seed swu ed25519-newc
cpio_of crc sw-description sw-description.sig app.hex app.bin | seed swu ed25519-crc
openssl cms -sign -binary -outform DER -in "$b/sw-description" -signer "$keys/seed-ca.pem" \
	-inkey "$keys/seed-ca-key.pem" -out "$b/sw-description.sig"
cpio_of newc sw-description sw-description.sig app.bin app.hex | seed swu cms-newc
cpio_of newc sw-description app.bin app.hex | seed swu unsigned

# ---- the configuration file: the commented example, and every section by hand ----
seed config example <"$here/../../conf/mcu-ota.conf"
seed config full <<'CONF'
state_dir = "/var/lib/mcu-ota";
plugin_dir = "/usr/lib/mcu-ota/plugins";
cache_dir = "/var/cache/mcu-ota";
log_level = "debug";
daemon = { socket = "/run/mcu-ota/control.sock"; socket_group = "mcu-ota";
           poll_interval_s = 3600; poll_jitter_s = 300; };
bundle = { keys = ["/etc/mcu-ota/release.pem", "/etc/mcu-ota/next.pem"]; ca = "/etc/ca.pem";
           max_image_size = 1048576L; };
fetch = { ca = "/etc/ssl/ca.pem"; allow_http = false; connect_timeout_s = 30; max_attempts = 6; };
devices = (
  { name = "motor"; address = 0x08000000; backup = "optional"; allow_downgrade = true;
    bootloader_timeout_ms = 10000; health_timeout_ms = 20000;
    entry = { plugin = "gpio"; chip = "gpiochip0"; boot0 = "BOOT0"; nrst = "NRST"; };
    flasher = { plugin = "dfuse"; port = "1-1.1"; };
    health = { plugin = "usb-version"; vid = 0x0483; pid = 0x5740; };
    firmware = { source = "https://updates.example.com/motor.swu"; version = "2.0.0"; }; },
  { name = "pump"; entry = { plugin = "dfu-detach"; }; health = { plugin = "usb-version"; };
    flasher = { plugin = "dfuse"; port = "1-1.2"; }; }
);
CONF
printf '@include "part.conf"\nbundle = { keys = ["/k.pem"]; };\n' | seed config include

# ---- the store's files: a journal and a slot's meta as the agent writes them ----
sha=$(printf 'image' | sha256sum | cut -d' ' -f1)
printf 'state=flashing\nresult=none\nversion=1.2.0\nsha256=%s\nerror=\nsequence=7\ntime=1733400000\n' \
	"$sha" | seed journal flashing
printf 'state=idle\nresult=rolled-back\nversion=\nsha256=\nerror=health check: no answer within 10000 ms\nsequence=18446744073709551615\ntime=-1\n' |
	seed journal rolled-back
printf 'version=1.2.0\nsha256=%s\nsize=5\naddress=0x08000000\n' "$sha" | seed meta current
printf 'address=134234112\nsize=0\nversion=2.0.0-rc.1\nsha256=%s' "$sha" | seed meta no-newline

# ---- the daemon's poll record ----
printf 'source=https://updates.example.com/motor.swu\nversion=2.0.0\netag="abc"\nlast_modified=Wed, 21 Oct 2015 07:28:00 GMT\noutcome=failed\n' |
	seed poll_record failed
printf 'source=/srv/motor.swu\nversion=\netag=\nlast_modified=\noutcome=ok\n' | seed poll_record file

# ---- control-socket requests, as control_send_request writes them ----
printf 'status\n\n' | seed control status
printf 'update\nsource https://updates.example.com/motor.swu\ndevice motor\ndevice pump\n\n' |
	seed control update
printf 'rollback\ndevice motor\n\n' | seed control rollback

# ---- response headers: job byte (1 reset, 2 content, 4 etag held, 8 date held), 2 bytes held ----
crlf() { sed 's/$/\r/'; }
{ printf '\003\000\000'; crlf <<'HTTP'; printf 'body bytes'; } | seed fetch_headers ok-200
HTTP/1.1 200 OK
Content-Length: 10
ETag: "abc"
Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT

HTTP
{ printf '\005\000\012'; crlf <<'HTTP'; printf 'rest'; } | seed fetch_headers resume-206
HTTP/1.1 206 Partial Content
Content-Range: bytes 10-13/14
Content-Length: 4
ETag: "abc"

HTTP
{ printf '\001\000\000'; crlf <<'HTTP'; } | seed fetch_headers redirect-then-503
HTTP/1.1 302 Found
Location: https://mirror.example.com/b.swu

HTTP/2 503
Retry-After: 120

HTTP
{ printf '\013\000\100'; crlf <<'HTTP'; printf '0123456789'; } | seed fetch_headers changed-200
HTTP/1.1 100 Continue

HTTP/1.1 200 OK
Last-Modified: Thu, 22 Oct 2015 07:28:00 GMT
Content-Range: bytes */99
Retry-After: Wed, 21 Oct 2037 07:28:00 GMT

HTTP
