#!/bin/sh
# Storage figures (numbers, not pass/fail): deliveries/s on fs, S3 and S3 with
# encryption (an s3rver started here, on loopback, in a temp dir), then the
# 100,000-message mailbox timings on SQLite, and on PostgreSQL when
# STORE_TEST_PG_CONNINFO is set.
#   BUILD      build directory (default: build)
#   MESSAGES   deliveries per mode (default 2000), THREADS (default 4)
#   MAILBOX    messages in the big mailbox (default 100000)
set -eu
cd "$(dirname "$0")/.."
: "${BUILD:=build}" "${MESSAGES:=2000}" "${THREADS:=4}" "${MAILBOX:=100000}"
BENCH="$BUILD/src/deliver/store_bench"
[ -x "$BENCH" ] || { echo "store.sh: $BENCH not built (ninja -C $BUILD)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/store-bench.XXXXXX)
s3pid=
cleanup() {
	[ -n "$s3pid" ] && kill "$s3pid" 2>/dev/null && wait "$s3pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
scripts/s3rver.sh install >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/s3"
scripts/s3rver.sh run fork "$port" "$tmp/s3" >"$tmp/s3.log" 2>&1 &
s3pid=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "store.sh: s3rver did not start" >&2; cat "$tmp/s3.log" >&2; exit 1; }
	sleep 0.1
done
mkdir -p "$tmp/data"
"$BENCH" --s3 "127.0.0.1:$port" --messages "$MESSAGES" --threads "$THREADS" \
	--mailbox "$MAILBOX" --dir "$tmp/data"
