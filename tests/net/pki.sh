#!/usr/bin/env bash
# Makes the test PKI for tests/net in DIR, with openssl only:
#   ca.pem / ca.key            the test CA (trusted by the tests)
#   other-ca.pem               a second CA nobody trusts
#   good.{pem,key}             127.0.0.1 + ::1 + localhost, signed by ca (the VM rig's too)
#   expired.{pem,key}          127.0.0.1 + ::1 + localhost, valid 2020-2021 only
#   notyet.{pem,key}           127.0.0.1 + ::1 + localhost, valid from 2090
#   wronghost.{pem,key}        only other.example, signed by ca
#   untrusted.{pem,key}        127.0.0.1 + ::1 + localhost, signed by other-ca
#   client.{pem,key}           a client certificate (mutual TLS), signed by ca
#   rogue-client.{pem,key}     a client certificate signed by other-ca
#   capath/                    ca.pem as an OpenSSL hashed directory
# EC P-256 keys: quick to make. `openssl ca` sets fixed validity dates
# (OpenSSL 3.0's x509 has no -not_before/-not_after).
set -euo pipefail
dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() { # name subject
	mkdir -p "$1.db"
	: >"$1.db/index.txt"
	echo 1000 >"$1.db/serial"
	key "$1.key"
	openssl req -new -x509 -key "$1.key" -out "$1.pem" -days 3650 -subj "$2" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
	cat >"$1.cnf" <<CNF
[ ca ]
default_ca = this
[ this ]
dir = $dir/$1.db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $dir/$1.pem
private_key = $dir/$1.key
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = \${ENV::SAN}
[ client ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF
}

leaf() { # ca name cn san ext start end
	local ca=$1 name=$2 cn=$3
	key "$name.key"
	openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
	SAN=$4 openssl ca -batch -notext -config "$ca.cnf" -extensions "$5" \
		-startdate "$6" -enddate "$7" -in "$name.csr" -out "$name.pem" 2>/dev/null
	rm -f "$name.csr"
}

make_ca ca "/CN=mcu-ota test CA"
make_ca other-ca "/CN=mcu-ota untrusted CA"
here="IP:127.0.0.1,IP:::1,DNS:localhost"
leaf ca good 127.0.0.1 "$here" server 20200101000000Z 20991231235959Z
leaf ca expired 127.0.0.1 "$here" server 20200101000000Z 20210101000000Z
leaf ca notyet 127.0.0.1 "$here" server 20900101000000Z 20991231235959Z
leaf ca wronghost other.example "DNS:other.example" server 20200101000000Z 20991231235959Z
leaf other-ca untrusted 127.0.0.1 "$here" server 20200101000000Z 20991231235959Z
leaf ca client gateway-0001 "DNS:unused" client 20200101000000Z 20991231235959Z
leaf other-ca rogue-client gateway-rogue "DNS:unused" client 20200101000000Z 20991231235959Z
mkdir -p capath
cp ca.pem capath/
openssl rehash capath 2>/dev/null || c_rehash capath >/dev/null
