#!/bin/bash
# Builds the initramfs of the mcu-ota VM rig in two parts, one after the other in one file (the
# kernel unpacks concatenated cpio archives, each compressed or not, into one root):
#   base  busybox-static, the kernel modules the rig needs (with their dependencies), dfu-util,
#         gpiod's tools and nginx (when the host has them) with their shared libraries, and the
#         guest's fixed files (/etc). It changes only when one of these changes, so it is built
#         once and kept in the VM cache as initramfs/base-<key>.cpio.gz, <key> a hash of every
#         file that goes in and of this script; it is built and stored under the cache's lock,
#         so runs at the same time share one build and never see half a file.
#   run   what changes from run to run: the binaries under test with the libraries the base
#         lacks, plugins, firmware, scenarios, tests/vm/guest (init, lib.sh, update-lib.sh).
#         Uncompressed (most of it is incompressible firmware; nothing to inflate in the guest).
#
# usage: mkinitramfs.sh -o OUTDIR [options]
#   -o, --out DIR          output folder: DIR/initramfs.img (DIR/root is the run part's tree)
#   -s, --scenarios DIR    copy DIR/*.sh to /scenarios (repeatable)
#   -b, --bin FILE         add an executable as /usr/bin/<name>, with its libraries (repeatable)
#   -p, --plugin FILE      add a plugin .so to /usr/lib/mcu-ota/plugins/ (repeatable)
#   -f, --file SRC:DEST    add any file at DEST (ELF files get their libraries) (repeatable)
#   -m, --module NAME      load one more kernel module (with its dependencies) (repeatable;
#                          part of the base, so of its key)
# Needs prepare.sh to have run (reads $MCU_OTA_VM_CACHE/env). Without write access to the cache
# the base is built in OUTDIR for this run only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MCU_OTA_VM_CACHE:-/var/cache/mcu-ota-vm}
KEEP_BASES=4 # newest base archives kept in the cache (one per set of inputs)

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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$OUT" ] || die "missing -o OUTDIR"
[ -r "$CACHE/env" ] || die "no $CACHE/env: run tests/vm/prepare.sh first"
# shellcheck disable=SC1091
. "$CACHE/env"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ---- shared libraries, asked of the loader itself (ldd runs it about three times a file: forks
# that add up to many seconds on a loaded builder)
RTLD=
for r in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
  [ -x "$r" ] && { RTLD=$r; break; }
done
[ -n "$RTLD" ] || die "no x86-64 dynamic loader on the host"
# libs_of FILE...: prints the libraries (and the loader) the dynamic ELF files among FILE need
libs_of() {
  local f line
  for f in "$@"; do
    # a static executable: the loader refuses it (nothing to copy)
    "$RTLD" --list "$f" 2>/dev/null || true
  done | while read -r line; do
    case "$line" in
      *"=> not found"*) echo "NOTFOUND ${line%% *}" ;;
      *"=> /"*) line=${line#*=> }; echo "${line%% (*}" ;;
      /*) echo "${line%% (*}" ;;   # the loader
    esac
  done | LC_ALL=C sort -u
}
# is_elf FILE: starts with 7f 'E' 'L' 'F' (read by the shell itself: no fork per file)
is_elf() {
  local magic=
  LC_ALL=C IFS= read -r -n 4 magic <"$1" 2>/dev/null || true
  [ "$magic" = $'\x7fELF' ]
}

# ---------------------------------------------------------------- base: inputs and key
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "no $BUSYBOX (apt-get install busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is not static: install busybox-static"

# module files, dependencies first, each once; "PATH ARGS" lines
MODLINES=()
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
    # two UDCs (dummy_udc.0 and .1): two chips on one guest, as two MCUs on one gateway
    case "$path" in */dummy_hcd.ko*) args="$args num=2" ;; esac
    MODLINES+=("$path $args")
  done <<<"$deps"
done

# host tools: dfu-util (Debian's, to check the model and the rig against); libgpiod's tools (the
# by-hand side of the benchmarks) and nginx (the HTTPS server of the daemon scenarios) when the
# host has them
TOOLS=()
for t in dfu-util dfu-suffix dfu-prefix; do
  p=$(command -v "$t") || die "no $t on the host (apt-get install dfu-util)"
  TOOLS+=("$p")
done
for t in gpioset gpioget gpiofind gpioinfo; do
  p=$(command -v "$t") && TOOLS+=("$p")
done
if p=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null); then TOOLS+=("$p"); fi
mapfile -t TOOL_LIBS < <(libs_of "${TOOLS[@]}")
for l in "${TOOL_LIBS[@]}"; do
  case "$l" in NOTFOUND*) die "a host tool needs ${l#NOTFOUND }, which ldd cannot find" ;; esac
done

KEY=$(
  {
    echo "kernel $VM_KVER $VM_DEBVER"
    printf 'module %s\n' "${MODLINES[@]}"
    printf 'tool %s\n' "${TOOLS[@]}"
    echo "script $(sha256sum <"$HERE/mkinitramfs.sh")" # its content, whatever path it ran by
    sha256sum "$BUSYBOX" "${TOOLS[@]}" "${TOOL_LIBS[@]}"
    for l in "${MODLINES[@]}"; do sha256sum "${l%% *}"; done
  } | sha256sum | cut -c1-16
)

# build_base FILE: the base archive (gzip) into FILE, its file list into FILE.list
build_base() {
  local img=$1 root line path args rel p
  root=$(mktemp -d "$OUT/base-root.XXXXXX")
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/mcu-ota-vm,proc,sys,dev,tmp,run,root,scenarios}
  mkdir -p "$root/usr/lib/mcu-ota/plugins" "$root/lib/mcu-ota-vm" "$root/var/lib" "$root/var/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  while read -r applet; do
    [ -n "$applet" ] || continue
    [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done < <("$BUSYBOX" --list-full)
  : >"$root/etc/mcu-ota-vm/modules"
  for line in "${MODLINES[@]}"; do
    path=${line%% *}
    args=${line#"$path"}
    rel=${path#"$VM_MODROOT"}
    mkdir -p "$root$(dirname "$rel")"
    cp "$path" "$root$rel"
    echo "$rel$args" >>"$root/etc/mcu-ota-vm/modules"
  done
  for p in "${TOOLS[@]}"; do
    case "$p" in
      */nginx) cp -L "$p" "$root/usr/sbin/nginx" ;;
      *) cp -L "$p" "$root/usr/bin/$(basename "$p")" ;;
    esac
  done
  for p in "${TOOL_LIBS[@]}"; do
    mkdir -p "$root$(dirname "$p")"
    cp -L "$p" "$root$p"
  done
  # nobody/nogroup: nginx's workers (they read the served files only)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  # names from /etc/hosts only (no resolver in the guest): https://localhost/ is the guest's nginx
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$root/etc/hosts"
  printf 'hosts: files\npasswd: files\ngroup: files\n' >"$root/etc/nsswitch.conf"
  printf '%s\n' "$VM_KVER" >"$root/etc/mcu-ota-vm/kernel"
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
    | gzip -1 >"$img.part"
  # zeros up to a 512-byte boundary: the kernel skips them before the next archive
  truncate -s %512 "$img.part"
  (cd "$root" && find . -mindepth 1 ! -type d | sed 's/^\.//' | LC_ALL=C sort) >"$img.list.part"
  rm -rf "$root"
  mv "$img.list.part" "$img.list"
  mv "$img.part" "$img"
}

BASES=$CACHE/initramfs
BASE=$BASES/base-$KEY.cpio.gz
if [ -r "$BASE" ] && [ -r "$BASE.list" ]; then
  say "base $KEY from the cache"
elif [ -w "$CACHE" ]; then
  # built under the cache's lock (prepare.sh takes the same one): a second run waits and then
  # finds it; only complete files get their final names
  exec 8>>"$CACHE/.lock"
  flock 8 || die "cannot lock $CACHE/.lock"
  mkdir -p "$BASES"
  if [ -r "$BASE" ] && [ -r "$BASE.list" ]; then
    say "base $KEY from the cache (built by another run meanwhile)"
  else
    say "building base $KEY into $BASES"
    build_base "$BASE"
    # older bases (other inputs) beyond the newest few go
    ls -1t "$BASES"/base-*.cpio.gz 2>/dev/null | tail -n "+$((KEEP_BASES + 1))" \
      | while read -r old; do rm -f "$old" "$old.list"; done
  fi
  exec 8>&-
else
  say "cannot write $BASES: base $KEY built for this run only"
  BASE=$OUT/base.cpio.gz
  build_base "$BASE"
fi
declare -A in_base=()
while read -r f; do in_base[$f]=1; done <"$BASE.list"

# ---------------------------------------------------------------- run part
ROOT=$OUT/root
rm -rf "$ROOT"
mkdir -p "$ROOT"/{usr/bin,scenarios,lib/mcu-ota-vm,usr/lib/mcu-ota/plugins}

ELFS=()
declare -A GROUP=() # destination folder -> files to copy there under their own names
add_file() { # SRC DEST [elf]: copy (one cp per folder, below), remember ELF files for their libraries
  [ -f "$1" ] || die "no such file: $1"
  local dir=${2%/*}
  if [ "${1##*/}" = "${2##*/}" ]; then
    GROUP[$dir]+="$1"$'\n'
  else
    mkdir -p "$ROOT$dir"
    cp -L "$1" "$ROOT$2"
  fi
  if [ "${3:-}" = elf ] || is_elf "$1"; then ELFS+=("$1"); fi
}
for b in "${BINS[@]}"; do add_file "$b" "/usr/bin/$(basename "$b")" elf; done
for p in "${PLUGINS[@]}"; do add_file "$p" "/usr/lib/mcu-ota/plugins/$(basename "$p")" elf; done
for f in "${FILES[@]}"; do
  case "$f" in *:/*) ;; *) die "--file wants SRC:/ABS/DEST, got '$f'" ;; esac
  add_file "${f%%:/*}" "/${f#*:/}"
done
for dir in "${!GROUP[@]}"; do
  mapfile -t srcs <<<"${GROUP[$dir]%$'\n'}"
  mkdir -p "$ROOT$dir"
  cp -L "${srcs[@]}" "$ROOT$dir/"
done
# the libraries the base does not have already
LIBS=()
while read -r lib; do
  [ -n "$lib" ] || continue
  case "$lib" in NOTFOUND*) die "a file under test needs ${lib#NOTFOUND }, which ldd cannot find" ;; esac
  [ -n "${in_base[$lib]:-}" ] || LIBS+=("$lib")
done < <(libs_of "${ELFS[@]}")
if [ ${#LIBS[@]} -gt 0 ]; then
  # the loader's answers are real paths (/lib/x86_64-linux-gnu/...): cp --parents keeps them
  cp -L --parents "${LIBS[@]}" "$ROOT/"
fi
nlibs=${#LIBS[@]}

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

# ---- pack: the base, then the run part
IMG=$OUT/initramfs.img
cp "$BASE" "$IMG.tmp"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >>"$IMG.tmp"
mv "$IMG.tmp" "$IMG"
say "$IMG ($(du -h "$IMG" | cut -f1): base $KEY $(du -h "$BASE" | cut -f1), run part" \
  "${#ELFS[@]} programs + $nlibs libraries + ${#FILES[@]} files, $(ls "$ROOT/scenarios" | wc -l) scenarios)"
echo "$IMG"
