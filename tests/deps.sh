#!/usr/bin/env bash
# Installs what building and testing mcu-ota needs on Debian 12, from Debian's
# archive only. Idempotent: packages already there are not fetched again.
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang-format git  # the build and its checks
	libusb-1.0-0-dev libcurl4-openssl-dev libssl-dev libconfig-dev
	dfu-util                                  # dfu-suffix/dfuse-pack make test inputs; the reference host
	binutils gcc-arm-none-eabi zlib1g-dev     # real images for the image tests
	nginx openssl python3 cpio                # HTTPS server, test PKI and fault server (net tests)
	swugenerator swupdate                     # bundles made and checked by the reference tools
	curl time                                 # the fetch benchmark's by-hand pipeline
	gpiod                                     # gpioset/gpioget: the update benchmark's by-hand side
	mandoc groff-base man-db                  # the man pages' lint
	busybox strace                            # the SysV script under busybox; the unit's sandbox traced
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "deps: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# an index of another architecture that is mid-sync must not stop the install of ours
	apt-get update -qq || apt-get update -qq || echo "deps: apt-get update reported errors; installing from the lists there are" >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# udev (its rule parser checks conf/60-mcu-ota.rules) must be the version of the systemd that
# is installed, which a container's systemd may not be the newest of
if ! dpkg-query -W -f='${Status}' udev 2>/dev/null | grep -q "install ok installed"; then
	v=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)
	if [ "$(id -u)" -eq 0 ]; then
		echo "deps: installing udev${v:+ $v}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"udev${v:+=$v}" >/dev/null || echo "deps: udev not installed: the udev rules test skips" >&2
	fi
fi
