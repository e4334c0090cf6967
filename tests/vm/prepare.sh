#!/bin/bash
# Prepares the QEMU rig of tests/vm (the method: tests/vm/README.md, "How the rig works"): host
# tools, Debian's stock bookworm kernel unpacked into a cache outside the checkout, and the two
# out-of-tree modules the guest needs (raw_gadget.ko, gpio-sim-oot.ko) built from that kernel's
# own source.
#
# Idempotent: once the cache is complete a run only checks it and prints that it is ready.
# Run as root. Cache: $MCU_OTA_VM_CACHE (default /var/cache/mcu-ota-vm).
# Writes $CACHE/env (shell syntax) for mkinitramfs.sh and run.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MCU_OTA_VM_CACHE:-/var/cache/mcu-ota-vm}
ENV_FILE=$CACHE/env

say() { printf 'prepare: %s\n' "$*" >&2; }
die() { printf 'prepare: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "prepare: ERROR: command failed (exit %d) at prepare.sh line %d: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

case "$CACHE" in
  /*) ;;
  *) die "MCU_OTA_VM_CACHE must be an absolute path (got '$CACHE')" ;;
esac

# ---------------------------------------------------------------- host tools
# The rig's host packages are in the project's one list (tests/deps.sh): checked here with
# dpkg-query (cheap when all are present), installed by deps.sh when one is missing.
HOST_PKGS=(qemu-system-x86 busybox-static kmod cpio xz-utils dfu-util build-essential
           libelf-dev linux-libc-dev gzip binutils)

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || die "apt-get update failed"
    apt_updated=1
  fi
}

need_root() {
  [ "$(id -u)" = 0 ] || die "$1 needs root (run prepare.sh as root)"
}

missing_pkgs=()
for p in "${HOST_PKGS[@]}"; do
  # one line per architecture: linux-libc-dev is Multi-Arch: same
  st=$(dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null || true)
  grep -qx installed <<<"$st" || missing_pkgs+=("$p")
done
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  say "missing host packages: ${missing_pkgs[*]}; installing the project's packages (tests/deps.sh)"
  "$(dirname "$HERE")/deps.sh" >&2 || die "tests/deps.sh failed: the rig needs ${missing_pkgs[*]}"
fi

# ---------------------------------------------------------------- cached and complete?
check_ready() {
  [ -r "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  ( . "$ENV_FILE" && [ -r "$VM_KERNEL" ] && [ -d "$VM_MODROOT/lib/modules/$VM_KVER" ] \
      && [ -r "$VM_MODROOT/lib/modules/$VM_KVER/modules.dep" ] \
      && [ -r "$VM_MODROOT/lib/modules/$VM_KVER/extra/raw_gadget.ko" ] \
      && [ -r "$VM_MODROOT/lib/modules/$VM_KVER/extra/gpio-sim-oot.ko" ] \
      && [ -d "$VM_UAPI_INCLUDE" ] )
}

if check_ready; then
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  say "ready: kernel $VM_KVER (Debian $VM_DEBVER) in $CACHE"
  exit 0
fi

need_root "preparing the cache"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE/.lock"
if check_ready; then   # another prepare finished while we waited for the lock
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  say "ready: kernel $VM_KVER (Debian $VM_DEBVER) in $CACHE"
  exit 0
fi

# ---------------------------------------------------------------- resolve the kernel version
# linux-image-amd64 (candidate) depends on exactly one linux-image-<abi>-amd64 (= <debver>).
resolve_kernel() {
  local cand dep
  cand=$(apt-cache policy linux-image-amd64 2>/dev/null | awk '/Candidate:/ {print $2}')
  [ -n "$cand" ] && [ "$cand" != "(none)" ] || return 1
  dep=$(apt-cache show "linux-image-amd64=$cand" 2>/dev/null \
        | sed -n 's/^Depends: //p' | head -n1 | tr ',' '\n' \
        | sed -n 's/^ *\(linux-image-[0-9][^ ]*-amd64\) *(= *\([^)]*\)).*/\1 \2/p' | head -n1)
  [ -n "$dep" ] || return 1
  IMAGE_PKG=${dep% *}
  DEBVER=${dep#* }
  KVER=${IMAGE_PKG#linux-image-}            # e.g. 6.1.0-56-amd64
  ABI=${KVER%-amd64}                        # e.g. 6.1.0-56
  SERIES=$(printf '%s' "$ABI" | cut -d. -f1,2)   # e.g. 6.1
}

if [ -n "${MCU_OTA_VM_KVER:-}" ] && [ -n "${MCU_OTA_VM_DEBVER:-}" ]; then
  KVER=$MCU_OTA_VM_KVER; DEBVER=$MCU_OTA_VM_DEBVER
  IMAGE_PKG=linux-image-$KVER; ABI=${KVER%-amd64}; SERIES=$(printf '%s' "$ABI" | cut -d. -f1,2)
elif ! resolve_kernel; then
  apt_update_once
  resolve_kernel || die "cannot resolve the version linux-image-amd64 depends on (apt-cache show linux-image-amd64)"
fi
say "kernel: $IMAGE_PKG $DEBVER (ABI $KVER, series $SERIES)"

PKGS=(
  "linux-image-$KVER"
  "linux-headers-$KVER"
  "linux-headers-$ABI-common"
  "linux-kbuild-$SERIES"
  "linux-source-$SERIES"
)

DEBS=$CACHE/debs
KDIR=$CACHE/$KVER
ROOT=$KDIR/root          # dpkg -x of all five packages
SRC=$KDIR/src            # the few source files taken from linux-source
OOT=$KDIR/oot            # out-of-tree module build
mkdir -p "$DEBS" "$KDIR"

# ---------------------------------------------------------------- download
deb_file() { # pkg -> path of the cached .deb for $DEBVER, or empty
  local v=${DEBVER//:/%3a}
  ls "$DEBS/$1_${v}_"*.deb 2>/dev/null | head -n1 || true
}
download_all() {
  local p
  for p in "${PKGS[@]}"; do
    if [ -z "$(deb_file "$p")" ]; then
      say "downloading $p=$DEBVER"
      # into partial/ first so that an interrupted download never looks cached
      rm -rf "$DEBS/partial"; mkdir -p "$DEBS/partial"
      (cd "$DEBS/partial" && apt-get download -q -o APT::Sandbox::User=root "$p=$DEBVER" >&2) || return 1
      mv "$DEBS"/partial/*.deb "$DEBS/" || return 1
    fi
  done
}
if ! download_all; then
  say "download failed; refreshing package lists and retrying"
  apt_update_once
  download_all || die "apt-get download of ${PKGS[*]} ($DEBVER) failed"
fi
for p in "${PKGS[@]}"; do
  [ -n "$(deb_file "$p")" ] || die "missing $p .deb in $DEBS"
done

# ---------------------------------------------------------------- unpack (never into /)
mkdir -p "$ROOT"
for p in "${PKGS[@]}"; do
  # linux-source is only read from (below), never unpacked whole: it is a 139 MB tarball
  [ "$p" != "linux-source-$SERIES" ] || continue
  stamp=$ROOT/.unpacked-$p
  if [ ! -e "$stamp" ]; then
    say "unpacking $p"
    dpkg -x "$(deb_file "$p")" "$ROOT" || die "dpkg -x $(deb_file "$p") failed"
    touch "$stamp"
  fi
done

VMLINUZ=$ROOT/boot/vmlinuz-$KVER
[ -r "$VMLINUZ" ] || die "no kernel image at $VMLINUZ"
MODDIR=$ROOT/lib/modules/$KVER
[ -d "$MODDIR/kernel" ] || die "no modules at $MODDIR"
HDRS=$ROOT/usr/src/linux-headers-$KVER
COMMON=$ROOT/usr/src/linux-headers-$ABI-common
[ -r "$HDRS/Makefile" ] || die "no headers Makefile at $HDRS/Makefile"
[ -d "$COMMON" ] || die "no common headers at $COMMON"

# The arch headers' Makefile includes the -common tree by absolute path (/usr/src/...):
# point it at the unpacked copy.
if ! grep -q "$COMMON/Makefile" "$HDRS/Makefile"; then
  say "pointing $HDRS/Makefile at $COMMON"
  sed -i "s|\([[:space:]]\)/usr/src/linux-headers-$ABI-common|\1$COMMON|g" "$HDRS/Makefile"
  grep -q "$COMMON" "$HDRS/Makefile" || die "could not fix the -common path in $HDRS/Makefile"
fi
# Symlinks into the kbuild package are absolute in some versions: make them point into $ROOT.
for l in "$HDRS"/scripts "$HDRS"/tools "$COMMON"/scripts "$COMMON"/tools; do
  if [ -L "$l" ]; then
    t=$(readlink "$l")
    case "$t" in
      /*) say "relinking $l -> $ROOT$t"; ln -sfn "$ROOT$t" "$l" ;;
    esac
  fi
done

# ---------------------------------------------------------------- extract the few sources
SRCFILES=(
  drivers/usb/gadget/legacy/raw_gadget.c
  drivers/gpio/gpio-sim.c
  drivers/gpio/gpiolib.h
  kernel/irq/irq_sim.c
  include/uapi/linux/usb/raw_gadget.h
)
if [ ! -e "$SRC/.extracted" ]; then
  SRCDEB=$(deb_file "linux-source-$SERIES")
  say "extracting ${#SRCFILES[@]} files from linux-source-$SERIES.tar.xz in $(basename "$SRCDEB")"
  rm -rf "$SRC"; mkdir -p "$SRC"
  members=()
  for f in "${SRCFILES[@]}"; do members+=("linux-source-$SERIES/$f"); done
  dpkg-deb --fsys-tarfile "$SRCDEB" | tar -xO "./usr/src/linux-source-$SERIES.tar.xz" \
    | tar -xJ -C "$SRC" --strip-components=1 "${members[@]}" \
    || die "could not extract ${SRCFILES[*]} from linux-source-$SERIES.tar.xz in $SRCDEB"
  for f in "${SRCFILES[@]}"; do [ -s "$SRC/$f" ] || die "extracted tree lacks $f"; done
  touch "$SRC/.extracted"
fi

# ---------------------------------------------------------------- build the two modules
if [ ! -s "$OOT/raw_gadget.ko" ] || [ ! -s "$OOT/gpio-sim-oot.ko" ]; then
  say "building raw_gadget.ko and gpio-sim-oot.ko out of tree"
  rm -rf "$OOT"; mkdir -p "$OOT"
  cp "$SRC/drivers/usb/gadget/legacy/raw_gadget.c" "$SRC/drivers/gpio/gpio-sim.c" \
     "$SRC/drivers/gpio/gpiolib.h" "$OOT/"
  # irq_sim is built into the gpio-sim module: its exports would clash with nothing but are
  # pointless, and irq_to_desc() is not exported to modules.
  sed -e '/^EXPORT_SYMBOL_GPL(/d' \
      -e 's/handle_simple_irq(irq_to_desc(\([^)]*\)))/generic_handle_irq(\1)/' \
      "$SRC/kernel/irq/irq_sim.c" > "$OOT/irq_sim.c"
  grep -q 'generic_handle_irq(' "$OOT/irq_sim.c" || die "irq_sim.c patch did not apply (no handle_simple_irq(irq_to_desc(...)) found)"
  ! grep -q 'irq_to_desc' "$OOT/irq_sim.c" || die "irq_sim.c still uses irq_to_desc after patching"
  printf 'obj-m += gpio-sim-oot.o raw_gadget.o\ngpio-sim-oot-y := gpio-sim.o irq_sim.o\n' > "$OOT/Kbuild"
  make -C "$HDRS" M="$OOT" -j"$(nproc)" modules >"$OOT/build.log" 2>&1 || {
    tail -n 40 "$OOT/build.log" >&2
    die "module build failed (full log: $OOT/build.log)"
  }
  for m in raw_gadget gpio-sim-oot; do
    [ -s "$OOT/$m.ko" ] || die "module build produced no $m.ko (log: $OOT/build.log)"
  done
fi

# ---------------------------------------------------------------- module tree + depmod
mkdir -p "$MODDIR/extra"
cp "$OOT/raw_gadget.ko" "$OOT/gpio-sim-oot.ko" "$MODDIR/extra/"
say "depmod -b $ROOT $KVER"
depmod -b "$ROOT" "$KVER" || die "depmod failed"
for m in configfs usbcore usb-common udc-core dummy_hcd raw_gadget gpio-sim-oot; do
  modprobe -d "$ROOT" -S "$KVER" --show-depends "$m" >/dev/null 2>&1 \
    || die "module $m not found in $MODDIR (modprobe --show-depends)"
done

# uapi include dir for raw_gadget.h (the smoke gadget builds with -I this)
UAPI=$KDIR/uapi-include
mkdir -p "$UAPI/linux/usb"
cp "$SRC/include/uapi/linux/usb/raw_gadget.h" "$UAPI/linux/usb/raw_gadget.h"

# ---------------------------------------------------------------- env file
tmp=$(mktemp "$CACHE/env.XXXXXX")
cat >"$tmp" <<EOF
# written by tests/vm/prepare.sh; sourced by mkinitramfs.sh and run.sh
VM_CACHE='$CACHE'
VM_KVER='$KVER'
VM_DEBVER='$DEBVER'
VM_KERNEL='$VMLINUZ'
VM_MODROOT='$ROOT'
VM_HEADERS='$HDRS'
VM_UAPI_INCLUDE='$UAPI'
VM_OOT='$OOT'
EOF
mv "$tmp" "$ENV_FILE"
check_ready || die "cache incomplete after preparing (see $ENV_FILE)"
say "ready: kernel $KVER (Debian $DEBVER) in $CACHE"
