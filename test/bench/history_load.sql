-- test/bench/history_load.sql: long histories and big inboxes, bulk-loaded
-- with direct INSERTs as a superuser (foreign keys unchecked: the rows are
-- made consistent here), then the counters of the chats set to match.
--
--   customers c1000000-...-000000001000 and ...-000001000000, each in a
--   chat with the benchmark stylist of 1,000 and 1,000,000 messages;
--   stylists 5e100000-...-000000000010 and ...-000000010000, with 10 and
--   10,000 chats of two messages each, with customers c2000000-...-NN.
--   90,000 more chats without messages (stylists 5e200000-...-NN,
--   customers c3000000-...-NN), for an admin's view of every chat.
--   The relay watermark of every loaded chat is set at its last seq, so the
--   relay has nothing to recover and its backlog stays 0.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET session_replication_role = replica;

\set stylist '''5e000000-0000-4000-8000-000000000001'''
BEGIN;
INSERT INTO chat.profiles (id, role, display_name)
SELECT ('c1000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'customer', 'History ' || n
  FROM unnest(ARRAY[1000, 1000000]) n;
INSERT INTO chat.profiles (id, role, display_name)
SELECT ('5e100000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'stylist', 'Inbox ' || n
  FROM unnest(ARRAY[10, 10000]) n;
INSERT INTO chat.profiles (id, role, display_name)
SELECT ('c2000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'customer', 'Inbox customer ' || i
  FROM generate_series(1, 10010) i;

-- the two long chats
CREATE TEMP TABLE long_chats AS
SELECT n, ('c1000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid AS customer_id,
       chat.pair_chat_id(('c1000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, :stylist) AS chat_id
  FROM unnest(ARRAY[1000, 1000000]) n;
INSERT INTO chat.chats (chat_id, customer_id, stylist_id, created_at)
SELECT chat_id, customer_id, :stylist, now() - interval '3 years' FROM long_chats;
INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, created_at)
SELECT l.chat_id, g,
       CASE WHEN g % 2 = 0 THEN :stylist ELSE l.customer_id END,
       'Message ' || g || ': could we move my appointment to 3pm tomorrow?',
       now() - interval '3 years' + (g * (interval '3 years' / l.n))
  FROM long_chats l, generate_series(1, l.n) g;

-- the inboxes: stylist 10 has customers 1-10, stylist 10000 has 11-10010
CREATE TEMP TABLE inbox_chats AS
SELECT i, c.customer_id, s.stylist_id, chat.pair_chat_id(c.customer_id, s.stylist_id) AS chat_id
  FROM generate_series(1, 10010) i,
       LATERAL (SELECT ('c2000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid AS customer_id) c,
       LATERAL (SELECT ('5e100000-0000-4000-8000-' ||
                        lpad(CASE WHEN i <= 10 THEN '10' ELSE '10000' END, 12, '0'))::uuid AS stylist_id) s;
INSERT INTO chat.chats (chat_id, customer_id, stylist_id, created_at)
SELECT chat_id, customer_id, stylist_id, now() - interval '1 year' FROM inbox_chats;
INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, created_at)
SELECT x.chat_id, g, CASE g WHEN 1 THEN x.customer_id ELSE x.stylist_id END,
       CASE g WHEN 1 THEN 'Hello, is Friday at 10 free?' ELSE 'Yes, see you on Friday at 10.' END,
       now() - interval '1 year' + x.i * interval '1 minute' + g * interval '1 second'
  FROM inbox_chats x, generate_series(1, 2) g;

-- the counters, as send_message would have left them: everything read
UPDATE chat.chats c
   SET last_seq = m.last_seq, last_message_at = m.last_at,
       customer_read_seq = m.last_seq, stylist_read_seq = m.last_seq,
       customer_delivered_seq = m.last_seq, stylist_delivered_seq = m.last_seq
  FROM (SELECT chat_id, max(seq) AS last_seq, max(created_at) AS last_at
          FROM chat.chat_messages
         WHERE chat_id IN (SELECT chat_id FROM long_chats UNION ALL SELECT chat_id FROM inbox_chats)
         GROUP BY chat_id) m
 WHERE c.chat_id = m.chat_id;
INSERT INTO chat.relay_watermark (chat_id, relayed_seq)
SELECT chat_id, last_seq FROM chat.chats
 WHERE chat_id IN (SELECT chat_id FROM long_chats UNION ALL SELECT chat_id FROM inbox_chats);

-- the platform around them, for an admin's view of every chat: 90,000
-- more chats of 100 stylists (5e200000-...-NN) and 90,000 customers
-- (c3000000-...-NN), opened over the last year and never written in
INSERT INTO chat.profiles (id, role, display_name)
SELECT ('5e200000-0000-4000-8000-' || lpad(s::text, 12, '0'))::uuid, 'stylist', 'Platform stylist ' || s
  FROM generate_series(1, 100) s;
INSERT INTO chat.profiles (id, role, display_name)
SELECT ('c3000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'customer', 'Platform customer ' || i
  FROM generate_series(1, 90000) i;
INSERT INTO chat.chats (chat_id, customer_id, stylist_id, created_at)
SELECT chat.pair_chat_id(c, s), c, s, now() - interval '1 year' + i * interval '5 minutes'
  FROM generate_series(1, 90000) i,
       LATERAL (SELECT ('c3000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid AS c,
                       ('5e200000-0000-4000-8000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid AS s) p;
COMMIT;

RESET session_replication_role;
VACUUM (ANALYZE) chat.chats, chat.chat_messages, chat.profiles, chat.relay_watermark;
