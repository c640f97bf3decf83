#!/usr/bin/env bash
# test/scripts/relay_crash.sh: no committed message is lost to a crash, a
# killed worker, a failing worker, a killed client connection, or a server
# without the preloaded library.
#
# It starts its own cluster (test/lib.sh; removed at the end, whatever the
# end), since it crashes and reconfigures it, and works in database
# postgres, the one the relay worker serves by default.  What it tests:
#   a. a crash with events not yet relayed: a session holds an EXCLUSIVE
#      lock on chat.relay_watermark, so the worker, which moves the
#      watermark in the transaction that sends the NOTIFYs, waits on the
#      lock with its batch uncommitted; 500 messages are sent, backlog is
#      500; the server is stopped in immediate mode (a crash) and started:
#      the worker relays the 500 (backlog 0, events_relayed >= 500,
#      watermark = last_seq, "recovered 500 messages" in the log) within
#      20 s;
#   b. a failing worker backs off and loses nothing: chat.relay_watermark
#      renamed away makes every relay transaction fail; 100 messages wait
#      (backlog 100, counted on the renamed table; the log says "will
#      retry"; the worker keeps running) and the worker backs off (at most
#      10 tries in those ~2.5 s, although every commit sets its latch);
#      renamed back, backlog is 0 within 10 s;
#   c. the client protocol under random faults: test/chat_client.c
#      ($CHAT_CLIENT, built here when not given) receives as the stylist
#      while the customer sends 1000 messages in bursts of 50 (psql, each
#      with a client_msg_id, resent whole when the connection fails, which
#      is idempotent); at random moments during the bursts the worker is
#      terminated, the client's backend is terminated, and once the whole
#      server is stopped in immediate mode and started again.  At the end
#      the chat holds exactly 1000 messages and the client printed every
#      seq 1..1000 exactly once and exited 0, and its acknowledged
#      catch-up (chat.catch_up) never offered it a message it held;
#   d. without shared_preload_libraries: relay_status() says preloaded and
#      running false, no worker runs, the C function chat_relay_database
#      (chat._relay_database() from version 1.1, declared here in a scratch
#      schema) says NULL where it said 'postgres' with the library
#      preloaded, send_message, history and inbox work, and backlog grows
#      by what is sent; with the library preloaded again the backlog drains
#      to 0 within 20 s;
#   e. a worker whose database does not exist yet: a second cluster, with
#      stylist_chat.database = 'relay_later'; 3 s after the start the log
#      holds at most 2 lines (the worker waits, and its hint) and no FATAL;
#      the database and the extension are created, a client (chat_client)
#      listens as the stylist, the customer sends a message and the client
#      gets it within 20 s, the log saying once that the worker waits and
#      once that it started; chat_relay_database says 'relay_later' there
#      and in database postgres; then DROP DATABASE ... WITH (FORCE), which
#      terminates the worker: 3 s later the worker waits again, with no
#      "does not exist" and no line a second.
#
# Usage: bash test/scripts/relay_crash.sh [DBNAME] from the repository root
# (DBNAME, which the runner passes, is not used: the cluster is its own).
# Output: TAP.  About a minute.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_crash.XXXXXX)
chmod 755 "$WORK"

cleanup() {
    stop_background
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
# ok STATUS DESCRIPTION: pass when STATUS is 0
ok() {
    if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi
    return 0
}
diag() { echo "# $*"; }
bail() { echo "Bail out! $*"; exit 1; }

echo "1..23"

cluster_start || bail "cannot start a cluster"
trap cleanup EXIT
DATA=$CLUSTER_DIR/data
LOG=$CLUSTER_DIR/server.log

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d postgres)
q() { "${PSQL[@]}" -c "$1" 2>>"$WORK/psql.err"; }

server_crash() {
    as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1
}
server_start() {
    as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1
}
server_restart() {
    as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -m fast -w -t 60 restart >/dev/null 2>&1
}

# wait_until TIMEOUT_S SQL EXPECTED: poll until SQL returns EXPECTED; prints
# the seconds it took, or -1
wait_until() {
    local timeout=$1 sql=$2 want=$3 start now got
    start=$(date +%s.%N)
    while :; do
        got=$(q "$sql" 2>/dev/null)
        now=$(date +%s.%N)
        if [ "$got" == "$want" ]; then
            awk -v a="$now" -v b="$start" 'BEGIN { printf "%.2f\n", a - b }'
            return 0
        fi
        if awk -v a="$now" -v b="$start" -v t="$timeout" 'BEGIN { exit !(a - b > t) }'; then
            echo -1
            return 1
        fi
        sleep 0.1
    done
}

# the chat client
if [ -z "${CHAT_CLIENT:-}" ] || [ ! -x "$CHAT_CLIENT" ]; then
    CHAT_CLIENT=$WORK/chat_client
    gcc -O2 -Wall -Wextra -Werror -o "$CHAT_CLIENT" test/chat_client.c \
        -I"$("$PG_CONFIG" --includedir)" -L"$("$PG_CONFIG" --libdir)" -lpq \
        || bail "test/chat_client.c does not build"
fi

CUST=c1000000-0000-4000-8000-000000000001
STYL=51000000-0000-4000-8000-000000000001
CUST2=c2000000-0000-4000-8000-000000000002
STYL2=52000000-0000-4000-8000-000000000002
CUST3=c3000000-0000-4000-8000-000000000003
STYL3=53000000-0000-4000-8000-000000000003

q "CREATE EXTENSION stylist_chat" || bail "cannot create the extension"
q "SELECT chat.upsert_profile('$CUST', 'customer', 'crash customer'),
          chat.upsert_profile('$STYL', 'stylist', 'crash stylist'),
          chat.upsert_profile('$CUST2', 'customer', 'fault customer'),
          chat.upsert_profile('$STYL2', 'stylist', 'fault stylist'),
          chat.upsert_profile('$CUST3', 'customer', 'nopreload customer'),
          chat.upsert_profile('$STYL3', 'stylist', 'nopreload stylist')" >/dev/null \
    || bail "cannot create profiles"
CHAT_A=$(q "SELECT chat.pair_chat_id('$CUST', '$STYL')")
CHAT_B=$(q "SELECT chat.pair_chat_id('$CUST2', '$STYL2')")
CHAT_C=$(q "SELECT chat.pair_chat_id('$CUST3', '$STYL3')")
for pair in "$CUST $STYL" "$CUST2 $STYL2" "$CUST3 $STYL3"; do
    set -- $pair
    "${PSQL[@]}" -c "SELECT chat.act_as('$1', true)" \
        -c "SELECT chat.get_or_create_chat('$1', '$2')" >/dev/null || bail "cannot open a chat"
done

# send_sql FILE ACTOR CHAT FROM TO TAG [PAUSE]: a psql script that sends
# messages FROM..TO, each in its own transaction, with the client_msg_id
# md5(TAG-k), PAUSE seconds apart
send_sql() {
    local file=$1 actor=$2 chat=$3 from=$4 to=$5 tag=$6 pause=${7:-} k
    {
        echo "SELECT chat.act_as('$actor', true);"
        for ((k = from; k <= to; k++)); do
            echo "SELECT chat.send_message('$chat', 'message $k', NULL, md5('$tag-$k')::uuid);"
            [ -n "$pause" ] && echo "SELECT pg_sleep($pause) \\g /dev/null"
        done
    } >"$file"
}

# ---------------------------------------------------------------------------
# a. a crash with events not yet relayed
# ---------------------------------------------------------------------------
wait_until 10 "SELECT running FROM chat.relay_status()" t >/dev/null \
    || bail "the relay worker does not run"
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "BEGIN" \
    -c "LOCK TABLE chat.relay_watermark IN EXCLUSIVE MODE" \
    -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
LOCKER=$!
BGPIDS+=("$LOCKER")
wait_until 10 "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'relay_watermark' AND l.mode = 'ExclusiveLock' AND l.granted" 1 \
    >/dev/null || bail "could not lock chat.relay_watermark"
send_sql "$WORK/a.sql" "$CUST" "$CHAT_A" 1 500 a
"${PSQL[@]}" -f "$WORK/a.sql" >/dev/null 2>>"$WORK/psql.err" || bail "cannot send messages"
waiting=$(wait_until 10 "SELECT wait_event_type FROM pg_stat_activity
                          WHERE backend_type = 'stylist_chat relay'" Lock)
backlog=$(q "SELECT backlog FROM chat.relay_status()")
relayed_before=$(q "SELECT events_relayed FROM chat.relay_status()")
ok $([ "$waiting" != -1 ] && [ "$backlog" == 500 ]; echo $?) \
    "500 messages sent while the worker waits on a lock with its batch uncommitted: backlog $backlog"

server_crash
wait "$LOCKER" 2>/dev/null
crash_at=$(date +%s.%N)
server_start || bail "the server does not start again after the crash"
t=$(wait_until 20 "SELECT backlog FROM chat.relay_status()" 0)
recovered=$(awk -v a="$(date +%s.%N)" -v b="$crash_at" 'BEGIN { printf "%.2f", a - b }')
relayed=$(q "SELECT events_relayed FROM chat.relay_status()")
diag "events_relayed $relayed_before before the crash, $relayed after; backlog 0 after ${t} s (start included: ${recovered} s)"
ok $([ "$t" != -1 ] && [ "${relayed:-0}" -ge 500 ]; echo $?) \
    "after a crash (immediate stop) and a start, the worker relayed them: backlog 0 within 20 s, events_relayed $relayed"
wm=$(q "SELECT w.relayed_seq || ' ' || c.last_seq FROM chat.chats c
         JOIN chat.relay_watermark w USING (chat_id) WHERE c.chat_id = '$CHAT_A'")
ok $([ "$wm" == "500 500" ] && grep -q 'stylist_chat relay recovered 500 messages of 1 chats' "$LOG"; echo $?) \
    "the chat's watermark is its last seq (relayed_seq, last_seq: $wm) and the log says 'recovered 500 messages of 1 chats'"

# ---------------------------------------------------------------------------
# b. a failing worker backs off and loses nothing
# ---------------------------------------------------------------------------
WORKER_PID="SELECT pid FROM pg_stat_activity WHERE backend_type = 'stylist_chat relay'"
pid_before=$(q "$WORKER_PID")
retries_before=$(grep -c 'will retry' "$LOG")
failed_before=$(q "SELECT failed_cycles FROM chat._relay_shared_status()")
q "ALTER TABLE chat.relay_watermark RENAME TO relay_watermark_off" || bail "cannot rename"
send_sql "$WORK/b.sql" "$CUST" "$CHAT_A" 1 100 b
"${PSQL[@]}" -f "$WORK/b.sql" >/dev/null 2>>"$WORK/psql.err" || bail "cannot send messages"
sleep 2
broken_backlog=$(q "SELECT coalesce(sum(c.last_seq - coalesce(w.relayed_seq, 0)), 0)
                      FROM chat.chats c LEFT JOIN chat.relay_watermark_off w USING (chat_id)
                     WHERE c.last_seq > coalesce(w.relayed_seq, 0)")
retries=$(( $(grep -c 'will retry' "$LOG") - retries_before ))
read -r failed_after last_error <<<"$(q "SELECT failed_cycles, last_error FROM chat._relay_shared_status()" | tr '|' ' ')"
pid_after=$(q "$WORKER_PID")
diag "while broken: $retries 'will retry' lines in the log; the worker's pid $pid_before, then $pid_after"
ok $([ "$broken_backlog" == 100 ] && [ "$retries" -ge 1 ] && [ "$pid_after" == "$pid_before" ]; echo $?) \
    "with chat.relay_watermark renamed away, 100 messages wait (backlog $broken_backlog), the log says 'will retry' and the worker keeps running"
# backing off from 100 ms and doubling, about 5 tries fit in these 2-3 s
ok $([ "$retries" -le 10 ]; echo $?) \
    "the failing worker backs off: $retries tries in the ~2.5 s it was broken while 100 messages were sent (at most 10 expected)"
# relay_status() reads relay_watermark itself: its shared part tells meanwhile
ok $([ $((failed_after - failed_before)) -ge 1 ] && [[ "$last_error" == *relay_watermark* ]]; echo $?) \
    "the worker's failed cycles are counted ($failed_before -> $failed_after) and the last error kept: $last_error"
q "ALTER TABLE chat.relay_watermark_off RENAME TO relay_watermark" || bail "cannot rename back"
t=$(wait_until 10 "SELECT backlog FROM chat.relay_status()" 0)
diag "backlog 0 ${t} s after the table came back"
ok $([ "$t" != -1 ]; echo $?) "renamed back, the 100 messages were relayed: backlog 0 within 10 s ($t s)"

# ---------------------------------------------------------------------------
# c. the client protocol under random faults
# ---------------------------------------------------------------------------
N=1000
BURST=50
NBURSTS=$((N / BURST))
PGAPPNAME=chat_client "$CHAT_CLIENT" -d postgres -p "$STYL2" -n "$N" -t 90 \
    >"$WORK/client.out" 2>"$WORK/client.err" &
CLIENT=$!
BGPIDS+=("$CLIENT")
wait_until 10 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chat_client'" 1 \
    >/dev/null || bail "the chat client did not connect"

: >"$WORK/faults"
fault() {
    case $1 in
        worker)
            [ "$(q "SELECT pg_terminate_backend(pid) FROM chat.relay_status() WHERE running")" == t ] \
                && echo worker >>"$WORK/faults" ;;
        client)
            [ "$(q "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE application_name = 'chat_client'")" -ge 1 ] 2>/dev/null \
                && echo client >>"$WORK/faults" ;;
        server)
            server_crash && server_start && echo server >>"$WORK/faults" ;;
    esac
}

restart_burst=$((8 + RANDOM % 5))
send_errors=0
send_start=$(date +%s)
for ((b = 0; b < NBURSTS; b++)); do
    from=$((b * BURST + 1))
    to=$((from + BURST - 1))
    send_sql "$WORK/c.sql" "$CUST2" "$CHAT_B" "$from" "$to" c 0.005
    case $b in
        "$restart_burst") action=server ;;
        3 | 7) action=worker ;;
        4 | 11) action=client ;;
        *) case $((RANDOM % 3)) in 0) action=none ;; 1) action=worker ;; *) action=client ;; esac ;;
    esac
    if [ "$action" != none ]; then
        # at a random moment of the burst, which lasts about 0.3 s
        (sleep "0.$((RANDOM % 3))$((RANDOM % 10))"; fault "$action") &
        FAULT=$!
    else
        FAULT=
    fi
    # resend the whole burst until it goes through: the client_msg_ids make it idempotent
    until "${PSQL[@]}" -f "$WORK/c.sql" >/dev/null 2>>"$WORK/send.err"; do
        send_errors=$((send_errors + 1))
        [ $(( $(date +%s) - send_start )) -gt 90 ] && break
        sleep 0.2
    done
    [ -n "$FAULT" ] && wait "$FAULT"
done
wait_until 30 "SELECT 1" 1 >/dev/null
stored=$(q "SELECT count(*) || ' ' || count(DISTINCT client_msg_id) || ' ' || max(seq) FROM chat.chat_messages WHERE chat_id = '$CHAT_B'")
diag "the sender needed $send_errors retries of a burst; faults: worker $(grep -c worker "$WORK/faults"), client $(grep -c client "$WORK/faults"), server $(grep -c server "$WORK/faults") (restart during burst $restart_burst)"
ok $([ "$stored" == "$N $N $N" ]; echo $?) \
    "despite the faults the chat holds exactly $N messages, seq 1..$N, one per client_msg_id (count, distinct keys, max seq: $stored)"
ok $([ "$(grep -c worker "$WORK/faults")" -ge 2 ] && [ "$(grep -c client "$WORK/faults")" -ge 2 ] \
     && [ "$(grep -c server "$WORK/faults")" -eq 1 ]; echo $?) \
    "faults happened during the sending: the worker and the client's backend terminated at least twice each, the server crashed and restarted once"

# the client ends by itself once it holds N messages (-t 90 bounds it)
client_rc=-1
for ((i = 0; i < 600; i++)); do
    if ! kill -0 "$CLIENT" 2>/dev/null; then
        wait "$CLIENT"
        client_rc=$?
        break
    fi
    sleep 0.2
done
reconnects=$(grep -c 'reconnecting' "$WORK/client.err")
diag "the client: exit $client_rc, $reconnects reconnections, last line: $(tail -1 "$WORK/client.out")"
ok $([ "$client_rc" -eq 0 ] && [ "$reconnects" -ge 3 ]; echo $?) \
    "the client reconnected after each loss ($reconnects reconnections) and exited 0 holding $N messages"
grep -E "^message chat=$CHAT_B seq=[0-9]+ from=$CUST2 body=message [0-9]+$" "$WORK/client.out" \
    | sed -E 's/.* seq=([0-9]+) .*body=message ([0-9]+)$/\1 \2/' >"$WORK/got"
lines=$(wc -l <"$WORK/got")
distinct=$(cut -d' ' -f1 "$WORK/got" | sort -n | uniq | wc -l)
expected=$(seq 1 "$N" | diff - <(cut -d' ' -f1 "$WORK/got" | sort -n) >/dev/null && echo yes || echo no)
other=$(grep -c '^message' "$WORK/client.out")
diag "the client printed $other message lines, $lines of chat B from the customer, $distinct distinct seqs"
ok $([ "$lines" -eq "$N" ] && [ "$distinct" -eq "$N" ] && [ "$expected" == yes ] && [ "$other" -eq "$N" ]; echo $?) \
    "the client printed every seq 1..$N exactly once"
again=$(sed -n 's/^chat_client: \([0-9]*\) messages offered again$/\1/p' "$WORK/client.err")
ok $([ "$again" == 0 ]; echo $?) \
    "catch_up never offered the client a message it held already (${again:-no count} offered again)"

# ---------------------------------------------------------------------------
# d. without shared_preload_libraries, and with it again
# ---------------------------------------------------------------------------
wait_until 20 "SELECT backlog FROM chat.relay_status()" 0 >/dev/null
# chat._relay_database() comes with version 1.1: its C function, declared here
RELAY_DB_FN="CREATE SCHEMA relay_test;
    CREATE FUNCTION relay_test.relay_database() RETURNS text
    AS 'stylist_chat', 'chat_relay_database' LANGUAGE C STABLE PARALLEL SAFE"
q "$RELAY_DB_FN" || bail "cannot declare chat_relay_database"
served_preloaded=$(q "SELECT coalesce(relay_test.relay_database(), '(null)')")
echo "shared_preload_libraries = ''" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
server_restart || bail "the server does not restart without the library"
status=$(q "SELECT preloaded::text || ' ' || running::text FROM chat.relay_status()")
workers=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'stylist_chat relay'")
ok $([ "$status" == "false false" ] && [ "$workers" == 0 ]; echo $?) \
    "without the library preloaded, relay_status() says preloaded and running false ($status), and no worker runs ($workers)"
served=$(q "SELECT coalesce(relay_test.relay_database(), '(null)')")
ok $([ "$served_preloaded" == postgres ] && [ "$served" == "(null)" ]; echo $?) \
    "chat_relay_database() names the worker's database when the library is preloaded ($served_preloaded), NULL when not ($served)"
q "DROP FUNCTION relay_test.relay_database(); DROP SCHEMA relay_test" || bail "cannot drop schema relay_test"
backlog0=$(q "SELECT backlog FROM chat.relay_status()")
send_sql "$WORK/d.sql" "$CUST3" "$CHAT_C" 1 20 d
sent=$("${PSQL[@]}" -f "$WORK/d.sql" 2>>"$WORK/psql.err" | tail -1)
hist=$("${PSQL[@]}" -c "SELECT chat.act_as('$STYL3', true)" \
        -c "SELECT count(*) FROM chat.history('$CHAT_C', NULL, 50)" 2>>"$WORK/psql.err" | tail -1)
inbox=$("${PSQL[@]}" -c "SELECT chat.act_as('$STYL3', true)" \
        -c "SELECT unread_count FROM chat.inbox() WHERE chat_id = '$CHAT_C'" 2>>"$WORK/psql.err" | tail -1)
ok $([ "$sent" == 20 ] && [ "$hist" == 20 ] && [ "$inbox" == 20 ]; echo $?) \
    "send_message, history and inbox work: last seq $sent, $hist in history, $inbox unread in the stylist's inbox"
backlog1=$(q "SELECT backlog FROM chat.relay_status()")
ok $([ "$backlog1" == $((backlog0 + 20)) ]; echo $?) \
    "the 20 messages wait: backlog $backlog0, then $backlog1"
echo "shared_preload_libraries = 'stylist_chat'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
server_restart || bail "the server does not restart with the library"
t=$(wait_until 20 "SELECT backlog FROM chat.relay_status()" 0)
status=$(q "SELECT preloaded::text || ' ' || running::text || ' ' || (events_relayed >= 20)::text FROM chat.relay_status()")
diag "with the library again: backlog 0 after $t s; preloaded, running, events_relayed >= 20: $status"
ok $([ "$t" != -1 ] && [ "$status" == "true true true" ]; echo $?) \
    "with the library preloaded again the worker relays the waiting messages: backlog 0 within 20 s"

# The worker reloads its settings on SIGHUP, and stops promptly at shutdown.
q "ALTER SYSTEM SET stylist_chat.poll_interval = '250ms'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
reloaded=no
for _ in $(seq 50); do
    grep -q 'stylist_chat relay now polls every 250 ms' "$LOG" && { reloaded=yes; break; }
    sleep 0.1
done
ok $([ "$reloaded" == yes ]; echo $?) \
    "after ALTER SYSTEM and pg_reload_conf() the worker polls every 250 ms (its log says so)"
start=$(date +%s.%N)
as_pg "$PG_BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 10 stop >/dev/null 2>&1
rc=$?
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
diag "a fast shutdown took $took s"
ok $([ "$rc" -eq 0 ]; echo $?) "a fast shutdown completes within 10 s with the worker running ($took s)"

# ---------------------------------------------------------------------------
# e. a worker whose database does not exist yet
# ---------------------------------------------------------------------------
LATER=relay_later
cluster_stop
cluster_start "stylist_chat.database = '$LATER'" || bail "cannot start a cluster for $LATER"
trap cleanup EXIT
DATA=$CLUSTER_DIR/data
LOG=$CLUSTER_DIR/server.log
# since_ready: the log lines after the server said it was ready
since_ready() { sed -n '/database system is ready to accept connections/,$p' "$LOG" | tail -n +2; }
WAITS="stylist_chat relay waits for database \"$LATER\" to be created"
sleep 3
lines=$(since_ready | wc -l)
fatals=$(grep -c FATAL "$LOG")
waits=$(grep -cF "$WAITS" "$LOG")
diag "3 s after a start without database $LATER the log says, after 'ready':"
since_ready | sed 's/^[^]]*] /#   /'
ok $([ "$lines" -le 2 ] && [ "$fatals" -eq 0 ] && [ "$waits" -eq 1 ]; echo $?) \
    "without its database the worker waits quietly: $lines log lines in 3 s (at most 2), $waits saying it waits, $fatals FATAL"

LPSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d "$LATER")
q "CREATE DATABASE $LATER" || bail "cannot create database $LATER"
created_at=$(date +%s.%N)
"${LPSQL[@]}" -c "CREATE EXTENSION stylist_chat" \
    -c "SELECT chat.upsert_profile('$CUST', 'customer', 'later customer'),
               chat.upsert_profile('$STYL', 'stylist', 'later stylist')" \
    -c "SELECT chat.act_as('$CUST', true)" \
    -c "SELECT chat.get_or_create_chat('$CUST', '$STYL')" >/dev/null 2>>"$WORK/psql.err" \
    || bail "cannot set up database $LATER"
CHAT_L=$("${LPSQL[@]}" -c "SELECT chat.pair_chat_id('$CUST', '$STYL')")
running=-1
for ((i = 0; i < 100; i++)); do
    [ "$("${LPSQL[@]}" -c "SELECT running FROM chat.relay_status()" 2>/dev/null)" == t ] && { running=$i; break; }
    sleep 0.1
done
PGAPPNAME=chat_client "$CHAT_CLIENT" -d "$LATER" -p "$STYL" -n 1 -t 20 \
    >"$WORK/later.out" 2>"$WORK/later.err" &
CLIENT=$!
BGPIDS+=("$CLIENT")
# the client has caught up and waits for notifications
wait_until 10 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chat_client'
                AND state = 'idle' AND query LIKE '%catch_up%'" 1 >/dev/null \
    || bail "the chat client did not connect to $LATER"
"${LPSQL[@]}" -c "SELECT chat.act_as('$CUST', true)" \
    -c "SELECT chat.send_message('$CHAT_L', 'hello later')" >/dev/null 2>>"$WORK/psql.err" \
    || bail "cannot send to $LATER"
client_rc=-1
for ((i = 0; i < 200; i++)); do
    if ! kill -0 "$CLIENT" 2>/dev/null; then
        wait "$CLIENT"
        client_rc=$?
        break
    fi
    sleep 0.1
done
got=$(grep -cxF "message chat=$CHAT_L seq=1 from=$CUST body=hello later" "$WORK/later.out")
reconnects=$(grep -c 'reconnecting' "$WORK/later.err")
started=$(grep -cF "stylist_chat relay started in database \"$LATER\"" "$LOG")
waits=$(grep -cF "$WAITS" "$LOG")
fatals=$(grep -c FATAL "$LOG")
diag "the worker ran $(awk -v r="$running" 'BEGIN { printf "%.1f", r / 10 }') s after CREATE EXTENSION; the client exited $client_rc, $reconnects reconnections"
ok $([ "$running" -ge 0 ] && [ "$client_rc" -eq 0 ] && [ "$got" -eq 1 ] && [ "$reconnects" -eq 0 ] \
     && [ "$waits" -eq 1 ] && [ "$started" -eq 1 ] && [ "$fatals" -eq 0 ]; echo $?) \
    "once $LATER and the extension exist, a listening client gets a message relayed ($got); the log said once that the worker waits ($waits), once that it started ($started), and no FATAL ($fatals)"

q "$RELAY_DB_FN" && "${LPSQL[@]}" -c "$RELAY_DB_FN" || bail "cannot declare chat_relay_database"
served=$(q "SELECT relay_test.relay_database()")
served_later=$("${LPSQL[@]}" -c "SELECT relay_test.relay_database()")
ok $([ "$served" == "$LATER" ] && [ "$served_later" == "$LATER" ]; echo $?) \
    "chat_relay_database() names $LATER in database postgres ($served) and in $LATER ($served_later)"

# DROP DATABASE ... WITH (FORCE) terminates the worker, which starts again
before=$(wc -l <"$LOG")
q "DROP DATABASE $LATER WITH (FORCE)" || bail "cannot drop database $LATER"
sleep 3
tail -n +"$((before + 1))" "$LOG" | grep -E 'stylist_chat relay|does not exist|HINT' >"$WORK/drop.log"
relay_lines=$(wc -l <"$WORK/drop.log")
missing=$(grep -c 'does not exist' "$WORK/drop.log")
waits=$(grep -cF "$WAITS" "$WORK/drop.log")
diag "3 s after DROP DATABASE $LATER WITH (FORCE) the log says of the worker:"
sed 's/^[^]]*] /#   /' "$WORK/drop.log"
ok $([ "$waits" -eq 1 ] && [ "$missing" -eq 0 ] && [ "$relay_lines" -le 4 ]; echo $?) \
    "after DROP DATABASE ... WITH (FORCE) the worker waits again: $relay_lines lines in 3 s (its termination, its exit, that it waits, the hint), $missing 'does not exist'"

if [ -s "$WORK/psql.err" ]; then
    diag "psql errors:"
    head -5 "$WORK/psql.err" | sed 's/^/#   /'
fi
[ "$failed" -eq 0 ]
