#!/bin/bash
# Builds the initramfs of the mcu-ota VM rig: busybox-static, the kernel modules the rig needs
# (with their dependencies), dfu-util, gpiod's tools and nginx (when the host has them), the
# binaries under test with their shared libraries, the scenarios, and tests/vm/guest/init as /init.
#
# usage: mkinitramfs.sh -o OUTDIR [options]
#   -o, --out DIR          output folder: DIR/initramfs.cpio.gz (DIR/root is the staging tree)
#   -s, --scenarios DIR    copy DIR/*.sh to /scenarios (repeatable)
#   -b, --bin FILE         add an executable as /usr/bin/<name>, with its libraries (repeatable)
#   -p, --plugin FILE      add a plugin .so to /usr/lib/mcu-ota/plugins/ (repeatable)
#   -f, --file SRC:DEST    add any file at DEST (ELF files get their libraries) (repeatable)
#   -m, --module NAME      load one more kernel module (with its dependencies) (repeatable)
# Needs prepare.sh to have run (reads $MCU_OTA_VM_CACHE/env).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MCU_OTA_VM_CACHE:-/var/cache/mcu-ota-vm}

say() { printf 'mkinitramfs: %s\n' "$*" >&2; }
die() { printf 'mkinitramfs: ERROR: %s\n' "$*" >&2; exit 1; }

# Modules every boot loads, in this order (each after its dependencies).
MODULES=(configfs usb-common usbcore udc-core dummy_hcd raw_gadget gpio-sim-oot)

OUT=
SCEN_DIRS=()
BINS=()
PLUGINS=()
FILES=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--out) OUT=${2:?}; shift 2 ;;
    -s|--scenarios) SCEN_DIRS+=("${2:?}"); shift 2 ;;
    -b|--bin) BINS+=("${2:?}"); shift 2 ;;
    -p|--plugin) PLUGINS+=("${2:?}"); shift 2 ;;
    -f|--file) FILES+=("${2:?}"); shift 2 ;;
    -m|--module) MODULES+=("${2:?}"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$OUT" ] || die "missing -o OUTDIR"
[ -r "$CACHE/env" ] || die "no $CACHE/env: run tests/vm/prepare.sh first"
# shellcheck disable=SC1091
. "$CACHE/env"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/root
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/mcu-ota-vm,proc,sys,dev,tmp,run,root,scenarios}
mkdir -p "$ROOT/usr/lib/mcu-ota/plugins" "$ROOT/lib/mcu-ota-vm" "$ROOT/var/lib" "$ROOT/var/tmp"

# ---- files with their shared libraries
is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
copy_libs() { # ELF file: copy what ldd resolves (and the loader) to the same paths
  local line lib
  is_elf "$1" || return 0
  # a static executable: ldd says "not a dynamic executable" and fails
  ldd "$1" >/dev/null 2>&1 || return 0
  while read -r line; do
    case "$line" in
      *"=> not found"*) die "$1 needs ${line%% *}, which ldd cannot find" ;;
      *"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
      /*) lib=${line%% (*} ;;
      *) continue ;;
    esac
    if [ ! -e "$ROOT$lib" ]; then
      mkdir -p "$ROOT$(dirname "$lib")"
      cp -L "$lib" "$ROOT$lib"
    fi
  done < <(ldd "$1")
}
add_file() { # SRC DEST
  [ -f "$1" ] || die "no such file: $1"
  mkdir -p "$ROOT$(dirname "$2")"
  cp -L "$1" "$ROOT$2"
  copy_libs "$1"
}

# ---- busybox with applet links
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "no $BUSYBOX (apt-get install busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is not static: install busybox-static"
cp "$BUSYBOX" "$ROOT/bin/busybox"
while read -r applet; do
  [ -n "$applet" ] || continue
  [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done < <("$BUSYBOX" --list-full)

# ---- kernel modules, dependencies first, each once
MODLIST=$ROOT/etc/mcu-ota-vm/modules
: >"$MODLIST"
declare -A seen=()
for m in "${MODULES[@]}"; do
  deps=$(modprobe -d "$VM_MODROOT" -S "$VM_KVER" --show-depends "$m" 2>&1) \
    || die "module $m: $deps"
  while read -r kind path args; do
    case "$kind" in
      builtin) continue ;;
      insmod) ;;
      *) die "module $m: unexpected modprobe output '$kind $path'" ;;
    esac
    [ -z "${seen[$path]:-}" ] || continue
    seen[$path]=1
    rel=${path#"$VM_MODROOT"}
    mkdir -p "$ROOT$(dirname "$rel")"
    cp "$path" "$ROOT$rel"
    # two UDCs (dummy_udc.0 and .1): two chips on one guest, as two MCUs on one gateway
    case "$rel" in */dummy_hcd.ko*) args="$args num=2" ;; esac
    echo "$rel $args" >>"$MODLIST"
  done <<<"$deps"
done

# ---- dfu-util (Debian's, to check the model and the rig against)
for t in dfu-util dfu-suffix dfu-prefix; do
  p=$(command -v "$t") || die "no $t on the host (apt-get install dfu-util)"
  add_file "$p" "/usr/bin/$t"
done

# ---- libgpiod's tools (Debian's gpiod), when the host has them: the by-hand side of the benchmarks
for t in gpioset gpioget gpiofind gpioinfo; do
  p=$(command -v "$t") || continue
  add_file "$p" "/usr/bin/$t"
done

# ---- nginx (Debian's), when the host has it: the HTTPS server of the daemon scenarios
# (guest/update-lib.sh https_start); its own configuration, no modules
if p=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null); then
  add_file "$p" /usr/sbin/nginx
fi

# ---- binaries, plugins and files under test
for b in "${BINS[@]}"; do add_file "$b" "/usr/bin/$(basename "$b")"; done
for p in "${PLUGINS[@]}"; do add_file "$p" "/usr/lib/mcu-ota/plugins/$(basename "$p")"; done
for f in "${FILES[@]}"; do
  case "$f" in *:/*) ;; *) die "--file wants SRC:/ABS/DEST, got '$f'" ;; esac
  add_file "${f%%:/*}" "/${f#*:/}"
done

# ---- scenarios, init, helpers
for d in "${SCEN_DIRS[@]}"; do
  [ -d "$d" ] || die "no scenario folder $d"
  for s in "$d"/*.sh; do
    [ -e "$s" ] || continue
    cp "$s" "$ROOT/scenarios/"
  done
done
chmod -R a+rx "$ROOT/scenarios"
install -m 0755 "$HERE/guest/init" "$ROOT/init"
install -m 0644 "$HERE/guest/lib.sh" "$ROOT/lib/mcu-ota-vm/lib.sh"
install -m 0644 "$HERE/guest/update-lib.sh" "$ROOT/lib/mcu-ota-vm/update-lib.sh"
# nobody/nogroup: nginx's workers (they read the served files only)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
# names from /etc/hosts only (no resolver in the guest): https://localhost/ is the guest's nginx
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$ROOT/etc/hosts"
printf 'hosts: files\npasswd: files\ngroup: files\n' >"$ROOT/etc/nsswitch.conf"
printf '%s\n' "$VM_KVER" >"$ROOT/etc/mcu-ota-vm/kernel"

# ---- pack
IMG=$OUT/initramfs.cpio.gz
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$IMG.tmp"
mv "$IMG.tmp" "$IMG"
say "$IMG ($(du -h "$IMG" | cut -f1), $(wc -l <"$MODLIST") modules, $(ls "$ROOT/scenarios" | wc -l) scenarios)"
echo "$IMG"
