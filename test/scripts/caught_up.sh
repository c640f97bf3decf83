#!/usr/bin/env bash
# test/scripts/caught_up.sh: what moves a person's caught-up mark
# (chat.caught_up, src/sql/catchup.sql) when other sessions are at work,
# which one transaction of pgTAP cannot show.
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end),
# database postgres.  A stylist has three chats.  A second psql session
# (fed through a FIFO) holds transactions open while the stylist calls
# undelivered():
#   - a transaction open elsewhere is the horizon: chat._activity_horizon()
#     is that transaction's start, exactly;
#   - a chat another session holds locked is skipped, and the mark does not
#     move past it; once the lock is gone the message comes, and the mark
#     moves;
#   - a message sent in a transaction that began before a complete call and
#     commits after it is found by the next call;
#   - a backend that does not report its transactions (track_activities
#     off) leaves the horizon unknown and the mark where it is.
#
# Usage: bash test/scripts/caught_up.sh [DBNAME] (DBNAME unused).  Output:
# TAP.  About 10 s.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_caught_up.XXXXXX)
chmod 755 "$WORK"

cleanup() {
    exec 3>&- 2>/dev/null
    stop_background
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/err" 2>/dev/null | tail -5; exit 1; }

echo "1..9"
cluster_start >"$WORK/err" 2>&1 || bail "cannot start a cluster"
trap cleanup EXIT

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d postgres -c "$1" 2>>"$WORK/err"; }
STYLIST=5e000000-0000-4000-8000-000000000001
q "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION"
q "ALTER DATABASE postgres SET stylist_chat.booking_cards = off" >/dev/null
q "SELECT chat.upsert_profile('$STYLIST', 'stylist', 'Leo')" >/dev/null || bail "profiles"
CHATS=()
for i in 1 2 3; do
    c=$(printf 'c0000000-0000-4000-8000-%012d' "$i")
    q "SELECT chat.upsert_profile('$c', 'customer', 'Customer $i')" >/dev/null
    CHATS+=("$(q "SELECT chat.act_as('$c'); SELECT chat.send_message(chat.chat_with('$STYLIST'), 'hello $i'); SELECT chat.pair_chat_id('$c', '$STYLIST')" | tail -1)")
done
# the stylist's undelivered() as "body, body"; the stylist's mark
undelivered() {
    q "SELECT chat.act_as('$STYLIST'); SELECT coalesce(string_agg(body, ', ' ORDER BY created_at, chat_id, seq), '') FROM chat.undelivered()" | tail -1
}
mark() { q "SELECT coalesce(before_minute::text, 'none') FROM chat.caught_up WHERE profile_id = '$STYLIST' UNION ALL SELECT 'none' LIMIT 1"; }

# the other session: statements written to fd 3, its output in other.out
mkfifo "$WORK/other"
psql -X -qAt -d postgres <"$WORK/other" >"$WORK/other.out" 2>&1 &
BGPIDS+=($!)
exec 3>"$WORK/other"
other() { echo "$1" >&3; }
# wait until the other session's backend is in the state wanted
wait_other() {
    local _
    for _ in $(seq 100); do
        [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'other' AND $1")" = 1 ] && return 0
        sleep 0.05
    done
    return 1
}
other "SET application_name = 'other';"

# 1. the horizon is the start of a transaction open elsewhere
other "BEGIN; SELECT 1;"
wait_other "state = 'idle in transaction'" || bail "the other session did not open its transaction"
is "$(q "SELECT chat._activity_horizon() = (SELECT xact_start FROM pg_stat_activity WHERE application_name = 'other')")" t \
   "the horizon is the start of a transaction open in another session"
other "COMMIT;"

# 2. a chat held locked is skipped, and the mark stays
other "BEGIN; SELECT FROM chat.chats WHERE chat_id = '${CHATS[1]}' FOR NO KEY UPDATE;"
wait_other "state = 'idle in transaction'" || bail "the other session did not lock the chat"
is "$(undelivered)" "hello 1, hello 3" "undelivered() skips the chat another session holds locked"
is "$(mark)" none "... and does not mark the stylist caught up"
other "COMMIT;"
wait_other "state = 'idle'" || bail "the other session did not commit"
is "$(undelivered)" "hello 2" "once the lock is gone the message comes"
[ "$(mark)" != none ] && pass "... and the stylist is marked caught up" || fail "... and the stylist is marked caught up"

# 3. a message whose transaction began before a complete call, committed after
other "SELECT chat.act_as('$(printf 'c0000000-0000-4000-8000-%012d' 1)', true);"
other "BEGIN; SELECT chat.send_message('${CHATS[0]}', 'written before, committed after');"
wait_other "state = 'idle in transaction'" || bail "the other session did not send"
is "$(undelivered)" "" "a message not committed yet is not there"
other "COMMIT;"
wait_other "state = 'idle'" || bail "the other session did not commit"
is "$(undelivered)" "written before, committed after" \
   "committed after a complete call, it is found by the next one"

# 4. a backend that does not report its transactions: no horizon, no move
q "DELETE FROM chat.caught_up" >/dev/null
other "SET track_activities = off; BEGIN; SELECT 1;"
sleep 0.3
is "$(q "SELECT chat._activity_horizon() IS NULL")" t \
   "with a backend that does not report its transactions the horizon is unknown"
undelivered >/dev/null
is "$(mark)" none "... and the mark does not move"
other "COMMIT;"

exec 3>&-
[ "$failed" -eq 0 ]
