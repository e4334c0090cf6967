#!/bin/bash
# Runs scenarios of the mcu-ota VM rig in one QEMU boot (see tests/vm/README.md).
#
# usage: run.sh [--build-dir DIR] [options] SCENARIO [SCENARIO...]
#        run.sh --list
#   --build-dir DIR         CMake build folder: DIR/mcu-ota, DIR/plugins/*.so, the executables
#                           in DIR/tests/sim and DIR/tests/vm (stm32-chip, app-query) and the
#                           test firmware DIR/tests/vm/firmware/fw-*.bin, bundle-* and the HTTPS
#                           server's tls-* go into the guest (in /usr/share/mcu-ota-vm/firmware)
#                           when they exist
#   --scenarios-dir DIR     look for scenarios in DIR too (repeatable; tests/vm/scenarios always)
#   --scenario-timeout S    per-scenario limit inside the guest (default 120)
#   --timeout S             limit for the whole QEMU run (default 90 + scenarios x scenario limit)
#   --keep                  keep the work folder (initramfs, console log)
#   -v, --verbose           stream the guest console while it runs
#   --live                  stream the scenarios' output (not the console) while they run
#   --append WORDS          more kernel command line (scenarios read it from /proc/cmdline)
# Exit status: 0 when every scenario passed; 1 when one failed, or the guest died or timed out;
# 2 on a usage error or when the rig could not be prepared.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCEN_DIRS=("$HERE/scenarios")
CACHE=${MCU_OTA_VM_CACHE:-/var/cache/mcu-ota-vm}
export MCU_OTA_VM_CACHE=$CACHE

say() { printf 'vm: %s\n' "$*" >&2; }
usage_die() { printf 'vm: %s\n' "$*" >&2; exit 2; }

BUILD_DIR=
SCEN_TIMEOUT=120
TIMEOUT=
KEEP=0
VERBOSE=0
LIVE=0
EXTRA_APPEND=
SCENARIOS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=${2:?--build-dir needs a folder}; shift 2 ;;
    --build-dir=*) BUILD_DIR=${1#*=}; shift ;;
    --scenarios-dir) [ -d "${2:?}" ] || usage_die "no folder $2"; SCEN_DIRS+=("$(cd "$2" && pwd)"); shift 2 ;;
    --scenario-timeout) SCEN_TIMEOUT=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -v|--verbose) VERBOSE=1; shift ;;
    --list) LIST_ONLY=1; shift ;;
    --live) LIVE=1; shift ;;
    --append) EXTRA_APPEND=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) usage_die "unknown option $1 (see --help)" ;;
    *) SCENARIOS+=("$1"); shift ;;
  esac
done
if [ "${LIST_ONLY:-0}" = 1 ]; then
  for d in "${SCEN_DIRS[@]}"; do
      for s in "$d"/*.sh; do
        [ -e "$s" ] || continue
        n=$(basename "$s" .sh)
        desc=$(sed -n '2s/^# *//p' "$s")
        printf '%-24s %s\n' "$n" "$desc"
      done
  done
  exit 0
fi
[ ${#SCENARIOS[@]} -gt 0 ] || usage_die "no scenario given (run.sh --list shows them)"
for s in "${SCENARIOS[@]}"; do
  [[ "$s" =~ ^[A-Za-z0-9_.-]+$ ]] || usage_die "bad scenario name '$s'"
  found=0
  for d in "${SCEN_DIRS[@]}"; do [ -r "$d/$s.sh" ] && found=1; done
  [ "$found" = 1 ] || usage_die "no scenario '$s' in ${SCEN_DIRS[*]}; run.sh --list shows them"
done
[[ "$SCEN_TIMEOUT" =~ ^[0-9]+$ ]] || usage_die "--scenario-timeout wants whole seconds"
[ -n "$TIMEOUT" ] || TIMEOUT=$((90 + ${#SCENARIOS[@]} * SCEN_TIMEOUT))
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || usage_die "--timeout wants whole seconds"
if [ -n "$BUILD_DIR" ]; then
  [ -d "$BUILD_DIR" ] || usage_die "no build folder $BUILD_DIR"
  BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
fi

T_START=$(date +%s.%N)
now() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- prepare the rig
"$HERE/prepare.sh" || { say "ERROR: tests/vm/prepare.sh failed: the rig is not ready"; exit 2; }
# shellcheck disable=SC1091
. "$CACHE/env"

WORK=$(mktemp -d /tmp/mcu-ota-vm.XXXXXX)
cleanup() {
  if [ "$KEEP" = 1 ]; then say "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- guest contents
# gadget-smoke: CMake builds it into DIR/tests/vm (found with the other executables there);
# without a build folder it is compiled here
MK=(-o "$WORK")
if [ -z "$BUILD_DIR" ] || [ ! -x "$BUILD_DIR/tests/vm/gadget-smoke" ]; then
  say "building gadget-smoke"
  gcc -O2 -g -Wall -Wextra -Wshadow -Werror -I"$VM_UAPI_INCLUDE" \
    -o "$WORK/gadget-smoke" "$HERE/gadget-smoke.c" \
    || { say "ERROR: gadget-smoke did not build"; exit 2; }
  MK+=(-b "$WORK/gadget-smoke")
fi
for d in "${SCEN_DIRS[@]}"; do MK+=(-s "$d"); done
if [ -n "$BUILD_DIR" ]; then
  if [ -x "$BUILD_DIR/mcu-ota" ]; then
    MK+=(-b "$BUILD_DIR/mcu-ota")
  else
    say "note: no $BUILD_DIR/mcu-ota (not built yet?)"
  fi
  for p in "$BUILD_DIR"/plugins/*.so "$BUILD_DIR"/plugins/*/*.so; do
    [ -f "$p" ] && MK+=(-p "$p")
  done
  for d in "$BUILD_DIR/tests/sim" "$BUILD_DIR/tests/vm"; do
    [ -d "$d" ] || continue
    while IFS= read -r -d '' f; do
      [ "$(od -An -tx1 -N4 "$f" | tr -d ' \n')" = 7f454c46 ] && MK+=(-b "$f")
    done < <(find "$d" -maxdepth 1 -type f -perm -u+x -print0)
  done
  for f in "$BUILD_DIR"/tests/vm/firmware/fw-*.bin "$BUILD_DIR"/tests/vm/firmware/bundle-*.swu \
    "$BUILD_DIR"/tests/vm/firmware/bundle-key.pub.pem "$BUILD_DIR"/tests/vm/firmware/tls-*; do
    [ -f "$f" ] && MK+=(-f "$f:/usr/share/mcu-ota-vm/firmware/$(basename "$f")")
  done
fi
"$HERE/mkinitramfs.sh" "${MK[@]}" >/dev/null || { say "ERROR: mkinitramfs.sh failed"; exit 2; }
say "initramfs ready after $(now)s"

# ---------------------------------------------------------------- boot
LIST=$(IFS=,; echo "${SCENARIOS[*]}")
APPEND="console=ttyS0 loglevel=4 panic=-1 mitigations=off scenarios=$LIST scenario_timeout=$SCEN_TIMEOUT"
[ -z "$EXTRA_APPEND" ] || APPEND="$APPEND $EXTRA_APPEND"
LOG=$WORK/console.log
QEMU=(qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 512 -nographic -no-reboot -nodefaults
      -no-user-config -serial stdio -nic none
      -kernel "$VM_KERNEL" -initrd "$WORK/initramfs.img" -append "$APPEND")
say "booting kernel $VM_KVER: ${SCENARIOS[*]} (limit ${TIMEOUT}s, ${SCEN_TIMEOUT}s per scenario)"
T_BOOT=$(date +%s.%N)
set +e
if [ "$VERBOSE" = 1 ]; then
  timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tee "$LOG" | tr -d '\r' >&2
  QRC=${PIPESTATUS[0]}
elif [ "$LIVE" = 1 ]; then
  # only what the scenarios print, as it comes
  timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tee "$LOG" | tr -d '\r' \
    | awk '/^MCUOTA-BEGIN / { on = 1; next } /^MCUOTA-END / { on = 0 } on { print; fflush() }'
  QRC=${PIPESTATUS[0]}
else
  timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$LOG" 2>&1
  QRC=$?
fi
set -e
T_END=$(date +%s.%N)
tr -d '\r' <"$LOG" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >"$LOG.txt"
QEMU_S=$(awk -v a="$T_BOOT" -v b="$T_END" 'BEGIN { printf "%.1f", b - a }')

# ---------------------------------------------------------------- report
passed=0
failed=0
current=
declare -A result=() secs=()
while read -r tag name verdict t _; do
  case "$tag" in
    MCUOTA-BEGIN) current=$name ;;
    MCUOTA-RESULT) result[$name]=$verdict; secs[$name]=$t; current= ;;
  esac
done < <(grep -a '^MCUOTA-' "$LOG.txt" || true)

for s in "${SCENARIOS[@]}"; do
  if [ "$LIVE" = 0 ]; then
    echo "===== $s ====="
    awk -v n="$s" '$0 == "MCUOTA-BEGIN " n { on = 1; next } $0 == "MCUOTA-END " n { on = 0 } on' "$LOG.txt"
  fi
  case "${result[$s]:-}" in
    PASS) passed=$((passed + 1)); echo "----- $s: PASS (${secs[$s]}s)" ;;
    FAIL) failed=$((failed + 1)); echo "----- $s: FAIL (${secs[$s]}s)" ;;
    *) failed=$((failed + 1)); echo "----- $s: NOT COMPLETED" ;;
  esac
done

boot=$(sed -n 's/^MCUOTA-BOOTED \([0-9.]*\).*/\1/p' "$LOG.txt" | head -n1)
done_at=$(sed -n 's/^MCUOTA-DONE \([0-9.]*\).*/\1/p' "$LOG.txt" | head -n1)
guest_ok=1
if [ -z "$done_at" ]; then
  guest_ok=0
  where=
  [ -z "$current" ] || where=" while running scenario '$current'"
  [ -n "$boot" ] || where=" before the scenarios started (boot or module loading)"
  if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
    echo "vm: ERROR: the guest timed out after ${TIMEOUT}s$where"
  else
    echo "vm: ERROR: the guest died (qemu exit $QRC)$where"
  fi
  echo "vm: last console lines:"
  tail -n 40 "$LOG.txt" | sed 's/^/  | /'
elif grep -aq '^MCUOTA-ERROR\|^MCUOTA-MODULE-FAIL' "$LOG.txt"; then
  grep -a '^MCUOTA-ERROR\|^MCUOTA-MODULE-FAIL' "$LOG.txt" | sed 's/^/vm: /'
fi
echo "vm: kernel $VM_KVER; boot to scenarios ${boot:-?}s (guest clock), qemu ${QEMU_S}s, total $(now)s"
if [ "$KEEP" = 1 ]; then echo "vm: console log: $LOG.txt"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$guest_ok" = 1 ]
