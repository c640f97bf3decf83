# test/citus/cluster.sh: a Citus cluster on this machine, for
# test/citus/run.sh (make test-citus) and part 11 of test/bench/run.sh.
# Sourced from the repository root by a script that defines bail MESSAGE
# and, before calling the functions, WORK (a directory of its own, removed
# by citus_stop) and BASE_PORT.
#
#   citus_install       Citus built once and installed, stylist_chat built
#                       and installed (as root)
#   citus_start FSYNC   four servers, as the postgres OS user, each on
#                       127.0.0.1 (Citus connects its nodes over TCP) and
#                       a unix socket in its own directory: the coordinator
#                       (port BASE_PORT+1, in Citus's metadata) and two
#                       workers (+2, +3) with citus and stylist_chat
#                       preloaded, citus created and the workers added; and
#                       a plain server (+4) with stylist_chat alone, to
#                       compare with; fsync as FSYNC (on or off)
#   citus_add_worker FSYNC
#                       a third worker (node 4, port +5) started and added
#   citus_stop          every server stopped, WORK removed
#   on NODE SQL         psql -c SQL as postgres in database postgres on
#                       NODE (0 coordinator, 1 and 2 workers, 3 the plain
#                       server, 4 the added worker), unaligned, errors
#                       appended to WORK/err
#   citus_port_of NODE  its port
#
# Citus 13.2 (the last release line for PostgreSQL 15) is not packaged by
# Debian 12: its source is read from CITUS_SOURCE (default
# ../shared/vendor/citus beside the repository: citus-13.2.2.tar.gz and
# pg15-have_createdb_privilege.patch, without which it does not compile
# against current 15.x headers).  It is built once and its staged install
# kept in STYLIST_CHAT_CACHE (default /var/cache/stylist_chat), keyed by
# the Citus and PostgreSQL versions; every run installs it from there
# beside the server's own extensions.

CITUS_VERSION=13.2.2
CITUS_SOURCE=${CITUS_SOURCE:-$PWD/../shared/vendor/citus}
CITUS_CACHE=${STYLIST_CHAT_CACHE:-/var/cache/stylist_chat}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
NODES=(coordinator worker1 worker2 single worker3)

citus_port_of() { echo $((BASE_PORT + 1 + $1)); }

as_pg() { runuser -u postgres -- "$@"; }

citus_install() {
    local build_deps=(liblz4-dev libzstd-dev libkrb5-dev flex) missing=() p pgversion stage start
    for p in "${build_deps[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || bail "cannot install ${missing[*]}"
    fi
    pgversion=$("$PG_CONFIG" --version | awk '{ print $2 }')
    stage=$CITUS_CACHE/citus-$CITUS_VERSION-pg$pgversion
    if [ ! -f "$stage.complete" ]; then
        [ -f "$CITUS_SOURCE/citus-$CITUS_VERSION.tar.gz" ] && [ -f "$CITUS_SOURCE/pg15-have_createdb_privilege.patch" ] \
            || bail "no Citus source in $CITUS_SOURCE (set CITUS_SOURCE)"
        echo "# building Citus $CITUS_VERSION against PostgreSQL $pgversion (once; kept in $stage)"
        start=$SECONDS
        rm -rf "$stage" "$stage.complete"
        mkdir -p "$stage" "$WORK/build"
        tar xzf "$CITUS_SOURCE/citus-$CITUS_VERSION.tar.gz" -C "$WORK/build" || bail "cannot unpack Citus"
        (
            cd "$WORK/build/citus-$CITUS_VERSION" &&
            patch -s -p1 <"$CITUS_SOURCE/pg15-have_createdb_privilege.patch" &&
            ./configure -q --without-libcurl PG_CONFIG="$PG_CONFIG" &&
            make -s -j"$(nproc)" &&
            make -s install DESTDIR="$stage"
        ) >"$WORK/err" 2>&1 || bail "Citus does not build (log: $WORK/err)"
        touch "$stage.complete"
        echo "# built in $((SECONDS - start)) s"
    fi
    cp -a "$stage/." / || bail "cannot install Citus from $stage"
    make -s PG_CONFIG="$PG_CONFIG" >"$WORK/err" 2>&1 && make -s PG_CONFIG="$PG_CONFIG" install >>"$WORK/err" 2>&1 \
        || bail "stylist_chat does not build"
}

on() {
    local i=$1
    shift
    PATH=$BINDIR:$PATH psql -X -qAt -v ON_ERROR_STOP=1 -h "$WORK/${NODES[$i]}" -p "$(citus_port_of "$i")" \
        -U postgres -d postgres -c "$1" 2>>"$WORK/err"
}

# citus_server NODE FSYNC: NODE's server made and started (citus
# preloaded but on the plain server)
citus_server() {
    local i=$1 fsync=$2 d=$WORK/${NODES[$1]}
    mkdir -p "$d" && chown postgres: "$d"
    as_pg "$BINDIR/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >>"$WORK/err" 2>&1 \
        || bail "initdb ${NODES[$i]}"
    cat >>"$d/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $(citus_port_of "$i")
unix_socket_directories = '$d'
shared_preload_libraries = '$([ "$i" -ne 3 ] && echo citus,)stylist_chat'
fsync = $fsync
max_connections = 100
log_min_messages = warning
EOF
    as_pg "$BINDIR/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null 2>>"$WORK/err" \
        || { tail -5 "$d/server.log" >>"$WORK/err"; bail "${NODES[$i]} does not start"; }
    on "$i" "ALTER ROLE postgres SET stylist_chat.session_identity = on" >/dev/null || bail "role setting"
}

citus_start() {
    local fsync=$1 i
    for i in 0 1 2 3; do
        citus_server "$i" "$fsync"
    done
    for i in 0 1 2; do
        on "$i" "CREATE EXTENSION citus" >/dev/null || bail "CREATE EXTENSION citus on ${NODES[$i]}"
    done
    on 0 "SELECT citus_set_coordinator_host('127.0.0.1', $(citus_port_of 0))" >/dev/null || bail "coordinator host"
    for i in 1 2; do
        on 0 "SELECT citus_add_node('127.0.0.1', $(citus_port_of "$i"))" >/dev/null || bail "citus_add_node ${NODES[$i]}"
    done
}

# citus_add_worker FSYNC: a third worker (node 4) started and added to the
# cluster; Citus creates the extensions of the cluster's database there
citus_add_worker() {
    citus_server 4 "$1"
    on 4 "CREATE EXTENSION citus" >/dev/null || bail "CREATE EXTENSION citus on ${NODES[4]}"
    on 0 "SELECT citus_add_node('127.0.0.1', $(citus_port_of 4))" >/dev/null || bail "citus_add_node ${NODES[4]}"
}

citus_stop() {
    local i
    [ -n "$WORK" ] || return 0
    for i in "${!NODES[@]}"; do
        [ -f "$WORK/${NODES[$i]}/data/postmaster.pid" ] &&
            as_pg "$BINDIR/pg_ctl" -D "$WORK/${NODES[$i]}/data" -m immediate -w stop >/dev/null 2>&1
    done
    rm -rf "$WORK"
}
