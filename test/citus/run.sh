#!/usr/bin/env bash
# test/citus/run.sh (make test-citus): stylist_chat on a Citus cluster of
# three nodes on this machine.  Not part of make test.
#
# Citus 13.2 (the last release line for PostgreSQL 15) is not packaged by
# Debian 12: its source is read from CITUS_SOURCE (default
# ../shared/vendor/citus beside the repository: citus-13.2.2.tar.gz and
# pg15-have_createdb_privilege.patch, without which it does not compile
# against current 15.x headers).  It is built once and its staged install
# kept in STYLIST_CHAT_CACHE (default /var/cache/stylist_chat), keyed by
# the Citus and PostgreSQL versions; every run installs it from there (as
# root: it goes beside the server's own extensions).  A first build takes
# about 80 s on 2 cores; the rest of a run about 20 s.
#
# The cluster: a coordinator and two workers, each its own throwaway
# PostgreSQL (as the postgres OS user), listening on 127.0.0.1 only (Citus
# connects its nodes over TCP) on ports STYLIST_CHAT_PORT+1..+3 (default
# 5500-5502), their unix sockets in their own directories, with
# shared_preload_libraries = 'citus,stylist_chat'; all removed at the end,
# whatever the end.
#
# What it checks today (the tables are not distributed yet):
#   - the Citus built is the one wanted, and the coordinator sees its two
#     workers;
#   - CREATE EXTENSION stylist_chat on the coordinator is propagated to the
#     workers by Citus;
#   - on the coordinator, with the tables local, a conversation works: a
#     chat, two messages, history(); the send takes the PL/pgSQL path
#     (chat._send_message_sql()), since the send in C writes local tables
#     directly and steps aside wherever Citus is installed;
#   - the relay worker runs on the coordinator and relays what was sent.
#
# Output: TAP, then "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
REPO=$PWD
CITUS_VERSION=13.2.2
CITUS_SOURCE=${CITUS_SOURCE:-$REPO/../shared/vendor/citus}
CACHE=${STYLIST_CHAT_CACHE:-/var/cache/stylist_chat}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BASE_PORT=${STYLIST_CHAT_PORT:-5499}
WORK=

source test/tap.sh
bail() {
    echo "Bail out! $*"
    [ -n "$WORK" ] && tail -5 "$WORK/err" 2>/dev/null | sed 's/^/#   /'
    echo "$n passed, $((failed + 1)) failed"
    exit 1
}

# ---------------------------------------------------------------------------
# Citus: built once, installed from the cache
# ---------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || bail "run as root: Citus is installed beside the server's extensions"
bash test/deps.sh || bail "test/deps.sh"
build_deps=(liblz4-dev libzstd-dev libkrb5-dev flex)
missing=()
for p in "${build_deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || bail "cannot install ${missing[*]}"
fi
PGVERSION=$("$PG_CONFIG" --version | awk '{ print $2 }')
STAGE=$CACHE/citus-$CITUS_VERSION-pg$PGVERSION
WORK=$(mktemp -d /tmp/stylist_chat_citus.XXXXXX)
chmod 755 "$WORK"
if [ ! -f "$STAGE.complete" ]; then
    [ -f "$CITUS_SOURCE/citus-$CITUS_VERSION.tar.gz" ] && [ -f "$CITUS_SOURCE/pg15-have_createdb_privilege.patch" ] \
        || bail "no Citus source in $CITUS_SOURCE (set CITUS_SOURCE)"
    echo "# building Citus $CITUS_VERSION against PostgreSQL $PGVERSION (once; kept in $STAGE)"
    start=$SECONDS
    rm -rf "$STAGE" "$STAGE.complete"
    mkdir -p "$STAGE" "$WORK/build"
    tar xzf "$CITUS_SOURCE/citus-$CITUS_VERSION.tar.gz" -C "$WORK/build" || bail "cannot unpack Citus"
    (
        cd "$WORK/build/citus-$CITUS_VERSION" &&
        patch -s -p1 <"$CITUS_SOURCE/pg15-have_createdb_privilege.patch" &&
        ./configure -q --without-libcurl PG_CONFIG="$PG_CONFIG" &&
        make -s -j"$(nproc)" &&
        make -s install DESTDIR="$STAGE"
    ) >"$WORK/err" 2>&1 || bail "Citus does not build (log: $WORK/err)"
    touch "$STAGE.complete"
    echo "# built in $((SECONDS - start)) s"
fi
cp -a "$STAGE/." / || bail "cannot install Citus from $STAGE"
make -s PG_CONFIG="$PG_CONFIG" >"$WORK/err" 2>&1 && make -s PG_CONFIG="$PG_CONFIG" install >>"$WORK/err" 2>&1 \
    || bail "stylist_chat does not build"

# ---------------------------------------------------------------------------
# three nodes
# ---------------------------------------------------------------------------
BINDIR=$("$PG_CONFIG" --bindir)
as_pg() { runuser -u postgres -- "$@"; }
NODES=(coordinator worker1 worker2)
port_of() { echo $((BASE_PORT + 1 + $1)); }
cleanup() {
    local i
    for i in 0 1 2; do
        [ -f "$WORK/${NODES[$i]}/data/postmaster.pid" ] &&
            as_pg "$BINDIR/pg_ctl" -D "$WORK/${NODES[$i]}/data" -m immediate -w stop >/dev/null 2>&1
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for i in 0 1 2; do
    d=$WORK/${NODES[$i]}
    mkdir -p "$d" && chown postgres: "$d"
    as_pg "$BINDIR/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >>"$WORK/err" 2>&1 \
        || bail "initdb ${NODES[$i]}"
    cat >>"$d/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $(port_of $i)
unix_socket_directories = '$d'
shared_preload_libraries = 'citus,stylist_chat'
fsync = off
max_connections = 100
log_min_messages = warning
EOF
    as_pg "$BINDIR/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null 2>>"$WORK/err" \
        || { tail -5 "$d/server.log" >>"$WORK/err"; bail "${NODES[$i]} does not start"; }
done
# on NODE (0 coordinator, 1, 2 workers): psql -c SQL
on() {
    local i=$1; shift
    PATH=$BINDIR:$PATH psql -X -qAt -v ON_ERROR_STOP=1 -h "$WORK/${NODES[$i]}" -p "$(port_of "$i")" \
        -U postgres -d postgres -c "$1" 2>>"$WORK/err"
}
for i in 0 1 2; do
    on "$i" "ALTER ROLE postgres SET stylist_chat.session_identity = on" >/dev/null || bail "role setting"
    on "$i" "CREATE EXTENSION citus" >/dev/null || bail "CREATE EXTENSION citus on ${NODES[$i]}"
done
on 0 "SELECT citus_set_coordinator_host('127.0.0.1', $(port_of 0))" >/dev/null || bail "coordinator host"
for i in 1 2; do
    on 0 "SELECT citus_add_node('127.0.0.1', $(port_of "$i"))" >/dev/null || bail "citus_add_node ${NODES[$i]}"
done

# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------
is "$(on 0 "SELECT citus_version()" | grep -o '^Citus [0-9.]*')" "Citus $CITUS_VERSION" \
    "Citus $CITUS_VERSION runs on the coordinator"
is "$(on 0 "SELECT count(*) FROM citus_get_active_worker_nodes()")" 2 "the coordinator sees its two workers"

on 0 "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION stylist_chat"
version=$(on 0 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")
is "$(on 1 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'") $(on 2 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")" \
    "$version $version" "CREATE EXTENSION stylist_chat on the coordinator is propagated to both workers ($version)"

CUST=c0000000-0000-4000-8000-000000000001
STYL=5e000000-0000-4000-8000-000000000001
on 0 "SELECT chat.upsert_profile('$CUST', 'customer', 'Ann'), chat.upsert_profile('$STYL', 'stylist', 'Leo')" >/dev/null \
    || bail "profiles"
out=$(on 0 "SET track_functions = 'pl';
            BEGIN;
            SELECT chat.act_as('$CUST');
            SELECT chat.send_message(chat.chat_with('$STYL'), 'Is Friday still fine?');
            SELECT chat.send_message(chat.pair_chat_id('$CUST', '$STYL'), 'At 3, I mean');
            SELECT calls FROM pg_stat_xact_user_functions
             WHERE funcid = 'chat._send_message_sql(uuid,text,uuid,uuid,jsonb,bigint)'::regprocedure;
            COMMIT;")
is "$(echo "$out" | tr '\n' ' ')" " 1 2 2 " \
    "on the coordinator, tables local: two sends, seq 1 and 2, both through the PL/pgSQL send (the send in C steps aside with Citus)"
is "$(on 0 "SELECT chat.act_as('$STYL'); SELECT string_agg(body, ' / ' ORDER BY seq) FROM chat.history(chat.pair_chat_id('$CUST', '$STYL'))" | tail -1)" \
    "Is Friday still fine? / At 3, I mean" "... and the stylist reads them with history()"
relayed() { [ "$(on 0 "SELECT running AND backlog = 0 AND events_relayed >= 3 FROM chat.relay_status()")" = t ]; }
for _ in $(seq 100); do relayed && break; sleep 0.1; done
relayed && pass "the relay worker runs on the coordinator and relayed the chat and its two messages" \
    || fail "the relay worker runs on the coordinator and relayed the chat and its two messages"

echo "$n passed, $failed failed"
[ "$failed" -eq 0 ]
