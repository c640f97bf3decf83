#!/usr/bin/env bash
# test/scripts/notifications.sh: offline notifications through the real
# relay worker, with a notification sender played in SQL that crashes.
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end) with
# stylist_chat.notification_delay = 3 s and unread reminders off, database
# postgres.  Six customers each write to their stylist: the stylists of
# chats 1-3 are offline (never fetch), those of chats 4-6 online (a loop
# fetches chat.undelivered() as each of them every 0.1 s).  The customers
# send 6 bursts of 3 messages a chat, 1 s apart (chat 1 gets 3 more); meanwhile:
#   - the relay worker is terminated once (it must lose no bookkeeping);
#   - a session holds chat 1's waiting notification locked for 2 s in an
#     open transaction (as a sender holding its claim too long would): the
#     worker must not wait for it (the messages sent meanwhile are relayed
#     while the lock is held) and records a second notification, which
#     the next claim merges;
#   - a "crashing" sender claims (lease 3 s) and is terminated before it
#     completes anything;
#   - the sender (every 0.3 s: claim 50 with a lease of 3 s, commit,
#     complete each) runs until the queue is empty.
# Then: every message of chats 1-3 is covered by exactly one completed
# notification (no gap, no overlap); chats 4-6 got none; what the crashing
# sender held was offered again (attempt >= 2) and completed; the queue is
# empty.  Then stylist_chat.notifications = off records nothing, and with
# unread reminders at 3 s, an online stylist who does not read gets one
# reminder, one who reads gets none.  A claim of 1, with the 400 oldest
# of 600 due notifications held by another session, gets the one after
# them.  Last, with chat.notifications
# renamed away (the bookkeeping fails), a message is relayed all the
# same and the log says the bookkeeping of 1 message failed.
#
# Usage: bash test/scripts/notifications.sh [DBNAME] (DBNAME unused: the
# cluster is its own).  Output: TAP.  About 40 s.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_notify.XXXXXX)
chmod 755 "$WORK"

cleanup() {
    stop_background
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/psql.err" 2>/dev/null | tail -5; exit 1; }

echo "1..14"

cluster_start "stylist_chat.notification_delay = 3" "stylist_chat.unread_reminder_delay = 0" \
    || bail "cannot start a cluster"
trap cleanup EXIT

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d postgres)
q() { "${PSQL[@]}" -c "$1" 2>>"$WORK/psql.err"; }
reload() { q "ALTER SYSTEM SET $1" && q "SELECT pg_reload_conf()" >/dev/null && sleep 0.5; }

q "CREATE EXTENSION stylist_chat" || bail "cannot create the extension"
q "ALTER DATABASE postgres SET stylist_chat.booking_cards = off"
customer() { printf 'c%07d-0000-4000-8000-000000000000' "$1"; }
stylist() { printf '5%07d-0000-4000-8000-000000000000' "$1"; }
for i in 1 2 3 4 5 6 7 8; do
    q "SELECT chat.upsert_profile('$(customer $i)', 'customer', 'Customer $i'),
              chat.upsert_profile('$(stylist $i)', 'stylist', 'Stylist $i');
       SELECT chat.act_as('$(customer $i)'); SELECT chat.chat_with('$(stylist $i)')" >/dev/null \
        || bail "cannot create chat $i"
done
chat_of() { q "SELECT chat.pair_chat_id('$(customer "$1")', '$(stylist "$1")')"; }
q "CREATE TABLE pushes (id bigint, recipient_id uuid, chat_id uuid, first_seq bigint, last_seq bigint,
                        attempt integer, completed boolean)" || bail "cannot create the log"
q "CREATE TABLE lost (LIKE pushes)" || bail "cannot create the log"

# the online stylists fetch what was sent to them, all the time
(
    while :; do
        for i in 4 5 6; do
            q "SELECT chat.act_as('$(stylist $i)'); SELECT count(*) FROM chat.undelivered()" >/dev/null
        done
        sleep 0.1
    done
) &
BGPIDS+=($!)

# the sender: claim, commit, send (here: log), complete
(
    while :; do
        [ -e "$WORK/pause" ] && { sleep 0.1; continue; }
        q "INSERT INTO pushes SELECT notification_id, recipient_id, chat_id, first_seq, last_seq, attempt, NULL
             FROM chat.claim_notifications(50, '3 s')"
        q "UPDATE pushes SET completed = chat.complete_notification(id) WHERE completed IS NULL"
        sleep 0.3
    done
) &
SENDER=$!
BGPIDS+=($SENDER)

# the backlog, once it is 0 (up to 10 s)
wait_backlog_zero() {
    local b _
    for _ in $(seq 100); do
        b=$(q "SELECT backlog FROM chat.relay_status()")
        [ "$b" == "0" ] && break
        sleep 0.1
    done
    echo "$b"
}

relay_pid_before=$(q "SELECT pid FROM chat.relay_status()")
for burst in 1 2 3 4 5 6; do
    for i in 1 2 3 4 5 6; do
        q "SELECT chat.act_as('$(customer $i)');
           SELECT chat.send_message(chat.pair_chat_id('$(customer $i)', '$(stylist $i)'), 'burst $burst, ' || k)
             FROM generate_series(1, 3) k" >/dev/null || fail "a send failed"
    done
    case $burst in
    2)
        q "SELECT pg_terminate_backend(pid) FROM chat.relay_status()" >/dev/null ;;
    3)
        # a session holds chat 1's waiting notification for 2 s
        c1=$(chat_of 1)
        "${PSQL[@]}" -c "BEGIN" \
            -c "SELECT id FROM chat.notifications WHERE chat_id = '$c1' AND status = 'waiting' FOR UPDATE" \
            -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>&1 &
        LOCKER=$!
        sleep 0.3
        q "SELECT chat.act_as('$(customer 1)');
           SELECT chat.send_message('$c1', 'while locked ' || k) FROM generate_series(1, 3) k" >/dev/null
        sleep 0.7
        relayed_under_lock=$(q "SELECT backlog FROM chat.relay_status()")
        waiting_rows=$(q "SELECT count(*) FROM chat.notifications WHERE chat_id = '$c1' AND status = 'waiting'")
        wait $LOCKER ;;
    4)
        # a sender that claims and dies before completing anything (the
        # other pauses meanwhile, so that there is something to claim)
        touch "$WORK/pause"
        sleep 3.5
        "${PSQL[@]}" -c "INSERT INTO lost SELECT notification_id, recipient_id, chat_id, first_seq, last_seq, attempt, NULL
                           FROM chat.claim_notifications(50, '3 s')" -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
        CRASHER=$!
        sleep 0.5
        q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
        wait $CRASHER 2>/dev/null
        rm -f "$WORK/pause" ;;
    esac
    sleep 1
done

relay_pid_after=$(q "SELECT pid FROM chat.relay_status()")
if [ -n "$relay_pid_after" ] && [ "$relay_pid_after" != "$relay_pid_before" ]; then
    pass "the relay worker was terminated mid-stream and restarted"
else
    fail "the relay worker was terminated mid-stream and restarted ($relay_pid_before, $relay_pid_after)"
fi
is "$relayed_under_lock" "0" "with a waiting notification locked by another session, the worker relays on (backlog 0)"
is "$waiting_rows" "2" "and records a second waiting notification beside the locked one"

# the sender works until nothing is left
for _ in $(seq 1 100); do
    left=$(q "SELECT count(*) FROM chat.notifications")
    pending=$(q "SELECT count(*) FROM pushes WHERE completed IS NULL")
    [ "$left" == "0" ] && [ "$pending" == "0" ] && break
    sleep 0.3
done
kill $SENDER 2>/dev/null
is "$left" "0" "the sender empties the queue"

lost=$(q "SELECT count(*) FROM lost")
if [ "${lost:-0}" -gt 0 ]; then pass "the crashing sender had claimed $lost notifications"; else fail "the crashing sender claimed nothing"; fi
is "$(q "SELECT count(*) FROM lost l WHERE NOT EXISTS
          (SELECT FROM pushes p WHERE p.id = l.id AND p.completed AND p.attempt >= 2)")" "0" \
   "each was offered again after its lease ran out (attempt >= 2) and completed"

# coverage: every message of chats 1-3 in exactly one completed notification
cover="SELECT m.chat_id, m.seq, count(p.id) AS times
         FROM chat.chat_messages m
         LEFT JOIN pushes p ON p.chat_id = m.chat_id AND p.completed AND m.seq BETWEEN p.first_seq AND p.last_seq
        WHERE m.chat_id IN (SELECT chat.pair_chat_id(customer_id, stylist_id) FROM chat.chats)
        GROUP BY m.chat_id, m.seq"
offline="chat.pair_chat_id('$(customer 1)', '$(stylist 1)'), chat.pair_chat_id('$(customer 2)', '$(stylist 2)'),
         chat.pair_chat_id('$(customer 3)', '$(stylist 3)')"
online="chat.pair_chat_id('$(customer 4)', '$(stylist 4)'), chat.pair_chat_id('$(customer 5)', '$(stylist 5)'),
        chat.pair_chat_id('$(customer 6)', '$(stylist 6)')"
is "$(q "SELECT count(*), count(*) FILTER (WHERE times = 1) FROM ($cover) c WHERE chat_id IN ($offline)")" "57|57" \
   "every message to an offline stylist is in exactly one completed notification (57 of 57)"
is "$(q "SELECT count(*) FROM pushes WHERE chat_id IN ($online)")" "0" \
   "no notification for messages that reached their online recipient in time"
is "$(q "SELECT count(*) FROM pushes WHERE completed AND recipient_id NOT IN
          (SELECT stylist_id FROM chat.chats)")" "0" "every notification went to the recipient, never the sender"

# off: nothing recorded
reload "stylist_chat.notifications = off"
q "SELECT chat.act_as('$(customer 7)');
   SELECT chat.send_message(chat.pair_chat_id('$(customer 7)', '$(stylist 7)'), 'nobody hears')" >/dev/null
sleep 1
is "$(q "SELECT count(*) FROM chat.notifications")" "0" "with stylist_chat.notifications off nothing is recorded"
reload "stylist_chat.notifications = on"

# unread reminders: delivered (online) but unread gets one; read gets none
reload "stylist_chat.unread_reminder_delay = 3"
for i in 4 5; do
    q "SELECT chat.act_as('$(customer $i)');
       SELECT chat.send_message(chat.pair_chat_id('$(customer $i)', '$(stylist $i)'), 'reminder test')" >/dev/null
done
sleep 0.5
q "SELECT chat.act_as('$(stylist 5)'); SELECT chat.mark_read(chat.pair_chat_id('$(customer 5)', '$(stylist 5)'))" >/dev/null
sleep 3.5
is "$(q "SELECT string_agg(kind || ':' || (chat_id = chat.pair_chat_id('$(customer 4)', '$(stylist 4)'))::text
                           || ':' || message_count, ',')
           FROM chat.claim_notifications(50, '3 s')")" "reminder:true:19" \
   "the online stylist who did not read gets one reminder (19 unread); the one who read, none"

# a sender crowded out by another still gets its turn (the sender above is
# gone): 600 notifications due for chat 7's message, the oldest 400 held
# by another session's open transaction; a claim of 1 finds one after them
CHAT7=$(chat_of 7)
q "INSERT INTO chat.notifications (chat_id, recipient_id, kind, first_seq, last_seq, first_at, last_at, available_at)
   SELECT '$CHAT7', '$(stylist 7)', 'messages', m.seq, m.seq, m.created_at, m.created_at,
          now() - (i || ' seconds')::interval
     FROM generate_series(1, 600) i, chat.chat_messages m
    WHERE m.chat_id = '$CHAT7' AND m.body = 'nobody hears'" >/dev/null
PGAPPNAME=crowd "${PSQL[@]}" -c "BEGIN" \
    -c "SELECT count(*) FROM (SELECT 1 FROM chat.notifications WHERE chat_id = '$CHAT7'
                               ORDER BY available_at LIMIT 400 FOR UPDATE) l" \
    -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
CROWD=$!
BGPIDS+=($CROWD)
for _ in $(seq 50); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crowd' AND query LIKE '%pg_sleep%'")" = 1 ] && break
    sleep 0.1
done
is "$(q "SELECT count(*) FROM chat.notifications WHERE chat_id = '$CHAT7'")/$(
      q "SELECT count(*) FROM (SELECT 1 FROM chat.notifications WHERE chat_id = '$CHAT7' FOR UPDATE SKIP LOCKED) s")/$(
      q "SELECT count(*) FROM chat.claim_notifications(1, '3 s')")" "600/200/1" \
   "with the 400 oldest of 600 due notifications held by another session, a claim of 1 gets one after them"
kill "$CROWD" 2>/dev/null
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crowd'" >/dev/null
q "DELETE FROM chat.notifications WHERE chat_id = '$CHAT7'" >/dev/null

# a bookkeeping that fails (a DBA renamed the table) does not stop delivery
q "ALTER TABLE chat.notifications RENAME TO notifications_away"
q "SELECT chat.act_as('$(customer 8)');
   SELECT chat.send_message(chat.pair_chat_id('$(customer 8)', '$(stylist 8)'), 'still relayed')" >/dev/null
t=$(wait_backlog_zero)
# the worker notes what it relayed within a tenth of a second
for _ in $(seq 30); do
    grep -q 'the bookkeeping of 1 message failed' "$CLUSTER_DIR/server.log" && break
    sleep 0.1
done
q "ALTER TABLE chat.notifications_away RENAME TO notifications"
is "$t" "0" "when the bookkeeping fails, the worker relays on (backlog 0)"
if grep -q 'the bookkeeping of 1 message failed' "$CLUSTER_DIR/server.log"; then
    pass "and says in the log what it could not note"
else
    fail "and says in the log what it could not note"
fi

if [ -s "$WORK/psql.err" ]; then
    echo "# psql said:"; sed 's/^/#   /' "$WORK/psql.err" | head -20
fi
exit $((failed > 0))
