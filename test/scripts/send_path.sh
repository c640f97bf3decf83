#!/usr/bin/env bash
# test/scripts/send_path.sh: chat.send_message() in C (src/send_path.c)
# when other sessions send into the same chat, which one transaction of
# pgTAP cannot show.
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end),
# database postgres, one chat.  A second psql session (fed through a FIFO)
# holds transactions open while this one sends:
#   - READ COMMITTED: a send waits for the other session's send to commit,
#     then takes the next seq (the lock follows the row to its latest
#     version, as an UPDATE does);
#   - a retry with the same client_msg_id waits, then finds the first one
#     (looked up in a snapshot taken after the lock) and stores nothing;
#   - REPEATABLE READ: a send into a chat changed since the transaction's
#     snapshot is a serialization failure (40001), as an UPDATE is;
#   - a send waits 2 s for the chat's lock, whatever the session's
#     lock_timeout, and then fails with 55P03;
#   - 8 clients sending 200 messages each into the one chat (pgbench): seq
#     1 to 1,600 without a gap, the counters right, every B-tree index of
#     both tables consistent with the rows (amcheck, heapallindexed).
#
# Usage: bash test/scripts/send_path.sh [DBNAME] (DBNAME unused).  Output:
# TAP.  About 15 s.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_send_path.XXXXXX)
chmod 755 "$WORK"

cleanup() {
    exec 3>&- 2>/dev/null
    stop_background
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/err" 2>/dev/null | tail -5; exit 1; }

echo "1..13"
cluster_start >"$WORK/err" 2>&1 || bail "cannot start a cluster"
trap cleanup EXIT

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d postgres -c "$1" 2>>"$WORK/err"; }
# the SQLSTATE of a statement, or ok
state() {
    psql -X -qAt -d postgres -v VERBOSITY=sqlstate -c "$1" >/dev/null 2>"$WORK/state" && { echo ok; return; }
    sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\).*/\1/p' "$WORK/state" | head -1
}
CUSTOMER=c0000000-0000-4000-8000-000000000001
STYLIST=5e000000-0000-4000-8000-000000000001
q "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION"
q "CREATE EXTENSION amcheck" >/dev/null || bail "CREATE EXTENSION amcheck"
q "SELECT chat.upsert_profile('$STYLIST', 'stylist', 'Leo')" >/dev/null || bail "profiles"
q "SELECT chat.upsert_profile('$CUSTOMER', 'customer', 'Ann')" >/dev/null || bail "profiles"
CHAT=$(q "SELECT chat.act_as('$CUSTOMER'); SELECT chat.chat_with('$STYLIST')" | tail -1)
[ -n "$CHAT" ] || bail "no chat"
send() {    # send [client_msg_id]: as the customer, prints the seq
    local cmid=NULL
    [ -n "${1:-}" ] && cmid="'$1'"
    q "SELECT chat.act_as('$CUSTOMER'); SELECT chat.send_message('$CHAT', 'from this session', client_msg_id => $cmid)" | tail -1
}
last_seq() { q "SELECT last_seq FROM chat.chats WHERE chat_id = '$CHAT'"; }

# the other session: statements written to fd 3, its output in other.out
mkfifo "$WORK/other"
psql -X -qAt -d postgres -v VERBOSITY=sqlstate <"$WORK/other" >"$WORK/other.out" 2>&1 &
BGPIDS+=($!)
exec 3>"$WORK/other"
other() { echo "$1" >&3; }
wait_for() {    # wait_for CONDITION: until a query of pg_stat_activity says so
    local _
    for _ in $(seq 200); do
        [ "$(q "SELECT count(*) > 0 FROM pg_stat_activity WHERE $1")" = t ] && return 0
        sleep 0.05
    done
    return 1
}
other "SET application_name = 'other';"
other "SELECT chat.act_as('$STYLIST', for_session => true);"

# 1-2. READ COMMITTED: wait for the other send, then the next seq
is "$(send)" 1 "a first send: seq 1"
other "BEGIN; SELECT chat.send_message('$CHAT', 'from the other session');"
wait_for "application_name = 'other' AND state = 'idle in transaction'" || bail "the other session did not send"
send >"$WORK/waiting" 2>&1 &
WAITER=$!
wait_for "wait_event_type = 'Lock' AND query LIKE '%send_message%'" && pass "a send waits for the other session's lock" \
    || fail "a send waits for the other session's lock"
other "COMMIT;"
wait "$WAITER"
is "$(cat "$WORK/waiting")" 3 "... and takes seq 3 once the other send (seq 2) committed"

# 3-5. a retry waits for the first one and finds it
other "BEGIN; SELECT chat.act_as('$CUSTOMER'); SELECT chat.send_message('$CHAT', 'first try', client_msg_id => 'aaaaaaaa-0000-4000-8000-000000000001');"
wait_for "application_name = 'other' AND state = 'idle in transaction'" || bail "the other session did not send"
send aaaaaaaa-0000-4000-8000-000000000001 >"$WORK/retry" 2>&1 &
WAITER=$!
wait_for "wait_event_type = 'Lock' AND query LIKE '%send_message%'" && pass "a retry waits for the first try's lock" \
    || fail "a retry waits for the first try's lock"
other "COMMIT;"
wait "$WAITER"
is "$(cat "$WORK/retry")" 4 "... and returns the first try's seq, 4"
is "$(q "SELECT count(*) FROM chat.chat_messages WHERE chat_id = '$CHAT' AND client_msg_id IS NOT NULL")" 1 \
    "... having stored nothing"
other "SELECT chat.act_as('$STYLIST', for_session => true);"

# 6. REPEATABLE READ: a chat changed since the snapshot
other "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;"
wait_for "application_name = 'other' AND state = 'idle in transaction'" || bail "the other session did not begin"
send >/dev/null
: >"$WORK/other.out"
other "SELECT chat.send_message('$CHAT', 'from an old snapshot');"
other "ROLLBACK;"
wait_for "application_name = 'other' AND state = 'idle'" || bail "the other session did not roll back"
is "$(grep -ao "ERROR:  [0-9A-Z]*" "$WORK/other.out" | head -1)" "ERROR:  40001" \
    "REPEATABLE READ, the chat changed since the snapshot: 40001"

# 7-8. the lock is waited for 2 s, whatever the session says
other "BEGIN; SELECT chat.send_message('$CHAT', 'holding the lock');"
wait_for "application_name = 'other' AND state = 'idle in transaction'" || bail "the other session did not send"
START=$(date +%s%N)
GOT=$(state "SET lock_timeout = 0; SELECT chat.act_as('$CUSTOMER'); SELECT chat.send_message('$CHAT', 'waiting')")
ELAPSED=$(( ($(date +%s%N) - START) / 1000000 ))
is "$GOT" 55P03 "a send behind a lock held for long: 55P03, with lock_timeout 0 in the session"
[ "$ELAPSED" -ge 1900 ] && pass "... after waiting the function's 2 s (${ELAPSED} ms)" \
    || fail "... after waiting the function's 2 s (${ELAPSED} ms)"
other "ROLLBACK;"
wait_for "application_name = 'other' AND state = 'idle'" || bail "the other session did not roll back"

# 9-12. 8 senders into the one chat
BEFORE=$(last_seq)
cat >"$WORK/send.sql" <<EOF
SELECT chat.act_as(CASE WHEN random() < 0.5 THEN '$CUSTOMER' ELSE '$STYLIST' END::uuid),
       chat.send_message('$CHAT', 'concurrent ' || :client_id);
EOF
pgbench -n -c 8 -j 2 -t 200 -f "$WORK/send.sql" postgres >"$WORK/pgbench" 2>&1 || { sed 's/^/#   /' "$WORK/pgbench" | tail -5; }
is "$(q "SELECT count(*) || ' ' || min(seq) || ' ' || max(seq) FROM chat.chat_messages WHERE chat_id = '$CHAT' AND seq > $BEFORE")" \
    "1600 $((BEFORE + 1)) $((BEFORE + 1600))" "8 x 200 concurrent sends: 1,600 messages, seq without a gap"
is "$(last_seq)" $((BEFORE + 1600)) "... last_seq counts them"
is "$(q "SELECT (customer_unread = (SELECT count(*) FROM chat.chat_messages m WHERE m.chat_id = c.chat_id AND m.seq > c.customer_read_seq AND m.sender_id = c.stylist_id))::text
               || ' ' || (stylist_unread = (SELECT count(*) FROM chat.chat_messages m WHERE m.chat_id = c.chat_id AND m.seq > c.stylist_read_seq AND m.sender_id = c.customer_id))::text
          FROM chat.chats c WHERE chat_id = '$CHAT'")" "true true" \
    "... each unread count is the other's messages after the read mark"
is "$(q "SELECT count(*) FROM (SELECT bt_index_parent_check(i.indexrelid, true)
                                FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                               WHERE i.indrelid IN ('chat.chats'::regclass, 'chat.chat_messages'::regclass)
                                 AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')) x")" 6 \
    "amcheck: the 6 B-tree indexes of both tables hold every row"

[ "$failed" -eq 0 ]
