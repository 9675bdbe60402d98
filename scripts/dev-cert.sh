#!/bin/sh
# Makes a self-signed development certificate for localhost in DIR
# (default data/): DIR/dev-cert.pem and DIR/dev-key.pem. Kept if present.
set -eu
dir=${1:-data}
mkdir -p "$dir"
[ -s "$dir/dev-cert.pem" ] && [ -s "$dir/dev-key.pem" ] && exit 0
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
	-keyout "$dir/dev-key.pem" -out "$dir/dev-cert.pem" 2>/dev/null
chmod 600 "$dir/dev-key.pem"
echo "dev-cert: created $dir/dev-cert.pem (self-signed, CN=localhost)"
