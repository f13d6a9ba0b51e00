# Sourced by .ci/run: a private PostgreSQL server for the tests that need a
# shared database. postgres_start installs PostgreSQL from Debian's packages
# when missing, initialises a throw-away cluster in a temporary directory on
# a free loopback port, and exports AVAILSYNC_TEST_DATABASE_URL;
# postgres_stop stops it and deletes the directory. Nothing outside that
# directory is touched, and a PostgreSQL already running is left alone.

postgres_bin() {
    ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1
}

postgres_start() {
    if [ -z "$(postgres_bin)" ]; then
        echo "installing PostgreSQL from Debian's packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql > /dev/null
    fi
    local bin
    bin="$(postgres_bin)"
    # PostgreSQL refuses to run as root: run it as the packages' user.
    local as=()
    if [ "$(id -u)" = 0 ]; then
        as=(runuser -u postgres --)
    fi
    PG_CI_DIR="$(mktemp -d /tmp/availsync-pg.XXXXXX)"
    chmod 755 "$PG_CI_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_CI_DIR"
    PG_CI_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${as[@]}" "$bin/initdb" --pgdata "$PG_CI_DIR/data" --username availsync \
        --auth trust --encoding UTF8 --no-instructions > "$PG_CI_DIR/initdb.log"
    "${as[@]}" "$bin/pg_ctl" --pgdata "$PG_CI_DIR/data" --log "$PG_CI_DIR/server.log" \
        --options "-c listen_addresses=127.0.0.1 -c port=$PG_CI_PORT -c unix_socket_directories=$PG_CI_DIR -c max_connections=300 -c fsync=on" \
        --wait start > /dev/null
    "${as[@]}" "$bin/createdb" --host 127.0.0.1 --port "$PG_CI_PORT" --username availsync availsync
    export AVAILSYNC_TEST_DATABASE_URL="postgres://availsync@127.0.0.1:$PG_CI_PORT/availsync"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_CI_PORT ($PG_CI_DIR)"
}

postgres_stop() {
    [ -n "${PG_CI_DIR:-}" ] || return 0
    local as=()
    if [ "$(id -u)" = 0 ]; then
        as=(runuser -u postgres --)
    fi
    "${as[@]}" "$(postgres_bin)/pg_ctl" --pgdata "$PG_CI_DIR/data" --mode fast stop > /dev/null 2>&1 || true
    rm -rf "$PG_CI_DIR"
    unset PG_CI_DIR AVAILSYNC_TEST_DATABASE_URL
}
