-- test/pgtap/migration.sql: the migration of booking-based chats
-- (README, "Migrating from booking chats").
--
-- The application loads its old per-booking threads into
-- chat.legacy_messages; chat.consolidate_legacy() imports each pair's
-- threads below the pair's chat's lowest seq.  This file runs inside one
-- transaction, where the procedure cannot commit, so it runs the dry run
-- through the procedure and the import through the two steps the
-- procedure commits one by one (chat._consolidate_start() and
-- chat._consolidate_batch()); test/scripts/migration.sh runs the
-- procedure itself, cancels it and runs it against senders.
--
--   1. every problem a staged row can have, and the report per pair;
--   2. the dry run writes nothing;
--   3. the import: seqs, order, times, bookings, attachments; a pair that
--      already talks keeps its seqs, reads in time order, and nobody's
--      unread count, catch-up or inbox lights up;
--   4. running again, loading again, loading more;
--   5. what can be done with imported messages (reply, react, pin,
--      search, KPIs) and who may run the import.
BEGIN;
\ir fixtures.psql
SELECT plan(78);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'), 'Cut', '2024-01-10 10:00+00', 'completed');
SELECT chat.upsert_booking(pg_temp.id('b2'), pg_temp.id('alice'), pg_temp.id('sam'), 'Colour', '2024-03-10 10:00+00', 'completed');
SELECT chat.upsert_booking(pg_temp.id('b3'), pg_temp.id('carol'), pg_temp.id('sue'), 'Trim', '2024-02-10 10:00+00', 'completed');

-- alice and sam already talk in their chat: seqs 1 and 2, sam's unread by alice
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'new chat, first message');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'new chat, second message');

CREATE FUNCTION pg_temp.img(key text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('storage_key', key, 'content_type', 'image/jpeg',
                              'byte_size', 1000, 'width', 640, 'height', 480)
$$;

INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments)
VALUES
    -- good: alice and sam, two threads (bookings b1 and b2)
    ('L1', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'hello, can I book a cut?', '2024-01-01 09:00+00', NULL),
    ('L2', 'T1', pg_temp.id('b1'), pg_temp.id('sam'), 'sure, like this one?', '2024-01-01 09:05+00',
     jsonb_build_array(pg_temp.img('old/l2.jpg'))),
    ('L3', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), NULL, '2024-01-01 09:10+00',
     jsonb_build_array(pg_temp.img('old/l3a.jpg'), pg_temp.img('old/l3b.jpg'))),
    ('L4', 'T2', pg_temp.id('b2'), pg_temp.id('sam'), 'time for a colour?', '2024-03-01 10:00+00', NULL),
    ('L5', 'T2', NULL, pg_temp.id('alice'), 'yes please', '2024-03-01 10:30+00', NULL),
    -- good: carol and sue, whose chat does not exist yet
    ('L6', 'T3', pg_temp.id('b3'), pg_temp.id('carol'), 'first', '2024-02-01 08:00+00', NULL),
    ('L7', 'T3', pg_temp.id('b3'), pg_temp.id('sue'), 'second', '2024-02-02 08:00+00', NULL),
    -- a problem each
    (NULL, 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'no id', '2024-01-01 09:20+00', NULL),
    ('L1', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'hello, can I book a cut?', '2024-01-01 09:00+00', NULL),
    ('P3', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'from the future', now() + interval '1 day', NULL),
    ('P4', 'T9', pg_temp.id('bx'), pg_temp.id('alice'), 'unknown booking', '2024-01-01 09:00+00', NULL),
    ('P5', 'T8', NULL, pg_temp.id('alice'), 'no booking in the thread', '2024-01-01 09:00+00', NULL),
    ('P6', 'T1', pg_temp.id('b3'), pg_temp.id('alice'), 'carol''s booking', '2024-01-01 09:30+00', NULL),
    ('P7', 'T1', pg_temp.id('b1'), pg_temp.id('ghost'), 'who?', '2024-01-01 09:30+00', NULL),
    ('P8', 'T1', pg_temp.id('b1'), pg_temp.id('carol'), 'not of the pair', '2024-01-01 09:30+00', NULL),
    ('P9', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), '   ', '2024-01-01 09:30+00', NULL),
    ('P10', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), repeat('x', 4001), '2024-01-01 09:30+00', NULL),
    ('P11', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'html', '2024-01-01 09:30+00',
     '[{"storage_key": "a", "content_type": "text/html", "byte_size": 1, "width": 1, "height": 1}]'),
    ('P12', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'not an array', '2024-01-01 09:30+00', '{"a": 1}'),
    ('P13', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), NULL, '2024-01-01 09:30+00', NULL);

-- 1. problems and the report (as an admin)
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq(
    $$SELECT coalesce(legacy_id, '-'), problem FROM chat.legacy_problems()$$,
    $$VALUES ('-', 'missing_field'), ('L1', 'duplicate_legacy_id'), ('P3', 'invalid_time'),
             ('P4', 'unknown_booking'), ('P5', 'unknown_pair'), ('P6', 'booking_of_another_pair'),
             ('P7', 'unknown_profile'), ('P8', 'sender_not_in_pair'), ('P9', 'invalid_body'),
             ('P10', 'invalid_body'), ('P11', 'invalid_attachment'), ('P12', 'invalid_attachment'),
             ('P13', 'invalid_body')$$,
    'legacy_problems() names every problem, a row each, in the order of loading');
SELECT is((SELECT detail FROM chat.legacy_problems() WHERE legacy_id IS NULL),
          'legacy_id missing', 'missing_field says which field');
SELECT is((SELECT detail FROM chat.legacy_problems() WHERE legacy_id = 'L1'),
          'legacy id L1 is also staged row 1, which is the one imported', 'duplicate_legacy_id names the row imported');
SELECT matches((SELECT detail FROM chat.legacy_problems() WHERE legacy_id = 'P6'),
               '^booking b0000000-0000-4000-8000-000000000003 is of customer 3333.* thread T1 is of customer 1111',
               'booking_of_another_pair says whose booking it is');
SELECT is((SELECT detail FROM chat.legacy_problems() WHERE legacy_id = 'P10'),
          'message body is too long (4001 characters)', 'invalid_body gives send_message''s reason');
SELECT is((SELECT detail FROM chat.legacy_problems() WHERE legacy_id = 'P13'),
          'body must not be null', 'a row with neither body nor attachments is invalid_body');
SELECT is((SELECT detail FROM chat.legacy_problems() WHERE legacy_id = 'P12'),
          'attachments must be a JSON array', 'invalid_attachment gives send_message''s reason');
SELECT is((SELECT count(*) FROM chat.legacy_problems() WHERE customer_id IS NULL), 2::bigint,
          'rows of threads of no known pair (an unknown booking, no booking) are reported without one');

SELECT results_eq(
    $$SELECT customer_id, stylist_id, threads, messages, imported, to_import, problems
        FROM chat.legacy_report()$$,
    $$VALUES (pg_temp.id('alice'), pg_temp.id('sam'), 2::bigint, 16::bigint, 0::bigint, 5::bigint, 11::bigint),
             (pg_temp.id('carol'), pg_temp.id('sue'), 1, 2, 0, 2, 0),
             (NULL, NULL, 2, 2, 0, 0, 2)$$,
    'legacy_report(): per pair, its threads, rows, what is imported, to import and not importable');

-- 2. the dry run
CREATE FUNCTION pg_temp.dry_run() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    p bigint; m bigint; a bigint; x bigint; b integer;
BEGIN
    CALL chat.consolidate_legacy(true, 2, NULL, p, m, a, x, b);
    RETURN format('pairs %s, messages %s, already imported %s, problems %s, batches %s', p, m, a, x, b);
END
$$;
CREATE TEMP TABLE before_dry AS
    SELECT (SELECT count(*) FROM chat.chat_messages) AS messages, (SELECT count(*) FROM chat.chats) AS chats;
SELECT is(pg_temp.dry_run(), 'pairs 2, messages 7, already imported 0, problems 13, batches 0',
          'the dry run counts the pairs and messages it would import and the problems');
SELECT is((SELECT count(*) FROM chat.chat_messages), (SELECT messages FROM before_dry), 'the dry run writes no message');
SELECT is((SELECT count(*) FROM chat.chats), (SELECT chats FROM before_dry), 'the dry run opens no chat');
SELECT is((SELECT count(*) FROM chat.legacy_imports) + (SELECT count(*) FROM chat.legacy_plan), 0::bigint,
          'the dry run records nothing');

-- 3. the import, as the procedure runs it, in batches of 2
CREATE FUNCTION pg_temp.import(batch integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    s record;
    n integer;
    total integer := 0;
    batches integer := 0;
BEGIN
    SELECT * INTO s FROM chat._consolidate_start(false, batch);
    LOOP
        n := chat._consolidate_batch(batch);
        EXIT WHEN n = 0;
        total := total + n;
        batches := batches + 1;
    END LOOP;
    RETURN format('planned %s, imported %s in %s batches, already imported %s, problems %s',
                  s.messages, total, batches, s.already_imported, s.problems);
END
$$;
SELECT is(pg_temp.import(2), 'planned 7, imported 7 in 4 batches, already imported 0, problems 13',
          'the import takes the planned rows in batches');

SELECT results_eq(
    $$SELECT seq, sender_id, body, booking_id, created_at, attachment_count::integer
        FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') ORDER BY seq$$,
    $$VALUES (-4::bigint, pg_temp.id('alice'), 'hello, can I book a cut?', pg_temp.id('b1'), '2024-01-01 09:00+00'::timestamptz, 0),
             (-3, pg_temp.id('sam'), 'sure, like this one?', pg_temp.id('b1'), '2024-01-01 09:05+00', 1),
             (-2, pg_temp.id('alice'), '', pg_temp.id('b1'), '2024-01-01 09:10+00', 2),
             (-1, pg_temp.id('sam'), 'time for a colour?', pg_temp.id('b2'), '2024-03-01 10:00+00', 0),
             (0, pg_temp.id('alice'), 'yes please', NULL, '2024-03-01 10:30+00', 0),
             (1, pg_temp.id('alice'), 'new chat, first message', NULL,
              (SELECT created_at FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 1), 0),
             (2, pg_temp.id('sam'), 'new chat, second message', NULL,
              (SELECT created_at FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 2), 0)$$,
    'a pair that already talks: its two threads go below seq 1, newest at 0, each with its sender, original time and booking; seqs 1 and 2 are as they were');
SELECT results_eq(
    $$SELECT seq, position::integer, storage_key FROM chat.media
       WHERE chat_id = pg_temp.chat_of('alice', 'sam') ORDER BY seq, position$$,
    $$VALUES (-3::bigint, 1, 'old/l2.jpg'), (-2, 1, 'old/l3a.jpg'), (-2, 2, 'old/l3b.jpg')$$,
    'attachments are carried over in their order');
SELECT results_eq(
    $$SELECT seq, created_at FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('carol', 'sue') ORDER BY seq$$,
    $$VALUES (-1::bigint, '2024-02-01 08:00+00'::timestamptz), (0, '2024-02-02 08:00+00')$$,
    'a pair without a chat gets one, its history at seqs -1 and 0');
SELECT results_eq(
    $$SELECT legacy_id, seq FROM chat.legacy_imports WHERE chat_id = pg_temp.chat_of('alice', 'sam') ORDER BY seq$$,
    $$VALUES ('L1', -4::bigint), ('L2', -3), ('L3', -2), ('L4', -1), ('L5', 0)$$,
    'legacy_imports records where each legacy message went');
SELECT is((SELECT count(*) FROM chat.legacy_plan), 0::bigint, 'the plan is used up');

-- what the participants see
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq(
    $$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sam'))$$,
    $$VALUES (2::bigint), (1), (0), (-1), (-2), (-3), (-4)$$,
    'history() reads the imported messages after the chat''s own, newest first');
SELECT is((SELECT bool_and(ordered) FROM (
              SELECT created_at >= lead(created_at) OVER (ORDER BY seq DESC) IS NOT FALSE AS ordered
                FROM chat.history(pg_temp.chat_of('alice', 'sam'))) h), true,
          'and in time order');
SELECT results_eq(
    $$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sam'), before_seq => 0, max_rows => 2)$$,
    $$VALUES (-1::bigint), (-2)$$,
    'history() pages on below seq 1');
SELECT is((SELECT attachments->1->>'storage_key' FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = -2),
          'old/l3b.jpg', 'history() returns the imported attachments');
SELECT is((SELECT booking->>'service' FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = -1),
          'Colour', 'and the booking of each imported message');
SELECT results_eq(
    $$SELECT seq FROM chat.messages_since(pg_temp.chat_of('alice', 'sam'), 0)$$,
    $$VALUES (1::bigint), (2)$$,
    'messages_since(0) is what was sent after seq 0: not the imported history');
SELECT results_eq(
    $$SELECT last_seq, last_read_seq, unread_count, cleared_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
    $$VALUES (2::bigint, 1::bigint, 1, -5::bigint)$$,
    'alice''s read state is as before (one unread, sam''s); her "nothing cleared" moved below the imports');
SELECT results_eq(
    $$SELECT k.chat_id, k.seq FROM chat.catch_up() k$$,
    $$VALUES (pg_temp.chat_of('alice', 'sam'), 2::bigint)$$,
    'catch_up() hands out sam''s new message only, not years of history');
SELECT results_eq($$SELECT u.chat_id, u.seq FROM chat.undelivered() u$$,
                  $$VALUES (pg_temp.chat_of('alice', 'sam'), 2::bigint)$$,
                  'nor undelivered()');

SELECT chat.act_as(pg_temp.id('carol'));
SELECT results_eq(
    $$SELECT other_id, last_message_at, preview, unread_count FROM chat.inbox()$$,
    $$VALUES (pg_temp.id('sue'), '2024-02-02 08:00+00'::timestamptz, 'second', 0)$$,
    'a chat made by the import is in the inbox at the time of its last message, nothing unread');
SELECT results_eq(
    $$SELECT seq FROM chat.history(pg_temp.chat_of('carol', 'sue'))$$,
    $$VALUES (0::bigint), (-1)$$,
    'carol reads its history');
SELECT is((SELECT count(*) FROM chat.catch_up()), 0::bigint, 'and catch_up() has nothing for her');

-- 4. again: nothing twice
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is(pg_temp.import(2), 'planned 0, imported 0 in 0 batches, already imported 7, problems 13',
          'a second run imports nothing again');
SELECT is(pg_temp.dry_run(), 'pairs 0, messages 0, already imported 7, problems 13, batches 0',
          'and its dry run says so');
-- the same file loaded again
INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments)
SELECT legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments
  FROM chat.legacy_messages WHERE legacy_id LIKE 'L_';
SELECT is(pg_temp.import(2), 'planned 0, imported 0 in 0 batches, already imported 7, problems 21',
          'loading the file again imports nothing twice: the copies are duplicates');
-- emptied and loaded again
CREATE TEMP TABLE staged AS SELECT * FROM chat.legacy_messages;
TRUNCATE chat.legacy_messages;
INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments)
SELECT legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments
  FROM staged WHERE legacy_id LIKE 'L_' AND staged_id <= 7;
SELECT is(pg_temp.import(2), 'planned 0, imported 0 in 0 batches, already imported 7, problems 0',
          'nor after the staging table was emptied and loaded again: legacy ids are remembered');
SELECT is((SELECT count(*) FROM chat.chat_messages WHERE chat_id IN (pg_temp.chat_of('alice', 'sam'), pg_temp.chat_of('carol', 'sue'))),
          9::bigint, 'the chats hold 7 imported and 2 sent messages');

-- more history, loaded later: older goes below, later is out of order
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(chat.clear_history(pg_temp.chat_of('carol', 'sue')), 0::bigint, 'carol clears her chat with sue');
SELECT chat.act_as(pg_temp.id('ada'));
INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at)
VALUES ('L0', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'older still', '2023-12-31 23:00+00'),
       ('L8', 'T2', pg_temp.id('b2'), pg_temp.id('alice'), 'later than what is imported', '2024-06-01 10:00+00'),
       ('L9', 'T3', pg_temp.id('b3'), pg_temp.id('sue'), 'earlier in T3', '2024-01-15 08:00+00');
SELECT is((SELECT problem || ': ' || detail FROM chat.legacy_problems() WHERE legacy_id = 'L8'),
          'out_of_order: sent_at 2024-06-01 10:00:00+00 is later than message -4 of the chat (2024-01-01 09:00:00+00): imported history goes below it, in time order',
          'a row later than the chat''s lowest message cannot be put in time order: out_of_order');
SELECT is(pg_temp.import(2), 'planned 2, imported 2 in 1 batches, already imported 7, problems 1',
          'the older rows are imported');
SELECT results_eq(
    $$SELECT chat_id, seq, body FROM chat.chat_messages WHERE body IN ('older still', 'earlier in T3') ORDER BY body$$,
    $$VALUES (pg_temp.chat_of('carol', 'sue'), -2::bigint, 'earlier in T3'), (pg_temp.chat_of('alice', 'sam'), -5, 'older still')$$,
    'each below its chat''s lowest message');
SELECT results_eq(
    $$SELECT customer_cleared_seq, stylist_cleared_seq FROM chat.chats WHERE chat_id = pg_temp.chat_of('carol', 'sue')$$,
    $$VALUES (0::bigint, -3::bigint)$$,
    'what carol cleared stays cleared; sue''s "nothing cleared" moves down');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('carol', 'sue'))), 0::bigint,
          'carol sees none of it');
SELECT chat.act_as(pg_temp.id('sue'));
SELECT results_eq($$SELECT seq FROM chat.history(pg_temp.chat_of('carol', 'sue'))$$,
                  $$VALUES (0::bigint), (-1), (-2)$$, 'sue sees all three');

-- 5. imported messages are messages
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'about that cut', reply_to_seq => -4), 3::bigint,
          'a new message can quote an imported one');
SELECT is((SELECT reply_to->>'preview' FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 3),
          'hello, can I book a cut?', 'and reads it back');
SELECT lives_ok($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), -3, '👍')$$, 'an imported message takes a reaction');
SELECT lives_ok($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), -1, 'the colour')$$, 'and a pin');
SELECT results_eq($$SELECT seq FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))$$, $$VALUES (-1::bigint)$$,
                  'pinned() lists it');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'colour')$$,
                  $$VALUES (-1::bigint)$$, 'search() finds imported messages');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'message', before_seq => 2)$$,
                  $$VALUES (1::bigint)$$, 'search() with before_seq still pages');
SELECT results_eq($$SELECT seq FROM chat.gallery(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (-2::bigint), (-2), (-3)$$, 'gallery() shows imported images');
SELECT results_eq($$SELECT seq, position FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), before_seq => -2, before_position => 2)$$,
                  $$VALUES (-2::bigint, 1), (-3, 1)$$, 'and pages through them');
SELECT lives_ok($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), -3, 1)$$,
                'alice may consent to an imported image in sam''s portfolio');
SELECT is(chat.mark_read(pg_temp.chat_of('alice', 'sam')), 3::bigint, 'alice reads the chat');
SELECT is((SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 0, 'nothing is unread');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 1,
          'sam has alice''s new message unread, and none of the imported');
SELECT lives_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), -3, 'sure, like this one (edited)?')$$,
                'sam may edit his imported message');
SELECT throws_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), -4, 'not mine')$$,
                 '42501', 'only the sender may edit a message', 'but not alice''s');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is(chat.rebuild_kpis(), 12::bigint, 'rebuild_kpis() counts the imported messages with the others');
SELECT results_eq($$SELECT seq FROM chat.admin_history(pg_temp.chat_of('alice', 'sam'), 'dispute', before_seq => -2)$$,
                  $$VALUES (-3::bigint), (-4), (-5)$$, 'admin_history() pages below seq 1');

-- the staging table changed during a run (by the application, which may
-- write it): what is imported is what was checked
INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at)
VALUES ('L10', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'as checked', '2023-12-01 10:00+00');
SELECT is((SELECT messages FROM chat._consolidate_start(false, 10)), 1::bigint, 'a run plans L10');
UPDATE chat.legacy_messages SET sender_id = pg_temp.id('carol'), body = 'slipped in' WHERE legacy_id = 'L10';
SELECT is(chat._consolidate_batch(10), 1, 'then imports it');
SELECT results_eq(
    $$SELECT seq, sender_id, body FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = -6$$,
    $$VALUES (-6::bigint, pg_temp.id('alice'), 'as checked')$$,
    'as it was when checked, not as it was changed meanwhile (carol is not of the pair)');

-- who may
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT * FROM chat.legacy_report()$$, '28000', NULL, 'legacy_report() needs an actor');
SELECT throws_ok($$SELECT pg_temp.dry_run()$$, '28000', NULL, 'consolidate_legacy() needs an actor');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT throws_ok($$SELECT * FROM chat.legacy_report()$$, '42501', 'only an admin may do this',
                 'a customer may not read the report');
SELECT throws_ok($$SELECT * FROM chat.legacy_problems()$$, '42501', 'only an admin may do this',
                 'nor the problems');
SELECT throws_ok($$SELECT pg_temp.dry_run()$$, '42501', 'only an admin may do this',
                 'nor run the import');
SELECT throws_ok($$SELECT chat._consolidate_batch(10)$$, '42501', 'only an admin may do this',
                 'nor one of its batches');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is(pg_temp.error_of($$CALL chat.consolidate_legacy(false, 0)$$),
          '22023: batch_size must be between 1 and 100000, not 0 (hint: A batch is a transaction: its chats wait for it to commit.)',
          'batch_size 0 is refused');
SELECT is(pg_temp.error_of($$CALL chat.consolidate_legacy(NULL)$$),
          '22004: dry_run must not be null', 'dry_run NULL is refused');
SELECT is(pg_temp.error_of($$CALL chat.consolidate_legacy(false)$$),
          '2D000: invalid transaction termination',
          'the import runs outside a transaction block (it commits its batches)');
SELECT is(pg_temp.error_of($$SELECT chat._consolidate_batch(0)$$),
          '22023: batch_size must be between 1 and 100000, not 0 (hint: A batch is a transaction: its chats wait for it to commit.)',
          'a batch of 0 is refused');

-- the staging table: the application may load and clear it, people may not read it
SET LOCAL ROLE chat_service;
SELECT lives_ok($$INSERT INTO chat.legacy_messages (legacy_id) VALUES ('by the service')$$,
                'chat_service loads the staging table');
SELECT lives_ok($$DELETE FROM chat.legacy_messages WHERE legacy_id = 'by the service'$$,
                'and deletes from it');
SELECT throws_ok($$SELECT * FROM chat.legacy_imports$$, '42501', NULL, 'but does not read legacy_imports');
RESET ROLE;
SET LOCAL ROLE chat_user;
SELECT throws_ok($$SELECT * FROM chat.legacy_messages$$, '42501', NULL, 'chat_user does not read the staging table');
SELECT throws_ok($$CALL chat.consolidate_legacy()$$, '42501', NULL, 'nor run the import');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
