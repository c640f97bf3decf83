-- test/citus/conversation.sql: a conversation through the API, run by
-- test/citus/run.sh on one server and on the Citus cluster's coordinator,
-- whose outputs must be the same (times masked).  Sessions act for one
-- profile at a time (act_as(..., true)); errors print tersely, without the
-- node that raised them.
\set c '''c0000000-0000-4000-8000-000000000001'''
\set s '''5e000000-0000-4000-8000-000000000001'''
\set a '''ad000000-0000-4000-8000-000000000001'''
\set b '''b0000000-0000-4000-8000-000000000001'''
\set b2 '''b0000000-0000-4000-8000-000000000002'''
\set VERBOSITY terse
\pset footer off
SET client_min_messages = warning;
-- the platform's records
SELECT chat.upsert_profile(:c, 'customer', 'Ann');
SELECT chat.upsert_profile(:s, 'stylist', 'Leo');
SELECT chat.upsert_profile(:a, 'admin', 'Ada');
SELECT chat.upsert_profile(:c, 'customer', 'Ann B.');
SELECT chat.upsert_booking(:b, :c, :s, 'Cut', '2030-01-02 10:00+00', 'confirmed');
-- the customer writes
SELECT chat.act_as(:c, true);
SELECT chat.chat_with(:s) AS chat \gset
SELECT chat.get_or_create_chat(:c, :s) = :'chat', chat.chat_for_booking(:b) = :'chat',
       chat.pair_chat_id(:c, :s) = :'chat';
SELECT chat.send_message(:'chat', 'Is Friday still fine?') AS m1 \gset
SELECT chat.send_message(:'chat', 'At 3', client_msg_id => 'f0000000-0000-4000-8000-000000000001');
SELECT chat.send_message(:'chat', 'At 3', client_msg_id => 'f0000000-0000-4000-8000-000000000001');
SELECT chat.send_message(:'chat', 'about the cut', booking_id => :b);
SELECT chat.send_message(:'chat', 'a reply', reply_to_seq => :m1);
SELECT chat.send_message(:'chat', 'two pictures',
       attachments => '[{"storage_key": "k/a.jpg", "content_type": "image/jpeg", "byte_size": 100, "width": 10, "height": 10},
                        {"storage_key": "k/b.png", "content_type": "image/png", "byte_size": 200, "width": 20, "height": 20}]') AS pic \gset
SELECT chat.send_message(:'chat', 'to delete');
SELECT chat.send_message(:'chat', '');
SELECT chat.send_message('00000000-0000-4000-8000-000000000000', 'nobody''s chat');
SELECT chat.typing(:'chat');
SELECT chat.edit_message(:'chat', :m1, 'Is Friday fine?');
SELECT chat.react(:'chat', :m1, '👍');
SELECT chat.react(:'chat', :m1, '❤️');
SELECT chat.unreact(:'chat', :m1, '❤️');
SELECT chat.pin(:'chat', :m1, 'the day', NULL);
SELECT seq, note, preview FROM chat.pinned(:'chat');
SELECT chat.delete_message(:'chat', 7);
SELECT chat.grant_portfolio_consent(:'chat', :pic, 1);
SELECT chat.upsert_booking(:b2, :c, :s, 'Colour', '2030-02-03 10:00+00', 'pending');
SELECT chat.upsert_booking(:b, :c, :s, 'Cut', '2030-01-03 11:00+00', 'confirmed');
SELECT seq, sender_id, body, booking_id, client_msg_id, edited_at IS NOT NULL AS edited,
       deleted_at IS NOT NULL AS deleted, hidden_at IS NOT NULL AS hidden, attachments,
       booking, kind, card, reply_to, reactions, my_reactions
  FROM chat.history(:'chat') ORDER BY seq;
SELECT array_agg(seq ORDER BY seq) FROM chat.history(:'chat', 6, 3);
SELECT array_agg(seq ORDER BY seq) FROM chat.messages_since(:'chat', 2, 3);
SELECT array_agg(seq ORDER BY seq) FROM chat.search(:'chat', 'friday');
SELECT array_agg(seq ORDER BY seq) FROM chat.search(:'chat', 'reply');
SELECT chat_id = :'chat', seq, other_id, other_name, snippet, reply_to FROM chat.search_all('reply');
SELECT chat_id = :'chat', seq, snippet FROM chat.search_all('friday OR pictures');
SELECT seq, position, storage_key FROM chat.gallery(:'chat') ORDER BY seq, position;
SELECT customer_id, stylist_id, last_seq, unread_count, other_read_seq FROM chat.get_chat(:'chat');
SELECT booking_id, service, status FROM chat.chat_bookings(:'chat') ORDER BY booking_id;
SELECT chat_id = :'chat', other_id, other_name, unread_count, bookings_count, preview
  FROM chat.inbox();
-- the stylist reads
SELECT chat.act_as(:s, true);
SELECT chat_id = :'chat', other_id, other_name, unread_count, preview FROM chat.inbox();
SELECT chat_id = :'chat', seq, body FROM chat.undelivered(3);
SELECT chat_id = :'chat', seq, body FROM chat.undelivered();
SELECT count(*) FROM chat.undelivered();
SELECT chat.mark_read(:'chat', 4);
SELECT unread_count FROM chat.inbox();
SELECT chat.mark_unread(:'chat', 2);
SELECT unread_count FROM chat.inbox();
SELECT chat.send_message(:'chat', 'Yes, Friday at 3');
SELECT chat.react(:'chat', :m1, '👍');
SELECT array_agg(seq ORDER BY seq) FROM chat.my_portfolio();
SELECT chat.mute(:'chat', 'infinity');
SELECT chat.archive(:'chat');
SELECT count(*) FROM chat.inbox();
SELECT count(*) FROM chat.inbox(archived => true);
SELECT chat.unarchive(:'chat');
SELECT chat.unmute(:'chat');
-- quiet hours that begin 6 hours from now and last 2: whatever the time
-- of the run, the notifications below are not put off by them
SELECT date_trunc('hour', now() AT TIME ZONE 'Europe/Berlin' + interval '6 hours')::time AS quiet_from,
       date_trunc('hour', now() AT TIME ZONE 'Europe/Berlin' + interval '8 hours')::time AS quiet_until \gset
SELECT chat.set_notification_preferences(true, 'Europe/Berlin', :'quiet_from', :'quiet_until');
SELECT show_previews, time_zone, quiet_from = :'quiet_from', quiet_until = :'quiet_until'
  FROM chat.notification_preferences();
-- the customer catches up, acknowledging what they hold
SELECT chat.act_as(:c, true);
SELECT last_seq AS last FROM chat.get_chat(:'chat') \gset
SELECT max(seq) AS reply FROM chat.history(:'chat') WHERE sender_id = :s \gset
SELECT chat_id = :'chat', seq, body FROM chat.catch_up(NULL);
SELECT chat_id = :'chat', seq, body FROM chat.catch_up(format('[{"chat_id": "%s", "seq": %s}]', :'chat', :last - 1)::jsonb);
SELECT count(*) FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 99}]', :'chat')::jsonb);
SELECT count(*) FROM chat.catch_up('[{"chat_id": "00000000-0000-4000-8000-000000000000", "seq": 1}]');
SELECT count(*) FROM chat.catch_up(format('[{"chat_id": "%s", "seq": %s}]', :'chat', :last)::jsonb);
SELECT chat.ack_delivered(:'chat', :last);
SELECT chat.report(:'chat', 'harassment', :reply, 'rude') AS report \gset
SELECT chat.block(:'chat');
SELECT chat.send_message(:'chat', 'blocked?');
SELECT chat.unblock(:'chat');
SELECT chat.clear_history(:'chat');
SELECT count(*) FROM chat.history(:'chat');
SELECT chat.send_message(:'chat', 'after clearing');
SELECT array_agg(seq ORDER BY seq) FROM chat.history(:'chat');
-- the admin
SELECT chat.act_as(:a, true);
SELECT chat_id = :'chat', customer_id, stylist_id FROM chat.admin_inbox();
SELECT count(*) FROM chat.admin_history(:'chat', 'a report');
SELECT chat.hide_message(:'chat', 4, 'off topic');
SELECT chat.resolve_report(:report, 'dismiss', 'not rude');
SELECT chat.add_filter_rule('phone', '[0-9]{9}', 'hold');
SELECT name, action, matched FROM chat.admin_filter_rules();
SELECT chat.act_as(:c, true);
SELECT chat.send_message(:'chat', 'call me at 123456789');
SELECT count(*) FROM chat.pending_messages(:'chat');
SELECT chat.act_as(:a, true);
SELECT chat_id = :'chat', body FROM chat.admin_held_messages();
SELECT chat.approve_held_message(:'chat', (SELECT held_id FROM chat.admin_held_messages() LIMIT 1));
-- edits screened by the filter's rules, which are the coordinator's: a
-- hold refuses it, a mask removes what matched, a flag files a report
SELECT chat.add_filter_rule('email', '[a-z]+@[a-z]+\.com', 'mask');
SELECT chat.add_filter_rule('cash', '(?i)cash only', 'flag');
SELECT chat.act_as(:c, true);
SELECT chat.edit_message(:'chat', :m1, 'or call 987654321');
SELECT chat.edit_message(:'chat', :m1, 'write to ann@mail.com, Cash only');
SELECT body, edited_at IS NOT NULL AS edited FROM chat.chat_messages WHERE chat_id = :'chat' AND seq = :m1;
SELECT chat.edit_message(:'chat', :m1, 'Is Friday fine?');
SELECT chat.act_as(:a, true);
SELECT seq = :m1, reason, note, status FROM chat.admin_reports WHERE reporter_id = '00000000-0000-0000-0000-000000000000';
SELECT chat.remove_filter_rule('email'), chat.remove_filter_rule('cash');
SELECT chat.remove_filter_rule('phone');
SELECT chat.set_legal_hold(:'chat', 'case 1') AS hold \gset
SELECT chat_id = :'chat', reason, hold_id = :hold FROM chat.admin_legal_holds();
SELECT chat.release_legal_hold(:'chat', 'closed');
SELECT chat.revoke_tokens(:c);
SELECT chat.rotate_signing_key();
-- an image deleted with its message: the application's deleter takes its key
SELECT chat.act_as(:c, true);
SELECT chat.send_message(:'chat', 'one more picture',
       attachments => '[{"storage_key": "k/c.jpg", "content_type": "image/jpeg", "byte_size": 300, "width": 30, "height": 30}]') AS pic2 \gset
SELECT chat.delete_message(:'chat', :pic2);
SELECT chat.reset_actor();
SELECT storage_key, chat_id = :'chat', seq = :pic2, position, reason FROM chat.take_orphaned_images(10);
SELECT count(*) FROM chat.take_orphaned_images(10);
-- everyone sees the end of it the same way
SELECT chat.act_as(:s, true);
SELECT seq, sender_id, body, hidden_at IS NOT NULL AS hidden, reactions, my_reactions
  FROM chat.history(:'chat') ORDER BY seq;
SELECT chat.reset_actor();
-- the admin's views and search, the person's views, a pin taken back, a
-- portfolio consent revoked, a login token
SELECT chat.act_as(:a, true);
SELECT count(*) FROM chat.admin_search('Friday', 'a look');
SELECT retention IS NULL FROM chat.retention_status();
SELECT count(*) FROM chat.admin_chats;
SELECT count(*), count(hidden_at) FROM chat.admin_messages;
SELECT count(*) FROM chat.admin_reports;
SELECT count(*) FROM chat.admin_blocks;
SELECT action, count(*) FROM chat.audit_log GROUP BY action ORDER BY action;
SELECT chat.act_as(:s, true);
SELECT storage_key FROM chat.portfolio(:s) ORDER BY consent_id;
SELECT count(*) FROM chat.my_chats;
SELECT count(*), count(body) FROM chat.my_messages;
SELECT count(*) FROM chat.my_media;
SELECT chat.listen_channel() IS NOT NULL, chat.current_actor() = :s;
SELECT chat.unpin(:'chat', :m1);
SELECT count(*) FROM chat.pinned(:'chat');
SELECT chat.act_as(:c, true);
SELECT chat.revoke_portfolio_consent(:'chat', :pic, 1);
SELECT chat.reset_actor();
SELECT chat.issue_login_token(:c, '1 hour') IS NOT NULL;
