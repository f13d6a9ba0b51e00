#!/usr/bin/env bash
# Runs the side-by-side benchmark on this machine and saves the report under
# bench/results/.
#
#   bench/run.sh                 # the full run (about 40 minutes on 2 cores)
#   bench/run.sh --quick         # every table with short windows (a few minutes)
#   bench/run.sh --no-postgres   # without the availsync-on-PostgreSQL rows
#   bench/run.sh --quick --only claim-finish --systems availsync,etcd
#   bench/run.sh --only waiting --systems availsync,availsync-pg1,availsync-pg2
#
# Every other argument goes to availsync-bench (see its --help).
#
# - Installs etcd-server and redis-server (and PostgreSQL, unless
#   --no-postgres) from Debian's packages when they are missing.
# - The bench starts a fresh etcd, redis-server and availsync-server for
#   every measurement, on free loopback ports with their data in temporary
#   directories, and stops each one afterwards. Nothing already running is
#   touched, and no service is enabled.
# - PostgreSQL: a throw-away cluster in a temporary directory on a free
#   loopback port (fsync and synchronous_commit at their defaults, on),
#   stopped and deleted on exit; each availsync-pg run gets a schema of its
#   own.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

postgres=1
quick=0
args=()
for arg in "$@"; do
    case "$arg" in
        --no-postgres) postgres=0 ;;
        --quick) quick=1; args+=("$arg") ;;
        *) args+=("$arg") ;;
    esac
done

as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo)

missing=()
command -v etcd > /dev/null 2>&1 || missing+=(etcd-server)
command -v redis-server > /dev/null 2>&1 || missing+=(redis-server)
postgres_bin() {
    ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1
}
if [ "$postgres" = 1 ] && [ -z "$(postgres_bin)" ]; then
    missing+=(postgresql)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing ${missing[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    # policy-rc.d refuses service starts: the packages must not start their
    # own etcd, Redis or PostgreSQL in the background.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" > /dev/null
        "${as_root[@]}" chmod 755 "$policy"
        added_policy=1
    fi
    "${as_root[@]}" apt-get install -y -qq "${missing[@]}" > /dev/null
    [ "$added_policy" = 0 ] || "${as_root[@]}" rm -f "$policy"
fi

pg_dir=""
cleanup() {
    if [ -n "$pg_dir" ]; then
        local as=()
        [ "$(id -u)" != 0 ] || as=(runuser -u postgres --)
        "${as[@]}" "$(postgres_bin)/pg_ctl" --pgdata "$pg_dir/data" --mode fast stop > /dev/null 2>&1 || true
        rm -rf "$pg_dir"
    fi
}
trap cleanup EXIT

if [ "$postgres" = 1 ]; then
    bin="$(postgres_bin)"
    # PostgreSQL refuses to run as root: run it as the packages' user.
    as=()
    [ "$(id -u)" != 0 ] || as=(runuser -u postgres --)
    pg_dir="$(mktemp -d /tmp/availsync-bench-pg.XXXXXX)"
    chmod 755 "$pg_dir"
    [ "$(id -u)" != 0 ] || chown postgres "$pg_dir"
    pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${as[@]}" "$bin/initdb" --pgdata "$pg_dir/data" --username availsync \
        --auth trust --encoding UTF8 --no-instructions > "$pg_dir/initdb.log"
    "${as[@]}" "$bin/pg_ctl" --pgdata "$pg_dir/data" --log "$pg_dir/server.log" \
        --options "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pg_dir -c max_connections=200" \
        --wait start > /dev/null
    "${as[@]}" "$bin/createdb" --host 127.0.0.1 --port "$pg_port" --username availsync availsync
    export AVAILSYNC_BENCH_DATABASE_URL="postgres://availsync@127.0.0.1:$pg_port/availsync"
    AVAILSYNC_BENCH_DATABASE_PID="$(head -n 1 "$pg_dir/data/postmaster.pid")"
    export AVAILSYNC_BENCH_DATABASE_PID
    echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port ($pg_dir)"
fi

echo "==> building availsync-server and availsync-bench (release)"
cargo build --release -p availsync-server -p availsync-bench

echo "==> machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)"
mkdir -p bench/results
mode=full
[ "$quick" = 0 ] || mode=quick
out="bench/results/$(date -u +%Y-%m-%d-%H%M)-$mode.md"
target/release/availsync-bench "${args[@]}" --out "$out"
echo "==> saved $out"
