# Helpers for the update scenarios (mcu-ota update/rollback/status/recover on chips started
# with chip_start). Scenarios source it after lib.sh:   . /lib/mcu-ota-vm/update-lib.sh

KEY=$FW/bundle-key.pub.pem
STATE=$MCUOTA_WORK/state
CONF=$MCUOTA_WORK/mcu-ota.conf
export MCU_OTA_CONFIG=$CONF

# device_block NAME GPIOCHIP SERIAL [MORE SETTINGS]: one device of the configuration: gpio entry on
# the lines BOOT0/NRST of GPIOCHIP, the dfuse flasher and the usb-version health check, both
# matched by SERIAL (the ROM and the application report the same one, from the chip's UID).
# The waits for the bootloader and the application are generous: a loaded builder's guest takes
# seconds to enumerate a device (an image that never boots costs the whole health timeout).
device_block() {
	cat <<CONF
  { name = "$1";
    bootloader_timeout_ms = 30000;
    health_timeout_ms = 15000;
    entry = { plugin = "gpio"; chip = "$2"; boot0 = "BOOT0"; nrst = "NRST"; };
    flasher = { plugin = "dfuse"; serial = "$3"; };
    health = { plugin = "usb-version"; vid = 0x0483; pid = 0x5740; serial = "$3"; };
    ${4:-}
  }
CONF
}

# write_config BLOCK...: the configuration file $CONF with these devices, and the top-level
# settings in $CONF_EXTRA (lines, if set: fetch, daemon, cache_dir ...).
write_config() {
	{
		echo "state_dir = \"$STATE\";"
		echo "bundle = { keys = [\"$KEY\"]; };"
		[ -z "${CONF_EXTRA:-}" ] || echo "$CONF_EXTRA"
		echo "devices = ("
		_wc_first=1
		for _wc_b in "$@"; do
			[ $_wc_first = 1 ] || echo ","
			_wc_first=0
			echo "$_wc_b"
		done
		echo ");"
	} >"$CONF"
}

# app_version SERIAL: the version the application with this USB serial reports, as the kernel
# read it at enumeration (its interface string, descriptor 4); fails when it is not on the bus.
app_version() {
	for _av in /sys/bus/usb/devices/*; do
		[ "$(cat "$_av/idVendor" 2>/dev/null)" = 0483 ] || continue
		[ "$(cat "$_av/idProduct")" = 5740 ] || continue
		[ "$(cat "$_av/serial" 2>/dev/null)" = "$1" ] || continue
		cat "$_av/${_av##*/}:1.0/interface"
		return
	done
	return 1
}

# wait_version SERIAL VERSION [TIMEOUT_S]: until the application reports VERSION.
wait_version() { wait_for "${3:-10}" eval "[ \"\$(app_version $1)\" = $2 ]"; }

# status_field DEVICE KEY: a value of `mcu-ota status --json` for one device (strings unquoted).
status_field() {
	mcu-ota status --json | tr -d '\n' | sed 's/{"device"/\n{"device"/g' | grep "\"device\": \"$1\"" |
		sed -n -e "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p" -e t -e "s/.*\"$2\": \([^,}]*\).*/\1/p"
}

# no_partial_files: nothing half-written anywhere in the store.
no_partial_files() {
	_np=$(find "$STATE" -name '*.new' -o -name '*.tmp*' -o -name '.*' -type f 2>/dev/null)
	[ -z "$_np" ] || { echo "half-written files: $_np"; return 1; }
}

# board_release: give BOOT0 and NRST back (unexport them from sysfs), so that mcu-ota can take them.
board_release() {
	for _br_n in BOOT0 NRST; do
		_br_d=$(board_gpio "$_br_n") || return 1
		echo "${_br_d##*/gpio}" >/sys/class/gpio/unexport || return 1
	done
}

# ---- the HTTPS server: nginx (Debian's) on the guest's loopback, with the rig's test PKI
# (tests/vm/mkpki.sh: a CA, a certificate for localhost, 127.0.0.1 and ::1, and a CA that signed
# nothing here).
TLS_CA=$FW/tls-ca.pem
TLS_OTHER_CA=$FW/tls-other-ca.pem

# https_start DIR [PORT]: serves DIR over https on port PORT (default 8443) of 127.0.0.1 (and ::1)
# until the scenario ends. ETag and Last-Modified are on (nginx's defaults), so a conditional GET
# of an unchanged file answers 304. Sets HTTPS_PORT, HTTPS_PID and HTTPS_LOG, the access log:
# one line per request: STATUS METHOD URI etag=ETAG lm="DATE" inm=ETAG ims="DATE" BYTES, with the
# ETag and Last-Modified sent, and the If-None-Match and If-Modified-Since received (ETags in their
# quotes; a header not there is empty). Files in DIR must be readable by nobody (nginx's workers).
https_start() {
	[ -x /usr/sbin/nginx ] || { echo "https_start: no nginx in the guest (the host has none)"; return 1; }
	ip link set lo up || return 1
	HTTPS_PORT=${2:-8443}
	_hs_root=$(cd "$1" && pwd) || return 1
	_hs=$MCUOTA_WORK/nginx-$HTTPS_PORT
	mkdir -p "$_hs/tmp"
	_hs_v6=
	grep -q '^0*1 .* lo$' /proc/net/if_inet6 2>/dev/null && _hs_v6="listen [::1]:$HTTPS_PORT ssl;"
	cat >"$_hs/nginx.conf" <<NGINX
worker_processes 1;
pid $_hs/nginx.pid;
error_log $_hs/error.log info;
events { worker_connections 64; }
http {
	default_type application/octet-stream;
	log_format rig escape=none '\$status \$request_method \$request_uri etag=\$sent_http_etag lm="\$sent_http_last_modified" inm=\$http_if_none_match ims="\$http_if_modified_since" \$body_bytes_sent';
	access_log $_hs/access.log rig;
	client_body_temp_path $_hs/tmp/body;
	proxy_temp_path $_hs/tmp/proxy;
	fastcgi_temp_path $_hs/tmp/fastcgi;
	uwsgi_temp_path $_hs/tmp/uwsgi;
	scgi_temp_path $_hs/tmp/scgi;
	ssl_protocols TLSv1.2 TLSv1.3;
	server {
		listen 127.0.0.1:$HTTPS_PORT ssl;
		$_hs_v6
		server_name localhost;
		ssl_certificate $FW/tls-server.pem;
		ssl_certificate_key $FW/tls-server.key;
		root $_hs_root;
	}
}
NGINX
	HTTPS_LOG=$_hs/access.log
	: >"$HTTPS_LOG"
	/usr/sbin/nginx -p "$_hs" -c "$_hs/nginx.conf" -e "$_hs/error.log" -g 'daemon off;' \
		>>"$_hs/error.log" 2>&1 &
	HTTPS_PID=$!
	# the pid file is written once the listening sockets are open
	wait_for 10 test -s "$_hs/nginx.pid" && kill -0 "$HTTPS_PID" 2>/dev/null || {
		sed 's/^/    nginx: /' "$_hs/error.log"
		return 1
	}
}

# https_url NAME: the URL of DIR/NAME on the server https_start started.
https_url() { echo "https://localhost:$HTTPS_PORT/$1"; }

# https_requests NAME: the access log's lines for /NAME (one per request, oldest first).
https_requests() { grep " /$1 " "$HTTPS_LOG"; }
# https_count NAME [STATUS]: how many requests for /NAME (with that status) the server answered.
https_count() { https_requests "$1" | grep -c "^${2:-[0-9]*} "; }

# https_stop: ends the server.
https_stop() {
	[ -n "${HTTPS_PID:-}" ] || return 0
	kill "$HTTPS_PID" 2>/dev/null
	wait "$HTTPS_PID" 2>/dev/null
	HTTPS_PID=
}

# write_https_config BLOCK...: write_config, with fetch.ca the rig's test CA (besides $CONF_EXTRA).
write_https_config() {
	_whc_saved=${CONF_EXTRA:-}
	CONF_EXTRA="fetch = { ca = \"$TLS_CA\"; };${_whc_saved:+
$_whc_saved}"
	write_config "$@"
	CONF_EXTRA=$_whc_saved
}

# ---- the daemon: `mcu-ota daemon` in the foreground, as systemd runs it, with notify-listen as
# systemd's end of $NOTIFY_SOCKET.
SOCK=$MCUOTA_WORK/run/control.sock
CACHE_DIR=$MCUOTA_WORK/cache
NOTIFY_LOG=$MCUOTA_WORK/notify.log
DAEMON_LOG=$MCUOTA_WORK/daemon.log

# daemon_settings [POLL_S]: the top-level settings of a daemon in this folder, for $CONF_EXTRA:
# cache_dir, the control socket, polling every POLL_S seconds (default 0: only at start, on SIGHUP
# and when asked), no jitter.
daemon_settings() {
	echo "cache_dir = \"$CACHE_DIR\";"
	echo "daemon = { socket = \"$SOCK\"; poll_interval_s = ${1:-0}; poll_jitter_s = 0; };"
}

# notify_start: notify-listen on $MCUOTA_WORK/notify.sock, one line per message in $NOTIFY_LOG
# ("pid=N READY=1 STATUS=idle"); exports NOTIFY_SOCKET for the daemons started after it.
notify_start() {
	NOTIFY_SOCKET=$MCUOTA_WORK/notify.sock
	: >"$NOTIFY_LOG"
	notify-listen "$NOTIFY_SOCKET" >>"$NOTIFY_LOG" 2>&1 &
	NOTIFY_PID=$!
	wait_for 5 test -S "$NOTIFY_SOCKET" || return 1
	export NOTIFY_SOCKET
}

# notify_mark: how many messages came so far (the FROM of notify_seen and notify_wait).
notify_mark() { wc -l <"$NOTIFY_LOG" | tr -d ' '; }
# notify_seen FROM PATTERN: a message after the first FROM ones matches PATTERN (grep -E).
notify_seen() { tail -n "+$(($1 + 1))" "$NOTIFY_LOG" | grep -qE -- "$2"; }
# notify_wait FROM PATTERN [TIMEOUT_S]: until notify_seen (default 10 s).
notify_wait() { wait_for "${3:-10}" notify_seen "$1" "$2"; }

# daemon_start [OPTIONS...]: `mcu-ota OPTIONS daemon` in the background (DAEMON_PID), its output
# appended to $DAEMON_LOG; returns once it sent READY=1 (30 s at most).
daemon_start() {
	_ds_mark=$(notify_mark)
	echo "---- mcu-ota${*:+ $*} daemon" >>"$DAEMON_LOG"
	mcu-ota "$@" daemon >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	notify_wait "$_ds_mark" "^pid=$DAEMON_PID .*READY=1" 30
}

# daemon_reload: SIGHUP; returns once the daemon sent RELOADING=1 and then READY=1 again.
daemon_reload() {
	_dr_mark=$(notify_mark)
	kill -HUP "$DAEMON_PID" || return 1
	notify_wait "$_dr_mark" "RELOADING=1" 10 || return 1
	notify_wait "$_dr_mark" "RELOADING=1.*READY=1|READY=1" 20
}

# daemon_stop: SIGTERM and wait; the exit status in DAEMON_RC (30 s at most, then SIGKILL, 137).
daemon_stop() {
	kill -TERM "$DAEMON_PID" 2>/dev/null
	if ! wait_for 30 eval "! kill -0 $DAEMON_PID"; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
	fi
	wait "$DAEMON_PID"
	DAEMON_RC=$?
}

# progress_field DEVICE KEY: phase, done, total or percent of the device's live progress in
# `mcu-ota status --json` (empty when it is idle: "progress": null).
progress_field() {
	mcu-ota status --json | tr -d '\n' | sed 's/{"device"/\n{"device"/g' |
		grep "\"device\": \"$1\"" | sed -n "s/.*\"progress\": {[^}]*\"$2\": \"*\([^\",}]*\).*/\1/p"
}
