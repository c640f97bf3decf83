# test/lib.sh: a throwaway PostgreSQL 15 cluster for tests, the demo and the benchmark.
#
# Sourced, not run.  cluster_start makes a cluster in a fresh directory under
# /tmp, owned by the postgres OS user when we are root (the server refuses to
# run as root), reachable only through a unix socket in that directory
# (listen_addresses is empty: no TCP at all), with stylist_chat preloaded.
# Its port is $STYLIST_CHAT_PORT (default 5499), so that two runs on one
# machine can each have a cluster.  It exports PGHOST, PGPORT and PGUSER for every client that follows, and
# arranges for cluster_stop to run on exit, whatever the exit.

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config)
PG_BINDIR=$("$PG_CONFIG" --bindir)
CLUSTER_DIR=

# run a command as the owner of the cluster
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cluster_stop() {
    [ -n "$CLUSTER_DIR" ] || return 0
    if [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$CLUSTER_DIR"
    CLUSTER_DIR=
}

# cluster_start [extra postgresql.conf lines...]
cluster_start() {
    CLUSTER_DIR=$(mktemp -d /tmp/stylist_chat.XXXXXX)
    trap cluster_stop EXIT
    trap 'exit 130' INT TERM
    chmod 755 "$CLUSTER_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$CLUSTER_DIR"

    if ! as_pg "$PG_BINDIR/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust \
            -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1; then
        cat "$CLUSTER_DIR/initdb.log" >&2
        return 1
    fi
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$CLUSTER_DIR'"
        echo "port = ${STYLIST_CHAT_PORT:-5499}"
        echo "shared_preload_libraries = 'stylist_chat'"
        echo "max_connections = 150"
        echo "fsync = off"
        echo "log_min_messages = warning"
        for line in "$@"; do echo "$line"; done
    } >>"$CLUSTER_DIR/data/postgresql.conf"

    if ! as_pg "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
            -w -t 60 start >/dev/null; then
        cat "$CLUSTER_DIR/server.log" >&2
        return 1
    fi
    export PGHOST=$CLUSTER_DIR PGPORT=${STYLIST_CHAT_PORT:-5499} PGUSER=postgres
    export PATH="$PG_BINDIR:$PATH"
    # the test superuser connects directly, never through a pooler: it may
    # keep an identity for the session (act_as(..., for_session => true))
    psql -X -q -d postgres -c "ALTER ROLE postgres SET stylist_chat.session_identity = on" \
        >/dev/null || return 1
}

# build and install the extension; run test/deps.sh before sourcing this file
build_and_install() {
    make -s PG_CONFIG="$PG_CONFIG" COPT=-Werror >/dev/null || return 1
    make -s PG_CONFIG="$PG_CONFIG" install >/dev/null || return 1
}
