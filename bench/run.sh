#!/bin/sh
# `make bench`: the benchmarks that exist so far. Each prints its figures;
# the exit status is non-zero when a benchmark could not do what it was
# asked (e.g. not every connection was served).
#   SORA_BIN    server binary (default: build/sora)
#   IDLE_PLAIN  idle plaintext IMAP connections (default 10000)
#   IDLE_TLS    idle implicit-TLS IMAP connections (default 5000)
# Extra arguments go to idle_connections.py (e.g. --plain 50000 --json).
set -eu
cd "$(dirname "$0")/.."
: "${SORA_BIN:=$PWD/build/sora}"
export SORA_BIN
echo "== logins (sora: $SORA_BIN)" && /usr/bin/python3 bench/login.py
echo "== idle connections (sora: $SORA_BIN)"
exec /usr/bin/python3 bench/idle_connections.py "$@"
