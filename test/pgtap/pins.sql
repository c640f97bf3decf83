-- test/pgtap/pins.sql: pinned messages, rule by rule.
BEGIN;
\ir fixtures.psql
SELECT plan(27);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'message ' || i) FROM generate_series(1, 60) i;
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), 'carol''s message');

-- Either participant pins; both see the same list.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT lives_ok($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 1, 'colour formula')$$,
                'the customer pins a message');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT lives_ok($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 2, 'allergy: patch test needed',
                                  now() + interval '1 day')$$,
                'the stylist pins a message, with an expiry');
SELECT set_eq($$SELECT seq, note, pinned_by FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))$$,
              $$VALUES (1::bigint, 'colour formula', pg_temp.id('alice')),
                       (2::bigint, 'allergy: patch test needed', pg_temp.id('sam'))$$,
              'the stylist sees both pins, with who pinned them');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is((SELECT count(*) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), 2::bigint,
          'the customer sees the same two pins');
SELECT results_eq($$SELECT sender_id, preview, booking_id FROM chat.pinned(pg_temp.chat_of('alice', 'sam')) WHERE seq = 1$$,
                  $$VALUES (pg_temp.id('alice'), 'message 1', NULL::uuid)$$,
                  'a pin carries its message''s sender, preview and booking');
SELECT is((SELECT count(*) FROM chat.pinned(pg_temp.chat_of('carol', 'sam'))), 0::bigint,
          'pins belong to their chat') FROM (SELECT chat.act_as(pg_temp.id('carol'))) a;
SELECT chat.act_as(pg_temp.id('alice'));

-- Pinning again changes the note and expiry, and makes no second pin.
SELECT lives_ok($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 2, 'patch test done')$$, 'pinning again');
SELECT results_eq($$SELECT count(*), max(note) FILTER (WHERE seq = 2), bool_and(expires_at IS NULL)
                      FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (2::bigint, 'patch test done', true)$$,
                  'pinning again changed the note and the expiry, and made no second pin');

-- Unpinning, also what is not pinned.
SELECT lives_ok($$SELECT chat.unpin(pg_temp.chat_of('alice', 'sam'), 2)$$, 'the customer unpins the stylist''s pin');
SELECT lives_ok($$SELECT chat.unpin(pg_temp.chat_of('alice', 'sam'), 2)$$, 'unpinning again is a no-op');
SELECT lives_ok($$SELECT chat.unpin(pg_temp.chat_of('alice', 'sam'), 12345)$$, 'unpinning a seq that does not exist is a no-op');
SELECT is((SELECT array_agg(seq) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), '{1}'::bigint[],
          'one pin is left');

-- A deleted or hidden message leaves the list and cannot be pinned.
SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 3);
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 3);
SELECT is((SELECT array_agg(seq) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), '{1}'::bigint[],
          'a deleted message leaves the pinned list');
SELECT is(pg_temp.error_of($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 3)$$),
          '55000: message 3 of chat <id> is deleted (hint: A deleted or hidden message cannot be pinned.)',
          'a deleted message cannot be pinned');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 1, 'test');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is((SELECT count(*) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), 0::bigint,
          'a hidden message leaves the pinned list');
SELECT is(pg_temp.error_of($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 1)$$),
          '55000: message 1 of chat <id> is hidden (hint: A deleted or hidden message cannot be pinned.)',
          'a hidden message cannot be pinned');

-- Expired pins are not listed.
SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 4, 'soon gone', now() + interval '1 hour');
UPDATE chat.pins SET expires_at = now() - interval '1 second' WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 4;
SELECT is((SELECT count(*) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), 0::bigint,
          'an expired pin is not listed');

-- At most 50 pins; dead pins do not count and are cleared by the next pin.
SELECT is((SELECT count(chat.pin(pg_temp.chat_of('alice', 'sam'), s)) FROM generate_series(11, 60) s), 50::bigint,
          '50 pins');
SELECT is((SELECT count(*) FROM chat.pins WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 50::bigint,
          'the deleted, hidden and expired pins were cleared by the next pin');
SELECT is(pg_temp.error_of($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 10)$$),
          '54000: chat <id> has 50 pinned messages already (hint: Unpin one with chat.unpin() first.)',
          'the 51st pin is refused with 54000');
SELECT lives_ok($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 60, 'again')$$,
                'with 50 pins, one of them can still be pinned again');

-- Bad input.
SELECT is(pg_temp.error_of($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 60, repeat('n', 201))$$),
          '22001: note is too long (201 characters)', 'a note of 201 characters is too long');
SELECT is(pg_temp.error_of($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 60, E'a\tb')$$),
          '22023: note must not contain control characters', 'a note is one line');
SELECT is(pg_temp.error_of($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 60, NULL, now())$$),
          '22023: expires_at must be in the future (hint: Pass NULL to keep the pin until it is unpinned.)',
          'expires_at must be in the future');
SELECT is(pg_temp.error_of($$SELECT chat.pin(NULL, 60)$$), '22004: chat_id must not be null', 'a NULL chat_id');

-- Outsiders get the one 42501.
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of($$SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 60)$$),
          pg_temp.error_of($$SELECT chat.pin(pg_temp.id('made-up chat'), 60)$$),
          'pinning in someone else''s chat is refused as for a chat that does not exist');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))$$),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'someone else''s pins cannot be read');

SELECT * FROM finish();
ROLLBACK;
