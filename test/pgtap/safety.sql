-- test/pgtap/safety.sql: blocking a chat.  While either participant blocks
-- it nobody sends (55000, the same error whoever blocked), typing is
-- dropped, reading, editing and deleting go on, and only admins see the
-- block (chat.admin_blocks).  Blocks are not relayed.
BEGIN;
SELECT plan(47);

\ir fixtures.psql

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.send_message(chat.chat_with(pg_temp.id('sam')), 'Hi Sam');
SELECT chat.send_message(chat.chat_with(pg_temp.id('sue')), 'Hi Sue');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'Hi Alice');

-- The blocked error, with its hint, and the events recorded so far.
CREATE FUNCTION pg_temp.blocked() RETURNS text LANGUAGE sql AS $$
    SELECT '55000: this chat is blocked (hint: Nothing can be sent in a blocked chat; its history stays readable.)'
$$;
CREATE FUNCTION pg_temp.relayed() RETURNS bigint LANGUAGE sql AS $$
    SELECT s.events_relayed + s.queued + s.dropped FROM chat._relay_shared_status() s
$$;

-- Sam blocks: nothing is relayed, and a second block is a no-op.
SELECT pg_temp.relayed() AS relayed_before \gset
SELECT lives_ok($$SELECT chat.block(pg_temp.chat_of('alice', 'sam'))$$, 'sam blocks his chat with alice');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT blocked_at AS first_block FROM chat.admin_blocks \gset
SELECT chat.act_as(pg_temp.id('sam'));
SELECT lives_ok($$SELECT chat.block(pg_temp.chat_of('alice', 'sam'))$$, 'blocking twice is fine');
SELECT is(pg_temp.relayed(), :'relayed_before'::bigint, 'no block is relayed');

-- Neither side sends; both get the same error.
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'still there?')$$),
          pg_temp.blocked(), 'the blocker cannot send: 55000');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'still there?')$$),
          pg_temp.blocked(), 'the blocked one gets the very same error');
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'retry', client_msg_id => 'a0000000-0000-4000-8000-000000000001')$$),
          pg_temp.blocked(), '... with a client_msg_id too');
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'photo', attachments => '[{"storage_key": "k", "content_type": "image/png", "byte_size": 1, "width": 1, "height": 1}]')$$),
          pg_temp.blocked(), '... with attachments too');
SELECT is((SELECT last_seq FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 2::bigint,
          'nothing was stored');
-- typing is dropped, silently
SELECT pg_temp.relayed() AS relayed_before \gset
SELECT lives_ok($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$, 'typing in a blocked chat raises nothing');
SELECT is(pg_temp.relayed(), :'relayed_before'::bigint, '... and relays nothing');
-- reading, editing and deleting one's own go on
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam'))), 2::bigint, 'the history stays readable');
SELECT lives_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 1, 'Hi Sam!')$$, 'alice edits her message');
SELECT lives_ok($$SELECT chat.mark_read(pg_temp.chat_of('alice', 'sam'))$$, 'alice marks the chat read');
SELECT lives_ok($$SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 1)$$, 'alice deletes her message');
-- her other chats are not touched
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'Hi again'), 2::bigint, 'alice still sends to sue');

-- Someone else, a made-up chat, no actor, NULL: the usual errors.
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'hi')$$),
          '42501: chat <id> does not exist or you are not one of its participants '
          '(hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'an outsider sending to a blocked chat: the one 42501, no word of the block');
SELECT is(pg_temp.error_of($$SELECT chat.block(pg_temp.chat_of('alice', 'sam'))$$),
          pg_temp.error_of($$SELECT chat.block(pg_temp.id('made-up chat'))$$),
          'an outsider blocking: the very error a made-up chat id gets');
SELECT is(pg_temp.error_of($$SELECT chat.unblock(pg_temp.chat_of('alice', 'sam'))$$),
          pg_temp.error_of($$SELECT chat.unblock(pg_temp.id('made-up chat'))$$),
          'an outsider unblocking: the same');
SELECT throws_ok($$SELECT chat.block(NULL)$$, '22004', 'chat_id must not be null', 'block(NULL): 22004');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT throws_ok($$SELECT chat.block(pg_temp.chat_of('alice', 'sam'))$$, '42501', NULL, 'an admin cannot block: 42501');
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT chat.block(pg_temp.chat_of('alice', 'sam'))$$, '28000', NULL, 'block without an actor: 28000');
SELECT throws_ok($$SELECT chat.unblock(pg_temp.chat_of('alice', 'sam'))$$, '28000', NULL, 'unblock without an actor: 28000');

-- admin_blocks: every block for an admin, with who and since when
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq($$SELECT chat_id, blocker_id, blocked_id, blocked_at FROM chat.admin_blocks$$,
    format('VALUES (%L::uuid, %L::uuid, %L::uuid, %L::timestamptz)', pg_temp.chat_of('alice', 'sam'),
           pg_temp.id('sam'), pg_temp.id('alice'), :'first_block'),
    'an admin sees the block: chat, blocker, blocked, the first time');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is((SELECT count(*) FROM chat.admin_blocks), 0::bigint, 'a participant sees no block there');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT count(*) FROM chat.admin_blocks), 0::bigint, '... nor does the blocker');

-- Alice blocks too; unblocking lifts only one's own block.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.block(pg_temp.chat_of('alice', 'sam'));
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.unblock(pg_temp.chat_of('alice', 'sam'));
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'hi')$$),
          pg_temp.blocked(), 'sam unblocked, alice still blocks: sam cannot send');
SELECT lives_ok($$SELECT chat.unblock(pg_temp.chat_of('alice', 'sam'))$$, 'unblocking twice is fine');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq($$SELECT blocker_id FROM chat.admin_blocks$$, ARRAY[pg_temp.id('alice')],
                  'only alice''s block is left');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.unblock(pg_temp.chat_of('alice', 'sam'));
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'Sorry Sam'), 3::bigint,
          'both unblocked: alice sends again, seq goes on without a gap');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'No problem'), 4::bigint, '... and so does sam');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is((SELECT count(*) FROM chat.admin_blocks), 0::bigint, 'no block is left');

------------------------------------------------------------------------
-- Reports
------------------------------------------------------------------------
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.report(pg_temp.chat_of('alice', 'sam'), 'harassment', 4, 'rude') AS r1 \gset
SELECT is(chat.report(pg_temp.chat_of('alice', 'sam'), 'spam', 4), :'r1'::bigint,
          'reporting the same message again returns the open report');
SELECT chat.report(pg_temp.chat_of('alice', 'sam'), 'spam') AS r2 \gset
SELECT isnt(:'r2'::bigint, :'r1'::bigint, 'a report of the whole chat is another report');
SELECT is(pg_temp.error_of($$SELECT chat.report(pg_temp.chat_of('alice', 'sam'), 'boring')$$),
          '22023: unknown reason "boring" (hint: The reasons are spam, harassment, inappropriate, off_platform and other.)',
          'an unknown reason: 22023');
SELECT throws_ok($$SELECT chat.report(pg_temp.chat_of('alice', 'sam'), 'spam', 3)$$, '22023', NULL,
                 'reporting one''s own message: 22023');
SELECT throws_ok($$SELECT chat.report(pg_temp.chat_of('alice', 'sam'), 'other', NULL, repeat('x', 1001))$$, '22001', NULL,
                 'a note over 1000 characters: 22001');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of($$SELECT chat.report(pg_temp.chat_of('alice', 'sam'), 'spam')$$),
          pg_temp.error_of($$SELECT chat.report(pg_temp.id('made-up chat'), 'spam')$$),
          'an outsider reporting: the very error a made-up chat id gets');
SELECT is((SELECT count(*) FROM chat.admin_reports), 0::bigint, 'a participant sees no report');
SELECT throws_ok(format('SELECT chat.resolve_report(%s, %L)', :'r1', 'dismiss'), '42501', NULL,
                 'only an admin resolves');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq($$SELECT status, count(*) FROM chat.admin_reports GROUP BY 1$$,
                  $$VALUES ('open'::text, 2::bigint)$$, 'an admin sees both reports, open');
SELECT throws_ok(format('SELECT chat.resolve_report(%s, %L)', :'r2', 'hide_message'), '22023', NULL,
                 'a report of the whole chat cannot hide a message');
SELECT lives_ok(format('SELECT chat.resolve_report(%s, %L, %L)', :'r1', 'hide_message', 'insult'),
                'the admin hides the reported message');
SELECT lives_ok(format('SELECT chat.resolve_report(%s, %L)', :'r2', 'dismiss'), 'and dismisses the other');
SELECT throws_ok(format('SELECT chat.resolve_report(%s, %L)', :'r2', 'dismiss'), '55000', NULL,
                 'resolving twice: 55000');
SELECT results_eq(format('SELECT status, resolved_by FROM chat.admin_reports WHERE id IN (%s, %s) ORDER BY id', :'r1', :'r2'),
                  format('VALUES (%L, %L::uuid), (%L, %L::uuid)', 'actioned', pg_temp.id('ada'), 'dismissed', pg_temp.id('ada')),
                  'actioned and dismissed, by ada');
SELECT results_eq($$SELECT action, seq FROM chat.audit_log ORDER BY id$$,
                  $$VALUES ('hide_message'::text, 4::bigint), ('resolve_report', 4), ('resolve_report', NULL)$$,
                  'the audit log has the hiding and both resolutions');
SELECT ok((SELECT hidden_at IS NOT NULL FROM chat.chat_messages
            WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 4), 'message 4 is hidden');

SELECT * FROM finish();
ROLLBACK;
