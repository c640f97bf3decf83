--
-- migration: the platform's old chat kept one thread per booking.  The
-- application loads those threads into chat.legacy_messages, and
-- chat.consolidate_legacy() puts each pair's threads into the pair's one
-- chat, below its first message, in time order.
--
\i sql/ids.psql
\pset null '(null)'
\set ON_ERROR_ROLLBACK on
\set mo   00000000-0000-4000-8000-0000000002c1
\set lin  00000000-0000-4000-8000-000000000251
\set ob1  00000000-0000-4000-8000-0000000002b1
\set ob2  00000000-0000-4000-8000-0000000002b2

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.upsert_profile(:'mo', 'customer', 'Mo') \g /dev/null
SELECT chat.upsert_profile(:'lin', 'stylist', 'Lin') \g /dev/null
SELECT chat.pair_chat_id(:'mo', :'lin') AS mo_lin \gset

-- First the bookings the old threads were about (without booking cards:
-- they are history), then the old messages, with COPY and this column
-- list; every column may be empty, so that the load never fails on data.
SET stylist_chat.booking_cards = off;
SELECT chat.upsert_booking(:'ob1', :'mo', :'lin', 'Cut', '2024-05-02 10:00+00', 'completed') \g /dev/null
SELECT chat.upsert_booking(:'ob2', :'mo', :'lin', 'Colour', '2024-09-12 10:00+00', 'completed') \g /dev/null
COPY chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments) FROM stdin;
9001	T-51	00000000-0000-4000-8000-0000000002b1	00000000-0000-4000-8000-0000000002c1	Hi! Do you have time on Thursday?	2024-04-29 18:02:00+00	\N
9002	T-51	00000000-0000-4000-8000-0000000002b1	00000000-0000-4000-8000-000000000251	Thursday 10:00 works. Like this?	2024-04-29 18:10:00+00	[{"storage_key": "legacy/9002.jpg", "content_type": "image/jpeg", "byte_size": 81234, "width": 800, "height": 600}]
9003	T-51	00000000-0000-4000-8000-0000000002b1	00000000-0000-4000-8000-0000000002c1	Perfect	2024-04-29 18:11:00+00	\N
9101	T-77	00000000-0000-4000-8000-0000000002b2	00000000-0000-4000-8000-000000000251	Time for a refresh of the colour?	2024-09-01 09:00:00+00	\N
9102	T-77	00000000-0000-4000-8000-0000000002b2	00000000-0000-4000-8000-0000000000c1	wrong conversation	2024-09-01 09:05:00+00	\N
9103	T-77	00000000-0000-4000-8000-0000000002b2	00000000-0000-4000-8000-0000000002c1	\N	2024-09-01 09:30:00+00	\N
\.

-- What would be imported, and what not.  These are for admins.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT customer_id, stylist_id, threads, messages, imported, to_import, problems
  FROM chat.legacy_report();
SELECT legacy_id, problem, detail FROM chat.legacy_problems();

-- A dry run (the default) counts and writes nothing.
CALL chat.consolidate_legacy();

-- Mo and Lin already talk in their chat.
SELECT chat.act_as(:'mo', for_session => true) \g /dev/null
SELECT chat.chat_with(:'lin') \g /dev/null
SELECT chat.send_message(:'mo_lin', 'Hello again, same as last time?');

-- The import, in batches (each committed: CALL it outside a transaction).
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
CALL chat.consolidate_legacy(dry_run => false, batch_size => 2);

-- The old messages are below seq 1, newest at 0, with their original
-- time, booking and attachments; seq 1 is as it was.  Nothing imported is
-- unread.
SELECT chat.act_as(:'mo', for_session => true) \g /dev/null
SELECT seq, sender_id, body, booking->>'service' AS booking,
       CASE WHEN seq <= 0 THEN created_at END AS sent_at_then,
       jsonb_array_length(attachments) AS images
  FROM chat.history(:'mo_lin')
 ORDER BY seq;
SELECT last_seq, last_read_seq, unread_count FROM chat.get_chat(:'mo_lin');

-- Running it again imports nothing twice.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
CALL chat.consolidate_legacy(dry_run => false);
SELECT chat.reset_actor() \g /dev/null

-- Clear the staging table when done.
DELETE FROM chat.legacy_messages;
RESET ROLE;
