#!/bin/sh
# `make bench`: sora vs Dovecot 2.3 side by side on this machine (bench/bench.py).
# Installs the bench's packages (bench/deps.sh), builds a release sora, runs
# every benchmark against both servers, writes bench/results/<date>.{json,md}
# and PNG charts.
#   BENCH_QUICK=1   reduced sizes, under 3 minutes (CI runs this)
#   SORA_BIN        use this sora instead of building one (sora-admin next to it)
#   BENCH_BUILD     release build directory (default build-release)
#   BENCH_ONLY      comma list: mixed,lmtp,pop3,login,push,idle,big,s3
#   BENCH_NOISE     a sentence about the machine's other load, put in the report
#   BENCH_PERF=1    also profile sora (perf record -g) in two extra, unrecorded runs
# Exit status: non-zero only when a script or server broke, never for a number.
set -eu
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "bench: run as root (Dovecot's own instance, a mail user)" >&2; exit 1; }
bench/deps.sh
if [ -z "${SORA_BIN:-}" ]; then
	build="${BENCH_BUILD:-build-release}"
	[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null
	# only the two binaries: the bench does not need the unit tests
	nice ninja -C "$build" sora sora-admin >/dev/null
	SORA_BIN="$PWD/$build/sora"
fi
export SORA_BIN
exec /usr/bin/python3 bench/bench.py
