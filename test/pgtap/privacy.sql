-- test/pgtap/privacy.sql: data rights (README, "Privacy and data rights").
--
-- Alice (a customer) talks with Sam and with Sue; her chat with Sue is on
-- legal hold.  She has images, a reaction, a pin with a note, a portfolio
-- consent, a report with a note, notification preferences and a pending
-- notification, a token, and a message still staged for a migration.
--   1. export_profile() and export_my_data(): one JSON document, every
--      section, as she sees it; the admin's export recorded even when the
--      caller rolls back;
--   2. erase_profile(): what goes, what stays, what is returned; the held
--      chat kept whole; run again; the hold released and run again;
--   3. legal holds, and who may do what.
-- test/scripts/privacy.sh exports 100,000 messages within bounded memory.
BEGIN;
\ir fixtures.psql
SELECT plan(73);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'), 'Cut', '2026-01-10 10:00+00', 'completed');

CREATE FUNCTION pg_temp.img(key text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_array(jsonb_build_object('storage_key', key, 'content_type', 'image/jpeg',
                                                'byte_size', 1000, 'width', 640, 'height', 480))
$$;
-- the document export_profile() or export_my_data() gives, as jsonb
CREATE FUNCTION pg_temp.doc(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE format('SELECT string_agg(line, E''\n'' ORDER BY n) FROM %s WITH ORDINALITY AS x(line, n)', q) INTO d;
    RETURN d::jsonb;
END
$$;

SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.chat_with(pg_temp.id('sue'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'the look I want', pg_temp.id('b1'), NULL, pg_temp.img('alice/look.jpg'));  -- 1
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'nice, will do', reply_to_seq => 1);                                   -- 2
SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 1, '👍');
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'this one is hidden later');                                           -- 3
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 2, '❤️');
SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 2, 'my reminder');
SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 1);
SELECT chat.report(pg_temp.chat_of('alice', 'sam'), 'other', 2, 'he called me at night');
SELECT chat.set_notification_preferences(true, 'Europe/Paris', NULL, NULL);
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'my hidden words');                                                   -- 4
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'unread by sam', attachments => pg_temp.img('alice/second.jpg'));     -- 5
SELECT chat.send_message(pg_temp.chat_of('alice', 'sue'), 'hello sue, about the dispute');                                      -- sue 1
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sue'), 'answer in the dispute');                                             -- sue 2
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 3, 'rude');
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 4, 'rude too');
INSERT INTO chat.notifications (chat_id, recipient_id, kind, first_seq, last_seq, first_at, last_at, available_at)
VALUES (pg_temp.chat_of('alice', 'sam'), pg_temp.id('alice'), 'messages', 2, 2, now(), now(), now());
INSERT INTO chat.legacy_messages (legacy_id, legacy_thread_id, booking_id, sender_id, body, sent_at, attachments)
VALUES ('old-1', 'T1', pg_temp.id('b1'), pg_temp.id('alice'), 'an old message', '2025-01-01', pg_temp.img('legacy/old-1.jpg'));
CREATE TEMP TABLE tok AS SELECT chat.issue_token(pg_temp.id('alice')) AS t;

-- 1. export
SELECT chat.act_as(pg_temp.id('ada'));
CREATE TEMP TABLE hold AS SELECT chat.set_legal_hold(pg_temp.chat_of('alice', 'sue'), 'dispute #7 with Sue') AS id;
SELECT is((SELECT id FROM hold), (SELECT id FROM chat.legal_holds WHERE chat_id = pg_temp.chat_of('alice', 'sue')),
          'set_legal_hold() holds alice''s chat with sue and returns the hold''s id');
CREATE TEMP TABLE d AS SELECT pg_temp.doc($$chat.export_profile('11111111-1111-4111-8111-111111111111', 'access request 12')$$) AS j;
SELECT is((SELECT j->>'format' || ' ' || (j->>'version') FROM d), 'stylist_chat export 1',
          'export_profile(): one JSON document, its lines joined');
SELECT is((SELECT j->'profile'->>'display_name' FROM d), 'Alice', 'with the profile');
SELECT is((SELECT j->'notification_preferences'->>'time_zone' FROM d), 'Europe/Paris', 'her notification preferences');
SELECT is((SELECT j->'bookings'->0->>'service' FROM d), 'Cut', 'the bookings of her pairs');
SELECT is((SELECT jsonb_array_length(j->'chats') FROM d), 2, 'her two chats');
SELECT is((SELECT count(*) FROM d, jsonb_array_elements(j->'chats') c WHERE c->>'other_name' = 'Sam' AND c->>'as' = 'customer'), 1::bigint,
          'each with the other participant and her side');
SELECT is((SELECT jsonb_array_length(j->'messages') FROM d), 7, 'every message of her chats: 5 with sam, 2 with sue');
SELECT is((SELECT m->'attachments'->0->>'storage_key' FROM d, jsonb_array_elements(j->'messages') m
            WHERE m->>'seq' = '1' AND (m->>'mine')::boolean
              AND m->>'chat_id' = pg_temp.chat_of('alice', 'sam')::text), 'alice/look.jpg', 'her images with their storage keys');
SELECT is((SELECT m->>'body' FROM d, jsonb_array_elements(j->'messages') m
            WHERE m->>'seq' = '3' AND m->>'chat_id' = pg_temp.chat_of('alice', 'sam')::text), NULL,
          'sam''s hidden message without its text, as she sees it');
SELECT is((SELECT (m->>'hidden') || ' ' || (m->>'body') FROM d, jsonb_array_elements(j->'messages') m
            WHERE m->>'seq' = '4' AND m->>'chat_id' = pg_temp.chat_of('alice', 'sam')::text), 'true my hidden words',
          'her own hidden message with its text: it is her data');
SELECT is((SELECT m->>'reply_to_seq' FROM d, jsonb_array_elements(j->'messages') m
            WHERE m->>'seq' = '2' AND m->>'chat_id' = pg_temp.chat_of('alice', 'sam')::text), '1', 'replies keep their thread');
SELECT is((SELECT j->'reactions'->0->>'emoji' FROM d), '❤️', 'her reactions');
SELECT is((SELECT j->'pins'->0->>'note' FROM d), 'my reminder', 'the pins of her chats');
SELECT is((SELECT j->'portfolio_consents'->0->>'storage_key' FROM d), 'alice/look.jpg', 'the consents she gave');
SELECT is((SELECT j->'reports'->0->>'note' FROM d), 'he called me at night', 'the reports she filed');
SELECT is((SELECT jsonb_array_length(j->'notifications') FROM d), 1, 'her pending notifications');
SELECT is((SELECT count(*) FROM d, jsonb_array_elements(j->'audit') a WHERE a->>'action' = 'hide_message'), 2::bigint,
          'the audit entries about her chats (the two messages hidden)');
SELECT is((SELECT string_agg(r->>'action' || ' by ' || (r->>'actor_id') || ': ' || (r->>'reason'), ', ') FROM d, jsonb_array_elements(j->'privacy_requests') r),
          'export by adadadad-adad-4ada-8ada-adadadadadad: access request 12',
          'and this very export, recorded before she was read');
SAVEPOINT before_export;
SELECT is((SELECT count(*) FROM chat.export_profile(pg_temp.id('alice'))) > 10, true, 'another export');
ROLLBACK TO SAVEPOINT before_export;
SELECT is((SELECT count(*) FROM chat.privacy_requests WHERE profile_id = pg_temp.id('alice') AND action = 'export'), 2::bigint,
          'an admin''s export stays recorded when the caller rolls back (committed on its own first)');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is((SELECT jsonb_array_length(pg_temp.doc('chat.export_my_data()')->'messages')), 7, 'export_my_data(): her own document');
SELECT is((SELECT actor_id FROM chat.privacy_requests WHERE profile_id = pg_temp.id('alice') ORDER BY id DESC LIMIT 1),
          pg_temp.id('alice'), 'recorded with herself as the actor');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT throws_ok($$SELECT * FROM chat.export_profile(pg_temp.id('alice'))$$, '42501', 'only an admin may do this',
                 'sam may not export alice');
SELECT is((SELECT jsonb_array_length(pg_temp.doc('chat.export_my_data()')->'chats')), 1, 'sam''s own export has his one chat');
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT * FROM chat.export_my_data()$$, '28000', NULL, 'export_my_data() needs an actor');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT throws_ok($$SELECT * FROM chat.export_profile(pg_temp.id('ghost'))$$, '22023', NULL, 'an unknown profile: 22023');

-- 2. erasure
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 2, 'sam has two of alice''s messages unread');
SELECT throws_ok($$SELECT * FROM chat.erase_profile(pg_temp.id('alice'), 'she asked')$$, '42501', 'only an admin may do this',
                 'sam may not erase alice');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT throws_ok($$SELECT * FROM chat.erase_profile(pg_temp.id('alice'), NULL)$$, '22004', NULL, 'an erasure needs a reason');
SELECT throws_ok($$SELECT * FROM chat.erase_profile(pg_temp.id('ghost'), 'who?')$$, '22023', NULL, 'an unknown profile: 22023');
CREATE TEMP TABLE erased AS SELECT * FROM chat.erase_profile(pg_temp.id('alice'), 'GDPR erasure, ticket 99');
SELECT results_eq(
    $$SELECT item, chat_id, seq, storage_key FROM erased WHERE item <> 'held' ORDER BY item, seq$$,
    $$VALUES ('image', pg_temp.chat_of('alice', 'sam'), 1::bigint, 'alice/look.jpg'),
             ('image', pg_temp.chat_of('alice', 'sam'), 5, 'alice/second.jpg'),
             ('staged_image', NULL, (SELECT staged_id FROM chat.legacy_messages WHERE legacy_id = 'old-1'), 'legacy/old-1.jpg')$$,
    'erase_profile() returns the storage keys of her images, for the application to delete the bytes');
SELECT results_eq(
    $$SELECT item, chat_id, detail ~ 'dispute #7 with Sue' FROM erased WHERE item = 'held'$$,
    $$VALUES ('held', pg_temp.chat_of('alice', 'sue'), true)$$,
    'and says which chat a legal hold keeps whole, and why');
SELECT results_eq(
    $$SELECT seq, sender_id, body, deleted_at IS NOT NULL, attachment_count::integer, reply_to_seq
        FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') ORDER BY seq$$,
    $$VALUES (1::bigint, pg_temp.id('alice'), NULL::text, true, 0, NULL::bigint),
             (2, pg_temp.id('sam'), 'nice, will do', false, 0, 1),
             (3, pg_temp.id('sam'), 'this one is hidden later', false, 0, NULL),
             (4, pg_temp.id('alice'), NULL, true, 0, NULL),
             (5, pg_temp.id('alice'), NULL, true, 0, NULL)$$,
    'her messages are tombstones (her hidden one too), sam''s stay; seqs and the reply''s thread stay');
SELECT is((SELECT count(*) FROM chat.media WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 0::bigint, 'her images are gone');
SELECT results_eq(
    $$SELECT seq, body FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sue') ORDER BY seq$$,
    $$VALUES (1::bigint, 'hello sue, about the dispute'), (2, 'answer in the dispute')$$,
    'the chat on legal hold keeps her messages');
SELECT is((SELECT display_name || ' ' || (erased_at IS NOT NULL) FROM chat.profiles WHERE id = pg_temp.id('alice')),
          'Erased profile true', 'her name is gone');
SELECT is((SELECT count(*) FROM chat.reactions WHERE profile_id = pg_temp.id('alice')), 0::bigint, 'her reactions are gone');
SELECT is((SELECT reaction_count::integer FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 2), 0,
          'and counted no more');
SELECT results_eq($$SELECT seq, note FROM chat.pins WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES (2::bigint, NULL::text)$$, 'her pin stays, without her note');
SELECT results_eq($$SELECT status, note FROM chat.reports WHERE reporter_id = pg_temp.id('alice')$$,
                  $$VALUES ('open', NULL::text)$$, 'her report stays for the moderators, without her note');
SELECT results_eq($$SELECT revoked_at IS NOT NULL, revoked_by FROM chat.portfolio_consents WHERE granted_by = pg_temp.id('alice')$$,
                  $$VALUES (true, pg_temp.id('ada'))$$, 'her consent is revoked (and kept as the record of it)');
SELECT is((SELECT count(*) FROM chat.notifications WHERE recipient_id = pg_temp.id('alice'))
          + (SELECT count(*) FROM chat.notification_preferences WHERE profile_id = pg_temp.id('alice')), 0::bigint,
          'her notifications and preferences are gone');
SELECT results_eq($$SELECT body, attachments FROM chat.legacy_messages WHERE legacy_id = 'old-1'$$,
                  $$VALUES (NULL::text, NULL::jsonb)$$, 'her staged legacy message is emptied');
SELECT throws_ok($$SELECT chat.authenticate((SELECT t FROM tok))$$, '28000', NULL, 'her token stops working at once');
SELECT throws_ok($$SELECT chat.issue_token(pg_temp.id('alice'))$$, '55000', NULL, 'and no new token is issued');
SELECT throws_ok($$SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice again')$$, '55000', NULL,
                 'nor is her name given back');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 0, 'sam has nothing of hers unread any more');
SELECT is((SELECT reply_to->>'preview' FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 2), '[deleted]',
          'sam''s reply quotes a tombstone');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'look')), 0::bigint, 'her words are not found any more');
SELECT is((SELECT other_name FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 'Erased profile',
          'sam''s inbox shows her as erased');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq(
    $$SELECT action, reason, summary FROM chat.privacy_log(pg_temp.id('alice')) WHERE action = 'erase'$$,
    $$VALUES ('erase', 'GDPR erasure, ticket 99',
              '{"images": 2, "messages": 3, "reactions": 1, "held_chats": 1, "staged_images": 1, "consents_revoked": 1}'::jsonb)$$,
    'the erasure is recorded with its reason and counts');
SELECT is((SELECT count(*) FROM chat.privacy_requests WHERE summary::text ~ 'look|hidden words|night'), 0::bigint,
          'and without any of the erased content');
SELECT results_eq($$SELECT item, chat_id FROM chat.erase_profile(pg_temp.id('alice'), 'again')$$,
                  $$VALUES ('held', pg_temp.chat_of('alice', 'sue'))$$,
                  'running it again erases nothing more: the held chat is still held');
SELECT is((SELECT summary FROM chat.privacy_log(pg_temp.id('alice')) ORDER BY id DESC LIMIT 1),
          '{"images": 0, "messages": 0, "reactions": 0, "held_chats": 1, "staged_images": 0, "consents_revoked": 0}'::jsonb,
          'and records that');

-- the hold released, then erased again
SELECT is(chat.release_legal_hold(pg_temp.chat_of('alice', 'sue'), 'dispute settled'), true, 'release_legal_hold() releases it');
SELECT is(chat.release_legal_hold(pg_temp.chat_of('alice', 'sue')), false, 'once');
SELECT is((SELECT count(*) FROM chat.erase_profile(pg_temp.id('alice'), 'after the hold')), 0::bigint,
          'erase_profile() again: no image, no held chat');
SELECT results_eq(
    $$SELECT seq, body FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sue') ORDER BY seq$$,
    $$VALUES (1::bigint, NULL::text), (2, 'answer in the dispute')$$,
    'her message in the chat that was held is erased now, sue''s stays');

-- 3. legal holds
SELECT is(chat.set_legal_hold(pg_temp.chat_of('alice', 'sam'), 'second dispute'),
          chat.set_legal_hold(pg_temp.chat_of('alice', 'sam'), 'same dispute, said again'),
          'holding a held chat returns the hold in force');
SELECT results_eq(
    $$SELECT chat_id, reason FROM chat.admin_legal_holds()$$,
    $$VALUES (pg_temp.chat_of('alice', 'sam'), 'second dispute')$$,
    'admin_legal_holds(): the holds in force');
SELECT results_eq(
    $$SELECT reason, release_reason FROM chat.admin_legal_holds(include_released => true) ORDER BY hold_id$$,
    $$VALUES ('dispute #7 with Sue', 'dispute settled'), ('second dispute', NULL)$$,
    'with the released ones, and why they were released');
SELECT throws_ok($$SELECT chat.set_legal_hold(pg_temp.id('made-up chat'), 'x')$$, '22023', NULL,
                 'a chat that does not exist cannot be held');
SELECT throws_ok($$SELECT chat.set_legal_hold(pg_temp.chat_of('alice', 'sam'), '  ')$$, '22023', NULL,
                 'a hold needs a reason');
SELECT throws_ok($$UPDATE chat.legal_holds SET reason = 'rewritten'$$, '42501', NULL,
                 'a hold is a record: its reason is never rewritten, even by a superuser');
SELECT throws_ok($$UPDATE chat.legal_holds SET released_at = now() + interval '1 day' WHERE released_at IS NOT NULL$$,
                 '42501', NULL, 'nor is a hold released twice');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT throws_ok($$SELECT chat.set_legal_hold(pg_temp.chat_of('alice', 'sam'), 'mine')$$, '42501', 'only an admin may do this',
                 'a participant may not hold a chat');
SELECT throws_ok($$SELECT chat.release_legal_hold(pg_temp.chat_of('alice', 'sam'))$$, '42501', 'only an admin may do this',
                 'nor release it');
SELECT throws_ok($$SELECT * FROM chat.admin_legal_holds()$$, '42501', 'only an admin may do this', 'nor list them');
SELECT throws_ok($$SELECT * FROM chat.privacy_log()$$, '42501', 'only an admin may do this', 'nor read the privacy log');
SET LOCAL ROLE chat_user;
SELECT throws_ok($$SELECT * FROM chat.erase_profile(pg_temp.id('sam'), 'x')$$, '42501', NULL, 'chat_user may not call erase_profile');
SELECT throws_ok($$SELECT * FROM chat.export_profile(pg_temp.id('sam'))$$, '42501', NULL, 'nor export_profile');
SELECT lives_ok($$SELECT count(*) FROM chat.export_my_data()$$, 'but may export its own data');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
