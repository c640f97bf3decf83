--
-- booking_cards: when chat.upsert_booking() makes a booking or changes its
-- time or status, a card (a message of kind 'booking', without sender)
-- appears in the pair's chat, opened if need be.  It is unread for both
-- and relayed like a message.  The setting stylist_chat.booking_cards
-- (a superuser's, on by default) turns the cards off.
--
\i sql/ids.psql
\pset null '(null)'
-- an error undoes its statement only, not the transaction
\set ON_ERROR_ROLLBACK on
\set hal  00000000-0000-4000-8000-0000000001c2
\set xia  00000000-0000-4000-8000-000000000152
\set b7   00000000-0000-4000-8000-0000000001b7
\set b8   00000000-0000-4000-8000-0000000001b8

-- the earlier examples turned the cards off for this database
SET stylist_chat.booking_cards = on;
SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.upsert_profile(:'hal', 'customer', 'Hal') \g /dev/null
SELECT chat.upsert_profile(:'xia', 'stylist', 'Xia') \g /dev/null
SELECT chat.pair_chat_id(:'hal', :'xia') AS hal_xia \gset

-- A new booking opens the pair's chat and posts "booked".
SELECT chat.upsert_booking(:'b7', :'hal', :'xia', 'Balayage', '2026-12-03 14:00+00', 'pending');
-- The same state again posts nothing; a new time and a new status post one
-- card each.
SELECT chat.upsert_booking(:'b7', :'hal', :'xia', 'Balayage', '2026-12-03 14:00+00', 'pending');
SELECT chat.upsert_booking(:'b7', :'hal', :'xia', 'Balayage', '2026-12-04 15:00+00', 'confirmed');
SELECT chat.upsert_booking(:'b7', :'hal', :'xia', 'Balayage and cut', '2026-12-04 15:00+00', 'confirmed');

BEGIN;
SELECT chat.act_as(:'hal') \g /dev/null
SELECT seq, sender_id, kind, body, card->>'event' AS event, card->>'starts_at' AS starts_at,
       card->>'previous_starts_at' AS previous_starts_at, booking->>'status' AS booking_status
  FROM chat.history(:'hal_xia') ORDER BY seq;
-- unread for both participants, and the inbox shows the last card
SELECT unread_count FROM chat.get_chat(:'hal_xia');
SELECT other_name, preview, unread_count FROM chat.inbox();
COMMIT;
BEGIN;
SELECT chat.act_as(:'xia') \g /dev/null
SELECT unread_count FROM chat.get_chat(:'hal_xia');
-- a card has no sender: nobody edits or deletes it
SELECT chat.delete_message(:'hal_xia', 1);
ROLLBACK;

-- The people talk between the cards; the booking's end posts one more.
BEGIN;
SELECT chat.act_as(:'hal') \g /dev/null
SELECT chat.send_message(:'hal_xia', 'See you Friday!', booking_id => :'b7');
COMMIT;
SELECT chat.upsert_booking(:'b7', :'hal', :'xia', 'Balayage and cut', '2026-12-04 15:00+00', 'completed');
SELECT chat.upsert_booking(:'b8', :'hal', :'xia', 'Toner', '2027-01-08 10:00+00', 'confirmed');
BEGIN;
SELECT chat.act_as(:'xia') \g /dev/null
SELECT seq, coalesce(sender_id::text, '(card)') AS sender, body FROM chat.history(:'hal_xia') ORDER BY seq;
COMMIT;

-- With stylist_chat.booking_cards off, bookings post nothing.
RESET ROLE;
SET stylist_chat.booking_cards = off;
SET ROLE regress_app;
SELECT chat.upsert_booking(:'b8', :'hal', :'xia', 'Toner', '2027-01-08 10:00+00', 'cancelled');
BEGIN;
SELECT chat.act_as(:'xia') \g /dev/null
SELECT last_seq FROM chat.get_chat(:'hal_xia');
COMMIT;
-- and it is not the application's to turn back on
SET stylist_chat.booking_cards = on;
RESET ROLE;
