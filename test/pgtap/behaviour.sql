-- test/pgtap/behaviour.sql: what the API does, rule by rule.
--
-- Runs as the extension owner (a superuser), choosing the acting profile
-- with chat.act_as(); the leak checks run as a member of chat_service.
--
-- People (pg_temp.id(name) gives the fixed id):
--   alice  11111111-1111-4111-8111-111111111111  customer
--   sam    22222222-2222-4222-8222-222222222222  stylist
--   carol  33333333-3333-4333-8333-333333333333  customer (the third party)
--   sue    44444444-4444-4444-8444-444444444444  stylist
--   ada    adadadad-adad-4ada-8ada-adadadadadad  admin
--   dave   dddddddd-dddd-4ddd-8ddd-dddddddddddd  customer, in no chat nor booking
--   erin   eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee  customer, with a booking but no chat
--   ghost  99999999-9999-4999-8999-999999999999  no such profile
-- Bookings:
--   b1  b0000000-0000-4000-8000-000000000001  alice + sam, 2024-01-10
--   b2  b0000000-0000-4000-8000-000000000002  alice + sam, 2024-03-01
--   b3  b0000000-0000-4000-8000-000000000003  carol + sue, 2024-02-01
--   b4  b0000000-0000-4000-8000-000000000004  alice + sue, 2024-02-15
--   b5  b0000000-0000-4000-8000-000000000005  erin + sam,  2024-04-01
--   b6  b0000000-0000-4000-8000-000000000006  alice + sam, 2024-06-01 (added later)
--   bx  b0000000-0000-4000-8000-0000000000ff  no such booking
-- Chats: pg_temp.chat_of(customer, stylist); a made-up chat id is
--   deadbeef-dead-5ead-beef-deadbeefdead.
BEGIN;
SELECT plan(199);

\ir fixtures.psql

-- The unread count of a chat for the acting profile, as get_chat(), inbox()
-- and my_chats report it, next to a recount from the messages themselves:
-- the non-deleted messages of the other participant after the actor's
-- read mark.
CREATE FUNCTION pg_temp.unread_report(p_chat uuid) RETURNS text
LANGUAGE sql AS $$
    SELECT format('get_chat=%s inbox=%s my_chats=%s recount=%s',
        (SELECT g.unread_count FROM chat.get_chat(p_chat) g),
        (SELECT i.unread_count FROM chat.inbox() i WHERE i.chat_id = p_chat),
        (SELECT v.unread_count FROM chat.my_chats v WHERE v.chat_id = p_chat),
        (SELECT count(*)
           FROM chat.chat_messages m JOIN chat.chats c ON c.chat_id = m.chat_id
          WHERE m.chat_id = p_chat
            AND m.sender_id <> chat.current_actor()
            AND m.deleted_at IS NULL
            AND m.seq > CASE WHEN c.customer_id = chat.current_actor()
                             THEN c.customer_read_seq ELSE c.stylist_read_seq END))
$$;

-- The people and bookings, kept by the application backend.
DO $$
BEGIN
    PERFORM chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
    PERFORM chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
    PERFORM chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
    PERFORM chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
    PERFORM chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
    PERFORM chat.upsert_profile(pg_temp.id('dave'), 'customer', 'Dave');
    PERFORM chat.upsert_profile(pg_temp.id('erin'), 'customer', 'Erin');
    PERFORM chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'),
                                'Haircut', '2024-01-10 10:00+00', 'completed');
    PERFORM chat.upsert_booking(pg_temp.id('b2'), pg_temp.id('alice'), pg_temp.id('sam'),
                                'Colour', '2024-03-01 10:00+00', 'confirmed');
    PERFORM chat.upsert_booking(pg_temp.id('b3'), pg_temp.id('carol'), pg_temp.id('sue'),
                                'Nails', '2024-02-01 10:00+00', 'confirmed');
    PERFORM chat.upsert_booking(pg_temp.id('b4'), pg_temp.id('alice'), pg_temp.id('sue'),
                                'Braids', '2024-02-15 10:00+00', 'pending');
    PERFORM chat.upsert_booking(pg_temp.id('b5'), pg_temp.id('erin'), pg_temp.id('sam'),
                                'Shave', '2024-04-01 10:00+00', 'pending');
END
$$;

------------------------------------------------------------------------
-- The acting profile
------------------------------------------------------------------------

-- Nobody acts until act_as() is called.
SELECT is(chat.current_actor(), NULL, 'nobody acts at first');

-- act_as() is transactional like SET: undone when its savepoint rolls back ...
SAVEPOINT before_alice;
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.current_actor(), pg_temp.id('alice'), 'act_as(alice) makes alice the actor');
ROLLBACK TO SAVEPOINT before_alice;
SELECT is(chat.current_actor(), NULL, 'act_as in a savepoint that rolls back is undone');

-- ... kept when its savepoint is released ...
SAVEPOINT keep_alice;
SELECT chat.act_as(pg_temp.id('alice'));
RELEASE SAVEPOINT keep_alice;
SELECT is(chat.current_actor(), pg_temp.id('alice'), 'act_as in a released savepoint is kept');

-- ... and each nesting level restores its own actor.
SAVEPOINT outer_sp;
SELECT chat.act_as(pg_temp.id('sam'));
SAVEPOINT inner_sp;
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(chat.current_actor(), pg_temp.id('carol'), 'nested act_as: carol acts');
ROLLBACK TO SAVEPOINT inner_sp;
SELECT is(chat.current_actor(), pg_temp.id('sam'), 'rolling back the inner savepoint restores sam');
ROLLBACK TO SAVEPOINT outer_sp;
SELECT is(chat.current_actor(), pg_temp.id('alice'), 'rolling back the outer savepoint restores alice');

-- A change released into an outer savepoint is undone with it.
SAVEPOINT level1;
SAVEPOINT level2;
SELECT chat.act_as(pg_temp.id('sue'));
RELEASE SAVEPOINT level2;
SELECT is(chat.current_actor(), pg_temp.id('sue'), 'released into the outer savepoint: sue acts');
ROLLBACK TO SAVEPOINT level1;
SELECT is(chat.current_actor(), pg_temp.id('alice'), '... until the outer savepoint rolls back');

-- An error after act_as in a subtransaction undoes it as well.
SELECT throws_ok($t$DO $b$ BEGIN PERFORM chat.act_as(pg_temp.id('sam')); RAISE EXCEPTION 'boom'; END $b$$t$,
                 'P0001', 'boom', 'a block that acts as sam, then fails');
SELECT is(chat.current_actor(), pg_temp.id('alice'), 'the failed block left alice acting');

-- reset_actor() clears the actor, transactionally too.
SAVEPOINT before_reset;
SELECT chat.reset_actor();
SELECT is(chat.current_actor(), NULL, 'reset_actor clears the actor');
ROLLBACK TO SAVEPOINT before_reset;
SELECT is(chat.current_actor(), pg_temp.id('alice'), 'a rolled-back reset_actor is undone');

-- A session actor: chosen now, it replaces the transaction actor; a later
-- transaction actor wins over it; reset_actor clears both; and it too is
-- undone by a rollback.
SAVEPOINT session_scope;
SELECT chat.act_as(pg_temp.id('sue'), for_session => true);
SELECT is(chat.current_actor(), pg_temp.id('sue'), 'a session actor chosen now is the actor');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(chat.current_actor(), pg_temp.id('sam'), 'the transaction actor wins over the session actor');
SELECT chat.reset_actor();
SELECT is(chat.current_actor(), NULL, 'reset_actor clears the session actor too');
SELECT chat.act_as(pg_temp.id('sue'), for_session => true);
ROLLBACK TO SAVEPOINT session_scope;
SELECT is(chat.current_actor(), pg_temp.id('alice'), 'a session-scope act_as in a rolled-back savepoint is undone');

-- DISCARD ALL (which clears both slots) cannot run inside a transaction,
-- so it is not tested here.

-- act_as() refuses an unknown profile and NULLs, and a refusal leaves the
-- actor as it was.
SELECT throws_ok($$SELECT chat.act_as(pg_temp.id('ghost'))$$, '22023',
                 'profile 99999999-9999-4999-8999-999999999999 does not exist',
                 'act_as on an unknown profile: 22023');
SELECT throws_ok('SELECT chat.act_as(NULL)', '22004', 'profile_id must not be null',
                 'act_as(NULL): 22004');
SELECT throws_ok($$SELECT chat.act_as(pg_temp.id('sam'), NULL)$$, '22004', 'for_session must not be null',
                 'act_as(id, NULL): 22004');
SELECT is(chat.current_actor(), pg_temp.id('alice'), 'the refused act_as calls left alice acting');

------------------------------------------------------------------------
-- Opening chats
------------------------------------------------------------------------

-- One chat per pair, whose id is chat.pair_chat_id(customer, stylist),
-- whoever opens it and however.
SELECT is(chat.chat_with(pg_temp.id('sam')), chat.pair_chat_id(pg_temp.id('alice'), pg_temp.id('sam')),
          'alice opens her chat with sam: its id is pair_chat_id(alice, sam)');
SELECT is(chat.get_or_create_chat(pg_temp.id('alice'), pg_temp.id('sam')), pg_temp.chat_of('alice', 'sam'),
          'get_or_create_chat finds the same chat');
SELECT is(chat.chat_for_booking(pg_temp.id('b1')), pg_temp.chat_of('alice', 'sam'),
          'chat_for_booking(b1) gives the chat of the pair');
SELECT is(chat.chat_for_booking(pg_temp.id('b2')), pg_temp.chat_of('alice', 'sam'),
          'chat_for_booking(b2), another booking of the pair, gives the same chat');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(chat.chat_with(pg_temp.id('alice')), pg_temp.chat_of('alice', 'sam'),
          'sam opening his chat with alice finds the same chat');
SELECT is((SELECT count(*) FROM chat.chats
            WHERE customer_id = pg_temp.id('alice') AND stylist_id = pg_temp.id('sam')),
          1::bigint, 'the pair has one chat row');

-- The customer comes first: roles cannot be swapped, and a chat joins a
-- customer and a stylist only.
SELECT throws_ok($$SELECT chat.get_or_create_chat(pg_temp.id('sam'), pg_temp.id('alice'))$$, '22023',
                 'profile 22222222-2222-4222-8222-222222222222 is not a customer',
                 'get_or_create_chat(stylist, customer): 22023');
SELECT throws_ok($$SELECT chat.chat_with(pg_temp.id('sue'))$$, '22023', NULL,
                 'a stylist cannot open a chat with a stylist: 22023');
SELECT throws_ok($$SELECT chat.chat_with(pg_temp.id('ghost'))$$, '22023', NULL,
                 'nor with an unknown profile: 22023');

-- Only the two people of a pair or booking open its chat.
SELECT chat.act_as(pg_temp.id('carol'));
SELECT throws_ok($$SELECT chat.get_or_create_chat(pg_temp.id('alice'), pg_temp.id('sam'))$$, '42501',
                 'only the customer or the stylist may open their chat',
                 'carol cannot open the chat of alice and sam: 42501');
SELECT is(pg_temp.error_of($$SELECT chat.chat_for_booking(pg_temp.id('b1'))$$),
          '42501: booking <id> does not exist or you are not part of it',
          'carol cannot open the chat of a booking of alice and sam: 42501');
SELECT is(pg_temp.error_of($$SELECT chat.chat_for_booking(pg_temp.id('bx'))$$),
          '42501: booking <id> does not exist or you are not part of it',
          '... the same error as for a booking that does not exist');

-- carol's own chats with sue and sam, for the checks of what others see.
DO $$
DECLARE
    c uuid;
BEGIN
    c := chat.chat_with(pg_temp.id('sue'));
    PERFORM chat.send_message(c, 'carol secret one');
    PERFORM chat.send_message(c, 'carol secret two', booking_id => pg_temp.id('b3'),
        attachments => '[{"storage_key": "carol/secret.jpg", "content_type": "image/jpeg", "byte_size": 5, "width": 1, "height": 1}]');
    c := chat.chat_with(pg_temp.id('sam'));
    PERFORM chat.send_message(c, 'carol secret three');
END
$$;

------------------------------------------------------------------------
-- Sending
------------------------------------------------------------------------
SELECT chat.act_as(pg_temp.id('alice'));

-- A message gets the next seq of its chat; a retry with the same
-- client_msg_id gets the same seq and stores nothing.
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'Hello Sam',
                            client_msg_id => 'c0000000-0000-4000-8000-000000000001'),
          1::bigint, 'the first message is seq 1');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'Hello Sam',
                            client_msg_id => 'c0000000-0000-4000-8000-000000000001'),
          1::bigint, 'a retry with the same client_msg_id returns seq 1 again');
SELECT is((SELECT count(*) FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam')),
          1::bigint, '... and stored one row only');
SELECT is((SELECT last_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 1::bigint,
          '... and did not advance the chat');

-- The other participant cannot reuse the key.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'Hi',
                                            client_msg_id => 'c0000000-0000-4000-8000-000000000001')$$,
                 '23505', NULL, 'the other participant reusing a client_msg_id: 23505');
SELECT chat.act_as(pg_temp.id('alice'));

-- Attachments are stored, and history returns them as a JSON array in
-- the order they were sent (not in storage_key order).  A message of
-- attachments alone has an empty body.
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), NULL, attachments =>
            '[{"storage_key": "alice/2.jpg", "content_type": "image/jpeg", "byte_size": 2048, "width": 640, "height": 480},
              {"storage_key": "alice/1.png", "content_type": "image/png", "byte_size": 1024, "width": 100, "height": 200}]'),
          2::bigint, 'a message of two attachments and no body is seq 2');
SELECT is((SELECT attachments FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 2),
          '[{"storage_key": "alice/2.jpg", "content_type": "image/jpeg", "byte_size": 2048, "width": 640, "height": 480},
            {"storage_key": "alice/1.png", "content_type": "image/png", "byte_size": 1024, "width": 100, "height": 200}]'::jsonb,
          'history returns the attachments as a JSON array, in order');
SELECT is((SELECT body FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 2), '',
          'a message of attachments alone has an empty body');
SELECT results_eq(
    $$SELECT position::int, storage_key FROM chat.my_media
       WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 2 ORDER BY position$$,
    $$VALUES (1, 'alice/2.jpg'), (2, 'alice/1.png')$$,
    'the attachments are stored by position');
SELECT is((SELECT attachments FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 1), '[]'::jsonb,
          'a message without attachments has an empty array');

-- The body may be empty only when there are attachments.
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), '')$$, '22023',
                 'message body must not be empty', 'an empty body without attachments: 22023');
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), E' \n\t ')$$, '22023',
                 'message body must not be empty', 'a blank body without attachments: 22023');
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), '', attachments => '[]')$$, '22023',
                 'message body must not be empty', 'an empty body with an empty attachment list: 22023');
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), NULL)$$, '22004',
                 'body must not be null', 'a NULL body without attachments: 22004');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), '', attachments =>
            '[{"storage_key": "alice/3.gif", "content_type": "image/gif", "byte_size": 1, "width": 1, "height": 1}]'),
          3::bigint, 'an empty body with an attachment is accepted (seq 3)');

-- Attachments are at most 10 images.
SELECT throws_ok(format('SELECT chat.send_message(pg_temp.chat_of(%L, %L), %L, attachments => %L)',
                        'alice', 'sam', 'many',
                        (SELECT jsonb_agg(jsonb_build_object('storage_key', 'k' || i, 'content_type', 'image/png',
                                                             'byte_size', 1, 'width', 1, 'height', 1))
                           FROM generate_series(1, 11) i)),
                 '22023', 'a message has at most 10 attachments, not 11', 'eleven attachments: 22023');
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'a pdf', attachments =>
                     '[{"storage_key": "a.pdf", "content_type": "application/pdf", "byte_size": 1, "width": 1, "height": 1}]')$$,
                 '22023', NULL, 'an attachment that is not an image: 22023');

-- A body holds at most 4000 characters.
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), repeat('é', 4001))$$, '22001',
                 'message body is too long (4001 characters)', 'a 4001-character body: 22001');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), repeat('é', 4000)), 4::bigint,
          'a 4000-character body is accepted (seq 4)');
SELECT is((SELECT char_length(body) FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 4), 4000,
          '... and kept whole');

-- A message may refer to a booking of its own pair only; a refused send
-- leaves nothing behind.
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'about b3', booking_id => pg_temp.id('b3'))$$,
                 '22023', 'booking b0000000-0000-4000-8000-000000000003 is not a booking of this chat''s customer and stylist',
                 'a booking of another pair (carol + sue): 22023');
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'about b4', booking_id => pg_temp.id('b4'))$$,
                 '22023', NULL, 'a booking of the same customer with another stylist: 22023');
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'about bx', booking_id => pg_temp.id('bx'))$$,
                 '22023', NULL, 'a booking that does not exist: 22023');
SELECT is((SELECT last_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 4::bigint,
          'the refused sends did not advance the chat');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'About my haircut', booking_id => pg_temp.id('b1')),
          5::bigint, 'a booking of the pair is accepted (seq 5)');
SELECT is((SELECT booking->>'id' FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 5),
          'b0000000-0000-4000-8000-000000000001', 'history returns the booking of the message');

------------------------------------------------------------------------
-- Editing and deleting
------------------------------------------------------------------------

-- Only the sender edits or deletes a message.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT throws_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 1, 'Hacked')$$, '42501',
                 'only the sender may edit a message', 'sam cannot edit alice''s message: 42501');
SELECT throws_ok($$SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 1)$$, '42501',
                 'only the sender may delete a message', 'sam cannot delete alice''s message: 42501');
SELECT is((SELECT body FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 1), 'Hello Sam',
          'the message is unchanged');

-- The sender edits: the body changes and the message is marked edited,
-- with the same rules for the body as sending.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT lives_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 1, 'Hello Sam!')$$,
                'alice edits her message');
SELECT results_eq(
    $$SELECT body, edited_at IS NOT NULL FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 1$$,
    $$VALUES ('Hello Sam!', true)$$, 'the edited message has the new body and is marked edited');
SELECT throws_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 1, repeat('x', 4001))$$, '22001', NULL,
                 'an edit to 4001 characters: 22001');
SELECT throws_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 1, ' ')$$, '22023', NULL,
                 'an edit to a blank body without attachments: 22023');
SELECT throws_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 99, 'x')$$, '22023', NULL,
                 'an edit of a message that does not exist: 22023');

-- A deleted message stays as a tombstone: its seq is kept, its body is
-- NULL and its attachments are gone.
SELECT lives_ok($$SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 2)$$,
                'alice deletes her message of attachments');
SELECT results_eq(
    $$SELECT body IS NULL, attachments, deleted_at IS NOT NULL
        FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 2$$,
    $$VALUES (true, '[]'::jsonb, true)$$,
    'the deleted message has no body, no attachments, and is marked deleted');
SELECT is((SELECT count(*) FROM chat.media WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 2),
          0::bigint, 'its attachments are removed');
SELECT results_eq(
    $$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sam'))$$,
    $$VALUES (5::bigint), (4), (3), (2), (1)$$,
    'the deleted message keeps its seq');

-- Deleting twice is a no-op: it does not count the message out twice.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sam')), 'get_chat=4 inbox=4 my_chats=4 recount=4',
          'sam has 4 unread: seqs 1, 3, 4, 5');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT lives_ok($$SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 2)$$,
                'deleting the message again is accepted');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sam')), 'get_chat=4 inbox=4 my_chats=4 recount=4',
          '... and changes nothing: sam still has 4 unread');

-- A deleted message cannot be edited.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT throws_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 2, 'back')$$, '55000', NULL,
                 'an edit of a deleted message: 55000');

------------------------------------------------------------------------
-- Nobody acting
------------------------------------------------------------------------

-- Every API function refuses to run when nobody acts: 28000.
SELECT chat.reset_actor();
SELECT throws_ok(stmt, '28000', 'no chat profile is acting in this session', what || ' with nobody acting: 28000')
  FROM (VALUES
    ($$SELECT chat.get_or_create_chat(pg_temp.id('alice'), pg_temp.id('sam'))$$, 'get_or_create_chat'),
    ($$SELECT chat.chat_with(pg_temp.id('sam'))$$, 'chat_with'),
    ($$SELECT chat.chat_for_booking(pg_temp.id('b1'))$$, 'chat_for_booking'),
    ($$SELECT * FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$, 'get_chat'),
    ($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'hi')$$, 'send_message'),
    ($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 1, 'hi')$$, 'edit_message'),
    ($$SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 1)$$, 'delete_message'),
    ($$SELECT * FROM chat.history(pg_temp.chat_of('alice', 'sam'))$$, 'history'),
    ($$SELECT * FROM chat.messages_since(pg_temp.chat_of('alice', 'sam'), 0)$$, 'messages_since'),
    ($$SELECT chat.mark_read(pg_temp.chat_of('alice', 'sam'))$$, 'mark_read'),
    ('SELECT * FROM chat.inbox()', 'inbox'),
    ($$SELECT * FROM chat.chat_bookings(pg_temp.chat_of('alice', 'sam'))$$, 'chat_bookings')
  ) AS t(stmt, what);

-- With nobody acting, every view is empty.
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM chat.my_chats), (SELECT count(*) FROM chat.my_messages),
             (SELECT count(*) FROM chat.my_media), (SELECT count(*) FROM chat.admin_chats),
             (SELECT count(*) FROM chat.admin_messages)$$,
    $$VALUES (0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
    'with nobody acting, every view is empty');

------------------------------------------------------------------------
-- Read state and unread counts
------------------------------------------------------------------------

-- alice writes three messages to sue; sue has them all unread.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.send_message(chat.chat_with(pg_temp.id('sue')), 'one'), 1::bigint, 'alice to sue: seq 1');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'two'), 2::bigint, 'alice to sue: seq 2');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'three'), 3::bigint, 'alice to sue: seq 3');
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=0 inbox=0 my_chats=0 recount=0',
          'the sender has nothing unread');
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=3 inbox=3 my_chats=3 recount=3',
          'sue has 3 unread');

-- mark_read up to a seq counts only what follows it ...
SELECT is(chat.mark_read(pg_temp.chat_of('alice', 'sue'), 1), 1::bigint, 'sue reads up to 1');
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=2 inbox=2 my_chats=2 recount=2',
          'sue has 2 unread after reading up to 1');
-- ... never moves backwards ...
SELECT is(chat.mark_read(pg_temp.chat_of('alice', 'sue'), 0), 1::bigint,
          'marking read up to 0 returns the read mark, 1');
SELECT is((SELECT last_read_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sue'))), 1::bigint,
          'the read mark did not move backwards');
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=2 inbox=2 my_chats=2 recount=2',
          'sue still has 2 unread');
-- ... and stays within the chat's messages.
SELECT throws_ok($$SELECT chat.mark_read(pg_temp.chat_of('alice', 'sue'), 4)$$, '22023',
                 'up_to_seq 4 is out of range', 'marking read beyond the last seq: 22023');
SELECT throws_ok($$SELECT chat.mark_read(pg_temp.chat_of('alice', 'sue'), -1)$$, '22023', NULL,
                 'marking read up to a negative seq: 22023');

-- A deleted message is unread no more; one already read changes nothing.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sue'), 1);
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=2 inbox=2 my_chats=2 recount=2',
          'deleting a message sue had read leaves 2 unread');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sue'), 3);
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=1 inbox=1 my_chats=1 recount=1',
          'deleting a message sue had not read leaves 1 unread');

-- Sending marks the chat read for the sender and unread for the other.
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'four'), 4::bigint, 'sue answers: seq 4');
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=0 inbox=0 my_chats=0 recount=0',
          'sue, having answered, has nothing unread');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=1 inbox=1 my_chats=1 recount=1',
          'alice has sue''s answer unread');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), NULL, attachments =>
            '[{"storage_key": "alice/4.jpg", "content_type": "image/jpeg", "byte_size": 9, "width": 3, "height": 3}]'),
          5::bigint, 'alice sends a photo: seq 5');
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'six'), 6::bigint, 'sue: seq 6');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=1 inbox=1 my_chats=1 recount=1',
          'alice has seq 6 unread');
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sue'), 6);
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=0 inbox=0 my_chats=0 recount=0',
          'sue deleted seq 6: alice has nothing unread');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'seven'), 7::bigint, 'alice: seq 7');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'eight'), 8::bigint, 'alice: seq 8');
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sue'), 'nine'), 9::bigint, 'alice: seq 9');
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=3 inbox=3 my_chats=3 recount=3',
          'sue has seqs 7, 8, 9 unread');
SELECT is(chat.mark_read(pg_temp.chat_of('alice', 'sue'), 7), 7::bigint, 'sue reads up to 7');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sue'), 8);
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=1 inbox=1 my_chats=1 recount=1',
          'after reading up to 7 and the deletion of 8, sue has seq 9 unread');
SELECT is((SELECT other_read_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sue'))), 9::bigint,
          'get_chat tells sue how far alice has read');
SELECT is(chat.mark_read(pg_temp.chat_of('alice', 'sue')), 9::bigint, 'mark_read(NULL) reads everything');
SELECT is(pg_temp.unread_report(pg_temp.chat_of('alice', 'sue')), 'get_chat=0 inbox=0 my_chats=0 recount=0',
          'sue has nothing unread');

------------------------------------------------------------------------
-- Reading history
------------------------------------------------------------------------
SELECT chat.act_as(pg_temp.id('alice'));

-- history() pages backwards by keyset: newest first, before before_seq.
SELECT results_eq($$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sue'), NULL, 4)$$,
                  $$VALUES (9::bigint), (8), (7), (6)$$, 'history: the newest page');
SELECT results_eq($$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sue'), 6, 4)$$,
                  $$VALUES (5::bigint), (4), (3), (2)$$, 'history: the page before seq 6');
SELECT results_eq($$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sue'), 2, 4)$$,
                  $$VALUES (1::bigint)$$, 'history: the last, short page');
SELECT is_empty($$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sue'), 1, 4)$$,
                'history: nothing before seq 1');
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sue'))), 9::bigint,
          'history: at most 50 by default, so all 9 here');
SELECT results_eq($$SELECT seq FROM chat.history(pg_temp.chat_of('alice', 'sue'), NULL, 1)$$,
                  $$VALUES (9::bigint)$$, 'history: max_rows 1 gives the newest message');
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sue'), NULL, 1000)), 9::bigint,
          'history: max_rows 1000 is accepted');

-- max_rows is 1 to 1000, and before_seq positive.
SELECT throws_ok($$SELECT * FROM chat.history(pg_temp.chat_of('alice', 'sue'), NULL, 0)$$, '22023',
                 'max_rows must be between 1 and 1000, not 0', 'history: max_rows 0: 22023');
SELECT throws_ok($$SELECT * FROM chat.history(pg_temp.chat_of('alice', 'sue'), NULL, -1)$$, '22023',
                 'max_rows must be between 1 and 1000, not -1', 'history: max_rows -1: 22023');
SELECT throws_ok($$SELECT * FROM chat.history(pg_temp.chat_of('alice', 'sue'), NULL, 1001)$$, '22023',
                 'max_rows must be between 1 and 1000, not 1001', 'history: max_rows 1001: 22023');
SELECT throws_ok($$SELECT * FROM chat.history(pg_temp.chat_of('alice', 'sue'), NULL, NULL)$$, '22004',
                 'max_rows must not be null', 'history: max_rows NULL: 22004');
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sue'), 0)), 0::bigint,
          'history: before_seq 0: nothing, in a chat without imported history (below seq 1)');

-- messages_since() reads forwards, oldest first, after after_seq.
SELECT results_eq($$SELECT seq FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), 0)$$,
                  $$SELECT generate_series(1, 9)::bigint$$, 'messages_since(0): every message, oldest first');
SELECT results_eq($$SELECT seq FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), 6)$$,
                  $$VALUES (7::bigint), (8), (9)$$, 'messages_since(6): 7, 8, 9');
SELECT results_eq($$SELECT seq FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), 3, 2)$$,
                  $$VALUES (4::bigint), (5)$$, 'messages_since(3, max_rows 2): 4, 5');
SELECT is_empty($$SELECT seq FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), 9)$$,
                'messages_since(last seq): nothing');
SELECT throws_ok($$SELECT * FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), -1)$$, '22023', NULL,
                 'messages_since: negative after_seq: 22023');
SELECT throws_ok($$SELECT * FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), NULL)$$, '22004', NULL,
                 'messages_since: NULL after_seq: 22004');
SELECT throws_ok($$SELECT * FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), 0, 0)$$, '22023', NULL,
                 'messages_since: max_rows 0: 22023');
SELECT throws_ok($$SELECT * FROM chat.messages_since(pg_temp.chat_of('alice', 'sue'), 0, 1001)$$, '22023', NULL,
                 'messages_since: max_rows 1001: 22023');

------------------------------------------------------------------------
-- The inbox and the bookings of a chat
------------------------------------------------------------------------

-- inbox() lists the actor's chats, most recent activity first, with the
-- other participant and the pair's number of bookings.  Every message of
-- this test is sent at the same now(), so the two chats are given
-- distinct times, one way round and then the other.
UPDATE chat.chats SET last_message_at = '2024-05-01 12:00+00' WHERE chat_id = pg_temp.chat_of('alice', 'sam');
UPDATE chat.chats SET last_message_at = '2024-05-02 12:00+00' WHERE chat_id = pg_temp.chat_of('alice', 'sue');
SELECT results_eq(
    $$SELECT chat_id, other_id, other_name, bookings_count FROM chat.inbox()$$,
    $$VALUES (pg_temp.chat_of('alice', 'sue'), pg_temp.id('sue'), 'Sue', 1::bigint),
             (pg_temp.chat_of('alice', 'sam'), pg_temp.id('sam'), 'Sam', 2::bigint)$$,
    'inbox: the chat with sue, more recent, comes first');
UPDATE chat.chats SET last_message_at = '2024-05-03 12:00+00' WHERE chat_id = pg_temp.chat_of('alice', 'sam');
SELECT results_eq(
    $$SELECT chat_id, other_id, other_name, bookings_count FROM chat.inbox()$$,
    $$VALUES (pg_temp.chat_of('alice', 'sam'), pg_temp.id('sam'), 'Sam', 2::bigint),
             (pg_temp.chat_of('alice', 'sue'), pg_temp.id('sue'), 'Sue', 1::bigint)$$,
    'inbox: once the chat with sam is more recent, it comes first');
SELECT is((SELECT preview FROM chat.inbox() WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 'About my haircut',
          'inbox: the preview is the last message');

-- chat_bookings() lists the pair's bookings, newest first.
SELECT results_eq(
    $$SELECT booking_id, service FROM chat.chat_bookings(pg_temp.chat_of('alice', 'sam'))$$,
    $$VALUES (pg_temp.id('b2'), 'Colour'), (pg_temp.id('b1'), 'Haircut')$$,
    'chat_bookings: newest first');
SELECT chat.upsert_booking(pg_temp.id('b6'), pg_temp.id('alice'), pg_temp.id('sam'),
                           'Trim', '2024-06-01 10:00+00', 'pending');
SELECT results_eq(
    $$SELECT booking_id FROM chat.chat_bookings(pg_temp.chat_of('alice', 'sam'))$$,
    $$VALUES (pg_temp.id('b6')), (pg_temp.id('b2')), (pg_temp.id('b1'))$$,
    'chat_bookings: a new booking comes first');
SELECT is(chat.chat_for_booking(pg_temp.id('b6')), pg_temp.chat_of('alice', 'sam'),
          'chat_for_booking(b6): still the one chat of the pair');

------------------------------------------------------------------------
-- Someone else's chat
------------------------------------------------------------------------

-- Every function on a chat refuses a non-participant with 42501, and the
-- error for someone else's chat is the same as for a chat that does not
-- exist, so chat ids cannot be probed.
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of(replace(stmt, 'CHAT', quote_literal(chat_id))),
          '42501: chat <id> does not exist or you are not one of its participants '
          '(hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          format('%s on %s: 42501, one message shape', what, which))
  FROM (VALUES
    ('SELECT * FROM chat.get_chat(CHAT)', 'get_chat'),
    ($$SELECT chat.send_message(CHAT, 'hi')$$, 'send_message'),
    ($$SELECT chat.edit_message(CHAT, 1, 'hi')$$, 'edit_message'),
    ('SELECT chat.delete_message(CHAT, 1)', 'delete_message'),
    ('SELECT * FROM chat.history(CHAT)', 'history'),
    ('SELECT * FROM chat.messages_since(CHAT, 0)', 'messages_since'),
    ('SELECT chat.mark_read(CHAT)', 'mark_read'),
    ('SELECT * FROM chat.chat_bookings(CHAT)', 'chat_bookings')
  ) AS s(stmt, what),
  (VALUES (pg_temp.chat_of('alice', 'sam'), 'the chat of alice and sam', 1),
          (pg_temp.id('made-up chat'), 'a made-up chat id', 2)) AS c(chat_id, which, n)
 ORDER BY what, n;
SELECT is((SELECT last_seq FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 5::bigint,
          'carol''s attempts left the chat of alice and sam as it was');
SELECT is((SELECT count(*) FROM chat.chats WHERE chat_id = pg_temp.id('made-up chat')), 0::bigint,
          '... and created no chat for the made-up id');

-- A participant of one chat is a stranger to the others.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT throws_ok($$SELECT * FROM chat.get_chat(pg_temp.chat_of('alice', 'sue'))$$, '42501', NULL,
                 'sam cannot read the chat of alice and sue: 42501');

------------------------------------------------------------------------
-- Admins
------------------------------------------------------------------------

-- An admin reads every chat and message through the admin views ...
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq($$SELECT chat_id FROM chat.admin_chats ORDER BY chat_id$$,
                  $$SELECT chat_id FROM chat.chats ORDER BY chat_id$$,
                  'an admin sees every chat in admin_chats');
SELECT is((SELECT count(*) FROM chat.admin_chats), 4::bigint, '... all four of them');
SELECT results_eq($$SELECT chat_id, seq, sender_id, hidden_at FROM chat.admin_messages ORDER BY chat_id, seq$$,
                  $$SELECT chat_id, seq, sender_id, hidden_at FROM chat.chat_messages ORDER BY chat_id, seq$$,
                  'an admin sees every message in admin_messages');
SELECT hasnt_column('chat', 'admin_messages', 'body',
                    '... but not its text: admins read text through admin_history(), which records it');

-- ... but takes part in no chat.
SELECT throws_ok($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'Admin here')$$, '42501', NULL,
                 'an admin cannot send_message: 42501');
SELECT throws_ok($$SELECT chat.mark_read(pg_temp.chat_of('alice', 'sam'))$$, '42501', NULL,
                 'an admin cannot mark_read: 42501');
SELECT throws_ok($$SELECT chat.get_or_create_chat(pg_temp.id('alice'), pg_temp.id('sam'))$$, '42501', NULL,
                 'an admin cannot get_or_create_chat: 42501');
SELECT throws_ok($$SELECT chat.chat_with(pg_temp.id('sam'))$$, '42501', 'admins do not take part in chats',
                 'an admin cannot chat_with: 42501');
SELECT is((SELECT count(*) FROM chat.my_chats), 0::bigint, 'an admin has no chats of its own');

-- Non-admins see nothing in the admin views.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT (SELECT count(*) FROM chat.admin_chats), (SELECT count(*) FROM chat.admin_messages)$$,
                  $$VALUES (0::bigint, 0::bigint)$$, 'a customer sees nothing in the admin views');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT results_eq($$SELECT (SELECT count(*) FROM chat.admin_chats), (SELECT count(*) FROM chat.admin_messages)$$,
                  $$VALUES (0::bigint, 0::bigint)$$, 'a stylist sees nothing in the admin views');

------------------------------------------------------------------------
-- Leaky functions see only what the views show
------------------------------------------------------------------------

-- A caller's function in a WHERE clause, however cheap it claims to be,
-- runs only on rows the view's own filter let through: the views are
-- security barriers.  pg_temp.leak records every value it is shown.
CREATE ROLE regress_app LOGIN IN ROLE chat_service;
CREATE TEMP TABLE leaked (val text);
GRANT SELECT, INSERT, DELETE ON leaked TO regress_app;
CREATE FUNCTION pg_temp.leak(anyelement) RETURNS boolean
LANGUAGE plpgsql VOLATILE COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'leak: %', left($1::text, 40);
    INSERT INTO pg_temp.leaked VALUES ($1::text);
    RETURN true;
END
$$;
SELECT is((SELECT proleakproof FROM pg_proc WHERE oid = 'pg_temp.leak(anyelement)'::regprocedure), false,
          'pg_temp.leak is not leakproof');

-- What alice may see, from the tables themselves.
CREATE TEMP VIEW alice_may_see AS
SELECT m.chat_id::text AS val FROM chat.chats m
 WHERE pg_temp.id('alice') IN (m.customer_id, m.stylist_id)
UNION ALL
SELECT m.body FROM chat.chat_messages m JOIN chat.chats c ON c.chat_id = m.chat_id
 WHERE pg_temp.id('alice') IN (c.customer_id, c.stylist_id)
UNION ALL
SELECT a.storage_key FROM chat.media a JOIN chat.chats c ON c.chat_id = a.chat_id
 WHERE pg_temp.id('alice') IN (c.customer_id, c.stylist_id);

SELECT chat.act_as(pg_temp.id('alice'));
SET ROLE regress_app;

SELECT is((SELECT count(*) FROM chat.my_chats WHERE pg_temp.leak(chat_id)), 2::bigint,
          'my_chats with a leaky filter: alice''s two chats');
RESET ROLE;
SELECT ok((SELECT count(*) FROM leaked) > 0, 'the leaky function ran on my_chats');
SELECT is((SELECT coalesce(array_agg(val), '{}') FROM leaked
            WHERE NOT EXISTS (SELECT FROM alice_may_see a WHERE a.val = leaked.val)),
          '{}'::text[], 'the leaky function saw only alice''s chat ids');
DELETE FROM leaked;
SET ROLE regress_app;

SELECT is((SELECT count(*) FROM chat.my_messages WHERE pg_temp.leak(body)), 14::bigint,
          'my_messages with a leaky filter: alice''s 14 messages');
RESET ROLE;
SELECT ok((SELECT count(*) FROM leaked) > 0, 'the leaky function ran on my_messages');
SELECT is((SELECT coalesce(array_agg(val), '{}') FROM leaked
            WHERE val IS NOT NULL AND NOT EXISTS (SELECT FROM alice_may_see a WHERE a.val = leaked.val)),
          '{}'::text[], 'the leaky function saw only the bodies of alice''s messages');
DELETE FROM leaked;
SET ROLE regress_app;

SELECT is((SELECT count(*) FROM chat.my_media WHERE pg_temp.leak(storage_key)), 2::bigint,
          'my_media with a leaky filter: alice''s 2 attachments (one was deleted with its message)');
RESET ROLE;
SELECT ok((SELECT count(*) FROM leaked) > 0, 'the leaky function ran on my_media');
SELECT is((SELECT coalesce(array_agg(val), '{}') FROM leaked
            WHERE NOT EXISTS (SELECT FROM alice_may_see a WHERE a.val = leaked.val)),
          '{}'::text[], 'the leaky function saw only the storage keys of alice''s attachments');
DELETE FROM leaked;
SET ROLE regress_app;

SELECT is((SELECT count(*) FROM chat.admin_chats WHERE pg_temp.leak(chat_id)), 0::bigint,
          'admin_chats with a leaky filter: nothing for alice');
SELECT is((SELECT count(*) FROM chat.admin_messages WHERE pg_temp.leak(hidden_reason)), 0::bigint,
          'admin_messages with a leaky filter: nothing for alice');
RESET ROLE;
SELECT is((SELECT count(*) FROM leaked), 0::bigint,
          'the leaky function saw no row of the admin views');

-- The same holds for an admin acting: the leak then sees admin rows, as
-- the view shows them.
SELECT chat.act_as(pg_temp.id('ada'));
SET ROLE regress_app;
SELECT is((SELECT count(*) FROM chat.admin_chats WHERE pg_temp.leak(chat_id)), 4::bigint,
          'admin_chats with a leaky filter: every chat for an admin');
RESET ROLE;
SELECT is((SELECT count(*) FROM leaked), 4::bigint, 'the leaky function saw the four chats the admin may see');
DELETE FROM leaked;

------------------------------------------------------------------------
-- Profiles and bookings kept by the application
------------------------------------------------------------------------

-- The role of a profile in a chat or a booking never changes ...
SELECT throws_ok($$SELECT chat.upsert_profile(pg_temp.id('alice'), 'stylist', 'Alice')$$, '55006',
                 'cannot change the role of profile 11111111-1111-4111-8111-111111111111 from customer to stylist',
                 'alice, in chats, cannot become a stylist: 55006');
SELECT throws_ok($$SELECT chat.upsert_profile(pg_temp.id('erin'), 'admin', 'Erin')$$, '55006', NULL,
                 'erin, with a booking, cannot become an admin: 55006');
SELECT is((SELECT role FROM chat.profiles WHERE id = pg_temp.id('alice')), 'customer', 'alice is still a customer');
-- ... while its name may, and so may the role of a profile in neither.
SELECT lives_ok($$SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice B.')$$,
                'alice can be renamed');
SELECT lives_ok($$SELECT chat.upsert_profile(pg_temp.id('dave'), 'stylist', 'Dave')$$,
                'dave, in no chat nor booking, can become a stylist');
SELECT results_eq($$SELECT id, role, display_name FROM chat.profiles
                     WHERE id IN (pg_temp.id('alice'), pg_temp.id('dave')) ORDER BY display_name$$,
                  $$VALUES (pg_temp.id('alice'), 'customer', 'Alice B.'), (pg_temp.id('dave'), 'stylist', 'Dave')$$,
                  'the profiles were updated');

-- The customer and stylist of a booking never change.
SELECT throws_ok($$SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('carol'), pg_temp.id('sam'),
                                              'Haircut', '2024-01-10 10:00+00', 'completed')$$, '22023',
                 'booking b0000000-0000-4000-8000-000000000001 belongs to another customer and stylist',
                 'a booking cannot move to another pair: 22023');
SELECT results_eq($$SELECT customer_id, stylist_id FROM chat.bookings WHERE id = pg_temp.id('b1')$$,
                  $$VALUES (pg_temp.id('alice'), pg_temp.id('sam'))$$, 'b1 still belongs to alice and sam');
SELECT lives_ok($$SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'),
                                             'Haircut', '2024-01-10 10:00+00', 'no_show')$$,
                'the status of a booking can change');
SELECT throws_ok($$SELECT chat.upsert_booking(pg_temp.id('bx'), pg_temp.id('sam'), pg_temp.id('sue'),
                                              'Swap', '2024-01-10 10:00+00', 'pending')$$, '22023',
                 'profile 22222222-2222-4222-8222-222222222222 is not a customer',
                 'a booking''s customer must be a customer: 22023');

SELECT * FROM finish();
ROLLBACK;
