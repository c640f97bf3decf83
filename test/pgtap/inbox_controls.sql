-- test/pgtap/inbox_controls.sql: each participant's own side of a chat.
BEGIN;
\ir fixtures.psql
SELECT plan(11);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.chat_with(pg_temp.id('alice'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'from sam ' || i) FROM generate_series(1, 4) i;  -- 1-4
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'from alice');                                  -- 5
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'from sam ' || i) FROM generate_series(6, 7) i;  -- 6-7
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 3);
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.mark_read(pg_temp.chat_of('alice', 'sam'));

-- mark_unread sets the read mark back to from_seq - 1, and recounts.
SELECT is(chat.mark_unread(pg_temp.chat_of('alice', 'sam'), 3), 2::bigint, 'mark_unread(3) returns the new mark, 2');
SELECT results_eq($$SELECT last_read_seq, unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (2::bigint, 3)$$,
                  'the unread count is exact: 4, 6 and 7 (3 is deleted, 5 is the actor''s own)');
SELECT results_eq($$SELECT customer_unread, customer_read_seq FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$SELECT count(*)::integer, 2::bigint FROM chat.chat_messages
                     WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq > 2
                       AND sender_id <> pg_temp.id('alice') AND deleted_at IS NULL$$,
                  'the stored counter matches a recount');
SELECT is(chat.mark_unread(pg_temp.chat_of('alice', 'sam'), 6), 2::bigint, 'it never moves the mark forwards');
SELECT is(chat.mark_unread(pg_temp.chat_of('alice', 'sam'), 1), 0::bigint, 'mark_unread(1): everything unread');
SELECT is((SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 5,
          'five messages of the other participant are unread');
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'a reply marks all read');
SELECT results_eq($$SELECT last_read_seq, unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (8::bigint, 0)$$, 'sending marks the chat read again');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT results_eq($$SELECT last_read_seq, unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (7::bigint, 1)$$, 'the other participant''s side is untouched');

-- Refusals.
SELECT is(pg_temp.error_of($$SELECT chat.mark_unread(pg_temp.chat_of('alice', 'sam'), 9)$$),
          '22023: from_seq 9 is out of range (hint: Pass the seq of the first message to show as unread.)',
          'from_seq after the last message is refused');
SELECT is(pg_temp.error_of($$SELECT chat.mark_unread(pg_temp.chat_of('alice', 'sam'), NULL)$$),
          '22004: from_seq must not be null', 'a NULL from_seq is refused');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of($$SELECT chat.mark_unread(pg_temp.chat_of('alice', 'sam'), 1)$$),
          pg_temp.error_of($$SELECT chat.mark_unread(pg_temp.id('made-up chat'), 1)$$),
          'an outsider gets the error of a chat that does not exist');

SELECT * FROM finish();
ROLLBACK;
