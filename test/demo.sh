#!/usr/bin/env bash
# test/demo.sh: a short conversation between a customer and a stylist across
# two bookings, on a throwaway cluster (make demo).  Every step prints what
# each side sees: the inbox with unread counts, the history, the bookings.
set -euo pipefail
cd "$(dirname "$0")/.."

bash test/deps.sh
source test/lib.sh
build_and_install
cluster_start

createdb demo
psql -X -q -d demo -c "CREATE EXTENSION stylist_chat" \
     -c "CREATE ROLE demo_app LOGIN IN ROLE chat_service"

psql -X -q -d demo -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
\set SHOW_CONTEXT never
\set mia   '''a1000000-0000-4000-8000-000000000001'''
\set leo   '''b2000000-0000-4000-8000-000000000002'''
\set cut   '''c3000000-0000-4000-8000-000000000003'''
\set color '''c3000000-0000-4000-8000-000000000004'''

-- the application backend connects as a member of chat_service
SET ROLE demo_app;

\echo '== The app registers Mia (customer), Leo (stylist) and Mia''s first booking'
SELECT chat.upsert_profile(:mia, 'customer', 'Mia') \g /dev/null
SELECT chat.upsert_profile(:leo, 'stylist', 'Leo') \g /dev/null
SELECT chat.upsert_booking(:cut, :mia, :leo, 'Haircut', '2026-12-01 10:00+00', 'confirmed') \g /dev/null

\echo
\echo '== Mia opens the chat from her booking and writes'
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
SELECT chat.chat_for_booking(:cut) AS chat \gset
SELECT chat.send_message(:'chat', 'Hi Leo! Could we go a bit shorter than last time?', booking_id => :cut) AS seq;
SELECT chat.send_message(:'chat', '', attachments => '[{"storage_key": "uploads/mia/bob.jpg", "content_type": "image/jpeg", "byte_size": 204800, "width": 1080, "height": 1350}]') AS seq;
COMMIT;

\echo
\echo '== Leo''s inbox: one chat, two unread messages, one booking with Mia'
BEGIN;
SELECT chat.act_as(:leo) \g /dev/null
SELECT other_name, preview, unread_count, bookings_count FROM chat.inbox();
\echo '-- Leo reads the history (newest first), with the booking and the photo'
SELECT seq, CASE WHEN sender_id = :leo THEN 'Leo' ELSE 'Mia' END AS sender,
       body, booking->>'service' AS about, jsonb_array_length(attachments) AS photos
  FROM chat.history(:'chat');
SELECT chat.mark_read(:'chat') AS read_up_to;
SELECT chat.send_message(:'chat', 'Sure, a bob like that works. See you on the 1st!') AS seq;
COMMIT;

\echo
\echo '== Mia''s inbox: Leo answered'
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
SELECT other_name, preview, unread_count FROM chat.inbox();
SELECT chat.mark_read(:'chat') AS read_up_to;
COMMIT;

\echo
\echo '== Weeks later: a second booking; the same chat continues'
SELECT chat.upsert_booking(:cut, :mia, :leo, 'Haircut', '2026-12-01 10:00+00', 'completed') \g /dev/null
SELECT chat.upsert_booking(:color, :mia, :leo, 'Colour', '2027-01-15 14:00+00', 'confirmed') \g /dev/null
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
SELECT chat.chat_for_booking(:color) = :'chat' AS same_chat;
SELECT chat.send_message(:'chat', 'Loved the cut! Booked a colour for January, any prep?', booking_id => :color) AS seq;
COMMIT;

\echo
\echo '== Leo sees a regular customer: two bookings, the whole history in one thread'
BEGIN;
SELECT chat.act_as(:leo) \g /dev/null
SELECT other_name, preview, unread_count, bookings_count FROM chat.inbox();
SELECT service, starts_at, status FROM chat.chat_bookings(:'chat');
SELECT seq, CASE WHEN sender_id = :leo THEN 'Leo' ELSE 'Mia' END AS sender,
       body, booking->>'service' AS about
  FROM chat.history(:'chat') ORDER BY seq;
SELECT chat.send_message(:'chat', 'Come with unwashed hair, that''s all.') AS seq;
COMMIT;

\echo
\echo '== Mia fixes a typo in her last message and deletes the photo message'
BEGIN;
SELECT chat.act_as(:mia) \g /dev/null
SELECT chat.edit_message(:'chat', 4, 'Loved the cut! I booked a colour for January, any prep?') \g /dev/null
SELECT chat.delete_message(:'chat', 2) \g /dev/null
SELECT seq, body, edited_at IS NOT NULL AS edited, deleted_at IS NOT NULL AS deleted
  FROM chat.history(:'chat') ORDER BY seq;
SELECT other_name, preview, unread_count FROM chat.inbox();
COMMIT;

\echo
\echo '== Someone else cannot look in: a stranger gets the same answer as for a chat that does not exist'
SELECT chat.upsert_profile('d4000000-0000-4000-8000-000000000005', 'customer', 'Stranger') \g /dev/null
BEGIN;
SELECT chat.act_as('d4000000-0000-4000-8000-000000000005') \g /dev/null
\set ON_ERROR_STOP 0
SELECT * FROM chat.history(:'chat');
ROLLBACK;
SQL
echo
echo "demo finished; the cluster is removed"
