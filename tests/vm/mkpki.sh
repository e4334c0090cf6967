#!/usr/bin/env bash
# Makes the TLS test PKI of the VM rig's HTTPS server (nginx in the guest, on its loopback), with
# openssl only (nothing is committed; made fresh by the build):
#   mkpki.sh DIR   writes DIR/tls-ca.pem         the test CA (what fetch.ca names in the guest)
#                         DIR/tls-server.{pem,key} localhost + 127.0.0.1 + ::1, signed by it
#                         DIR/tls-other-ca.pem   a second CA that signed nothing here (a wrong CA)
# EC P-256 keys (quick). The server certificate is valid from 2020 to 2099 (`openssl ca` sets
# fixed dates; OpenSSL 3.0's x509 has none), so no guest clock can make it not yet valid.
set -euo pipefail
dir=${1:?usage: mkpki.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # KEY PEM SUBJECT
	key "$1"
	openssl req -new -x509 -key "$1" -out "$2" -days 36500 -subj "$3" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

ca "$work/ca.key" "$work/ca.pem" "/CN=mcu-ota VM rig test CA"
ca "$work/other.key" "$work/other-ca.pem" "/CN=mcu-ota VM rig other CA"

: >"$work/index.txt"
echo 1000 >"$work/serial"
cat >"$work/ca.cnf" <<CNF
[ ca ]
default_ca = this
[ this ]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work
certificate = $work/ca.pem
private_key = $work/ca.key
default_md = sha256
policy = anything
copy_extensions = none
[ anything ]
commonName = supplied
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
CNF
key "$work/server.key"
openssl req -new -key "$work/server.key" -subj "/CN=localhost" -out "$work/server.csr"
openssl ca -batch -notext -config "$work/ca.cnf" -extensions server \
	-startdate 20200101000000Z -enddate 20991231235959Z \
	-in "$work/server.csr" -out "$work/server.pem" 2>/dev/null

install -m 0644 "$work/ca.pem" "$dir/tls-ca.pem"
install -m 0644 "$work/other-ca.pem" "$dir/tls-other-ca.pem"
install -m 0644 "$work/server.pem" "$dir/tls-server.pem"
# read by nginx's master (root) in the guest only
install -m 0600 "$work/server.key" "$dir/tls-server.key"
