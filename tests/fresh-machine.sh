#!/usr/bin/env bash
# Proves the README's set-up on a fresh Debian 12: bootstraps a minimal bookworm root from the
# Debian archive this machine uses (mmdebstrap, variant minbase: less than any installed Debian
# has), clones the committed checkout into it, and runs there, in a chroot with /proc, /sys, /dev
# and /run mounted, exactly the README's two commands: tests/demo.sh, then tests/run.sh. Nothing
# is installed in the root by hand: whatever the two need, they install themselves.
#
# usage: tests/fresh-machine.sh [--root DIR] [--keep] [--demo-only] [-- CTEST-ARGS...]
#   --root DIR     where the root goes (default /var/tmp/mcu-ota-fresh; emptied first)
#   --keep         leave the root in place afterwards (to look at it, or to run again in it)
#   --demo-only    run tests/demo.sh only
#   CTEST-ARGS     passed to tests/run.sh (e.g. -j2, -L unit)
# Needs root and Debian's archive. Prints the time of each command and ends with a line
# "fresh-machine: demo passed in N s, tests passed in M s" or says which one failed.
# The chroot's own VM cache starts empty: the demo downloads the kernel packages (about 230 MB).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/apt-lib.sh
. "$top/tests/apt-lib.sh"
apt_who=fresh-machine

root=/var/tmp/mcu-ota-fresh
keep=0
demo_only=0
while (($#)); do
	case $1 in
	--root) root=${2:?--root needs a folder}; shift 2 ;;
	--keep) keep=1; shift ;;
	--demo-only) demo_only=1; shift ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	--) shift; break ;;
	*) echo "fresh-machine: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
say() { echo "fresh-machine: $*"; }
[ "$(id -u)" = 0 ] || { echo "fresh-machine: needs root (mmdebstrap, chroot, mounts)" >&2; exit 2; }
case $root in /?*) ;; *) echo "fresh-machine: --root wants an absolute path" >&2; exit 2 ;; esac

[ -z "$(apt_missing mmdebstrap)" ] || apt_get install -y -qq --no-install-recommends mmdebstrap >/dev/null

# the archive this machine installs from (deb822 or one-line sources), bookworm's suites only
mirrors=()
while read -r uri suite; do
	mirrors+=("deb $uri $suite main")
done < <(
	{
		awk '/^URIs:/ {u = $2} /^Suites:/ {for (i = 2; i <= NF; i++) print u, $i}' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null
		awk '$1 == "deb" {print $2, $3}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | grep -E ' bookworm(-updates|-security)?$' | sort -u
)
((${#mirrors[@]})) || mirrors=("deb http://deb.debian.org/debian bookworm main")

cleanup() {
	local m
	# the chroot's own processes first (a daemon a failed test left), then its mounts
	for m in /proc/[0-9]*; do
		[ "$(readlink "$m/root" 2>/dev/null)" = "$root" ] && kill -9 "${m#/proc/}" 2>/dev/null
	done
	for m in run dev/pts dev sys proc; do
		mountpoint -q "$root/$m" && umount -l "$root/$m"
	done
	mountpoint -q "$root" && umount -l "$root"
	if [ "$keep" = 0 ]; then rm -rf --one-file-system "$root"; else say "root kept in $root"; fi
}
trap cleanup EXIT

t=$(date +%s)
say "bootstrapping Debian 12 (minbase) into $root from: ${mirrors[*]}"
rm -rf "$root"
mmdebstrap --quiet --variant=minbase bookworm "$root" "${mirrors[@]}"
say "bootstrapped in $(($(date +%s) - t)) s"
# what starts at boot in a bare Debian: the set-up must add nothing to it
boot_links() { (cd "$root" && find etc/systemd/system -path '*.wants/*' -o -path 'etc/rc[2-5].d/S*' | LC_ALL=C sort); }
boot_before=$(boot_links)
# nothing the set-up installed may be left enabled to start on this root's next boot
check_boot_links() {
	local enabled
	enabled=$(comm -13 <(echo "$boot_before") <(boot_links) | grep -v '^$' || true)
	[ -z "$enabled" ] && return 0
	say "the set-up left services enabled to start at boot:" $enabled
	exit 1
}
git clone -q --no-local "$top" "$root/root/mcu-ota"
say "cloned $(git -C "$top" rev-parse --short HEAD) (committed work only, as CI does)"

# the root a mount point of its own, as / is on a machine: unshare -m (the SysV and udev
# packaging tests) cannot change the propagation of a root that is only a folder
mount --bind "$root" "$root"
mount --make-private "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$root/run/lock"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

in_root() { chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$1"; }

# step NAME COMMAND: runs COMMAND in the root; sets step_s to its time, stops the script on failure
step() {
	local t rc=0
	t=$(date +%s)
	in_root "$2" || rc=$?
	step_s=$(($(date +%s) - t))
	[ "$rc" = 0 ] && return 0
	say "${done_so_far:-}$1 FAILED (exit $rc) after $step_s s"
	exit 1
}

step demo 'cd /root/mcu-ota && tests/demo.sh'
demo_s=$step_s
check_boot_links
say "demo passed in $demo_s s"
[ "$demo_only" = 0 ] || exit 0

done_so_far="demo passed in $demo_s s, "
step tests "cd /root/mcu-ota && tests/run.sh ${*:+$(printf '%q ' "$@")}"
tests_s=$step_s
check_boot_links
say "demo passed in $demo_s s, tests passed in $tests_s s"
