-- test/pgtap/retention.sql: retention (README, "Retention") and the queue
-- of images whose message is gone.
--
-- Three chats, their messages dated from 5 years ago to now; a legal hold
-- on one.  stylist_chat.retention = '3 years' (set here for the
-- transaction, as a superuser may):
--   1. off by default, and its setting checked;
--   2. runs in small batches go round the chats: what is past the policy
--      is redacted, the rest and booking cards are kept, held chats are
--      skipped, unread counts follow, each run says what it did;
--   3. a chat a sender holds locked is skipped (tested with a lock taken
--      in this transaction's own savepoint is not possible: see
--      test/scripts/retention.sh, which also runs it through pg_cron);
--   4. images queued by deletion, erasure and retention, taken once.
BEGIN;
\ir fixtures.psql
SELECT plan(39);

SET client_min_messages = warning;
SET stylist_chat.booking_cards = on;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('dave'), 'customer', 'Dave');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
-- a booking card in alice's chat, posted 5 years ago below
SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'), 'Cut', now() - interval '5 years', 'completed');

CREATE FUNCTION pg_temp.img(key text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_array(jsonb_build_object('storage_key', key, 'content_type', 'image/jpeg',
                                                'byte_size', 1000, 'width', 640, 'height', 480))
$$;
-- n messages in a chat, alternately the customer's and sam's, the first
-- dated years_ago back, then one a month
CREATE FUNCTION pg_temp.history(customer text, n integer, years_ago integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_chat uuid := pg_temp.chat_of(customer, 'sam');
    v_seq bigint;
BEGIN
    FOR i IN 1..n LOOP
        PERFORM chat.act_as(pg_temp.id(CASE WHEN i % 2 = 1 THEN customer ELSE 'sam' END));
        v_seq := chat.send_message(v_chat, customer || ' ' || i,
                                   attachments => CASE WHEN i % 4 = 1 THEN pg_temp.img(customer || '/' || i) END);
        UPDATE chat.chat_messages SET created_at = now() - years_ago * interval '1 year' + i * interval '1 month'
         WHERE chat_id = v_chat AND seq = v_seq;
    END LOOP;
END
$$;
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
UPDATE chat.chat_messages SET created_at = now() - interval '5 years' WHERE chat_id = pg_temp.chat_of('alice', 'sam');
SELECT pg_temp.history('alice', 40, 5);    -- seq 2..41: months 1..40 of 5 years ago: 23 are older than 3 years
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT pg_temp.history('carol', 10, 5);    -- all 10 older than 3 years; held below
SELECT chat.act_as(pg_temp.id('dave'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT pg_temp.history('dave', 6, 1);      -- all within the policy
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.set_legal_hold(pg_temp.chat_of('carol', 'sam'), 'dispute');
SELECT chat.reset_actor();

-- 1. off by default
SELECT is(current_setting('stylist_chat.retention'), '', 'stylist_chat.retention is empty by default');
SELECT results_eq($$SELECT * FROM chat.apply_retention()$$, $$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, false)$$,
                  'with it off, apply_retention() does nothing');
SELECT is((SELECT retention FROM chat.retention_status()), NULL, 'retention_status() says it is off');
SET LOCAL stylist_chat.retention = 'three years';
SELECT throws_ok($$SELECT * FROM chat.apply_retention()$$, '22023', 'stylist_chat.retention is not an interval: "three years"',
                 'a setting that is not an interval is refused');
SET LOCAL stylist_chat.retention = '12 hours';
SELECT throws_ok($$SELECT * FROM chat.apply_retention()$$, '22023', 'stylist_chat.retention must be at least 1 day, not 12:00:00',
                 'and one shorter than a day');
SET LOCAL stylist_chat.retention = '3 years';
SELECT throws_ok($$SELECT * FROM chat.apply_retention(0)$$, '22023', NULL, 'batch_size 0 is refused');

-- 2. the runs, in batches of 10
CREATE TEMP TABLE before AS
    SELECT chat_id, seq, sender_id, body, kind, created_at < now() - interval '3 years' AS past
      FROM chat.chat_messages;
CREATE TEMP TABLE unread_before AS SELECT chat_id, customer_unread, stylist_unread FROM chat.chats;
CREATE TEMP TABLE runs AS SELECT 1 AS n, * FROM chat.apply_retention(10);
INSERT INTO runs SELECT 2, * FROM chat.apply_retention(10);
INSERT INTO runs SELECT 3, * FROM chat.apply_retention(10);
INSERT INTO runs SELECT 4, * FROM chat.apply_retention(10);
SELECT results_eq(
    $$SELECT n, redacted_messages, round_complete FROM runs ORDER BY n$$,
    $$VALUES (1, 9::bigint, false), (2, 10, false), (3, 4, true), (4, 0, true)$$,
    'runs of 10 messages redact alice''s 23 old ones over three runs (the first read her booking card too, which stays), each going on where the last stopped');
SELECT results_eq($$SELECT chats_visited, held_chats FROM runs WHERE n = 4$$, $$VALUES (3::bigint, 1::bigint)$$,
                  'a round visits the three chats and skips the held one');
SELECT is((SELECT sum(redacted_images) FROM runs), 6::numeric, 'and her 6 old images');
SELECT results_eq(
    $$SELECT m.seq FROM chat.chat_messages m JOIN before b USING (chat_id, seq)
       WHERE m.chat_id = pg_temp.chat_of('alice', 'sam') AND m.body IS NULL AND b.body IS NOT NULL ORDER BY 1$$,
    $$SELECT generate_series(2, 24)::bigint$$,
    'the redacted messages are exactly the participants'' messages older than 3 years');
SELECT is((SELECT count(*) FROM chat.chat_messages m JOIN before b USING (chat_id, seq)
            WHERE m.body IS NULL AND b.body IS NOT NULL AND NOT b.past), 0::bigint, 'nothing newer is touched');
SELECT results_eq(
    $$SELECT kind, body, deleted_at IS NULL FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 1$$,
    $$VALUES ('booking', 'Booked: Cut', true)$$,
    'a booking card of 5 years ago is kept: it is the platform''s record');
SELECT is((SELECT count(*) FROM chat.chat_messages m JOIN before b USING (chat_id, seq)
            WHERE m.chat_id = pg_temp.chat_of('carol', 'sam') AND m.body IS DISTINCT FROM b.body), 0::bigint,
          'the held chat keeps everything');
SELECT results_eq(
    $$SELECT seq, deleted_at IS NOT NULL, attachment_count::integer FROM chat.chat_messages
       WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq IN (2, 24, 25) ORDER BY seq$$,
    $$VALUES (2::bigint, true, 0), (24, true, 0), (25, false, 0)$$,
    'redacted messages are tombstones in their places');
SELECT is((SELECT count(*) FROM chat.media WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq <= 24), 0::bigint,
          'their images are gone');
SELECT is((SELECT redacted_seq FROM chat.retention_marks WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 24::bigint,
          'the chat''s mark is at its last redacted message');
SELECT results_eq(
    $$SELECT (last_run->>'round_complete')::boolean, (last_run->>'held_chats')::integer, round_at FROM chat.retention_status()$$,
    $$VALUES (true, 1, NULL::uuid)$$,
    'retention_status() says what the last run did and where the next starts');
SELECT results_eq($$SELECT redacted_messages FROM chat.apply_retention(10)$$, $$VALUES (0::bigint)$$,
                  'another run finds nothing more');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam'), max_rows => 1000) WHERE body IS NOT NULL), 18::bigint,
          'sam reads the card and the 17 recent messages');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'alice')), 17::bigint,
          'search finds no redacted message');

-- the hold released: the next round does the held chat
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.release_legal_hold(pg_temp.chat_of('carol', 'sam'));
SELECT is((SELECT customer_unread FROM chat.chats WHERE chat_id = pg_temp.chat_of('carol', 'sam')), 1,
          'carol has sam''s last message unread');
SELECT results_eq($$SELECT redacted_messages, held_chats FROM chat.apply_retention(100)$$, $$VALUES (10::bigint, 0::bigint)$$,
                  'once released, the next run redacts the chat that was held');
SELECT is((SELECT customer_unread FROM chat.chats WHERE chat_id = pg_temp.chat_of('carol', 'sam')), 0,
          'and carol''s unread count loses the message redacted unread');
SELECT is((SELECT count(*) FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('dave', 'sam') AND body IS NULL), 0::bigint,
          'dave''s recent chat is untouched');

-- a message later than the policy moves nothing; time moves the cutoff
SET LOCAL stylist_chat.retention = '2 years';
SELECT results_eq($$SELECT redacted_messages FROM chat.apply_retention(100)$$, $$VALUES (12::bigint)$$,
                  'a shorter policy redacts the next 12 of alice''s messages, from the marks on');

-- who may run it
SET LOCAL ROLE chat_user;
SELECT throws_ok($$SELECT * FROM chat.apply_retention()$$, '42501', NULL, 'chat_user may not run retention');
SELECT throws_ok($$SELECT * FROM chat.take_orphaned_images()$$, '42501', NULL, 'nor take orphaned images');
RESET ROLE;

-- a message the filter held, past the policy
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.add_filter_rule('iban', '(?i)\m[a-z]{2}[0-9]{2}( ?[a-z0-9]{4}){3,7}', 'hold');
SELECT chat.act_as(pg_temp.id('dave'));
SELECT is(chat.send_message(pg_temp.chat_of('dave', 'sam'), 'IBAN DE89 3704 0044 0532 0130 00',
                            attachments => pg_temp.img('dave/held')), NULL, 'dave''s message is held by the filter');
UPDATE chat.held_messages SET held_at = now() - interval '3 years';
SELECT chat.reset_actor();
SELECT results_eq($$SELECT redacted_messages, redacted_images FROM chat.apply_retention(100)$$, $$VALUES (1::bigint, 1::bigint)$$,
                  'held past the policy, a run empties it and queues its image');
SELECT results_eq($$SELECT body, status, reason FROM chat.held_messages$$,
                  $$VALUES (NULL::text, 'rejected', 'past the retention period')$$,
                  'rejected, as nobody decided it in time');
DELETE FROM chat.orphaned_images WHERE storage_key = 'dave/held';
DELETE FROM chat.filter_rules;

-- 4. the queue of orphaned images
SELECT is((SELECT count(*) FROM chat.orphaned_images WHERE reason = 'retention'), 12::bigint,
          'the images redacted by retention are queued');
SELECT chat.act_as(pg_temp.id('dave'));
SELECT chat.delete_message(pg_temp.chat_of('dave', 'sam'), 1);
SELECT results_eq($$SELECT storage_key, reason FROM chat.orphaned_images WHERE chat_id = pg_temp.chat_of('dave', 'sam')$$,
                  $$VALUES ('dave/1', 'deleted')$$, 'a deleted message''s image is queued');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is((SELECT count(*) FROM chat.erase_profile(pg_temp.id('dave'), 'erasure') WHERE item = 'image'), 1::bigint,
          'erase_profile returns the image dave has left');
SELECT is((SELECT count(*) FROM chat.orphaned_images WHERE reason = 'erased'), 1::bigint, 'and queues it');
SELECT chat.reset_actor();
SET LOCAL ROLE chat_service;
SELECT is((SELECT count(*) FROM chat.take_orphaned_images(10)), 10::bigint, 'take_orphaned_images(10): the oldest ten');
SELECT is((SELECT count(*) FROM chat.take_orphaned_images(1000)), 4::bigint, 'then the other four');
SELECT is((SELECT count(*) FROM chat.take_orphaned_images()), 0::bigint, 'each taken once');
SELECT throws_ok($$SELECT * FROM chat.take_orphaned_images(0)$$, '22023', NULL, 'max_rows 0 is refused');
RESET ROLE;
SELECT is((SELECT count(*) FROM chat.orphaned_images), 0::bigint, 'the queue is empty');

SELECT * FROM finish();
ROLLBACK;
