#!/usr/bin/env bash
# test/scripts/gateway.sh: the WebSocket gateway's protocol, end to end,
# against its documented contract (the gateway section of README.md).
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end),
# database postgres (the one the relay worker serves), the extension, a
# login for the gateway that is a member of chat_user only, five profiles
# (customers Mia, Eve and Kim, stylists Leo and Sam), their chats, a
# booking, 200 long messages from Mia to Sam (for large answers) and a
# token for each.  Three gateways, each on a free loopback port and its
# own application_name, stderr to a log:
#   main    default limits (the last test stops it with SIGTERM)
#   limits  --rate 5 --burst 5 --auth-timeout 2 (flood, first-frame deadline;
#           stopped with SIGTERM after a refused handshake)
#   slow    --max-queue 4096 --max-frame 1048576 --rate 1000 --burst 1000
#           (a consumer that stops reading, a deeply nested large frame)
# Then test/gateway/protocol.js (node, the ws package) drives them and
# prints TAP; on failure the tail of each gateway's log follows as "#".
#
# Usage: bash test/scripts/gateway.sh [DBNAME] (DBNAME unused: the cluster
# is its own).  Output: TAP.  About 40 s.  For debugging:
# GATEWAY_TEST_ONLY=REGEX runs only the scenarios of protocol.js it
# matches, GATEWAY_TEST_LOGS=DIR keeps the gateways' logs there.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_gateway.XXXXXX)
chmod 755 "$WORK"
BGPIDS=()

# the gateways' pids (from their pid files) and the subshells that wait for them
cleanup() {
    local f p
    # GATEWAY_TEST_LOGS=DIR keeps the gateways' logs there (for debugging)
    if [ -n "${GATEWAY_TEST_LOGS:-}" ]; then
        mkdir -p "$GATEWAY_TEST_LOGS" && cp "$WORK"/*.log "$GATEWAY_TEST_LOGS"/ 2>/dev/null
    fi
    for f in "$WORK"/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for f in "$WORK"/*.pid; do
            [ -f "$f" ] || continue
            p=$(cat "$f")
            [ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && break
        sleep 0.2
    done
    for f in "$WORK"/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
    done
    for p in "${BGPIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    cluster_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bail() {
    echo "1..1"
    echo "not ok 1 - $*"
    sed 's/^/#   /' "$WORK/setup.err" 2>/dev/null | tail -15
    exit 1
}

# --- build, packages -------------------------------------------------------
make -s gateway GATEWAY_WERROR=-Werror PG_CONFIG="$PG_CONFIG" >"$WORK/setup.err" 2>&1 \
    || bail "the gateway builds (make gateway)"
GW=$ROOT/gateway/stylist_chat_gateway
command -v node >/dev/null || bail "node is installed"
if [ ! -d test/gateway/node_modules/ws ]; then
    (cd test/gateway && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/setup.err" 2>&1 \
        || bail "npm ci in test/gateway"
fi

# --- the cluster and its data ------------------------------------------------
cluster_start >"$WORK/setup.err" 2>&1
started=$?
# cluster_start arms its own traps (cluster_stop only): ours do more
trap cleanup EXIT
trap 'exit 130' INT TERM
[ $started -eq 0 ] || bail "a cluster starts"

MIA=a1000000-0000-4000-8000-000000000001
LEO=b2000000-0000-4000-8000-000000000002
EVE=a1000000-0000-4000-8000-000000000003
SAM=b2000000-0000-4000-8000-000000000004
KIM=a1000000-0000-4000-8000-000000000005
OLA=a1000000-0000-4000-8000-000000000006
BOOKING=c3000000-0000-4000-8000-000000000001

q() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@" 2>>"$WORK/setup.err"; }

q <<SQL >/dev/null || bail "the extension, the gateway's login, profiles and chats"
SET client_min_messages = warning;
CREATE EXTENSION stylist_chat;
CREATE ROLE gateway_login LOGIN IN ROLE chat_user;
SELECT chat.upsert_profile('$MIA', 'customer', 'Mia');
SELECT chat.upsert_profile('$LEO', 'stylist', 'Leo');
SELECT chat.upsert_profile('$EVE', 'customer', 'Eve');
SELECT chat.upsert_profile('$SAM', 'stylist', 'Sam');
SELECT chat.upsert_profile('$KIM', 'customer', 'Kim');
SELECT chat.upsert_profile('$OLA', 'customer', 'Ola');
BEGIN; SELECT chat.act_as('$MIA'); SELECT chat.chat_with('$LEO'); COMMIT;
BEGIN; SELECT chat.act_as('$MIA'); SELECT chat.chat_with('$SAM'); COMMIT;
BEGIN; SELECT chat.act_as('$EVE'); SELECT chat.chat_with('$SAM'); COMMIT;
BEGIN; SELECT chat.act_as('$KIM'); SELECT chat.chat_with('$SAM'); COMMIT;
SELECT chat.upsert_booking('$BOOKING', '$MIA', '$LEO', 'Haircut', '2030-12-01 10:00+00', 'confirmed');
BEGIN;
SELECT chat.act_as('$MIA');
SELECT chat.send_message(chat.pair_chat_id('$MIA', '$SAM'),
                         'long ' || k || ' ' || repeat('lorem ipsum dolor sit amet ', 140))
  FROM generate_series(1, 200) k;
COMMIT;
SQL

CHAT_MIA_LEO=$(q -c "SELECT chat.pair_chat_id('$MIA', '$LEO')") || bail "chat ids"
CHAT_MIA_SAM=$(q -c "SELECT chat.pair_chat_id('$MIA', '$SAM')") || bail "chat ids"
CHAT_EVE_SAM=$(q -c "SELECT chat.pair_chat_id('$EVE', '$SAM')") || bail "chat ids"
CHAT_KIM_SAM=$(q -c "SELECT chat.pair_chat_id('$KIM', '$SAM')") || bail "chat ids"
token() { q -c "SELECT chat.issue_token('$1', interval '1 hour')"; }
MIA_TOKEN=$(token $MIA) && LEO_TOKEN=$(token $LEO) && EVE_TOKEN=$(token $EVE) \
    && SAM_TOKEN=$(token $SAM) && KIM_TOKEN=$(token $KIM) && OLA_TOKEN=$(token $OLA) || bail "tokens"

# --- the gateways ---------------------------------------------------------
# three free loopback ports, held at once so that they differ
read -r PORT_MAIN PORT_LIMITS PORT_SLOW < <(node -e '
    const net = require("net");
    const s = [0, 1, 2].map(() => net.createServer());
    let n = 0;
    s.forEach(x => x.listen(0, "127.0.0.1", () => {
        if (++n === 3) { console.log(s.map(y => y.address().port).join(" ")); s.forEach(y => y.close()); }
    }));') || bail "free ports"

# start_gateway NAME PORT FLAGS...: in the background; NAME.pid, NAME.log,
# and NAME.rc (its exit status) once it ends
start_gateway() {
    local name=$1 port=$2
    shift 2
    (
        "$GW" --port "$port" --origin "http://127.0.0.1:$port" \
            --db "host=$PGHOST port=$PGPORT dbname=postgres user=gateway_login application_name=gw_$name" \
            "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.log" &
        echo $! >"$WORK/$name.pid.tmp"
        mv "$WORK/$name.pid.tmp" "$WORK/$name.pid"
        wait $!
        echo $? >"$WORK/$name.rc"
    ) &
    BGPIDS+=($!)
}

# wait_gateway NAME PORT: it accepts connections and its listening connection is up
wait_gateway() {
    local name=$1 port=$2 _
    for _ in $(seq 100); do
        if [ -f "$WORK/$name.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
            && grep -q 'database connection -1 open' "$WORK/$name.log" 2>/dev/null; then
            return 0
        fi
        [ -f "$WORK/$name.rc" ] && return 1
        sleep 0.1
    done
    return 1
}

start_gateway main "$PORT_MAIN"
start_gateway limits "$PORT_LIMITS" --rate 5 --burst 5 --auth-timeout 2 --max-per-profile 2 \
    --client-in-flight 3 --recheck 2
start_gateway slow "$PORT_SLOW" --max-queue 4096 --max-frame 1048576 --rate 1000 --burst 1000
for g in "main $PORT_MAIN" "limits $PORT_LIMITS" "slow $PORT_SLOW"; do
    set -- $g
    if ! wait_gateway "$1" "$2"; then
        cp "$WORK/$1.log" "$WORK/setup.err" 2>/dev/null
        bail "the $1 gateway starts and accepts connections"
    fi
done

# --- the protocol tests -------------------------------------------------------
export GATEWAY_URL="ws://127.0.0.1:$PORT_MAIN/ws" GATEWAY_ORIGIN="http://127.0.0.1:$PORT_MAIN"
export GATEWAY_PID=$(cat "$WORK/main.pid") GATEWAY_RC_FILE="$WORK/main.rc" GATEWAY_LOG="$WORK/main.log"
export GATEWAY_APPNAME=gw_main GATEWAY_POOL=4 GATEWAY_BIN=$GW
export GATEWAY_LIMITS_URL="ws://127.0.0.1:$PORT_LIMITS/ws" GATEWAY_LIMITS_RATE=5 GATEWAY_LIMITS_BURST=5
export GATEWAY_LIMITS_AUTH_TIMEOUT=2 GATEWAY_LIMITS_PID=$(cat "$WORK/limits.pid")
export GATEWAY_SLOW_URL="ws://127.0.0.1:$PORT_SLOW/ws" GATEWAY_SLOW_PID=$(cat "$WORK/slow.pid")
export GATEWAY_SLOW_MAX_FRAME=1048576
export MIA_ID=$MIA LEO_ID=$LEO EVE_ID=$EVE SAM_ID=$SAM KIM_ID=$KIM OLA_ID=$OLA BOOKING_ID=$BOOKING
export MIA_TOKEN LEO_TOKEN EVE_TOKEN SAM_TOKEN KIM_TOKEN OLA_TOKEN
export CHAT_MIA_LEO CHAT_MIA_SAM CHAT_EVE_SAM CHAT_KIM_SAM
# a fast restart of the database server, as its owner
if [ "$(id -u)" -eq 0 ]; then
    export DB_RESTART_CMD="runuser -u postgres -- '$PG_BINDIR/pg_ctl' -D '$CLUSTER_DIR/data' -l '$CLUSTER_DIR/server.log' -m fast -w -t 60 restart"
else
    export DB_RESTART_CMD="'$PG_BINDIR/pg_ctl' -D '$CLUSTER_DIR/data' -l '$CLUSTER_DIR/server.log' -m fast -w -t 60 restart"
fi

# in the background, so that a signal to this script is handled at once
node test/gateway/protocol.js &
NODE_PID=$!
BGPIDS+=($NODE_PID)
wait $NODE_PID
rc=$?

if [ $rc -ne 0 ]; then
    for g in main limits slow; do
        echo "# the $g gateway's log (tail):"
        tail -n 25 "$WORK/$g.log" 2>/dev/null | sed 's/^/#   /'
    done
fi
exit $rc
