#!/usr/bin/env bash
# test/scripts/kpis.sh: the KPI rollups kept through the real relay and
# bookkeeping workers are the ones chat.rebuild_kpis() computes from the
# history.
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end),
# database postgres, booking cards on (they must not count).  Three
# stylists, six customers, nine chats with past, future and cancelled
# bookings.  Then:
#   1. four sender loops write in every chat, both sides, for a few
#      seconds, while the relay worker is terminated once, and the
#      bookkeeper once: the rollups
#      equal a rebuild (compared row by row, every table), and kpis() of
#      today counts exactly the participants' messages of today;
#   2. a session holds the rollups locked as rebuild_kpis() does, for 3 s:
#      messages sent meanwhile are relayed while it holds them (the
#      worker skips their bookkeeping rather than wait), and once one
#      more message of the chat is relayed they are read back from its
#      history: equal to a rebuild again;
#   3. with stylist_chat.kpis off, messages and a booking leave the
#      rollups alone; back on, a chat's next message brings its history
#      in; rebuild_kpis() (as an admin) brings in the rest;
#   4. with a rollup renamed away (the KPI bookkeeping fails), a message
#      is relayed and its notification recorded all the same, the log
#      says what failed, and the chat's next message brings it in;
#   5. the worker killed right after relaying a message, before noting
#      it: it is noted once (one notification, counted once) when the
#      worker starts again;
#   6. the bookkeeper killed right after a message was handed to it,
#      before it noted it: noted once when it starts again, and
#      relay_status() names the new bookkeeper.
#
# Usage: bash test/scripts/kpis.sh [DBNAME] (DBNAME unused: the cluster is
# its own).  Output: TAP.  About 30 s.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_kpis.XXXXXX)
chmod 755 "$WORK"

cleanup() {
    stop_background
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/psql.err" 2>/dev/null | tail -5; exit 1; }

echo "1..19"

cluster_start || bail "cannot start a cluster"
trap cleanup EXIT

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -d postgres)
q() { "${PSQL[@]}" -c "$1" 2>>"$WORK/psql.err"; }
reload() { q "ALTER SYSTEM SET $1" && q "SELECT pg_reload_conf()" >/dev/null && sleep 0.5; }

q "CREATE EXTENSION stylist_chat" || bail "cannot create the extension"
customer() { printf 'c%07d-0000-4000-8000-000000000000' "$1"; }
stylist() { printf '5%07d-0000-4000-8000-000000000000' "$1"; }
booking() { printf 'b%07d-0000-4000-8000-000000000000' "$1"; }
ADMIN=a0000000-0000-4000-8000-000000000000
q "SELECT chat.upsert_profile('$ADMIN', 'admin', 'Ada')" >/dev/null || bail "cannot create the admin"
for s in 1 2 3; do
    q "SELECT chat.upsert_profile('$(stylist $s)', 'stylist', 'Stylist $s')" >/dev/null || bail "cannot create stylist $s"
done
# chat k (1-9): customer (k+1)/2 rounded... each of 6 customers with 1 or 2 stylists
PAIRS="1:1 1:2 2:1 3:2 4:3 5:3 6:1 6:2 6:3"
k=0
for p in $PAIRS; do
    k=$((k + 1))
    c=${p%%:*} s=${p#*:}
    q "SELECT chat.upsert_profile('$(customer "$c")', 'customer', 'Customer $c')" >/dev/null
    # a booking long past, one last month, one to come; every third chat one cancelled
    q "SELECT chat.upsert_booking('$(booking $((k * 10 + 1)))', '$(customer "$c")', '$(stylist "$s")', 'Cut', now() - interval '90 days', 'completed');
       SELECT chat.upsert_booking('$(booking $((k * 10 + 2)))', '$(customer "$c")', '$(stylist "$s")', 'Colour', now() - interval '20 days', 'completed');
       SELECT chat.upsert_booking('$(booking $((k * 10 + 3)))', '$(customer "$c")', '$(stylist "$s")', 'Cut', now() + interval '10 days', 'confirmed')" \
        >/dev/null || bail "cannot book for chat $k"
    if [ $((k % 3)) -eq 0 ]; then
        q "SELECT chat.upsert_booking('$(booking $((k * 10 + 2)))', '$(customer "$c")', '$(stylist "$s")', 'Colour', now() - interval '20 days', 'cancelled')" \
            >/dev/null || bail "cannot cancel for chat $k"
    fi
    # the bookings were made before they started
    q "UPDATE chat.bookings SET created_at = least(created_at, starts_at - interval '7 days')
        WHERE customer_id = '$(customer "$c")' AND stylist_id = '$(stylist "$s")'"
done

# every row of every rollup, in one canonical text
DUMP="SELECT string_agg(t, E'\n' ORDER BY t) FROM (
        SELECT 'chats ' || k::text AS t FROM chat.kpi_chats k
        UNION ALL SELECT 'months ' || m::text FROM chat.kpi_chat_months m
        UNION ALL SELECT 'days ' || d::text FROM chat.kpi_days d
        UNION ALL SELECT 'sdays ' || d::text FROM chat.kpi_stylist_days d
        UNION ALL SELECT 'resp ' || r::text FROM chat.kpi_responses r
        UNION ALL SELECT 'sresp ' || r::text FROM chat.kpi_stylist_responses r
        UNION ALL SELECT 'pairs ' || p::text FROM chat.kpi_pairs p
        UNION ALL SELECT 'bookings ' || b::text FROM chat.kpi_bookings b
        UNION ALL SELECT 'bchats ' || b::text FROM chat.kpi_booking_chats b
        UNION ALL SELECT 'react ' || a::text FROM chat.kpi_reactivations a) x"
rebuilt() {
    "${PSQL[@]}" -c "BEGIN" -c "SELECT chat._rebuild_kpis()" -c "$DUMP" -c "ROLLBACK" 2>>"$WORK/psql.err" | sed 1d
}
# the backlog and what is relayed but not noted yet, once both are 0 (up
# to 10 s): the worker notes what it relayed within a tenth of a second
wait_backlog_zero() {
    local b _
    for _ in $(seq 100); do
        b=$(q "SELECT backlog + (SELECT count(*) FROM chat.relay_watermark WHERE noted_seq < relayed_seq)
                 FROM chat.relay_status()")
        [ "$b" == "0" ] && break
        sleep 0.1
    done
    echo "$b"
}
send() {   # send CHAT-INDEX SIDE TEXT: one message of that side in chat k
    local p c s who
    p=$(echo $PAIRS | cut -d' ' -f"$1")
    c=${p%%:*} s=${p#*:}
    if [ "$2" = customer ]; then who=$(customer "$c"); else who=$(stylist "$s"); fi
    q "SELECT chat.act_as('$who');
       SELECT chat.send_message(chat.pair_chat_id('$(customer "$c")', '$(stylist "$s")'), '$3')" >/dev/null
}
wait_backlog_zero >/dev/null

# 1. four senders, both sides, in every chat; the worker killed once
for w in 1 2 3 4; do
    (
        RANDOM=$w
        for i in $(seq 40); do
            k=$((RANDOM % 9 + 1))
            if [ $((RANDOM % 2)) -eq 0 ]; then side=customer; else side=stylist; fi
            send "$k" "$side" "w$w m$i" || echo "send failed" >>"$WORK/failures"
            sleep 0.0$((RANDOM % 5))
        done
    ) &
    BGPIDS+=($!)
done
sleep 1
q "SELECT pg_terminate_backend(pid) FROM chat.relay_status()" >/dev/null
sleep 1.5
q "SELECT pg_terminate_backend(bookkeeper_pid) FROM chat.relay_status()" >/dev/null
wait "${BGPIDS[@]}" 2>/dev/null
BGPIDS=()
is "$(cat "$WORK/failures" 2>/dev/null | wc -l)" "0" "160 messages sent by four senders, both sides, in nine chats"
is "$(wait_backlog_zero)" "0" "the relay worker, terminated once, relayed them all, and the bookkeeper, terminated once, noted them all"
live=$(q "$DUMP")
is "$live" "$(rebuilt)" "the rollups kept through the relay are the ones a rebuild computes, row by row"
is "$(echo "$live" | grep -c '^chats ')|$(echo "$live" | grep -c '^resp ' | sed 's/^0$/none/')" "9|$(echo "$live" | grep -c '^resp ' | sed 's/^0$/some/')" \
   "... nine chats counted, with response times"
is "$(q "SELECT chat.act_as('$ADMIN'); SELECT messages FROM chat.kpis(current_date, current_date)" | tail -1)" \
   "$(q "SELECT count(*) FROM chat.chat_messages WHERE sender_id IS NOT NULL AND created_at >= current_date::timestamptz")" \
   "kpis() of today counts exactly the participants' messages of today (booking cards left out)"

# 2. the rollups held as rebuild_kpis() holds them: delivery goes on
"${PSQL[@]}" -c "BEGIN" -c "LOCK TABLE chat.kpi_chats IN EXCLUSIVE MODE" -c "SELECT pg_sleep(3)" -c "COMMIT" \
    >/dev/null 2>>"$WORK/psql.err" &
LOCKER=$!
sleep 0.5
for i in 1 2 3; do send 1 customer "while held $i"; send 1 stylist "answer $i"; done
is "$(wait_backlog_zero)" "0" "messages sent while the rollups are held are relayed all the same"
is "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = 'chat.kpi_chats'::regclass AND mode = 'ExclusiveLock' AND granted")" \
   "1" "... while the rollups are still held"
wait "$LOCKER"
send 1 customer "after the hold"
wait_backlog_zero >/dev/null
is "$(q "$DUMP")" "$(rebuilt)" "the chat's next message brought in those it skipped: equal to a rebuild"

# 3. stylist_chat.kpis off, then on again
reload "stylist_chat.kpis = off"
before=$(q "$DUMP")
send 2 customer "off 1"; send 2 stylist "off 2"; send 3 customer "off 3"
q "SELECT chat.upsert_booking('$(booking 999)', '$(customer 1)', '$(stylist 1)', 'Cut', now() + interval '40 days', 'confirmed')" >/dev/null
wait_backlog_zero >/dev/null
is "$(q "$DUMP")" "$before" "with stylist_chat.kpis off, messages and a booking leave the rollups alone"
reload "stylist_chat.kpis = on"
send 2 customer "on again"
wait_backlog_zero >/dev/null
is "$(q "SELECT k.noted_seq = c.last_seq FROM chat.kpi_chats k JOIN chat.chats c USING (chat_id)
          WHERE c.customer_id = '$(customer 1)' AND c.stylist_id = '$(stylist 2)'")|$(q "SELECT k.noted_seq < c.last_seq FROM chat.kpi_chats k JOIN chat.chats c USING (chat_id)
          WHERE c.customer_id = '$(customer 2)' AND c.stylist_id = '$(stylist 1)'")" "t|t" \
   "back on, a chat's next message brings its history in; a chat without one waits for it"
want=$(rebuilt)
q "SELECT chat.act_as('$ADMIN'); SELECT chat.rebuild_kpis()" >/dev/null
is "$(q "$DUMP")" "$want" "rebuild_kpis() as an admin brings in the rest"

# 4. the KPI bookkeeping fails (a rollup renamed away): delivery and the
# notifications go on, the log says so, and the chat's next message
# brings the missed ones in
q "ALTER TABLE chat.kpi_days RENAME TO kpi_days_away"
send 4 customer "while broken"
sleep 0.5
is "$(wait_backlog_zero)|$(q "SELECT max(n.last_seq) = max(c.last_seq) FROM chat.notifications n
                              JOIN chat.chats c USING (chat_id)
                             WHERE c.customer_id = '$(customer 3)' AND c.stylist_id = '$(stylist 2)'")" "0|t" \
   "with the KPI bookkeeping failing, the message is relayed and its notification recorded"
is "$(grep -c 'the KPI bookkeeping of 1 message(s) failed' "$CLUSTER_DIR/server.log")" "1" \
   "the server log says the KPI bookkeeping of 1 message failed"
q "ALTER TABLE chat.kpi_days_away RENAME TO kpi_days"
send 4 stylist "mended"
wait_backlog_zero >/dev/null
is "$(q "$DUMP")" "$(rebuilt)" "the chat's next message brought the missed one in: equal to a rebuild"

# 5. the worker killed right after it relayed a message, before it noted
# it (it notes within a tenth of a second): noted once all the same, from
# the history, when it starts again
seq=$(q "SELECT chat.act_as('$(customer 5)');
         SELECT chat.send_message(chat.pair_chat_id('$(customer 5)', '$(stylist 3)'), 'right before a kill')" | tail -1)
q "SELECT pg_terminate_backend(pid) FROM chat.relay_status()" >/dev/null
wait_backlog_zero >/dev/null
is "$(q "SELECT count(*) FROM chat.notifications
          WHERE chat_id = chat.pair_chat_id('$(customer 5)', '$(stylist 3)')
            AND kind = 'messages' AND $seq BETWEEN first_seq AND last_seq")|$(q "SELECT noted_seq = relayed_seq FROM chat.relay_watermark
          WHERE chat_id = chat.pair_chat_id('$(customer 5)', '$(stylist 3)')")" "1|t" \
   "a message relayed just before the worker was killed is noted once: one notification covers it"
is "$(q "$DUMP")" "$(rebuilt)" "... and the KPIs count it once: equal to a rebuild"

# 6. the bookkeeper killed right after a message was handed to it, before
# it noted it (it waits a tenth of a second for more)
old_bk=$(q "SELECT bookkeeper_pid FROM chat.relay_status()")
seq=$(q "SELECT chat.act_as('$(customer 6)');
         SELECT chat.send_message(chat.pair_chat_id('$(customer 6)', '$(stylist 3)'), 'right before the bookkeeper goes')" | tail -1)
for _ in $(seq 100); do
    [ "$(q "SELECT relayed_seq FROM chat.relay_watermark
             WHERE chat_id = chat.pair_chat_id('$(customer 6)', '$(stylist 3)')")" = "$seq" ] && break
    sleep 0.01
done
q "SELECT pg_terminate_backend(bookkeeper_pid) FROM chat.relay_status()" >/dev/null
sleep 1.5
wait_backlog_zero >/dev/null
new_bk=$(q "SELECT bookkeeper_pid FROM chat.relay_status()")
is "$([ -n "$new_bk" ] && [ "$new_bk" != "$old_bk" ] && echo restarted)" "restarted" \
   "relay_status() names the bookkeeper that started again ($old_bk, then $new_bk)"
is "$(q "SELECT count(*) FROM chat.notifications
          WHERE chat_id = chat.pair_chat_id('$(customer 6)', '$(stylist 3)')
            AND kind = 'messages' AND $seq BETWEEN first_seq AND last_seq")|$(q "SELECT noted_seq = relayed_seq FROM chat.relay_watermark
          WHERE chat_id = chat.pair_chat_id('$(customer 6)', '$(stylist 3)')")" "1|t" \
   "a message handed to the bookkeeper just before it was killed is noted once: one notification covers it"
is "$(q "$DUMP")" "$(rebuilt)" "... and the KPIs count it once: equal to a rebuild"

exit $((failed > 0))
