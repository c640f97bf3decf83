-- test/pgtap/inbox_controls.sql: each participant's own side of a chat:
-- mark_unread, archive/unarchive, mute/unmute, clear_history.
BEGIN;
\ir fixtures.psql
SELECT plan(94);

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

------------------------------------------------------------------------
-- archive / unarchive
------------------------------------------------------------------------
-- Alice has four more chats, with stylists of their own, at set times.
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(('5e000000-0000-4000-8000-0000000000' || lpad(i::text, 2, '0'))::uuid,
                           'stylist', 'Stylist ' || i)
  FROM generate_series(1, 3) i;
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.send_message(chat.chat_with(s), 'hello') FROM (
    SELECT pg_temp.id('sue') AS s
    UNION ALL
    SELECT ('5e000000-0000-4000-8000-0000000000' || lpad(i::text, 2, '0'))::uuid FROM generate_series(1, 3) i) x;
UPDATE chat.chats SET last_message_at = timestamptz '2026-01-01 10:00+00' + (n || ' minutes')::interval
  FROM (SELECT chat_id, row_number() OVER (ORDER BY stylist_id) AS n
          FROM chat.chats WHERE customer_id = pg_temp.id('alice')) o
 WHERE chats.chat_id = o.chat_id;

SELECT is((SELECT count(*) FROM chat.inbox()), 5::bigint, 'alice has five chats in her inbox');
SELECT chat.archive(pg_temp.chat_of('alice', 'sam'));
SELECT is((SELECT count(*) FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 0::bigint,
          'an archived chat leaves the inbox');
SELECT results_eq($$SELECT chat_id, is_archived FROM chat.inbox(archived => true)$$,
                  $$VALUES (pg_temp.chat_of('alice', 'sam'), true)$$,
                  'inbox(archived => true) lists it, marked archived');
SELECT ok(NOT (SELECT bool_or(is_archived) FROM chat.inbox()), 'the default inbox marks none archived');
SELECT is((SELECT is_archived FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), true,
          'get_chat says it is archived');
SELECT is((SELECT customer_archived_seq FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')),
          8::bigint, 'it is archived at the last seq');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT results_eq($$SELECT is_archived FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES (false)$$, 'the other participant''s inbox still has it');
SELECT is((SELECT is_archived FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), false,
          '... and get_chat says it is not archived for them');
-- edits, deletes and reads leave it archived; a new message does not
SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 7, 'from sam 7, edited');
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 6);
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.mark_read(pg_temp.chat_of('alice', 'sam'));
SELECT is((SELECT count(*) FROM chat.inbox(archived => true)), 1::bigint,
          'edits, deletes and reading leave the chat archived');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'new from sam');                                -- 9
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT is_archived, preview, unread_count FROM chat.inbox()
                     WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES (false, 'new from sam', 1)$$,
                  'the other participant''s new message brings it back to the inbox');
SELECT is((SELECT count(*) FROM chat.inbox(archived => true)), 0::bigint, '... and out of the archived list');
SELECT chat.archive(pg_temp.chat_of('alice', 'sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'new from alice');                              -- 10
SELECT is((SELECT is_archived FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), false,
          'so does a message of the actor''s own');
SELECT chat.archive(pg_temp.chat_of('alice', 'sam'));
SELECT chat.unarchive(pg_temp.chat_of('alice', 'sam'));
SELECT results_eq($$SELECT count(*), bool_or(is_archived) FROM chat.inbox()$$, $$VALUES (5::bigint, false)$$,
                  'unarchive brings it back at once');
SELECT is((SELECT customer_archived_seq FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')),
          NULL::bigint, '... and clears the mark');
SELECT lives_ok($$SELECT chat.unarchive(pg_temp.chat_of('alice', 'sam'))$$, 'unarchiving a chat not archived is a no-op');

-- Archived listing and paging: the archived chats 2, 3 and 5 of the five
-- (by activity), in pages of 2; the default inbox pages over 1 and 4.
CREATE TEMP TABLE alices AS
SELECT chat_id, row_number() OVER (ORDER BY last_message_at DESC, chat_id) AS n
  FROM chat.chats WHERE customer_id = pg_temp.id('alice');
SELECT chat.archive(chat_id) FROM alices WHERE n IN (2, 3, 5);
SELECT results_eq($$SELECT chat_id FROM chat.inbox(archived => true)$$,
                  $$SELECT chat_id FROM alices WHERE n IN (2, 3, 5) ORDER BY n$$,
                  'inbox(archived => true): the archived chats, most recent activity first');
SELECT results_eq($$SELECT chat_id FROM chat.inbox()$$,
                  $$SELECT chat_id FROM alices WHERE n IN (1, 4) ORDER BY n$$,
                  'inbox(): the others, in the same order');
CREATE TEMP TABLE paged (n serial, archived boolean, chat_id uuid, activity_at timestamptz);
DO $$
DECLARE
    v_at timestamptz;
    v_id uuid;
    got integer;
    a boolean;
BEGIN
    FOREACH a IN ARRAY ARRAY[true, false] LOOP
        v_at := NULL; v_id := NULL;
        LOOP
            INSERT INTO paged (archived, chat_id, activity_at)
            SELECT a, i.chat_id, i.activity_at FROM chat.inbox(2, v_at, v_id, a) i;
            GET DIAGNOSTICS got = ROW_COUNT;
            EXIT WHEN got = 0;
            SELECT p.activity_at, p.chat_id INTO v_at, v_id FROM paged p ORDER BY p.n DESC LIMIT 1;
        END LOOP;
    END LOOP;
END
$$;
SELECT results_eq($$SELECT chat_id FROM paged WHERE archived ORDER BY n$$,
                  $$SELECT chat_id FROM chat.inbox(archived => true)$$,
                  'pages of 2 of the archived list are the whole list, each chat once');
SELECT results_eq($$SELECT chat_id FROM paged WHERE NOT archived ORDER BY n$$,
                  $$SELECT chat_id FROM chat.inbox()$$,
                  'pages of 2 of the inbox are the whole inbox, without the archived');
SELECT is((SELECT count(*) FROM chat.inbox(1, archived => true)), 1::bigint, 'max_rows applies to the archived list');
SELECT chat.unarchive(chat_id) FROM alices;

------------------------------------------------------------------------
-- mute / unmute
------------------------------------------------------------------------
SELECT chat.mute(pg_temp.chat_of('alice', 'sam'), timestamptz '2099-06-01 12:00+00');
SELECT is((SELECT muted_until FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))),
          timestamptz '2099-06-01 12:00+00', 'mute(until): get_chat shows muted_until');
SELECT is((SELECT muted_until FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')),
          timestamptz '2099-06-01 12:00+00', '... and so does the inbox');
SELECT is((SELECT count(*) FROM chat.inbox() WHERE muted_until IS NOT NULL), 1::bigint,
          'the other chats are not muted');
SELECT chat.mute(pg_temp.chat_of('alice', 'sam'));
SELECT is((SELECT muted_until FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 'infinity'::timestamptz,
          'mute(NULL): muted until unmuted, shown as infinity');
SELECT is(pg_temp.error_of($$SELECT chat.mute(pg_temp.chat_of('alice', 'sam'), now() - interval '1 second')$$),
          '22023: until must be in the future (hint: Pass NULL to mute the chat until it is unmuted.)',
          'until in the past: 22023');
SELECT is(pg_temp.error_of($$SELECT chat.mute(pg_temp.chat_of('alice', 'sam'), now())$$),
          '22023: until must be in the future (hint: Pass NULL to mute the chat until it is unmuted.)',
          'until now: 22023');
SELECT is((SELECT customer_muted_until FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')),
          'infinity'::timestamptz, 'a refused mute changes nothing');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT muted_until FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), NULL::timestamptz,
          'the other participant''s side is not muted');
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'still delivered');                             -- 11
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT preview, unread_count FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES ('still delivered', 1)$$, 'messages still come into a muted chat');
-- a time that has passed reads as not muted
UPDATE chat.chats SET customer_muted_until = now() - interval '1 minute'
 WHERE chat_id = pg_temp.chat_of('alice', 'sam');
SELECT is((SELECT muted_until FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), NULL::timestamptz,
          'a mute that has run out: get_chat shows NULL');
SELECT is((SELECT muted_until FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')), NULL::timestamptz,
          '... and so does the inbox');
SELECT chat.mute(pg_temp.chat_of('alice', 'sam'));
SELECT chat.unmute(pg_temp.chat_of('alice', 'sam'));
SELECT results_eq($$SELECT customer_muted_until, stylist_muted_until FROM chat.chats
                     WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES (NULL::timestamptz, NULL::timestamptz)$$, 'unmute clears the actor''s mute');
SELECT lives_ok($$SELECT chat.unmute(pg_temp.chat_of('alice', 'sam'))$$, 'unmuting a chat not muted is a no-op');

------------------------------------------------------------------------
-- clear_history
------------------------------------------------------------------------
-- Before: sam pins 2, sends a photo (12), and alice has not fetched 11 and
-- 12 through undelivered().
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 2, 'before');
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'old photo', attachments =>
    '[{"storage_key": "sam/old.jpg", "content_type": "image/jpeg", "byte_size": 5, "width": 1, "height": 1}]'); -- 12
SELECT chat.act_as(pg_temp.id('alice'));
UPDATE chat.chats SET customer_delivered_seq = 10 WHERE chat_id = pg_temp.chat_of('alice', 'sam');
SELECT is((SELECT count(*) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), 1::bigint, 'alice sees the pin before');
SELECT is((SELECT count(*) FROM chat.my_media WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 1::bigint,
          '... and the photo');

SELECT is(chat.clear_history(pg_temp.chat_of('alice', 'sam')), 12::bigint, 'clear_history returns the seq cleared up to');
SELECT results_eq($$SELECT last_seq, last_read_seq, unread_count, cleared_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (12::bigint, 12::bigint, 0, 12::bigint)$$,
                  'the actor''s read mark moves to the end, nothing unread, cleared_seq 12');
SELECT results_eq($$SELECT customer_cleared_seq, customer_delivered_seq, stylist_cleared_seq FROM chat.chats
                     WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES (12::bigint, 12::bigint, 0::bigint)$$,
                  'cleared and delivered up to 12 for the actor only');
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam'))), 0::bigint, 'history: nothing');
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam'), 5)), 0::bigint, 'history before 5: nothing');
SELECT is((SELECT count(*) FROM chat.messages_since(pg_temp.chat_of('alice', 'sam'), 0)), 0::bigint,
          'messages_since(0): nothing');
SELECT is((SELECT count(*) FROM chat.undelivered() WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 0::bigint,
          'undelivered: nothing of this chat');
-- nor with a delivery mark behind the cleared seq (clear_history moves it,
-- and undelivered() keeps to the cleared seq on its own too)
UPDATE chat.chats SET customer_delivered_seq = 10 WHERE chat_id = pg_temp.chat_of('alice', 'sam');
SELECT is((SELECT count(*) FROM chat.undelivered() WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 0::bigint,
          'undelivered: nothing of this chat, whatever the delivery mark');
SELECT is((SELECT count(*) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), 0::bigint, 'pinned: nothing');
SELECT is((SELECT count(*) FROM chat.my_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 0::bigint,
          'my_messages: nothing of this chat');
SELECT is((SELECT count(*) FROM chat.my_media WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 0::bigint,
          'my_media: nothing of this chat');
SELECT results_eq($$SELECT preview, unread_count FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES (NULL::text, 0)$$, 'the inbox keeps the chat, without a preview');
SELECT is((SELECT count(*) FROM chat.my_messages), (SELECT count(*) FROM chat.chat_messages m JOIN alices a USING (chat_id)
                                                     WHERE m.chat_id <> pg_temp.chat_of('alice', 'sam')),
          'the actor''s other chats are untouched');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam'))), 12::bigint,
          'the other participant still sees every message');
SELECT is((SELECT count(*) FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))), 1::bigint, '... and the pin');
SELECT is((SELECT preview FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 'old photo',
          '... and the preview');
SELECT is((SELECT cleared_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 0::bigint,
          '... and has cleared nothing');

-- What comes after: sam sends 13 (with a photo) and 14, and pins 13.
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'new photo', attachments =>
    '[{"storage_key": "sam/new.jpg", "content_type": "image/jpeg", "byte_size": 5, "width": 1, "height": 1}]'); -- 13
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'and a word');                                   -- 14
SELECT chat.pin(pg_temp.chat_of('alice', 'sam'), 13);
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (14::bigint), (13::bigint)$$, 'history: only what came after');
SELECT results_eq($$SELECT seq FROM chat.messages_since(pg_temp.chat_of('alice', 'sam'), 3)$$,
                  $$VALUES (13::bigint), (14::bigint)$$, 'messages_since an earlier seq: only what came after');
SELECT results_eq($$SELECT seq FROM chat.undelivered() WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES (13::bigint), (14::bigint)$$, 'undelivered: only what came after');
SELECT results_eq($$SELECT seq FROM chat.pinned(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (13::bigint)$$, 'pinned: only the pin after');
SELECT results_eq($$SELECT storage_key FROM chat.my_media WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES ('sam/new.jpg')$$, 'my_media: only the photo after');
SELECT results_eq($$SELECT preview, unread_count FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$VALUES ('and a word', 2)$$, 'the inbox previews the new message; two unread');
SELECT is(chat.mark_unread(pg_temp.chat_of('alice', 'sam'), 1), 12::bigint,
          'mark_unread before the cleared seq stops at it');
SELECT results_eq($$SELECT last_read_seq, unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (12::bigint, 2)$$, 'the unread count is of what the actor sees');
SELECT results_eq($$SELECT customer_unread FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')$$,
                  $$SELECT count(*)::integer FROM chat.chat_messages
                     WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq > 12
                       AND sender_id <> pg_temp.id('alice') AND deleted_at IS NULL$$,
                  'the stored counter matches a recount');
SELECT is(chat.clear_history(pg_temp.chat_of('alice', 'sam')), 14::bigint, 'clearing again clears what came since');
SELECT is(chat.clear_history(pg_temp.chat_of('alice', 'sam')), 14::bigint, 'with nothing new, it is a no-op');
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam'))), 0::bigint, 'history: nothing again');

------------------------------------------------------------------------
-- refusals of the new functions
------------------------------------------------------------------------
SELECT is(pg_temp.error_of($$SELECT * FROM chat.inbox(archived => NULL)$$), '22004: archived must not be null',
          'inbox(archived => NULL): 22004');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of(format('SELECT chat.%s(pg_temp.chat_of(''alice'', ''sam''))', f)),
          pg_temp.error_of(format('SELECT chat.%s(pg_temp.id(''made-up chat''))', f)),
          'an outsider gets the error of a chat that does not exist: ' || f)
  FROM unnest(ARRAY['archive', 'unarchive', 'mute', 'unmute', 'clear_history']) f;
SELECT is(pg_temp.error_of($$SELECT chat.mute(pg_temp.chat_of('alice', 'sam'), now() - interval '1 day')$$),
          pg_temp.error_of($$SELECT chat.mute(pg_temp.id('made-up chat'), now() - interval '1 day')$$),
          'an outsider with a past time learns nothing more');
SELECT matches(pg_temp.error_of($$SELECT chat.clear_history(pg_temp.chat_of('alice', 'sam'))$$), '^42501: ',
               '... which is 42501');
SELECT chat.reset_actor();
SELECT is(pg_temp.error_of(format('SELECT chat.%s(pg_temp.chat_of(''alice'', ''sam''))', f)) ~ '^28000: ', true,
          'no actor: 28000 from ' || f)
  FROM unnest(ARRAY['archive', 'unarchive', 'mute', 'unmute', 'clear_history']) f;
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.error_of(format('SELECT chat.%s(NULL)', f)), '22004: chat_id must not be null',
          'NULL chat_id: 22004 from ' || f)
  FROM unnest(ARRAY['archive', 'unarchive', 'mute', 'unmute', 'clear_history']) f;
SELECT is((SELECT count(*) FROM pg_proc p
             WHERE p.pronamespace = 'chat'::regnamespace
               AND p.proname IN ('archive', 'unarchive', 'mute', 'unmute', 'clear_history')
               AND p.proconfig @> ARRAY['lock_timeout=2s']), 5::bigint,
          'every writer has lock_timeout 2s');

SELECT * FROM finish();
ROLLBACK;
