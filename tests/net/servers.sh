#!/usr/bin/env bash
# Runs a command with the tests/net servers up on loopback, then stops them:
#   servers.sh COMMAND [ARGS...]
# Makes a temporary directory with the test PKI (pki.sh), test files, an
# nginx (Debian's, own config, unprivileged ports chosen now) and the fault
# server (faultd.py), and exports for the command:
#   NET_DIR          the directory (pki: $NET_DIR/pki, files: $NET_DIR/www)
#   NET_GOOD         https port (HTTP/2 and 1.1; faultd.py speaks 1.1 only):
#                    valid certificate for 127.0.0.1 and localhost,
#                    /mtls/ needs a client certificate from the test CA
#   NET_EXPIRED NET_NOTYET NET_WRONGHOST NET_UNTRUSTED   https ports with
#                    those certificates
#   NET_PLAIN        nginx over plain http
#   NET_FAULT        https port of faultd.py, NET_FAULT_PLAIN its http port
#   NET_FAULT_LOG    where faultd.py logs each request (one file per id)
#   NET_PROXY        an HTTP CONNECT proxy (faultd.py) that logs to
#                    $NET_FAULT_LOG/proxy
#   NET_CLOSED       a port nothing listens on
# Files in www: small.bin (100 KiB), mid.bin (1 MiB), and mtls/small.bin.
# NET_KEEP=1 keeps the directory for a look afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "servers.sh: nginx is missing (apt-get install nginx)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "servers.sh: python3 is missing" >&2; exit 1; }

dir=$(mktemp -d /tmp/mcu-ota-net.XXXXXX)
nginx_pid= fault_pid=
cleanup() {
	local rc=$?
	# only the processes this script started, by their id
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && { wait "$nginx_pid" 2>/dev/null || true; }
	[ -n "$fault_pid" ] && kill "$fault_pid" 2>/dev/null && { wait "$fault_pid" 2>/dev/null || true; }
	if [ "${NET_KEEP:-0}" = 1 ]; then echo "servers.sh: kept $dir" >&2; else rm -rf "$dir"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# nginx's workers run as nobody when we are root: they read www and nothing else
chmod 755 "$dir"

"$here/pki.sh" "$dir/pki"
mkdir -p "$dir/www/mtls" "$dir/nginx/logs" "$dir/nginx/tmp" "$dir/faultlog"
head -c 102400 /dev/urandom >"$dir/www/small.bin"
head -c 1048576 /dev/urandom >"$dir/www/mid.bin"
cp "$dir/www/small.bin" "$dir/www/mtls/small.bin"
chmod -R a+rX "$dir/www"

# free ports: bound to port 0 by the kernel, then released for nginx
read -r p_good p_expired p_notyet p_wronghost p_untrusted p_plain p_closed < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

tls_server() { # port cert [extra]
	cat <<EOF
	server {
		listen 127.0.0.1:$1 ssl http2;
		ssl_certificate $dir/pki/$2.pem;
		ssl_certificate_key $dir/pki/$2.key;
		root $dir/www;
		${3:-}
	}
EOF
}
{
	cat <<EOF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
	default_type application/octet-stream;
	log_format ranges '\$status "\$http_range" \$body_bytes_sent \$request_uri';
	access_log $dir/nginx/logs/access.log ranges;
	client_body_temp_path $dir/nginx/tmp/body;
	proxy_temp_path $dir/nginx/tmp/proxy;
	fastcgi_temp_path $dir/nginx/tmp/fastcgi;
	uwsgi_temp_path $dir/nginx/tmp/uwsgi;
	scgi_temp_path $dir/nginx/tmp/scgi;
	sendfile on;
	ssl_protocols TLSv1.2 TLSv1.3;
EOF
	tls_server "$p_good" good "ssl_client_certificate $dir/pki/ca.pem;
		ssl_verify_client optional;
		location /mtls/ { if (\$ssl_client_verify != SUCCESS) { return 403; } }"
	tls_server "$p_expired" expired
	tls_server "$p_notyet" notyet
	tls_server "$p_wronghost" wronghost
	tls_server "$p_untrusted" untrusted
	cat <<EOF
	server {
		listen 127.0.0.1:$p_plain;
		root $dir/www;
	}
}
EOF
} >"$dir/nginx/nginx.conf"

"$nginx_bin" -p "$dir/nginx" -e "$dir/nginx/logs/error.log" -c "$dir/nginx/nginx.conf" \
	-g 'daemon off;' &
nginx_pid=$!
python3 "$here/faultd.py" --www "$dir/www" --logdir "$dir/faultlog" --cert "$dir/pki/good.pem" \
	--key "$dir/pki/good.key" --portfile "$dir/faultd.ports" &
fault_pid=$!

# wait (bounded: 10 s) until both answer
up=0
for _ in $(seq 100); do
	if [ -s "$dir/faultd.ports" ] &&
		python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
			"$p_plain" 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$nginx_pid" 2>/dev/null || break
	kill -0 "$fault_pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$up" != 1 ]; then
	echo "servers.sh: the servers did not start; nginx said:" >&2
	cat "$dir/nginx/logs/error.log" >&2 || true
	exit 1
fi
read -r p_fault p_fault_plain p_proxy <"$dir/faultd.ports"

export NET_DIR=$dir NET_GOOD=$p_good NET_EXPIRED=$p_expired NET_NOTYET=$p_notyet \
	NET_WRONGHOST=$p_wronghost NET_UNTRUSTED=$p_untrusted NET_PLAIN=$p_plain \
	NET_FAULT=$p_fault NET_FAULT_PLAIN=$p_fault_plain NET_FAULT_LOG=$dir/faultlog \
	NET_PROXY=$p_proxy NET_CLOSED=$p_closed
# no proxy from the environment may get between the tests and loopback
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
"$@"
