#!/bin/bash
# A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a loopback
# port, owned by the user "postgres" when run as root (initdb refuses root),
# else by the calling user. Idempotent and safe to call from parallel tests
# (a lock file serialises start/stop).
#
#   scripts/pg.sh start            start (initdb first if needed); prints the conninfo
#   scripts/pg.sh stop             pg_ctl stop -m fast (no-op when not running)
#   scripts/pg.sh status           exit 0 when running
#   scripts/pg.sh conninfo [DB]    the conninfo (of DB, default "postgres")
#   scripts/pg.sh createdb DB      start, create DB if missing, print its conninfo
#   scripts/pg.sh dropdb DB
#   scripts/pg.sh destroy          stop and remove the cluster directory
#   scripts/pg.sh run CMD [ARG..]  start, create a fresh database, run CMD with
#                                  SORA_PG_CONNINFO and STORE_TEST_PG_CONNINFO set
#                                  to it, drop it afterwards; CMD's exit status
#
# Environment: SORA_PG_DIR (default /tmp/sora-pg-<uid>), SORA_PG_PORT
# (default 15432). Without PostgreSQL installed, `start` and `run` exit 77
# (the "skipped" code of meson and automake) with a message, unless CI is
# set: then they fail (exit 1), so CI never silently skips the tests.
set -euo pipefail

DIR=${SORA_PG_DIR:-/tmp/sora-pg-$(id -u)}
PORT=${SORA_PG_PORT:-15432}
PGBIN=${SORA_PG_BIN:-}
if [ -z "$PGBIN" ]; then
	for d in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
		[ -x "$d/initdb" ] && PGBIN=$d && break
	done
fi

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

missing() {
	if [ -n "${CI:-}" ]; then
		die "PostgreSQL is not installed (CI is set: failing, not skipping); run scripts/deps.sh"
	fi
	echo "pg.sh: PostgreSQL is not installed (apt-get install postgresql libpq-dev): skipping" >&2
	exit 77
}

# Runs a PostgreSQL tool as the cluster's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

conninfo() {
	echo "host=127.0.0.1 port=$PORT user=postgres dbname=${1:-postgres}"
}

running() {
	[ -n "$PGBIN" ] && [ -f "$DIR/data/PG_VERSION" ] &&
		as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

psql_cmd() {
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"
}

start() {
	[ -n "$PGBIN" ] || missing
	mkdir -p "$DIR"
	[ "$(id -u)" = 0 ] && chown postgres "$DIR"
	exec 9>"$DIR.lock"
	flock 9
	if ! running; then
		if [ ! -f "$DIR/data/PG_VERSION" ]; then
			rm -rf "$DIR/data"
			as_owner mkdir -p "$DIR/data" "$DIR/sock"
			as_owner "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 \
				--locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 ||
				{ cat "$DIR/initdb.log" >&2; die "initdb failed"; }
		fi
		as_owner mkdir -p "$DIR/sock"
		# fsync off: a throwaway cluster; the tests kill sora, not the server
		as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/data/server.log" -w -t 30 \
			-o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR/sock -c fsync=off -c full_page_writes=off -c max_connections=300" \
			start >/dev/null ||
			{ tail -20 "$DIR/data/server.log" >&2; die "pg_ctl start failed (port $PORT)"; }
	fi
	for _ in $(seq 1 50); do
		"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
		sleep 0.1
	done
	flock -u 9
}

stop() {
	[ -n "$PGBIN" ] || return 0
	[ -d "$DIR" ] || return 0
	exec 9>"$DIR.lock"
	flock 9
	if running; then
		as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
	fi
	flock -u 9
}

createdb() {
	local db=$1
	[[ "$db" =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name '$db'"
	start
	if [ "$(psql_cmd -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
		psql_cmd -d postgres -c "CREATE DATABASE $db" 2>/dev/null ||
			[ "$(psql_cmd -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ] ||
			die "cannot create database $db"
	fi
}

dropdb() {
	local db=$1
	[[ "$db" =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name '$db'"
	running || return 0
	psql_cmd -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start)
	start
	conninfo
	;;
stop) stop ;;
status) running ;;
conninfo) conninfo "${1:-}" ;;
createdb)
	[ $# -eq 1 ] || die "usage: pg.sh createdb DB"
	createdb "$1"
	conninfo "$1"
	;;
dropdb)
	[ $# -eq 1 ] || die "usage: pg.sh dropdb DB"
	dropdb "$1"
	;;
destroy)
	stop
	rm -rf "$DIR" "$DIR.lock"
	;;
run)
	[ $# -ge 1 ] || die "usage: pg.sh run CMD [ARG...]"
	start
	db="sora_test_$$_$RANDOM"
	createdb "$db"
	export SORA_PG_CONNINFO STORE_TEST_PG_CONNINFO
	SORA_PG_CONNINFO=$(conninfo "$db")
	STORE_TEST_PG_CONNINFO=$SORA_PG_CONNINFO
	rc=0
	"$@" || rc=$?
	dropdb "$db" || true
	exit $rc
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
