-- test/citus/privacy.sql: a person's data exported, then erased, run by
-- test/citus/run.sh at its end, after test/citus/conversation.sql, on one
-- server and on the Citus cluster's coordinator, whose outputs must be
-- the same (times masked).  The customer of the conversation exports
-- their data, an admin exports it for them; then, with a message of
-- theirs held by the filter, an admin erases it: their messages become
-- tombstones in place, their images' keys come back and are queued for
-- the deleter, their reactions go, the held message is emptied and
-- rejected, their name is erased; a second erasure finds nothing left.
-- Last, retention redacts what is older than its policy.
\set c '''c0000000-0000-4000-8000-000000000001'''
\set s '''5e000000-0000-4000-8000-000000000001'''
\set a '''ad000000-0000-4000-8000-000000000001'''
\set VERBOSITY terse
\pset footer off
SET client_min_messages = warning;
SELECT chat.pair_chat_id(:c, :s) AS chat \gset
-- the exports: the same document, line by line
SELECT chat.act_as(:c, true);
SELECT * FROM chat.export_my_data();
SELECT chat.act_as(:a, true);
SELECT * FROM chat.export_profile(:c, 'request 6');
SELECT chat.act_as(:a, true);
SELECT chat.add_filter_rule('phone', '[0-9]{9}', 'hold') > 0;   -- its id: a crash of the coordinator earlier leaves a gap
SELECT chat.act_as(:c, true);
SELECT chat.send_message(:'chat', 'my number: 987654321');
SELECT chat.act_as(:a, true);
SELECT chat.remove_filter_rule('phone');
SELECT item, chat_id = :'chat' AS this_chat, seq, storage_key, detail
  FROM chat.erase_profile(:c, 'request 7') ORDER BY item, seq, storage_key;
SELECT action, reason, summary FROM chat.privacy_log(:c);
SELECT chat_id = :'chat', status, body IS NULL AS emptied, reason FROM chat.admin_held_messages(true) ORDER BY held_id;
SELECT chat.reset_actor();
SELECT storage_key, chat_id = :'chat', seq, reason FROM chat.take_orphaned_images(10) ORDER BY storage_key;
SELECT chat.act_as(:s, true);
SELECT seq, sender_id, body, deleted_at IS NOT NULL AS deleted, attachments, reactions
  FROM chat.history(:'chat') ORDER BY seq;
SELECT customer_name FROM chat.get_chat(:'chat');
-- once more: nothing is left to erase
SELECT chat.act_as(:a, true);
SELECT count(*) FROM chat.erase_profile(:c, 'again');
SELECT summary FROM chat.privacy_log(:c) ORDER BY id DESC LIMIT 1;
SELECT chat.reset_actor();
-- retention: the chat's messages made years old (by a constant: Citus
-- runs no stable function of a column in an UPDATE), a policy of one
-- year; a run redacts the stylist's messages (the customer's are
-- tombstones already, booking cards stay) and empties a message of the
-- stylist's the filter held, a second finds nothing
SELECT chat.act_as(:a, true);
SELECT chat.add_filter_rule('phone2', '[0-9]{9}', 'hold') > 0;
SELECT chat.act_as(:s, true);
SELECT chat.send_message(:'chat', 'my old number: 123456789');
SELECT chat.act_as(:a, true);
SELECT chat.remove_filter_rule('phone2');
SELECT chat.reset_actor();
UPDATE chat.chat_messages SET created_at = '2020-01-01 00:00+00' WHERE chat_id = :'chat';
UPDATE chat.held_messages SET held_at = '2020-01-01 00:00+00' WHERE chat_id = :'chat' AND status = 'held';
SET stylist_chat.retention = '1 year';
SELECT redacted_messages, redacted_images, held_chats, busy_chats, round_complete FROM chat.apply_retention(1000);
SELECT redacted_messages, redacted_images, held_chats, busy_chats, round_complete FROM chat.apply_retention(1000);
SELECT chat.act_as(:a, true);
SELECT status, body IS NULL AS emptied, reason FROM chat.admin_held_messages(true) ORDER BY held_at, status;
SELECT chat.act_as(:s, true);
SELECT seq, sender_id, body, deleted_at IS NOT NULL AS deleted FROM chat.history(:'chat') ORDER BY seq;
SELECT chat.reset_actor();
RESET stylist_chat.retention;
