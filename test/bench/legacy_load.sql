-- test/bench/legacy_load.sql: a booking-based chat to migrate, for part 8
-- of test/bench/run.sh, in a database of its own (which the relay worker
-- does not serve).  The people, bookings and chats that already talk are
-- bulk-loaded with direct INSERTs as a superuser (foreign keys not
-- checked: replica role; the rows are made consistent here); the legacy
-- messages are loaded into chat.legacy_messages as the application would.
--
-- psql variables: pairs, messages (legacy messages), admin (the admin's
-- uuid).
--
--   pairs      customer c8000000-...-N with stylist 5e800000-...-(N % 1000)
--   bookings   two a pair, a thread each: 2023 and 2024
--   legacy     messages / pairs a pair, half in each thread, alternately
--              the customer's and the stylist's, a few hours apart; one
--              in ten with an image
--   talking    one pair in ten already talks in its chat: two messages of
--              this year, as send_message leaves them
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET work_mem = '256MB';

CREATE SCHEMA legacybench;
CREATE FUNCTION legacybench.id(prefix text, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (prefix || '-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;

SET session_replication_role = replica;
INSERT INTO chat.profiles (id, role, display_name)
VALUES (:'admin', 'admin', 'Admin');
INSERT INTO chat.profiles (id, role, display_name)
SELECT legacybench.id('c8000000', i), 'customer', 'Customer ' || i FROM generate_series(1, :pairs) i;
INSERT INTO chat.profiles (id, role, display_name)
SELECT legacybench.id('5e800000', s), 'stylist', 'Stylist ' || s FROM generate_series(0, 999) s;
INSERT INTO chat.bookings (id, customer_id, stylist_id, service, starts_at, status)
SELECT legacybench.id('b8000000', i * 2 + t), legacybench.id('c8000000', i),
       legacybench.id('5e800000', i % 1000), 'Cut',
       timestamptz '2023-01-01' + t * interval '1 year' + (i % 300) * interval '1 day', 'completed'
  FROM generate_series(1, :pairs) i, generate_series(0, 1) t;

-- the pairs that already talk
INSERT INTO chat.chats (chat_id, customer_id, stylist_id, last_seq, last_message_at,
                        customer_read_seq, stylist_read_seq, stylist_unread,
                        customer_delivered_seq, stylist_delivered_seq)
SELECT chat.pair_chat_id(legacybench.id('c8000000', i), legacybench.id('5e800000', i % 1000)),
       legacybench.id('c8000000', i), legacybench.id('5e800000', i % 1000), 2,
       timestamptz '2026-01-01 10:01', 2, 0, 2, 0, 2
  FROM generate_series(10, :pairs, 10) i;
INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, created_at)
SELECT c.chat_id, k, c.customer_id, 'hello here ' || k, timestamptz '2026-01-01 10:00' + k * interval '30 s'
  FROM chat.chats c, generate_series(1, 2) k;
INSERT INTO chat.relay_watermark (chat_id, relayed_seq, noted_seq)
SELECT chat_id, 2, 2 FROM chat.chats;
RESET session_replication_role;

-- the legacy messages, as the application would COPY them
INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments)
SELECT 'legacy-' || i || '-' || k,
       'thread-' || i || '-' || (k % 2),
       legacybench.id('b8000000', i * 2 + k % 2),
       CASE WHEN k / 2 % 2 = 0 THEN legacybench.id('c8000000', i) ELSE legacybench.id('5e800000', i % 1000) END,
       'Message ' || k || ' about the booking: see you at ten, and bring the photo of last time',
       timestamptz '2022-12-01' + (k % 2) * interval '1 year' + (i % 300) * interval '1 day'
           + (k / 2) * interval '3 hours',
       CASE WHEN k % 10 = 3 THEN jsonb_build_array(jsonb_build_object(
                'storage_key', 'legacy/' || i || '/' || k || '.jpg', 'content_type', 'image/jpeg',
                'byte_size', 120000, 'width', 1200, 'height', 900)) END
  FROM generate_series(1, :pairs) i, generate_series(0, :messages / :pairs - 1) k;

VACUUM (ANALYZE) chat.profiles, chat.bookings, chat.chats, chat.chat_messages, chat.legacy_messages;
