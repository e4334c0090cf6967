# shellcheck shell=bash
# How the test scripts install Debian packages (sourced by tests/deps.sh and tests/cross.sh):
#   apt_get ARGS...   apt-get with the lock waited for (bounded, said), services kept from
#                     starting while it runs and disabled again when it enabled them: the test
#                     suite needs nginx and swupdate as programs, not as services of this host.
# Needs root. MCU_OTA_APT_LOCK_WAIT: how long to wait for the package manager (default 600 s).

apt_lock_wait=${MCU_OTA_APT_LOCK_WAIT:-600}

apt_say() { echo "${apt_who:-deps}: $*" >&2; }

# The units and SysV links that make something start at boot, one per line.
apt_enabled_links() {
	find /etc/systemd/system /etc/rc[2-5].d -type l 2>/dev/null | LC_ALL=C sort || true
}

# Disables what an install enabled: each unit linked into a .wants/.requires folder, each SysV
# start link (update-rc.d turns it into a stop link, which an upgrade keeps). systemctl disable
# works on a system that is not running systemd too (a chroot, a container).
apt_disable_new() { # BEFORE-FILE
	local link unit name
	while IFS= read -r link; do
		case $link in
		/etc/systemd/system/*.wants/* | /etc/systemd/system/*.requires/*)
			unit=${link##*/}
			apt_say "disabling $unit (the tests need the program, not the service)"
			[ -e "$link" ] || [ -L "$link" ] || continue # disabled with an earlier line's unit
			systemctl disable "$unit" >/dev/null 2>&1 || rm -f "$link"
			;;
		/etc/rc[2-5].d/S*)
			name=${link##*/S[0-9][0-9]}
			[ -e "$link" ] || continue # update-rc.d of an earlier line took it already
			update-rc.d "$name" disable >/dev/null 2>&1 || rm -f "$link"
			;;
		esac
	done < <(comm -13 "$1" <(apt_enabled_links))
}

apt_get() {
	local before rc=0 own_policy=0
	before=$(mktemp)
	apt_enabled_links >"$before"
	# policy-rc.d answering 101 keeps invoke-rc.d and deb-systemd-invoke from starting services;
	# one already there (a container's) is left as it is
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# tests/apt-lib.sh: no service starts while the test packages install\nexit 101\n' \
			>/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	# one mcu-ota set-up at a time (a demo and a test run started together), then apt's own
	# lock, which another program (unattended-upgrades, a person's apt) may hold
	exec {apt_lock_fd}>/run/lock/mcu-ota-apt.lock
	if ! flock -n "$apt_lock_fd"; then
		apt_say "waiting for another mcu-ota set-up to finish installing (up to ${apt_lock_wait} s)"
		flock -w "$apt_lock_wait" "$apt_lock_fd" || {
			apt_say "another mcu-ota set-up held the install lock for ${apt_lock_wait} s: try again when it is done"
			rc=1
		}
	fi
	if [ "$rc" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$apt_lock_wait" \
			-o Acquire::Retries=3 "$@" || rc=$?
		if [ "$rc" != 0 ] && apt_locked; then
			apt_say "the package manager stayed locked for ${apt_lock_wait} s (another apt or dpkg runs: ps -C apt-get,apt,dpkg); try again when it is done"
		fi
	fi
	exec {apt_lock_fd}>&-
	[ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
	apt_disable_new "$before"
	rm -f "$before"
	return "$rc"
}

# Whether another program holds dpkg's lock now.
apt_locked() {
	command -v fuser >/dev/null || return 1
	fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1
}

# apt_missing PKG...: prints the packages (arch-qualified or not) that are not installed
apt_missing() {
	local p
	for p; do
		# a line per installed architecture for Multi-Arch: same packages
		[[ $'\n'$(dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null) == *$'\n'installed* ]] || echo "$p"
	done
}
