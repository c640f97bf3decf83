#!/usr/bin/env bash
# test/demo.sh: a short conversation between a customer and a stylist across
# two bookings, on a throwaway cluster (make demo).  Every step prints what
# each side sees: the inbox with unread counts, the history, the bookings;
# at the end Leo's phone (test/chat_client.c) is connected and shows Mia's
# messages arriving in real time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash test/deps.sh
source test/lib.sh
build_and_install
cluster_start

# the relay worker serves the database named by stylist_chat.database:
# postgres, by default.  demo_app is the application backend; demo_phone
# is Leo's phone, a direct connection (never through a pooler), the one
# kind of login for which a superuser may allow an actor for the session.
psql -X -q -d postgres -c "CREATE EXTENSION stylist_chat" \
     -c "CREATE ROLE demo_app LOGIN IN ROLE chat_service" \
     -c "CREATE ROLE demo_phone LOGIN IN ROLE chat_service" \
     -c "ALTER ROLE demo_phone SET stylist_chat.session_identity = on"
gcc -O2 -o "$CLUSTER_DIR/chat_client" test/chat_client.c -I"$("$PG_CONFIG" --includedir)" \
    -L"$("$PG_CONFIG" --libdir)" -lpq

psql -X -q -d postgres -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
\set SHOW_CONTEXT never
\set mia   '''a1000000-0000-4000-8000-000000000001'''
\set leo   '''b2000000-0000-4000-8000-000000000002'''
\set cut   '''c3000000-0000-4000-8000-000000000003'''
\set color '''c3000000-0000-4000-8000-000000000004'''

-- the application backend connects as a member of chat_service
SET ROLE demo_app;

\echo '== 1. The app registers Mia (a customer), Leo (a stylist) and Mia''s first booking with him'
\echo '   chat.upsert_profile(...) twice, chat.upsert_booking(...): nothing to show yet'
SELECT chat.upsert_profile(:mia, 'customer', 'Mia') \g /dev/null
SELECT chat.upsert_profile(:leo, 'stylist', 'Leo') \g /dev/null
SELECT chat.upsert_booking(:cut, :mia, :leo, 'Haircut', '2026-12-01 10:00+00', 'confirmed') \g /dev/null

\echo
\echo '== 2. Mia opens the chat from her booking and writes to Leo'
\echo '   The app acts as Mia for one transaction: BEGIN; chat.act_as(mia); ... COMMIT'
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
SELECT chat.chat_for_booking(:cut) AS chat \gset
\echo '   chat.chat_for_booking(haircut) gives the chat of the pair: ' :chat
\echo '   chat.send_message(chat, ''Hi Leo! ...'', booking_id => haircut) returns the message''s number in the chat:'
SELECT chat.send_message(:'chat', 'Hi Leo! Could we go a bit shorter than last time?', booking_id => :cut) AS "seq of Mia's text";
\echo '   then a photo, a message with an attachment and no text:'
SELECT chat.send_message(:'chat', '', attachments => '[{"storage_key": "uploads/mia/bob.jpg", "content_type": "image/jpeg", "byte_size": 204800, "width": 1080, "height": 1350}]') AS "seq of Mia's photo";
COMMIT;

\echo
\echo '== 3. Leo opens the app. chat.inbox(): one chat, three unread messages (the booking''s card and Mia''s two), one booking with Mia'
BEGIN;
SELECT chat.act_as(:leo) \g /dev/null
SELECT other_name, preview, unread_count, bookings_count FROM chat.inbox();
\echo '   chat.history(chat): the messages, newest first, with the booking they are about and the photo'
SELECT seq, CASE WHEN sender_id IS NULL THEN '(card)' WHEN sender_id = :leo THEN 'Leo' ELSE 'Mia' END AS sender,
       body, booking->>'service' AS about, jsonb_array_length(attachments) AS photos
  FROM chat.history(:'chat');
\echo '   chat.mark_read(chat): Leo has read everything, up to message'
SELECT chat.mark_read(:'chat') AS "read up to";
\echo '   and he answers: chat.send_message(chat, ''Sure, ...'')'
SELECT chat.send_message(:'chat', 'Sure, a bob like that works. See you on the 1st!') AS "seq of Leo's answer";
COMMIT;

\echo
\echo '== 4. Mia''s inbox shows Leo''s answer, unread; she reads it (chat.mark_read)'
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
SELECT other_name, preview, unread_count FROM chat.inbox();
SELECT chat.mark_read(:'chat') AS "Mia has read up to";
COMMIT;

\echo
\echo '== 5. Weeks later the haircut is done and Mia books a colour: a second booking, the same chat; each booking change posts a card in the chat'
SELECT chat.upsert_booking(:cut, :mia, :leo, 'Haircut', '2026-12-01 10:00+00', 'completed') \g /dev/null
SELECT chat.upsert_booking(:color, :mia, :leo, 'Colour', '2027-01-15 14:00+00', 'confirmed') \g /dev/null
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
\echo '   chat.chat_for_booking(colour) is the chat of the haircut too:'
SELECT chat.chat_for_booking(:color) = :'chat' AS "same chat";
\echo '   Mia writes about the new booking:'
SELECT chat.send_message(:'chat', 'Loved the cut! Booked a colour for January, any prep?', booking_id => :color) AS "seq";
COMMIT;

\echo
\echo '== 6. Leo sees a regular customer: two bookings (chat.chat_bookings) and the whole history in one thread'
BEGIN;
SELECT chat.act_as(:leo) \g /dev/null
SELECT other_name, preview, unread_count, bookings_count FROM chat.inbox();
SELECT service, starts_at, status FROM chat.chat_bookings(:'chat');
SELECT seq, CASE WHEN sender_id IS NULL THEN '(card)' WHEN sender_id = :leo THEN 'Leo' ELSE 'Mia' END AS sender,
       body, booking->>'service' AS about
  FROM chat.history(:'chat') ORDER BY seq;
\echo '   Leo answers:'
SELECT chat.send_message(:'chat', 'Come with unwashed hair, that''s all.') AS "seq";
COMMIT;

\echo
\echo '== 7. Mia fixes a typo in message 7 (chat.edit_message) and deletes her photo, message 3 (chat.delete_message)'
\echo '   Message 3 keeps its number, without text or photo; message 7 is marked edited:'
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
SELECT chat.edit_message(:'chat', 7, 'Loved the cut! I booked a colour for January, any prep?') \g /dev/null
SELECT chat.delete_message(:'chat', 3) \g /dev/null
SELECT seq, body, edited_at IS NOT NULL AS edited, deleted_at IS NOT NULL AS deleted
  FROM chat.history(:'chat') ORDER BY seq;
SELECT other_name, preview, unread_count FROM chat.inbox();
COMMIT;

\echo
\echo '== 8. Nobody else can look in. A stranger asks for the chat''s history and is refused,'
\echo '   with the same answer as for a chat that does not exist (the error below is the expected answer):'
SELECT chat.upsert_profile('d4000000-0000-4000-8000-000000000005', 'customer', 'Stranger') \g /dev/null
BEGIN;
SELECT chat.act_as('d4000000-0000-4000-8000-000000000005') \g /dev/null
\set ON_ERROR_STOP 0
SELECT * FROM chat.history(:'chat');
ROLLBACK;
SQL
echo
echo "== 9. Real time. Leo's phone comes online: it LISTENs on his private channel"
echo "   (chat.listen()), catches up on the 6 messages (Mia's and the booking cards) it never fetched"
echo "   (chat.catch_up()), then shows Mia typing and her next message as they"
echo "   happen (the relay worker notifies it; the phone then fetches the text)."
echo "   Each line below is what the phone received:"
# let the relay finish with the events above first
for _ in $(seq 50); do
    [ "$(psql -X -At -d postgres -c "SELECT queued = 0 AND backlog = 0 FROM chat.relay_status()")" = t ] && break
    sleep 0.2
done
PGUSER=demo_phone "$CLUSTER_DIR/chat_client" -d postgres -p b2000000-0000-4000-8000-000000000002 \
    -n 7 -t 15 >"$CLUSTER_DIR/leo.out" 2>"$CLUSTER_DIR/leo.err" &
client=$!
sleep 1
psql -X -q -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
SET ROLE demo_app;
BEGIN;
SELECT chat.act_as('a1000000-0000-4000-8000-000000000001');
SELECT chat.typing(chat.chat_with('b2000000-0000-4000-8000-000000000002'));
COMMIT;
SELECT pg_sleep(0.5);
BEGIN;
SELECT chat.act_as('a1000000-0000-4000-8000-000000000001');
SELECT chat.send_message(chat.chat_with('b2000000-0000-4000-8000-000000000002'),
                         'Running 5 minutes late, sorry!');
COMMIT;
SQL
wait "$client" || true
sed 's/^/   Leo> /' "$CLUSTER_DIR/leo.out"
echo
echo "== 10. The relay worker's state (chat.relay_status()): running, it has relayed events, nothing is left"
psql -X -q -d postgres -c "SELECT running, events_relayed > 0 AS relayed, backlog FROM chat.relay_status()"
echo "demo finished; the cluster is removed"
echo
echo "The same chat in two browser tabs, through the WebSocket gateway (gateway/):"
echo "    make demo-web     # starts a throwaway cluster and the gateway, prints Mia's and Leo's addresses;"
echo "                      # runs until Ctrl-C, then removes everything"
