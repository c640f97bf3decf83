#!/usr/bin/env bash
# test/scripts/migration.sh: chat.consolidate_legacy() run for real, as a
# procedure that commits a batch at a time: stopped at any point it is
# run again, and senders wait for it no longer than one batch.
#
# Database $1 of the test cluster (PGHOST/PGPORT/PGUSER).  300 pairs of
# customers and stylists, 60 legacy messages each over three booking
# threads (18,000 rows), half the pairs already talking in their chats.
#   1. the import cancelled (pg_cancel_backend) after a few batches, then
#      its session terminated (pg_terminate_backend) after a few more, then
#      the server itself killed (SIGKILL of the backend: crash and
#      recovery, the plan, unlogged, is gone): each time some batches are
#      in, and the next run imports the rest.  At the end every good row
#      is imported once, each chat's imported seqs run without a gap from
#      its lowest to 0 in time order, the seqs sent before are untouched,
#      and nobody has anything unread;
#   2. without an actor for the session, as_admin names the admin (chosen
#      again after each commit), and a DO block that picks the admin for
#      its transaction runs it too; without an actor it is refused;
#   3. one pair with 40,000 legacy messages imported in batches of 2,000
#      while a sender writes in that chat every 20 ms: no send waits
#      longer than the longest batch (the chat's row is locked by one
#      batch at a time, from its lock to its commit), the sends go on
#      between batches, and their seqs and the imported ones stay apart;
#   4. a chat held locked by a transaction that sent in it and sleeps:
#      the batches go round it and then wait for it; held for longer than
#      10 s, the run stops (55P03) and the next one imports it.
#
# Usage: bash test/scripts/migration.sh DBNAME.  Output: TAP.  About 40 s.
set -uo pipefail

DB=${1:?usage: migration.sh DBNAME}
cd "$(dirname "$0")/../.." || exit 1
WORK=$(mktemp -d /tmp/stylist_chat_migration.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    stop_background
    rm -rf "$WORK"
}
trap cleanup EXIT

source test/tap.sh
ok() { if [ "$1" == t ]; then pass "$2"; else fail "$2"; echo "#   $3"; fi; }
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/psql.err" 2>/dev/null | tail -5; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@" 2>"$WORK/psql.err"; }

ADA=adadadad-adad-4ada-8ada-adadadadadad
echo "1..26"

# the people, bookings and legacy messages: pair i (1..300) is customer i
# and stylist i % 30; thread i.t (t = 1..3) is booking i.t, 20 messages
# a thread, alternately the customer's and the stylist's, an hour apart
q <<SQL >/dev/null || bail "cannot load the fixtures"
SET stylist_chat.booking_cards = off;
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.cust(i int) RETURNS uuid LANGUAGE sql IMMUTABLE AS \$\$ SELECT md5('customer ' || i)::uuid \$\$;
CREATE FUNCTION pg_temp.styl(i int) RETURNS uuid LANGUAGE sql IMMUTABLE AS \$\$ SELECT md5('stylist ' || i)::uuid \$\$;
SELECT chat.upsert_profile('$ADA', 'admin', 'Ada');
SELECT chat.upsert_profile(pg_temp.cust(i), 'customer', 'Customer ' || i) FROM generate_series(1, 301) i;
SELECT chat.upsert_profile(pg_temp.styl(i), 'stylist', 'Stylist ' || i) FROM generate_series(0, 29) i;
SELECT chat.upsert_booking(md5('booking ' || i || '.' || t)::uuid, pg_temp.cust(i), pg_temp.styl(i % 30),
                           'Cut', timestamptz '2023-01-01' + (i * 3 + t) * interval '1 day', 'completed')
  FROM generate_series(1, 301) i, generate_series(1, 3) t;
INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at)
SELECT format('m%s.%s.%s', i, t, k), format('t%s.%s', i, t), md5('booking ' || i || '.' || t)::uuid,
       CASE WHEN k % 2 = 0 THEN pg_temp.cust(i) ELSE pg_temp.styl(i % 30) END,
       format('message %s of thread %s of pair %s', k, t, i),
       timestamptz '2023-01-01' + (i * 3 + t) * interval '1 day' + k * interval '1 hour'
  FROM generate_series(1, 300) i, generate_series(1, 3) t, generate_series(1, 20) k;
-- half the pairs already talk: two messages each, the stylist's unread
DO \$\$
DECLARE i int;
BEGIN
    FOR i IN SELECT generate_series(1, 300, 2) LOOP
        PERFORM chat.act_as(pg_temp.cust(i));
        PERFORM chat.send_message(chat.chat_with(pg_temp.styl(i % 30)), 'hello here');
        PERFORM chat.act_as(pg_temp.styl(i % 30));
        PERFORM chat.send_message(chat.pair_chat_id(pg_temp.cust(i), pg_temp.styl(i % 30)), 'hello back');
    END LOOP;
END
\$\$;
SQL

# run the import in the background in a session of its own, named so
# that it can be found; stderr to a file; its pid in $pid
run_import() {
    local name=$1 batch=$2
    psql -X -q -At -d "$DB" -c "SET application_name = '$name'" \
         -c "SET stylist_chat.session_identity = on" \
         -c "SELECT chat.act_as('$ADA', for_session => true)" \
         -c "CALL chat.consolidate_legacy(dry_run => false, batch_size => $batch)" \
         >"$WORK/$name.out" 2>"$WORK/$name.err" &
    pid=$!
    BGPIDS+=($pid)
}
imported() { q -c "SELECT count(*) FROM chat.legacy_imports"; }
# wait until at least N legacy messages are imported (at most 60 s)
wait_imported() {
    local i
    for i in $(seq 1 600); do
        [ "$(imported)" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
backend_of() { q -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND backend_type = 'client backend'"; }

# 1. cancelled, terminated, crashed
run_import cancelled 500
wait_imported 1500 || bail "the import did not start"
q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'cancelled'" >/dev/null
wait "$pid"
got=$(imported)
ok "$(grep -q 'canceling statement due to user request' "$WORK/cancelled.err" && echo t)" \
   "the import is cancelled mid-run" "$(cat "$WORK/cancelled.err")"
ok "$([ "$got" -ge 1500 ] && [ "$got" -lt 18000 ] && [ $((got % 500)) -eq 0 ] && echo t)" \
   "the batches before the cancel stay imported, whole ($got legacy messages)"

run_import terminated 500
wait_imported $((got + 1500)) || bail "the second run did not start"
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'terminated'" >/dev/null
wait "$pid"
got2=$(imported)
ok "$([ "$got2" -gt "$got" ] && [ "$got2" -lt 18000 ] && echo t)" \
   "a second run, terminated mid-run, went on from there ($got2)"

run_import crashed 500
wait_imported $((got2 + 1500)) || bail "the third run did not start"
bpid=$(backend_of crashed)
kill -9 "$bpid" || bail "no backend of the third run to kill (pid: $bpid)"
wait "$pid"
for i in $(seq 1 100); do
    pg_isready -q -d "$DB" && q -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.2
done
got3=$(imported)
ok "$([ "$got3" -gt "$got2" ] && [ "$got3" -lt 18000 ] && echo t)" \
   "a third run, its server process killed (crash and recovery), kept its committed batches ($got3)"
is "$(q -c "SELECT count(*) FROM chat.legacy_plan")" 0 "the plan of the crashed run is gone with the crash (unlogged)"

run_import finished 500
wait "$pid"
is "$(tail -1 "$WORK/finished.out" | cut -d'|' -f2-)" "$((18000 - got3))|$got3|0|$(((18000 - got3 + 499) / 500))" \
   "a fourth run imports the rest (imported | imported before | problems | batches)"
is "$(q -c "SELECT count(*), count(DISTINCT legacy_id) FROM chat.legacy_imports")" "18000|18000" \
   "every legacy message is imported, once"
is "$(q -c "SELECT count(*) FROM chat.chat_messages m JOIN chat.legacy_imports i USING (chat_id, seq)
             JOIN chat.legacy_messages s ON s.legacy_id = i.legacy_id
            WHERE m.body = s.body AND m.created_at = s.sent_at AND m.sender_id = s.sender_id")" 18000 \
   "each imported message is its legacy message (body, time, sender)"
is "$(q -c "SELECT count(*) FROM (
              SELECT chat_id, min(seq) AS low, max(seq) AS high, count(*) AS n,
                     bool_and(ordered) AS ordered
                FROM (SELECT chat_id, seq,
                             created_at >= lag(created_at) OVER (PARTITION BY chat_id ORDER BY seq) IS NOT FALSE AS ordered
                        FROM chat.chat_messages) m
               WHERE seq <= 0 GROUP BY chat_id) c
             WHERE low = -59 AND high = 0 AND n = 60 AND ordered")" 300 \
   "each of the 300 chats holds its 60 imported messages at seqs -59 to 0, without a gap, in time order"
is "$(q -c "SELECT count(*) FILTER (WHERE body = 'hello here' AND seq = 1) + count(*) FILTER (WHERE body = 'hello back' AND seq = 2)
              FROM chat.chat_messages WHERE seq > 0")" 300 \
   "the 150 chats that already talked have their messages at seqs 1 and 2, as before"
is "$(q -c "SELECT sum(customer_unread) || ' ' || sum(stylist_unread) FROM chat.chats")" "150 0" \
   "unread: only the customers' one message each from before (the stylists read theirs by answering)"

# 2. a DO block, and no actor
q -c "INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at)
      SELECT 'do' || k, 't301.1', md5('booking 301.1')::uuid, md5('customer 301')::uuid, 'by a DO block',
             timestamptz '2022-01-01' + k * interval '1 minute'
        FROM generate_series(1, 25) k" >/dev/null
out=$(psql -X -q -At -d "$DB" 2>&1 <<'SQL'
SET client_min_messages = warning;
DO $$
DECLARE
    p bigint; m bigint; a bigint; x bigint; b integer;
BEGIN
    PERFORM chat.act_as('adadadad-adad-4ada-8ada-adadadadadad');
    CALL chat.consolidate_legacy(false, 10, NULL, p, m, a, x, b);
    RAISE WARNING 'imported % in % batches', m, b;
END
$$;
SQL
)
is "$(echo "$out" | grep -o 'imported [0-9]* in [0-9]* batches')" "imported 25 in 3 batches" \
   "a DO block that acts as the admin for its transaction runs the import over three commits"
q -c "INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at)
      SELECT 'as' || k, 't301.1', md5('booking 301.1')::uuid, md5('customer 301')::uuid, 'with as_admin',
             timestamptz '2021-01-01' + k * interval '1 minute'
        FROM generate_series(1, 25) k" >/dev/null
out=$(psql -X -q -At -d "$DB" -c "CALL chat.consolidate_legacy(false, 10, '$ADA')" 2>&1)
is "$(echo "$out" | tail -1 | cut -d'|' -f2,5)" "25|3" \
   "so does CALL consolidate_legacy(..., as_admin => the admin), from a session without an actor"
out=$(psql -X -q -At -d "$DB" -c "CALL chat.consolidate_legacy(dry_run => false)" 2>&1)
is "$(echo "$out" | head -1)" "ERROR:  no chat profile is acting in this session" \
   "without an actor, nothing runs"

# 3. a sender in a chat under import
CUST=$(q -c "SELECT md5('customer 301')::uuid")
STYL=$(q -c "SELECT md5('stylist 1')::uuid")
CHAT=$(q -c "SELECT chat.pair_chat_id('$CUST', '$STYL')")
q -c "INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at)
      SELECT 'big' || k, 't301.2', md5('booking 301.2')::uuid,
             CASE WHEN k % 2 = 0 THEN '$CUST'::uuid ELSE '$STYL'::uuid END,
             'an old message, number ' || k, timestamptz '2020-01-01' + k * interval '1 minute'
        FROM generate_series(1, 40000) k" >/dev/null
q -c "CREATE TABLE public.send_waits (seq bigint, sent_at timestamptz, waited interval)" >/dev/null
# the sender: every 20 ms a message, each its own transaction, until the
# import is done (and at least 20 more after its first batch)
psql -X -q -At -d "$DB" >"$WORK/sender.out" 2>"$WORK/sender.err" <<SQL &
DO \$\$
DECLARE
    t0 timestamptz;
    s bigint;
    started boolean := false;
    after integer := 0;
BEGIN
    FOR i IN 1..3000 LOOP
        PERFORM chat.act_as('$CUST');
        t0 := clock_timestamp();
        s := chat.send_message('$CHAT', 'a new message ' || i);
        INSERT INTO public.send_waits VALUES (s, t0, clock_timestamp() - t0);
        COMMIT;
        IF EXISTS (SELECT FROM chat.legacy_imports WHERE legacy_id LIKE 'big%') THEN
            started := true;
        END IF;
        IF started THEN
            after := after + 1;
            EXIT WHEN after >= 20 AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'big');
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
\$\$;
SQL
sender=$!
BGPIDS+=($sender)
sleep 0.5
run_import big 2000
wait "$pid"
wait "$sender"
is "$(tail -1 "$WORK/big.out" | cut -d'|' -f2,5)" "40000|20" "the 40,000 messages are imported in 20 batches"
ok "$([ ! -s "$WORK/sender.err" ] && echo t)" "the sender had no error" "$(head -3 "$WORK/sender.err")"
# a batch's rows carry the time its transaction started: batch k lasted
# from its start to the next one's (the last one: to the last send it held up)
IFS='|' read -r maxbatch maxwait during whole <<<"$(q -c "
    WITH b AS (SELECT DISTINCT imported_at AS t FROM chat.legacy_imports WHERE legacy_id LIKE 'big%'),
         d AS (SELECT lead(t) OVER (ORDER BY t) - t AS dur FROM b)
    SELECT round(extract(epoch FROM (SELECT max(dur) FROM d)) * 1000),
           round(extract(epoch FROM (SELECT max(waited) FROM public.send_waits)) * 1000),
           (SELECT count(*) FROM public.send_waits
             WHERE sent_at > (SELECT min(t) FROM b) AND sent_at < (SELECT max(t) FROM b)),
           round(extract(epoch FROM (SELECT max(t) - min(t) FROM b)) * 1000)")"
echo "# longest batch ${maxbatch} ms, longest wait of a send ${maxwait} ms, sends between the first and the last batch: ${during}, from the first batch to the last: ${whole} ms"
ok "$([ -n "$during" ] && [ "$during" -ge 5 ] && echo t)" "the sends go on while the import runs ($during between its first and last batch)" ""
# (the margin: a shared machine's scheduling, not a second batch; the
# import as a whole is the wait this rules out)
ok "$([ -n "$maxwait" ] && [ -n "$maxbatch" ] && [ "$maxwait" -le $((maxbatch + 500)) ] &&
     [ "$maxwait" -lt $((whole / 2)) ] && echo t)" \
   "no send waited longer than the longest batch (${maxwait} ms against ${maxbatch} ms + 500 ms), nor anything like the import (${whole} ms)" ""
is "$(q -c "SELECT min(seq) = 1 AND max(seq) = count(*) FROM public.send_waits")" t \
   "the sends took seqs 1, 2, 3 ... without a gap"
is "$(q -c "SELECT min(seq) || ' ' || max(seq) || ' ' || count(*) FROM chat.chat_messages WHERE chat_id = '$CHAT' AND seq <= 0")" \
   "-40049 0 40050" "and the imported messages are below them, 40,050 from -40049 to 0 (with the 50 of part 2)"
q -c "DROP TABLE public.send_waits" >/dev/null

# 4. a chat held locked by a transaction that sent in it and waits: the
# batches go round it, then wait for it (up to 10 s); held longer, the
# run stops with 55P03 and the next run imports it
stage_old() {   # stage_old PAIR COUNT: older messages for pair PAIR
    q -c "INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at)
          SELECT 'old' || $1 || '.' || k || '.' || md5(random()::text), 't$1.1', md5('booking $1.1')::uuid,
                 md5('customer $1')::uuid, 'older ' || k, timestamptz '2019-01-01' + k * interval '1 minute'
            FROM generate_series(1, $2) k" >/dev/null
}
hold() {        # hold PAIR SECONDS: send in pair PAIR's chat, then wait before committing
    psql -X -q -At -d "$DB" >/dev/null 2>&1 <<SQL &
SET application_name = 'holder';
BEGIN;
SELECT chat.act_as(md5('customer $1')::uuid);
SELECT chat.send_message(chat.pair_chat_id(md5('customer $1')::uuid, md5('stylist ' || $1 % 30)::uuid), 'holding');
SELECT pg_sleep($2);
COMMIT;
SQL
    BGPIDS+=($!)
    for i in $(seq 1 100); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND query LIKE '%pg_sleep%'")" = 1 ] && return 0
        sleep 0.05
    done
    return 1
}
for p in 2 3 4; do stage_old $p 30; done
hold 3 3 || bail "the holder did not start"
t0=$(date +%s%N)
run_import around 20
wait "$pid"
ms=$((($(date +%s%N) - t0) / 1000000))
is "$(tail -1 "$WORK/around.out" | cut -d'|' -f2,4)" "90|0" "with pair 3's chat held for 3 s, the run imports all 90 messages"
is "$(q -c "SELECT count(*) FILTER (WHERE legacy_id LIKE 'old3.%') FROM (
              SELECT legacy_id FROM chat.legacy_imports
               WHERE legacy_id LIKE 'old%' ORDER BY imported_at DESC LIMIT 30) x")" 30 \
   "the held chat's messages come last: the batches before went round it"
ok "$([ "$ms" -ge 1500 ] && echo t)" "and the run waited for it (${ms} ms)" ""

for p in 5 6; do stage_old $p 30; done
hold 6 15 || bail "the second holder did not start"
run_import stopped 20
wait "$pid"
ok "$(grep -q 'the chats left to import into stay locked by other transactions' "$WORK/stopped.err" && echo t)" \
   "held for longer than 10 s, the run stops with 55P03 and says why" "$(head -3 "$WORK/stopped.err")"
is "$(q -c "SELECT count(*) FILTER (WHERE legacy_id LIKE 'old5.%') || ' ' || count(*) FILTER (WHERE legacy_id LIKE 'old6.%')
              FROM chat.legacy_imports")" "30 0" "having imported the other chat's messages"
wait "${BGPIDS[-1]}"
run_import after 20
wait "$pid"
is "$(tail -1 "$WORK/after.out" | cut -d'|' -f2,4)" "30|0" "once the chat is free, the next run imports the rest"

[ "$failed" -eq 0 ]
