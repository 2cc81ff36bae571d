#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the monitoring store's tests and for CI.
#
#   scripts/postgres.sh start DIR   initialise (first time) and start a cluster in DIR, create the
#                                   database pellucid_test, and print its SQLAlchemy URL on stdout
#   scripts/postgres.sh stop DIR    stop the cluster in DIR (its files stay; delete DIR to discard)
#   scripts/postgres.sh status DIR  exit 0 when the cluster in DIR is running
#
# Only the URL goes to stdout and nothing is exported, so the caller decides what to do with it:
#
#   export PELLUCID_TEST_POSTGRES_URL=$(scripts/postgres.sh start /tmp/pellucid-pg)
#   python -m pytest tests/monitor -q
#   scripts/postgres.sh stop /tmp/pellucid-pg
#
# The cluster trusts every local connection (no password), listens on 127.0.0.1 only, on port
# 55432 (override with PELLUCID_PG_PORT), and runs with fsync off: it is for tests, never for data.
# When the PostgreSQL binaries are missing they are installed with apt-get (needs root).
# Run as root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

PORT="${PELLUCID_PG_PORT:-55432}"
HOST=127.0.0.1
DB=pellucid_test

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() { die "usage: $0 start|stop|status DIR"; }

find_bin() {
    local initdb
    initdb=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$initdb" ] && dirname "$initdb"
}

ensure_binaries() {
    local bin
    bin=$(find_bin || true)
    if [ -z "$bin" ]; then
        [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and installing it needs root: apt-get install -y postgresql"
        log "installing postgresql with apt-get"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
        bin=$(find_bin || true)
        [ -n "$bin" ] || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb was found"
    fi
    echo "$bin"
}

# Run a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || usage
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"; sock="$dir/socket"

case "$cmd" in
start)
    bin=$(ensure_binaries)
    mkdir -p "$data" "$sock"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist; install the postgresql package"
        chown postgres:postgres "$data" "$sock"
        chmod 700 "$data"
        # mktemp -d makes 0700 folders: let the server's user through (traverse only, no listing)
        runuser -u postgres -- test -x "$dir" || chmod a+x "$dir"
        runuser -u postgres -- test -x "$dir" \
            || die "user 'postgres' cannot enter $dir (one of its parents is closed); choose a directory such as /tmp/pellucid-pg"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null \
            || die "initdb failed in $data"
    fi
    if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
            -o "-k $sock -p $PORT -h $HOST -c fsync=off" start >/dev/null \
            || die "the server did not start; see $data/server.log (is port $PORT taken?)"
    fi
    exists=$("$bin/psql" -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'")
    [ "$exists" = "1" ] || "$bin/createdb" -h "$HOST" -p "$PORT" -U postgres "$DB"
    echo "postgresql+psycopg://postgres@$HOST:$PORT/$DB"
    ;;
stop)
    bin=$(find_bin || true)
    [ -n "$bin" ] || die "PostgreSQL is not installed; nothing to stop"
    if [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        log "stopped the cluster in $data"
    else
        log "no running cluster in $data"
    fi
    ;;
status)
    bin=$(find_bin || true)
    [ -n "$bin" ] && [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
    ;;
*)
    usage
    ;;
esac
