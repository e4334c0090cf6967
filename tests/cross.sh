#!/usr/bin/env bash
# Cross-builds mcu-ota the way a Yocto recipe does (a CMake toolchain file, the target's pkg-config
# files, Yocto's install flags), with Debian's cross compilers and multiarch -dev packages:
#
#   tests/cross.sh [--build-root DIR] [arm64|armhf|all]        (default: all)
#
# For each architecture it
#   - installs what is missing, from Debian's archive (needs root then): what the native build and
#     its tests need (tests/deps.sh), crossbuild-essential-<arch>, the libraries' -dev packages for
#     <arch> at versions that agree with the build machine's (see match_versions), qemu-user;
#   - configures DIR/build-cross-<arch> (DIR: the checkout unless --build-root) with
#     cmake/toolchain-<arch>.cmake, tests on, warnings as errors, and builds everything: the agent,
#     the plugins, the unit tests;
#   - checks with `file` (and readelf for the float ABI) that the program and every plugin are the
#     target's, installs into a DESTDIR (cmake --install) and checks that tree the same way;
#   - runs the unit and net tests (ctest -L unit, -L net) under qemu-user, the emulator the
#     toolchain file names, with binfmt_misc for the programs the tests start themselves (see
#     in_binfmt_ns). The few that cannot run there are listed with the reason (not_under_qemu),
#     never dropped silently.
# Build logs: DIR/build-cross-<arch>/cross-{configure,build}.log, install.log.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/apt-lib.sh
. "$top/tests/apt-lib.sh"
apt_who=cross
build_root=$top
arches=()
usage() { echo "usage: $0 [--build-root DIR] [arm64|armhf|all]" >&2; exit 2; }
while (($#)); do
	case $1 in
	--build-root) [ $# -ge 2 ] || usage; build_root=$2; shift 2 ;;
	arm64 | armhf) arches+=("$1"); shift ;;
	all) arches+=(arm64 armhf); shift ;;
	*) usage ;;
	esac
done
((${#arches[@]})) || arches=(arm64 armhf)
mapfile -t arches < <(printf '%s\n' "${arches[@]}" | awk '!seen[$0]++')
jobs=$(nproc)
host_arch=$(dpkg --print-architecture)

triplet() { case $1 in arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;; esac; }
say() { echo "cross: $*"; }
die() { echo "cross: $*" >&2; exit 1; }

# ---- packages ---------------------------------------------------------------------------------
libs_dev=(libusb-1.0-0-dev libcurl4-openssl-dev libssl-dev libconfig-dev
	zlib1g-dev) # zlib: the image tests' DFU files
wanted=(cmake pkg-config file qemu-user)
for a in "${arches[@]}"; do
	wanted+=("crossbuild-essential-$a")
	for p in "${libs_dev[@]}"; do wanted+=("$p:$a"); done
done
# (a line per installed architecture: pkg-config is installed for each, the cross wrappers)
is_installed() { [[ $'\n'$(dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null) == *$'\n'installed* ]]; }

# apt-get update, retried; an index that keeps failing (a mirror caught mid-sync) is tolerated as
# long as every architecture we install for still has one (bookworm's main), and named.
apt_update() {
	local i log
	log=$(mktemp)
	for i in 1 2 3; do
		if apt_get update -qq 2>"$log"; then rm -f "$log"; return 0; fi
		say "apt-get update failed (try $i of 3)"
		[ "$i" = 3 ] || sleep $((i * 5))
	done
	sed -n 's/^E: /  /p' "$log" | grep -v '^  *Hashes\|^  *- \|^  *Release file' >&2 || true
	rm -f "$log"
	local a
	for a in "$host_arch" "${arches[@]}"; do
		[[ $(apt-cache madison "libc6:$a") == *" $a Packages"* ]] ||
			die "apt has no package index for $a: cannot install (dpkg --add-architecture $a; apt-get update)"
	done
	say "carrying on with the indexes apt has for $host_arch ${arches[*]} (versions are matched below)"
}

# Multi-Arch: same libraries must have the same version on every architecture that holds them
# (libssl3:amd64 and libssl3:arm64 alike), but the archive can offer different candidates per
# architecture: bookworm-security's index for one of them missing or behind, or the build
# machine's copy older than every index. For each such library in what we install, take the
# newest version offered for every architecture that will hold it and not older than any installed
# copy, and ask for it by version: the build machine's copy is upgraded to it when needed (said).
# A build machine's copy that no architecture's index can match from above is moved down only for
# packages without code: linux-libc-dev (the kernel's uapi headers, 6.1.y point releases), which
# libc6-dev:<arch> needs and whose security updates come a few point releases at a time.
downgradable=(linux-libc-dev)
pins=()
match_versions() { # arch-qualified packages to install...
	local -a closure qualified
	local -A archs=() inst=() vers=()
	mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances "$@" 2>/dev/null |
		grep -E '^[a-z0-9][a-z0-9.+-]*(:[a-z0-9]+)?$' | sort -u)
	local n p a v
	local -a names
	# the Multi-Arch: same ones, with the architectures the install needs them for
	while read -r n a; do
		archs[$n]+=" $a"
	done < <(apt-cache show --no-all-versions "${closure[@]}" 2>/dev/null | awk '
		/^Package:/ {p = $2} /^Architecture:/ {a = $2}
		/^Multi-Arch: same/ {print p, a}' | sort -u)
	((${#archs[@]})) || return 0
	names=("${!archs[@]}")
	# installed copies, any architecture
	while read -r n a v; do
		inst[$n:$a]=$v
		[[ " ${archs[$n]} " == *" $a "* ]] || archs[$n]+=" $a"
	done < <(dpkg-query -W -f='${Package} ${Architecture} ${Version} ${db:Status-Status}\n' \
		"${names[@]/%/:*}" 2>/dev/null | awk '$4 == "installed" {print $1, $2, $3}')
	for n in "${!archs[@]}"; do
		for a in ${archs[$n]}; do qualified+=("$n:$a"); done
	done
	# versions offered per architecture, newest first (madison's order)
	while read -r n a v; do
		vers[$n:$a]+=" $v"
	done < <(apt-cache madison "${qualified[@]}" 2>/dev/null | awk -F' [|] ' '{
		n = $1; sub(/^ +/, "", n); sub(/:.*/, "", n); k = split($3, w, " "); print n, w[k - 1], $2}')
	local first best down bad=0
	for n in $(printf '%s\n' "${!archs[@]}" | sort); do
		set -- ${archs[$n]}
		(($# > 1)) || continue
		for a; do
			[ -n "${vers[$n:$a]:-}" ] || continue 2 # not in one arch's index at all: apt's call
		done
		down=
		best=$(newest_common "$n" 1 "$@")
		if [ -z "$best" ] && [[ " ${downgradable[*]} " == *" $n "* ]]; then
			best=$(newest_common "$n" 0 "$@")
			down=1
		fi
		if [ -z "$best" ]; then
			echo "cross: no version of $n is offered for all of $* and not older than the installed copies:" >&2
			for a; do echo "  $n:$a installed ${inst[$n:$a]:-none}, offered${vers[$n:$a]}" >&2; done
			bad=1
			continue
		fi
		for a; do
			[ "${inst[$n:$a]:-}" = "$best" ] && continue
			if [ -n "${inst[$n:$a]:-}" ] && dpkg --compare-versions "$best" lt "${inst[$n:$a]}"; then
				say "$n:$a ${inst[$n:$a]} -> $best (downgraded: no newer one offered for all of $*; $n is headers only)"
			elif [ -n "${inst[$n:$a]:-}" ]; then
				say "$n:$a ${inst[$n:$a]} -> $best (upgraded: Multi-Arch: same, one version for all of $*)"
			else
				first=${vers[$n:$a]# }
				first=${first%% *}
				[ "$first" = "$best" ] && [ -z "$down" ] && continue
				[ "$first" = "$best" ] || say "$n:$a $best instead of $first (the newest version offered for all of $*)"
			fi
			pins+=("$n:$a=$best")
		done
	done
	((bad == 0)) || die "an index is missing or behind (apt-get update failed for one architecture?): retry later"
}

# newest_common NAME NO-DOWNGRADE ARCH...: the newest version offered for every ARCH (and, when
# NO-DOWNGRADE is 1, not older than any installed copy); nothing when there is none
newest_common() {
	local n=$1 keep=$2 v a
	shift 2
	for v in ${vers[$n:$1]:-}; do
		for a; do
			[[ "${vers[$n:$a]:-} " == *" $v "* ]] || continue 2
			if ((keep)) && [ -n "${inst[$n:$a]:-}" ] && dpkg --compare-versions "$v" lt "${inst[$n:$a]}"; then
				continue 2
			fi
		done
		echo "$v"
		return
	done
}

install_missing() {
	local -a missing=() install=()
	local p q
	# the build machine's tools the tests use (openssl, cpio, nginx, arm-none-eabi-gcc...); a test
	# whose tool is still missing after a failure here says which
	"$top/tests/deps.sh" || say "tests/deps.sh failed (exit $?): carrying on with the tools there are"
	for p in "${wanted[@]}"; do is_installed "$p" || missing+=("$p"); done
	((${#missing[@]})) || return 0
	say "installing ${missing[*]}"
	[ "$(id -u)" -eq 0 ] || die "these packages are missing and installing them needs root: ${missing[*]}"
	# a fresh Debian knows only its own architecture: without this, apt finds no
	# libusb-1.0-0-dev:arm64 at all
	local a
	for a in "${arches[@]}"; do
		if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
			say "dpkg --add-architecture $a"
			dpkg --add-architecture "$a"
		fi
	done
	apt_update
	# the foreign-architecture libraries only: the toolchains' dependencies are the build
	# machine's own (and their alternatives, gcc:<arch>, would drag in a native toolchain)
	local -a foreign=()
	for p in "${missing[@]}"; do [[ $p == *:* ]] && foreign+=("$p"); done
	((${#foreign[@]} == 0)) || match_versions "${foreign[@]}"
	# a pinned package replaces its unpinned request; pins of libraries nobody asked for by name
	# are marked automatic afterwards, as apt would have
	local -a autos=()
	for p in "${missing[@]}"; do
		for q in "${pins[@]}"; do [ "${q%%=*}" = "$p" ] && continue 2; done
		install+=("$p")
	done
	for q in "${pins[@]}"; do
		is_installed "${q%%=*}" && continue
		[[ " ${missing[*]} " == *" ${q%%=*} "* ]] || autos+=("${q%%=*}")
	done
	local i
	for i in 1 2; do
		apt_get install -y -qq --no-install-recommends --no-remove --allow-downgrades \
			"${install[@]}" "${pins[@]}" >/dev/null && break
		[ "$i" = 2 ] && die "apt-get install failed"
		say "apt-get install failed; once more"
		sleep 10
	done
	((${#autos[@]} == 0)) || apt-mark auto "${autos[@]}" >/dev/null
}

# ---- checks of what was built -----------------------------------------------------------------
# check_elf ARCH FILE...: each file is an ELF object of ARCH (and armhf's hard-float ABI)
check_elf() {
	local arch=$1 f desc want
	shift
	case $arch in
	arm64) want='ELF 64-bit LSB .*ARM aarch64' ;;
	armhf) want='ELF 32-bit LSB .*ARM, EABI5' ;;
	esac
	for f; do
		desc=$(file -b "$f")
		[[ $desc =~ $want ]] || die "$f is not $arch: $desc"
		if [ "$arch" = armhf ] &&
			! "$(triplet armhf)-readelf" -A "$f" | grep -q 'Tag_ABI_VFP_args: VFP registers'; then
			die "$f does not use the hard-float ABI (armhf)"
		fi
	done
}

check_arch_outputs() { # arch build-dir
	local arch=$1 b=$2 desc
	local -a plugins
	desc=$(file -b "$b/mcu-ota")
	check_elf "$arch" "$b/mcu-ota"
	case $arch in
	arm64) [[ $desc == *"interpreter /lib/ld-linux-aarch64.so.1"* ]] ;;
	armhf) [[ $desc == *"interpreter /lib/ld-linux-armhf.so.3"* ]] ;;
	esac || die "$b/mcu-ota: unexpected interpreter: $desc"
	mapfile -t plugins < <(find "$b/plugins" -maxdepth 1 -name 'mcu-ota-*.so' | sort)
	((${#plugins[@]})) || die "no plugins in $b/plugins"
	check_elf "$arch" "${plugins[@]}"
	say "$arch: mcu-ota: $desc"
	say "$arch: ${#plugins[@]} plugins, all $arch: $(basename -a "${plugins[@]}" | tr '\n' ' ')"

	# cmake --install into a DESTDIR, with the layout the toolchain build was configured for
	local dest=$b/destdir
	rm -rf "$dest"
	DESTDIR=$dest cmake --install "$b" >"$b/install.log" || { cat "$b/install.log"; die "$arch: cmake --install failed"; }
	[ -x "$dest/usr/bin/mcu-ota" ] || die "$arch: no usr/bin/mcu-ota in $dest"
	local -a elves installed_plugins
	mapfile -t installed_plugins < <(find "$dest/usr/lib/mcu-ota/plugins" -name 'mcu-ota-*.so' 2>/dev/null | sort)
	((${#installed_plugins[@]} == ${#plugins[@]})) ||
		die "$arch: ${#installed_plugins[@]} plugins installed in usr/lib/mcu-ota/plugins, ${#plugins[@]} built"
	mapfile -t elves < <(find "$dest" -type f -exec sh -c 'head -c4 "$1" | grep -q "^.ELF"' _ {} \; -print)
	check_elf "$arch" "${elves[@]}"
	say "$arch: DESTDIR install: $(find "$dest" -type f | wc -l) files, ${#elves[@]} ELF objects, all $arch"
}

# ---- per architecture -------------------------------------------------------------------------
build_arch() {
	local arch=$1 b=$build_root/build-cross-$1
	mkdir -p "$b"
	say "$arch: configuring $b"
	# Yocto's cmake.bbclass passes the same install layout (prefix /usr, libdir lib, /etc).
	cmake -S "$top" -B "$b" -DCMAKE_TOOLCHAIN_FILE="$top/cmake/toolchain-$arch.cmake" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DMCU_OTA_WERROR=ON \
		-DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_SYSCONFDIR=/etc \
		-DCMAKE_INSTALL_LOCALSTATEDIR=/var >"$b/cross-configure.log" 2>&1 ||
		{ cat "$b/cross-configure.log"; die "$arch: configure failed"; }
	# what the configuration said besides the usual (skipped parts, warnings)
	grep -v '^-- \(Detecting\|Check for working\|Checking for module\|Found\|Looking for\|Performing\|The C compiler\|Configuring done\|Generating done\|Build files\|  Found\|Check if compiler\)' \
		"$b/cross-configure.log" | sed '/^$/d; s/^/  /' || true
	say "$arch: building"
	cmake --build "$b" -j"$jobs" >"$b/cross-build.log" 2>&1 || { tail -n 60 "$b/cross-build.log"; die "$arch: build failed"; }
	grep -i 'warning:' "$b/cross-build.log" && die "$arch: the build warned (see $b/cross-build.log)"
	check_arch_outputs "$arch" "$b"
}

# ---- the unit tests under qemu-user ------------------------------------------------------------
# ctest starts each target test program through the toolchain's emulator, but some tests start
# target programs themselves: shell scripts that run the target's mcu-ota, test_engine re-executing
# itself. The kernel starts a foreign binary only through a binfmt_misc rule. Since Linux 6.7 each
# user namespace can have its own binfmt_misc: the tests run in a private one where this
# architecture's ELF files go to qemu, and nothing changes for the rest of the machine.

# binfmt_misc rule (Documentation/admin-guide/binfmt-misc.rst): ELF of this class, little endian,
# version 1, any OS ABI (byte 7 masked), executable or shared object (e_type 2 or 3: 0xfe mask),
# this e_machine; F: qemu is opened now, so that it is found whatever the tests' root looks like.
binfmt_rule() { # arch
	local class machine ff='\xff\xff\xff\xff'
	case $1 in
	arm64) class='\x02' machine='\xb7\x00' ;;
	armhf) class='\x01' machine='\x28\x00' ;;
	esac
	printf '%s' ":mcu-ota-test-$1:M::\x7fELF$class\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00$machine:$ff\xff\xff\xff\x00$ff$ff\xfe\xff\xff\xff:$(qemu_of "$1"):F"
}
qemu_of() { sed -n 's/^MCU_OTA_CROSS_QEMU_PROGRAM:[A-Z]*=//p' "$build_root/build-cross-$1/CMakeCache.txt"; }

# in_binfmt_ns ARCH COMMAND...: COMMAND in new user and mount namespaces where every user and
# group id maps to itself (files, chown, socket groups, nginx's workers behave as outside) and the
# rule is registered. The child waits until the parent has written its id maps, then starts afresh
# (an exec as root of the namespace, with its capabilities) to mount binfmt_misc and register.
in_binfmt_ns() {
	local rule pid i rc=0
	rule=$(binfmt_rule "$1")
	shift
	unshare --user --mount --propagation private /bin/sh -c '
		i=0
		while [ "$(id -u)" != 0 ]; do
			i=$((i + 1)); [ $i -lt 500 ] || exit 125; sleep 0.01
		done
		exec /bin/sh -c "$0" sh "$@"' '
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc &&
			printf %s "$1" >/proc/sys/fs/binfmt_misc/register && shift && exec "$@"' \
		"$rule" "$@" &
	pid=$!
	for ((i = 0; i < 500; i++)); do
		[ "$(readlink "/proc/$pid/ns/user" 2>/dev/null)" != "$(readlink /proc/self/ns/user)" ] && break
		sleep 0.01
	done
	{ echo '0 0 4294967295' >"/proc/$pid/uid_map" && echo '0 0 4294967295' >"/proc/$pid/gid_map"; } 2>/dev/null
	wait "$pid" || rc=$?
	return "$rc"
}

# Unit tests that are not run under qemu-user at all: CTest name and why (shown on every run).
not_under_qemu=(
	packaging_plugin_sdk "runs the example plugin through plugin-run, which the VM rig builds and a cross build has not"
	clang-format "checks the sources with the build machine's clang-format: no target program in it (the native build runs it)"
	packaging_systemd_unit "checks the unit's sandbox against the daemon's system calls traced by strace: under qemu-user these are the emulator's (RWX memory for its code translation), not the program's"
)
# Without a private binfmt_misc (an older kernel, no root, user namespaces refused) only tests
# that ctest itself starts through the emulator can run: test_engine re-executes itself, and a
# test whose command is a program of the build machine (a shell or Python script) may start target
# programs (mcu-ota, test_fetch) directly or from the build tree. Those are listed, not run.
without_binfmt=(
	test_engine "its crash cases re-execute the test (/proc/self/exe), which needs binfmt_misc for a foreign binary"
)
host_command_tests() { # build-dir: "name program" of the tests whose command is not the emulator's
	ctest --test-dir "$1" -L '^(unit|net)$' --show-only=json-v1 | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["tests"]:
    cmd = [os.path.basename(c) for c in t.get("command") or [""]]
    props = {p["name"] for p in t.get("properties", [])}
    if cmd[0].startswith("qemu-") or "FIXTURES_SETUP" in props:
        continue  # a target program through the emulator, or a fixture made with host tools
    interp = cmd[0] in ("sh", "bash", "python3", "python") and len(cmd) > 1
    print(t["name"], cmd[1] if interp else cmd[0])
'
}

run_unit_tests() {
	local arch=$1 b=$build_root/build-cross-$1 i regex= qemu name progs
	local -a skip=("${not_under_qemu[@]}") run=(ctest)
	qemu=$(qemu_of "$arch")
	[ -x "$qemu" ] || die "$arch: no qemu-user emulator (apt-get install qemu-user)"
	if in_binfmt_ns "$arch" true 2>/dev/null; then
		say "$arch: unit and net tests under $qemu (ctest's emulator; a private binfmt_misc for the programs tests start)"
		run=(in_binfmt_ns "$arch" ctest)
	else
		say "$arch: unit and net tests under $qemu (ctest's emulator); no private binfmt_misc here (needs Linux >= 6.7, root, user namespaces)"
		skip+=("${without_binfmt[@]}")
		while read -r name progs; do
			[[ " ${skip[*]} " == *" $name "* ]] ||
				skip+=("$name" "runs $progs, a build machine's program, which may start target programs itself: needs binfmt_misc")
		done < <(host_command_tests "$b")
	fi
	echo "  not run under qemu:"
	for ((i = 0; i < ${#skip[@]}; i += 2)); do
		echo "    ${skip[i]}: ${skip[i + 1]}"
		regex+="${regex:+|}^${skip[i]}\$"
	done
	MCU_OTA_UNDER_QEMU=$qemu "${run[@]}" --test-dir "$b" -L '^(unit|net)$' ${regex:+-E "$regex"} -j"$jobs" --output-on-failure --no-tests=error
}

install_missing
for a in "${arches[@]}"; do build_arch "$a"; done
failed=()
for a in "${arches[@]}"; do run_unit_tests "$a" || failed+=("$a"); done
((${#failed[@]} == 0)) || die "tests failed under qemu-user for: ${failed[*]}"
say "done: ${arches[*]}: built, checked, installed; unit and net tests passed under qemu-user"
