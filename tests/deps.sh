#!/usr/bin/env bash
# Installs what building mcu-ota, its tests, the demo and the VM rig need on Debian 12, from
# Debian's archive only: the one list of packages of the project (tests/cross.sh adds the cross
# toolchains and the targets' libraries). Idempotent: packages already there are not fetched again.
# No service of this host is started or left enabled by it (tests/apt-lib.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/apt-lib.sh
. "$top/tests/apt-lib.sh"

packages=(
	build-essential cmake pkg-config clang-format git  # the build and its checks
	libusb-1.0-0-dev libcurl4-openssl-dev libssl-dev libconfig-dev
	clang libclang-rt-14-dev llvm-14          # the sanitizer and fuzzing build (asan, fuzz labels);
	                                          # llvm-symbolizer names file:line in their reports
	valgrind                                  # test_config_memcheck
	dfu-util                                  # dfu-suffix/dfuse-pack make test inputs; the reference host
	binutils gcc-arm-none-eabi zlib1g-dev     # real images for the image tests
	nginx openssl python3 cpio                # HTTPS server, test PKI and fault server (net tests)
	ca-certificates                           # the system trust store, which "untrusted server" tests meet
	swugenerator swupdate                     # bundles made and checked by the reference tools
	curl time                                 # the fetch benchmark's by-hand pipeline
	gpiod                                     # gpioset/gpioget: the update benchmark's by-hand side
	mandoc groff-base man-db                  # the man pages' lint
	strace systemd                            # the unit's sandbox traced; systemd-analyze
	psmisc                                    # fuser: who holds the package manager's lock
	# the VM rig (tests/vm): QEMU, the guest's static busybox (also the SysV script's busybox
	# test), the kernel module build and the initramfs
	qemu-system-x86 busybox-static kmod xz-utils libelf-dev linux-libc-dev gzip
)

mapfile -t missing < <(apt_missing "${packages[@]}")
# udev (its rule parser checks conf/60-mcu-ota.rules) must be the version of the systemd that is
# installed, which a container's systemd may not be the newest of
udev=()
if [ -n "$(apt_missing udev)" ]; then
	v=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)
	[[ " ${missing[*]} " == *" systemd "* ]] && v= # installed together: the same version anyway
	udev=("udev${v:+=$v}")
fi
((${#missing[@]} + ${#udev[@]})) || exit 0

echo "deps: installing ${missing[*]} ${udev[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: these packages are missing and installing them needs root: ${missing[*]} ${udev[*]}" >&2
	exit 1
fi
# an index of another architecture that is mid-sync must not stop the install of ours
apt_get update -qq || apt_get update -qq ||
	echo "deps: apt-get update reported errors; installing from the lists there are" >&2
apt_get install -y -qq --no-install-recommends "${missing[@]}" "${udev[@]}" >/dev/null || {
	echo "deps: apt-get install failed (above); the tests cannot run without these packages" >&2
	exit 1
}
