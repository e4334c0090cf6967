#!/usr/bin/env bash
# The TLS test PKI of the VM rig's HTTPS server (nginx in the guest, on its loopback): the one
# tests/net/pki.sh makes (nothing is committed; made fresh by the build), under the rig's names:
#   mkpki.sh DIR   writes DIR/tls-ca.pem         the test CA (what fetch.ca names in the guest)
#                         DIR/tls-server.{pem,key} pki.sh's good.*: localhost + 127.0.0.1 + ::1,
#                                                signed by it, valid 2020-2099
#                         DIR/tls-other-ca.pem   a second CA that signed nothing here (a wrong CA)
set -euo pipefail
dir=${1:?usage: mkpki.sh DIR}
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$(dirname "$0")/../net/pki.sh" "$work" >/dev/null

install -m 0644 "$work/ca.pem" "$dir/tls-ca.pem"
install -m 0644 "$work/other-ca.pem" "$dir/tls-other-ca.pem"
install -m 0644 "$work/good.pem" "$dir/tls-server.pem"
# read by nginx's master (root) in the guest only
install -m 0600 "$work/good.key" "$dir/tls-server.key"
