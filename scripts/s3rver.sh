#!/bin/sh
# S3 test servers for the blob tests (spec/dependencies.md §2):
#   v3    npm s3rver@3.7.1: checks the access key only, not signatures
#   fork  npm @20minutes/s3rver@5.0.0: verifies SigV4 (a wrong secret → 403)
# Both: credentials S3RVER/S3RVER, bucket "mail", 127.0.0.1 only.
#
#   scripts/s3rver.sh install                  install both once (idempotent)
#   scripts/s3rver.sh run v3|fork PORT DIR     run one in the foreground (exec:
#                                              the caller's pid is the server's)
#   scripts/s3rver.sh start V3_PORT FORK_PORT DIR
#                                              both in the background, wait until
#                                              they answer; pids in DIR/*.pid
#   scripts/s3rver.sh stop DIR                 stop what `start` started
#
# Installed into $SORA_S3RVER_DIR, default $HOME/.cache/sora-s3rver (npm
# registry needed the first time only). NODE_OPTIONS=--openssl-legacy-provider:
# s3rver's continuation tokens use DES, which Node 20's OpenSSL 3 disables
# (ListObjectsV2 pagination → 500 without it).
set -eu

CACHE="${SORA_S3RVER_DIR:-${HOME:-/tmp}/.cache/sora-s3rver}"
V3_VERSION=3.7.1
FORK_VERSION=5.0.0

die() {
	echo "s3rver.sh: $*" >&2
	exit 1
}

install_one() { # dir package
	dir="$CACHE/$1"
	[ "$(cat "$dir/.installed" 2>/dev/null)" = "$2" ] && return 0
	command -v npm >/dev/null 2>&1 || die "npm not found (Node.js is needed for the S3 test servers)"
	rm -rf "$dir"
	mkdir -p "$dir"
	(
		cd "$dir"
		printf '{ "name": "sora-s3rver-%s", "private": true }\n' "$1" >package.json
		npm install --no-audit --no-fund --loglevel=error "$2" >npm.log 2>&1 ||
			{ cat npm.log >&2; exit 1; }
	) || die "npm install $2 failed"
	echo "$2" >"$dir/.installed"
}

install() {
	mkdir -p "$CACHE"
	# one installer at a time (parallel test runs)
	exec 9>"$CACHE/.lock"
	flock 9
	install_one v3 "s3rver@$V3_VERSION"
	install_one fork "@20minutes/s3rver@$FORK_VERSION"
	# the fork's package has no usable bin: a 2-line launcher
	cat >"$CACHE/fork/run.js" <<'EOF'
const { parseAsync } = require('@20minutes/s3rver/lib/cli.js');
parseAsync(['node', 's3rver', ...process.argv.slice(2)]).catch(e => { console.error(e); process.exit(1); });
EOF
	exec 9>&-
}

run() { # kind port dir
	[ $# -eq 3 ] || die "usage: run v3|fork PORT DIR"
	install
	mkdir -p "$3"
	export NODE_OPTIONS=--openssl-legacy-provider
	case "$1" in
	v3) exec node "$CACHE/v3/node_modules/s3rver/bin/s3rver.js" \
		-d "$3" -a 127.0.0.1 -p "$2" --configure-bucket mail --silent ;;
	fork) exec node "$CACHE/fork/run.js" \
		-d "$3" -a 127.0.0.1 -p "$2" --configure-bucket mail --silent ;;
	*) die "unknown server kind: $1 (v3 or fork)" ;;
	esac
}

wait_port() { # port pid
	i=0
	while [ $i -lt 100 ]; do
		if curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || die "server on port $1 exited"
		sleep 0.1
		i=$((i + 1))
	done
	die "server on port $1 did not answer within 10 s"
}

start() { # v3_port fork_port dir
	[ $# -eq 3 ] || die "usage: start V3_PORT FORK_PORT DIR"
	install
	mkdir -p "$3"
	"$0" run v3 "$1" "$3/v3" >"$3/v3.log" 2>&1 &
	echo $! >"$3/v3.pid"
	"$0" run fork "$2" "$3/fork" >"$3/fork.log" 2>&1 &
	echo $! >"$3/fork.pid"
	wait_port "$1" "$(cat "$3/v3.pid")"
	wait_port "$2" "$(cat "$3/fork.pid")"
	echo "s3rver 3.7.1 on 127.0.0.1:$1, @20minutes/s3rver on 127.0.0.1:$2"
}

stop() { # dir
	[ $# -eq 1 ] || die "usage: stop DIR"
	for f in "$1/v3.pid" "$1/fork.pid"; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
install) install ;;
run) run "$@" ;;
start) start "$@" ;;
stop) stop "$@" ;;
*) die "usage: $0 install | run v3|fork PORT DIR | start V3_PORT FORK_PORT DIR | stop DIR" ;;
esac
