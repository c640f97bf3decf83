-- test/pgtap/row_checks.sql: the rules of a chat row and of a message row
-- (CHECK constraints calling src/row_checks.c), each broken once by a
-- direct write as the owner, and the activity minute against its SQL
-- definition.  Everything is rolled back.
BEGIN;
SELECT plan(27);

SET client_min_messages = warning;
SELECT chat.upsert_profile('5e000000-0000-4000-8000-00000000bb01', 'stylist', 'Sty');
SELECT chat.upsert_profile('c0000000-0000-4000-8000-00000000bb01', 'customer', 'Cus');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000bb01');
SELECT chat.send_message(chat.chat_with('5e000000-0000-4000-8000-00000000bb01'), 'first');
SELECT chat.send_message(chat.pair_chat_id('c0000000-0000-4000-8000-00000000bb01',
                                           '5e000000-0000-4000-8000-00000000bb01'), 'second');
CREATE TEMP TABLE c AS
SELECT chat.pair_chat_id('c0000000-0000-4000-8000-00000000bb01', '5e000000-0000-4000-8000-00000000bb01') AS id;
GRANT SELECT ON c TO PUBLIC;

-- the chat row: last_seq 2, read seqs 2 and 0, unread 0 and 2
CREATE FUNCTION pg_temp.chat_breaks(change text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE chat.chats SET %s WHERE chat_id = (SELECT id FROM c)', change);
END
$$;
SELECT throws_ok($$SELECT pg_temp.chat_breaks('customer_role = ''stylist''')$$, '23514', NULL,
                 'a customer role other than customer');
SELECT throws_ok($$SELECT pg_temp.chat_breaks('last_seq = -1, customer_read_seq = -1, stylist_read_seq = -1')$$,
                 '23514', NULL, 'last_seq below 0');
SELECT throws_ok($$SELECT pg_temp.chat_breaks('customer_read_seq = -1')$$, '23514', NULL, 'customer_read_seq below 0');
SELECT throws_ok($$SELECT pg_temp.chat_breaks('customer_read_seq = 3')$$, '23514', NULL, 'customer_read_seq above last_seq');
SELECT throws_ok($$SELECT pg_temp.chat_breaks('stylist_read_seq = -1')$$, '23514', NULL, 'stylist_read_seq below 0');
SELECT throws_ok($$SELECT pg_temp.chat_breaks('stylist_read_seq = 3')$$, '23514', NULL, 'stylist_read_seq above last_seq');
SELECT throws_ok($$SELECT pg_temp.chat_breaks('customer_unread = -1')$$, '23514', NULL, 'customer_unread below 0');
SELECT throws_ok($$SELECT pg_temp.chat_breaks('stylist_unread = -1')$$, '23514', NULL, 'stylist_unread below 0');
SELECT throws_like($$SELECT pg_temp.chat_breaks('stylist_unread = -1')$$, '%"chats_state_check"%',
                   'the error names chats_state_check');
SELECT lives_ok($$SELECT pg_temp.chat_breaks('customer_read_seq = 0, stylist_read_seq = 2, customer_unread = 0, stylist_unread = 0')$$,
                'a row within the rules is written');
SELECT is(chat._chat_state_ok('customer', 'stylists', 0, 0, 0, 0, 0), false, 'the stylist role must be stylist, exactly');
SELECT is(chat._chat_state_ok('Customer', 'stylist', 0, 0, 0, 0, 0), false, '... and the customer role customer');

-- the message rows: seq 1 and 2, texts of the customer
CREATE FUNCTION pg_temp.message_breaks(change text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE chat.chat_messages SET %s WHERE chat_id = (SELECT id FROM c) AND seq = 2', change);
END
$$;
SELECT throws_ok($$SELECT pg_temp.message_breaks('body = repeat(''é'', 4001)')$$, '23514', NULL,
                 'a body of 4,001 characters');
SELECT lives_ok($$SELECT pg_temp.message_breaks('body = repeat(''é'', 4000)')$$,
                'a body of 4,000 characters (8,000 bytes) is written');
SELECT throws_ok($$SELECT pg_temp.message_breaks('attachment_count = 11')$$, '23514', NULL, '11 attachments');
SELECT throws_ok($$SELECT pg_temp.message_breaks('attachment_count = -1')$$, '23514', NULL, 'attachments below 0');
SELECT throws_ok($$SELECT pg_temp.message_breaks('deleted_at = now()')$$, '23514', NULL, 'deleted with a body');
SELECT throws_ok($$SELECT pg_temp.message_breaks('body = NULL')$$, '23514', NULL, 'no body and not deleted');
SELECT throws_ok($$SELECT pg_temp.message_breaks('body = NULL, deleted_at = now(), attachment_count = 1')$$,
                 '23514', NULL, 'deleted with attachments');
SELECT lives_ok($$SELECT pg_temp.message_breaks('body = NULL, deleted_at = now(), attachment_count = 0')$$,
                'a tombstone is written');
SELECT throws_ok($$SELECT pg_temp.message_breaks('reply_to_seq = 2')$$, '23514', NULL, 'a reply to itself');
SELECT lives_ok($$SELECT pg_temp.message_breaks('reply_to_seq = 1')$$, 'a reply to an earlier message');
SELECT throws_ok($$SELECT pg_temp.message_breaks('kind = ''note''')$$, '23514', NULL, 'a kind other than text or booking');
SELECT throws_ok($$SELECT pg_temp.message_breaks('kind = ''booking''')$$, '23514', NULL, 'a booking card with a sender');
SELECT throws_ok($$SELECT pg_temp.message_breaks('card = ''{}''')$$, '23514', NULL, 'a text with a card');
SELECT throws_like($$SELECT pg_temp.message_breaks('card = ''{}''')$$, '%"chat_messages_check"%',
                   'the error names chat_messages_check');

-- the activity minute: what floor(extract(epoch FROM t - to_timestamp(0)) / 60)
-- gives, before and after 1970, on and off a minute's edge
SELECT is((SELECT count(*) FROM unnest(ARRAY['1970-01-01 00:00:00+00', '1969-12-31 23:59:59.999999+00',
                                             '1969-12-31 23:59:00+00', '1900-03-01 12:34:56.5+00',
                                             '2026-12-06 10:00:00+00', '2026-12-06 10:00:59.999999+00',
                                             '4000-01-01 00:00:00.000001+00', '4714-11-24 00:00:00+00 BC',
                                             '294276-12-31 23:59:59+00']::timestamptz[]) t
            WHERE chat._activity_minute(t)
                  IS DISTINCT FROM floor(extract(epoch FROM t - to_timestamp(0)) / 60)::bigint),
          0::bigint, '_activity_minute(t) is floor(extract(epoch FROM t - to_timestamp(0)) / 60)');

SELECT * FROM finish();
ROLLBACK;
