-- test/pgtap/privileges.sql: what a role may do, by its membership.
--
--   regress_nobody  a LOGIN role with no grants: an end-user connection.
--   regress_app     a LOGIN role IN ROLE chat_service: the application backend.
--
-- People used below (fixed ids):
--   alice  11111111-1111-4111-8111-111111111111  customer
--   sam    22222222-2222-4222-8222-222222222222  stylist
--   their chat      2b36d078-2d46-5ea6-a968-518e80fae814  (chat.pair_chat_id(alice, sam))
--   their booking   b0000000-0000-4000-8000-000000000001
-- Ids are written out, never computed, in statements run by regress_nobody:
-- a call to chat.pair_chat_id would be refused first and hide the check.
BEGIN;
SELECT plan(170);
-- no booking cards: the messages below are the ones sent
SET stylist_chat.booking_cards = off;

CREATE ROLE regress_nobody LOGIN;
CREATE ROLE regress_app LOGIN IN ROLE chat_service;

-- Some data to be refused, made by the extension owner.
DO $$
BEGIN
    PERFORM chat.upsert_profile('11111111-1111-4111-8111-111111111111', 'customer', 'Alice');
    PERFORM chat.upsert_profile('22222222-2222-4222-8222-222222222222', 'stylist', 'Sam');
    PERFORM chat.upsert_booking('b0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
                                '22222222-2222-4222-8222-222222222222', 'Haircut', '2024-01-10 10:00+00', 'confirmed');
    PERFORM chat.act_as('11111111-1111-4111-8111-111111111111');
    PERFORM chat.send_message(chat.chat_with('22222222-2222-4222-8222-222222222222'), 'Hello Sam',
        attachments => '[{"storage_key": "k/1", "content_type": "image/png", "byte_size": 10, "width": 2, "height": 2}]');
    PERFORM chat.reset_actor();
END
$$;

-- The chat id written out below is the pair's chat.
SELECT is(chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'),
          '2b36d078-2d46-5ea6-a968-518e80fae814'::uuid, 'the chat id used below is the chat of alice and sam');

--
-- regress_nobody: nothing at all
--
SET ROLE regress_nobody;

-- An unprivileged role can neither read nor write any base table.
SELECT throws_ok(stmt, '42501', NULL, 'regress_nobody cannot ' || what)
  FROM (VALUES
    ('SELECT * FROM chat.profiles', 'SELECT chat.profiles'),
    ($$INSERT INTO chat.profiles (id, role, display_name) VALUES ('99999999-9999-4999-8999-999999999999', 'admin', 'Mallory')$$, 'INSERT chat.profiles'),
    ($$UPDATE chat.profiles SET role = 'admin'$$, 'UPDATE chat.profiles'),
    ('DELETE FROM chat.profiles', 'DELETE chat.profiles'),
    ('SELECT * FROM chat.bookings', 'SELECT chat.bookings'),
    ($$INSERT INTO chat.bookings (id, customer_id, stylist_id, service, starts_at, status) VALUES ('b0000000-0000-4000-8000-000000000009', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', 'x', now(), 'pending')$$, 'INSERT chat.bookings'),
    ($$UPDATE chat.bookings SET status = 'cancelled'$$, 'UPDATE chat.bookings'),
    ('DELETE FROM chat.bookings', 'DELETE chat.bookings'),
    ('SELECT * FROM chat.chats', 'SELECT chat.chats'),
    ($$INSERT INTO chat.chats (chat_id, customer_id, stylist_id) VALUES ('2b36d078-2d46-5ea6-a968-518e80fae814', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222')$$, 'INSERT chat.chats'),
    ('UPDATE chat.chats SET customer_unread = 0', 'UPDATE chat.chats'),
    ('DELETE FROM chat.chats', 'DELETE chat.chats'),
    ('SELECT * FROM chat.chat_messages', 'SELECT chat.chat_messages'),
    ($$INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body) VALUES ('2b36d078-2d46-5ea6-a968-518e80fae814', 99, '22222222-2222-4222-8222-222222222222', 'forged')$$, 'INSERT chat.chat_messages'),
    ($$UPDATE chat.chat_messages SET body = 'forged'$$, 'UPDATE chat.chat_messages'),
    ('DELETE FROM chat.chat_messages', 'DELETE chat.chat_messages'),
    ('SELECT * FROM chat.media', 'SELECT chat.media'),
    ($$INSERT INTO chat.media (chat_id, seq, position, storage_key, content_type, byte_size, width, height) VALUES ('2b36d078-2d46-5ea6-a968-518e80fae814', 1, 2, 'k', 'image/png', 1, 1, 1)$$, 'INSERT chat.media'),
    ($$UPDATE chat.media SET storage_key = 'elsewhere'$$, 'UPDATE chat.media'),
    ('DELETE FROM chat.media', 'DELETE chat.media')
  ) AS t(stmt, what);

-- Nor can it call any function of the extension: neither pick an actor
-- nor use the API.
SELECT throws_ok(stmt, '42501', NULL, 'regress_nobody cannot call ' || what)
  FROM (VALUES
    ($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111')$$, 'chat.act_as'),
    ($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111', true)$$, 'chat.act_as for the session'),
    ('SELECT chat.current_actor()', 'chat.current_actor'),
    ('SELECT chat.reset_actor()', 'chat.reset_actor'),
    ($$SELECT chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222')$$, 'chat.pair_chat_id'),
    ($$SELECT chat.upsert_profile('99999999-9999-4999-8999-999999999999', 'admin', 'Mallory')$$, 'chat.upsert_profile'),
    ($$SELECT chat.upsert_booking('b0000000-0000-4000-8000-000000000009', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', 'x', now(), 'pending')$$, 'chat.upsert_booking'),
    ($$SELECT chat.get_or_create_chat('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222')$$, 'chat.get_or_create_chat'),
    ($$SELECT chat.chat_with('22222222-2222-4222-8222-222222222222')$$, 'chat.chat_with'),
    ($$SELECT chat.chat_for_booking('b0000000-0000-4000-8000-000000000001')$$, 'chat.chat_for_booking'),
    ($$SELECT * FROM chat.get_chat('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.get_chat'),
    ($$SELECT chat.send_message('2b36d078-2d46-5ea6-a968-518e80fae814', 'hi')$$, 'chat.send_message'),
    ($$SELECT chat.edit_message('2b36d078-2d46-5ea6-a968-518e80fae814', 1, 'hi')$$, 'chat.edit_message'),
    ($$SELECT chat.delete_message('2b36d078-2d46-5ea6-a968-518e80fae814', 1)$$, 'chat.delete_message'),
    ($$SELECT * FROM chat.history('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.history'),
    ($$SELECT * FROM chat.messages_since('2b36d078-2d46-5ea6-a968-518e80fae814', 0)$$, 'chat.messages_since'),
    ($$SELECT chat.mark_read('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.mark_read'),
    ('SELECT * FROM chat.inbox()', 'chat.inbox'),
    ($$SELECT * FROM chat.chat_bookings('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.chat_bookings'),
    ('SELECT chat._actor_is_admin()', 'chat._actor_is_admin'),
    ('SELECT chat.require_actor()', 'chat.require_actor'),
    ('SELECT chat.listen_channel()', 'chat.listen_channel'),
    ('SELECT chat.listen()', 'chat.listen'),
    ($$SELECT chat.typing('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.typing'),
    ($$SELECT chat.mark_unread('2b36d078-2d46-5ea6-a968-518e80fae814', 1)$$, 'chat.mark_unread'),
    ($$SELECT chat.pin('2b36d078-2d46-5ea6-a968-518e80fae814', 1)$$, 'chat.pin'),
    ($$SELECT chat.unpin('2b36d078-2d46-5ea6-a968-518e80fae814', 1)$$, 'chat.unpin'),
    ($$SELECT * FROM chat.pinned('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.pinned'),
    ($$SELECT chat.archive('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.archive'),
    ($$SELECT chat.unarchive('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.unarchive'),
    ($$SELECT chat.mute('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.mute'),
    ($$SELECT chat.unmute('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.unmute'),
    ($$SELECT chat.clear_history('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'chat.clear_history'),
    ($$SELECT * FROM chat.search('2b36d078-2d46-5ea6-a968-518e80fae814', 'hi')$$, 'chat.search'),
    ($$SELECT * FROM chat.search_all('hi')$$, 'chat.search_all'),
    ($$SELECT * FROM chat.admin_search('hi', 'why')$$, 'chat.admin_search'),
    ('SELECT * FROM chat.undelivered()', 'chat.undelivered'),
    ('SELECT * FROM chat.catch_up()', 'chat.catch_up'),
    ($$SELECT chat.ack_delivered('2b36d078-2d46-5ea6-a968-518e80fae814', 1)$$, 'chat.ack_delivered'),
    ('SELECT * FROM chat.relay_status()', 'chat.relay_status'),
    ($$SELECT chat.react('2b36d078-2d46-5ea6-a968-518e80fae814', 1, '👍')$$, 'chat.react'),
    ($$SELECT chat.unreact('2b36d078-2d46-5ea6-a968-518e80fae814', 1, '👍')$$, 'chat.unreact'),
    ('SELECT * FROM chat.claim_notifications()', 'chat.claim_notifications'),
    ('SELECT chat.set_notification_preferences(true)', 'chat.set_notification_preferences'),
    ($$SELECT * FROM chat.kpis('2026-01-01', '2026-01-31')$$, 'chat.kpis'),
    ($$SELECT * FROM chat.stylist_kpis('22222222-2222-4222-8222-222222222222', '2026-01-01', '2026-01-31')$$, 'chat.stylist_kpis'),
    ('SELECT chat.rebuild_kpis()', 'chat.rebuild_kpis')
  ) AS t(stmt, what);

-- ... nor read a view.
SELECT throws_ok(format('SELECT * FROM chat.%I', v), '42501', NULL, 'regress_nobody cannot SELECT chat.' || v)
  FROM unnest(ARRAY['my_chats', 'my_messages', 'my_media', 'admin_chats', 'admin_messages']) AS v;

-- ... nor create anything in schema chat.
SELECT throws_ok('CREATE TABLE chat.regress_t (x int)', '42501', NULL,
                 'regress_nobody cannot create a table in schema chat');

-- Setting a GUC never makes a role anyone: the prefix stylist_chat is
-- reserved, and the other settings mean nothing to the extension.
SELECT throws_ok($$SET stylist_chat.actor = '11111111-1111-4111-8111-111111111111'$$, '42602', NULL,
                 'SET stylist_chat.actor is refused: the prefix is reserved');
SELECT throws_ok($$SELECT set_config('stylist_chat.actor', '11111111-1111-4111-8111-111111111111', false)$$,
                 '42602', NULL, 'set_config(stylist_chat.actor) is refused too');
SET chat.actor = '11111111-1111-4111-8111-111111111111';
DO $$ BEGIN PERFORM set_config('chat.current_actor', '11111111-1111-4111-8111-111111111111', false); END $$;
SET application_name = '11111111-1111-4111-8111-111111111111';
SELECT is(current_user, 'regress_nobody', 'still regress_nobody after the settings');
RESET ROLE;
SELECT is(chat.current_actor(), NULL, 'none of those settings made anyone the actor');
RESET chat.actor;
RESET application_name;

-- EXECUTE on act_as is not enough: the function itself checks that the
-- current user is a superuser or a member of chat_service.
GRANT EXECUTE ON FUNCTION chat.act_as(uuid, boolean) TO regress_nobody;
SET ROLE regress_nobody;
SELECT throws_ok($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111')$$,
                 '42501', 'permission denied to act as a chat profile',
                 'act_as, even with EXECUTE granted, is refused to a non-member');
SELECT throws_ok($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111', for_session => true)$$,
                 '42501', 'permission denied to act as a chat profile',
                 'act_as for the session, even with EXECUTE granted, is refused to a non-member');
-- ... whether or not the profile exists (its existence is not revealed).
SELECT throws_ok($$SELECT chat.act_as('99999999-9999-4999-8999-999999999999')$$,
                 '42501', 'permission denied to act as a chat profile',
                 'act_as on an unknown profile is refused to a non-member with the same error');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION chat.act_as(uuid, boolean) FROM regress_nobody;
SELECT is(chat.current_actor(), NULL, 'the refused act_as calls left nobody acting');

-- The catalogs agree: regress_nobody has no privilege on any table or
-- view, and may execute no function, of schema chat.
SELECT is(
    (SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
       FROM pg_class c
      WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind IN ('r', 'v')
        AND has_table_privilege('regress_nobody', c.oid,
                                'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')),
    '{}'::text[], 'regress_nobody has no privilege on any table or view of schema chat');
SELECT is(
    (SELECT coalesce(array_agg(p.oid::regprocedure::text ORDER BY 1), '{}')
       FROM pg_proc p
      WHERE p.pronamespace = 'chat'::regnamespace
        AND has_function_privilege('regress_nobody', p.oid, 'EXECUTE')),
    '{}'::text[], 'regress_nobody may execute no function of schema chat');

--
-- regress_app: the API and the views, never the tables
--
SET ROLE regress_app;

-- A member of chat_service may pick the actor and keep profiles and bookings.
SELECT lives_ok($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111')$$,
                'regress_app can call chat.act_as');
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'regress_app made alice the actor');
SELECT lives_ok($$SELECT chat.upsert_profile('33333333-3333-4333-8333-333333333333', 'customer', 'Carol')$$,
                'regress_app can call chat.upsert_profile');
SELECT lives_ok($$SELECT chat.upsert_booking('b0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', 'Colour', '2024-02-01 10:00+00', 'pending')$$,
                'regress_app can call chat.upsert_booking');

-- ... and use the whole API as the actor.
SELECT is(chat.chat_with('22222222-2222-4222-8222-222222222222'),
          '2b36d078-2d46-5ea6-a968-518e80fae814'::uuid, 'regress_app: chat_with');
SELECT is(chat.get_or_create_chat('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'),
          '2b36d078-2d46-5ea6-a968-518e80fae814'::uuid, 'regress_app: get_or_create_chat');
SELECT is(chat.chat_for_booking('b0000000-0000-4000-8000-000000000002'),
          '2b36d078-2d46-5ea6-a968-518e80fae814'::uuid, 'regress_app: chat_for_booking');
SELECT is(chat.send_message('2b36d078-2d46-5ea6-a968-518e80fae814', 'Second'), 2::bigint,
          'regress_app: send_message');
SELECT lives_ok($$SELECT chat.edit_message('2b36d078-2d46-5ea6-a968-518e80fae814', 2, 'Second, edited')$$,
                'regress_app: edit_message');
SELECT lives_ok($$SELECT chat.delete_message('2b36d078-2d46-5ea6-a968-518e80fae814', 2)$$,
                'regress_app: delete_message');
SELECT is((SELECT count(*) FROM chat.history('2b36d078-2d46-5ea6-a968-518e80fae814')), 2::bigint,
          'regress_app: history');
SELECT is((SELECT count(*) FROM chat.messages_since('2b36d078-2d46-5ea6-a968-518e80fae814', 0)), 2::bigint,
          'regress_app: messages_since');
SELECT is(chat.mark_read('2b36d078-2d46-5ea6-a968-518e80fae814'), 2::bigint, 'regress_app: mark_read');
SELECT is((SELECT last_seq FROM chat.get_chat('2b36d078-2d46-5ea6-a968-518e80fae814')), 2::bigint,
          'regress_app: get_chat');
SELECT is((SELECT count(*) FROM chat.inbox()), 1::bigint, 'regress_app: inbox');
SELECT is((SELECT count(*) FROM chat.chat_bookings('2b36d078-2d46-5ea6-a968-518e80fae814')), 2::bigint,
          'regress_app: chat_bookings');
SELECT is(chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'),
          '2b36d078-2d46-5ea6-a968-518e80fae814'::uuid, 'regress_app: pair_chat_id');
SELECT matches(chat.listen_channel(), '^chat_[0-9a-f]{40}$', 'regress_app: listen_channel');
SELECT is(chat.listen(), chat.listen_channel(), 'regress_app: listen');
SELECT lives_ok($$SELECT chat.typing('2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'regress_app: typing');
SELECT is((SELECT count(*) FROM chat.undelivered()), 0::bigint, 'regress_app: undelivered (nothing for alice: only she wrote)');
SELECT is((SELECT count(*) FROM chat.catch_up()), 0::bigint, 'regress_app: catch_up (nothing for alice: only she wrote)');
SELECT is(chat.ack_delivered('2b36d078-2d46-5ea6-a968-518e80fae814', 1), 2::bigint,
          'regress_app: ack_delivered (the mark stays at 2, where undelivered() put it)');
SELECT is((SELECT count(*) FROM chat.relay_status()), 1::bigint, 'regress_app: relay_status');

-- ... and read the views.
SELECT is((SELECT count(*) FROM chat.my_chats), 1::bigint, 'regress_app can SELECT chat.my_chats');
SELECT is((SELECT count(*) FROM chat.my_messages), 2::bigint, 'regress_app can SELECT chat.my_messages');
SELECT is((SELECT count(*) FROM chat.my_media), 1::bigint, 'regress_app can SELECT chat.my_media');
SELECT is((SELECT count(*) FROM chat.admin_chats), 0::bigint,
          'regress_app can SELECT chat.admin_chats (empty for a customer)');
SELECT is((SELECT count(*) FROM chat.admin_messages), 0::bigint,
          'regress_app can SELECT chat.admin_messages (empty for a customer)');

-- But not write through them: they are function scans, which are not
-- updatable (a simple view over a table would be, with the view owner's
-- rights).
SELECT throws_ok(stmt, '55000', NULL, 'regress_app cannot ' || what)
  FROM (VALUES
    ('UPDATE chat.my_messages SET deleted_at = now()', 'UPDATE chat.my_messages'),
    ('DELETE FROM chat.my_messages', 'DELETE chat.my_messages'),
    ('UPDATE chat.my_chats SET last_seq = 0', 'UPDATE chat.my_chats'),
    ('DELETE FROM chat.my_media', 'DELETE chat.my_media'),
    ($$INSERT INTO chat.my_media (chat_id, seq, position, storage_key, content_type, byte_size, width, height) VALUES ('2b36d078-2d46-5ea6-a968-518e80fae814', 1, 3, 'k', 'image/png', 1, 1, 1)$$, 'INSERT chat.my_media'),
    ($$UPDATE chat.admin_messages SET hidden_reason = 'rewritten'$$, 'UPDATE chat.admin_messages'),
    ('DELETE FROM chat.admin_chats', 'DELETE chat.admin_chats')
  ) AS t(stmt, what);

-- Membership of chat_service still gives no access to the base tables.
SELECT throws_ok(stmt, '42501', NULL, 'regress_app cannot ' || what)
  FROM (VALUES
    ('SELECT * FROM chat.profiles', 'SELECT chat.profiles'),
    ($$INSERT INTO chat.profiles (id, role, display_name) VALUES ('99999999-9999-4999-8999-999999999999', 'admin', 'Mallory')$$, 'INSERT chat.profiles'),
    ($$UPDATE chat.profiles SET role = 'admin'$$, 'UPDATE chat.profiles'),
    ('DELETE FROM chat.profiles', 'DELETE chat.profiles'),
    ('SELECT * FROM chat.bookings', 'SELECT chat.bookings'),
    ($$INSERT INTO chat.bookings (id, customer_id, stylist_id, service, starts_at, status) VALUES ('b0000000-0000-4000-8000-000000000009', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', 'x', now(), 'pending')$$, 'INSERT chat.bookings'),
    ($$UPDATE chat.bookings SET status = 'cancelled'$$, 'UPDATE chat.bookings'),
    ('DELETE FROM chat.bookings', 'DELETE chat.bookings'),
    ('SELECT * FROM chat.chats', 'SELECT chat.chats'),
    ($$INSERT INTO chat.chats (chat_id, customer_id, stylist_id) VALUES ('b6d573d5-3e29-5c0e-87c6-171eff05d25e', '33333333-3333-4333-8333-333333333333', '22222222-2222-4222-8222-222222222222')$$, 'INSERT chat.chats'),
    ('UPDATE chat.chats SET customer_unread = 0', 'UPDATE chat.chats'),
    ('DELETE FROM chat.chats', 'DELETE chat.chats'),
    ('SELECT * FROM chat.chat_messages', 'SELECT chat.chat_messages'),
    ($$INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body) VALUES ('2b36d078-2d46-5ea6-a968-518e80fae814', 99, '22222222-2222-4222-8222-222222222222', 'forged')$$, 'INSERT chat.chat_messages'),
    ($$UPDATE chat.chat_messages SET body = 'forged'$$, 'UPDATE chat.chat_messages'),
    ('DELETE FROM chat.chat_messages', 'DELETE chat.chat_messages'),
    ('SELECT * FROM chat.media', 'SELECT chat.media'),
    ($$INSERT INTO chat.media (chat_id, seq, position, storage_key, content_type, byte_size, width, height) VALUES ('2b36d078-2d46-5ea6-a968-518e80fae814', 1, 2, 'k', 'image/png', 1, 1, 1)$$, 'INSERT chat.media'),
    ($$UPDATE chat.media SET storage_key = 'elsewhere'$$, 'UPDATE chat.media'),
    ('DELETE FROM chat.media', 'DELETE chat.media')
  ) AS t(stmt, what);

-- The internal helpers are not granted, above all _open_chat, which
-- creates a chat without asking who is acting.
SELECT throws_ok($$SELECT chat._open_chat('33333333-3333-4333-8333-333333333333', '22222222-2222-4222-8222-222222222222')$$,
                 '42501', NULL, 'regress_app cannot call chat._open_chat');
SELECT throws_ok($$SELECT chat._own_message('2b36d078-2d46-5ea6-a968-518e80fae814', 1, 'edit')$$,
                 '42501', NULL, 'regress_app cannot call chat._own_message');
SELECT throws_ok($$SELECT * FROM chat._messages('2b36d078-2d46-5ea6-a968-518e80fae814', 0, NULL, 10, false)$$,
                 '42501', NULL, 'regress_app cannot call chat._messages');
-- Nor the relay's internals: the channel of any profile from a key, a key,
-- forged events, the raw shared state.
SELECT throws_ok($$SELECT chat._channel_name(sha256('guess'::bytea), '22222222-2222-4222-8222-222222222222')$$,
                 '42501', NULL, 'regress_app cannot call chat._channel_name');
SELECT throws_ok('SELECT chat._random_key()', '42501', NULL, 'regress_app cannot call chat._random_key');
SELECT throws_ok($$SELECT chat._relay_event('message', '2b36d078-2d46-5ea6-a968-518e80fae814', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '22222222-2222-4222-8222-222222222222', 1, now())$$,
                 '42501', NULL, 'regress_app cannot call chat._relay_event');
SELECT throws_ok($$SELECT chat._relay_now('typing', '2b36d078-2d46-5ea6-a968-518e80fae814', '11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '22222222-2222-4222-8222-222222222222', NULL, now())$$,
                 '42501', NULL, 'regress_app cannot call chat._relay_now');
SELECT throws_ok('SELECT * FROM chat._relay_shared_status()', '42501', NULL,
                 'regress_app cannot call chat._relay_shared_status');
SELECT throws_ok('CREATE TABLE chat.regress_t (x int)', '42501', NULL,
                 'regress_app cannot create a table in schema chat');

-- The extension's code runs with its owner's rights and must resolve
-- nothing through the caller's search_path: otherwise a chat_service
-- member could put its own "=" operator first and have it run as the
-- owner (a superuser), escaping every rule above.  The spy operator below
-- records the role it runs as.
RESET ROLE;
CREATE SCHEMA regress_evil AUTHORIZATION regress_app;
SET ROLE regress_app;
CREATE TABLE regress_evil.spy (who name NOT NULL);
GRANT INSERT ON regress_evil.spy TO PUBLIC;
CREATE FUNCTION regress_evil.uuid_eq(uuid, uuid) RETURNS boolean
LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO regress_evil.spy VALUES (current_user);
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END
$f$;
CREATE OPERATOR regress_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = regress_evil.uuid_eq);

SET search_path = regress_evil, pg_catalog, public;
SELECT lives_ok($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111')$$,
                'act_as, with the caller''s own = operator first in search_path');
RESET search_path;
SELECT is((SELECT coalesce(array_agg(DISTINCT who::text), '{}') FROM regress_evil.spy WHERE who <> 'regress_app'),
          '{}'::text[], 'act_as ran none of the caller''s code with another role''s rights');
DELETE FROM regress_evil.spy;

SET search_path = regress_evil, pg_catalog, public;
SELECT lives_ok($t$DO $b$
BEGIN
    PERFORM chat.chat_with('22222222-2222-4222-8222-222222222222');
    PERFORM chat.get_or_create_chat('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222');
    PERFORM chat.chat_for_booking('b0000000-0000-4000-8000-000000000001');
    PERFORM chat.send_message('2b36d078-2d46-5ea6-a968-518e80fae814', 'Third',
                              booking_id => 'b0000000-0000-4000-8000-000000000001',
                              client_msg_id => 'c0000000-0000-4000-8000-000000000001');
    PERFORM chat.edit_message('2b36d078-2d46-5ea6-a968-518e80fae814', 3, 'Third, edited');
    PERFORM * FROM chat.get_chat('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM * FROM chat.history('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM * FROM chat.messages_since('2b36d078-2d46-5ea6-a968-518e80fae814', 0);
    PERFORM * FROM chat.inbox();
    PERFORM * FROM chat.chat_bookings('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM chat.mark_read('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM chat.delete_message('2b36d078-2d46-5ea6-a968-518e80fae814', 3);
    PERFORM chat.listen_channel();
    PERFORM chat.listen();
    PERFORM chat.typing('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM * FROM chat.undelivered();
    PERFORM * FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', '2b36d078-2d46-5ea6-a968-518e80fae814', 'seq', 2)));
    PERFORM chat.ack_delivered('2b36d078-2d46-5ea6-a968-518e80fae814', 2);
    PERFORM * FROM chat.relay_status();
    PERFORM chat.upsert_profile('33333333-3333-4333-8333-333333333333', 'customer', 'Carol C.');
    PERFORM chat.upsert_booking('b0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111',
                                '22222222-2222-4222-8222-222222222222', 'Colour', '2024-02-01 10:00+00', 'confirmed');
    PERFORM chat.archive('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM * FROM chat.inbox(archived => true);
    PERFORM chat.unarchive('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM chat.mute('2b36d078-2d46-5ea6-a968-518e80fae814', now() + interval '1 day');
    PERFORM chat.unmute('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM chat.clear_history('2b36d078-2d46-5ea6-a968-518e80fae814');
    PERFORM count(*) FROM chat.my_chats;
    PERFORM count(*) FROM chat.my_messages;
    PERFORM count(*) FROM chat.my_media;
    PERFORM count(*) FROM chat.admin_chats;
    PERFORM count(*) FROM chat.admin_messages;
END
$b$$t$, 'the API and the views, with the caller''s own = operator first in search_path');
RESET search_path;
SELECT is((SELECT coalesce(array_agg(DISTINCT who::text), '{}') FROM regress_evil.spy WHERE who <> 'regress_app'),
          '{}'::text[], 'the API and the views ran none of the caller''s code with another role''s rights');

-- Settings cannot switch the actor of regress_app either: the actor stays
-- alice through every one of them.
SELECT throws_ok($$SET stylist_chat.actor = '22222222-2222-4222-8222-222222222222'$$, '42602', NULL,
                 'regress_app: SET stylist_chat.actor is refused (reserved prefix)');
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'actor unchanged after the refused SET stylist_chat.actor');
SELECT throws_ok($$SELECT set_config('stylist_chat.actor', '22222222-2222-4222-8222-222222222222', true)$$,
                 '42602', NULL, 'regress_app: set_config(stylist_chat.actor) is refused');
SELECT lives_ok($$SELECT set_config('chat.actor', '22222222-2222-4222-8222-222222222222', false)$$,
                'regress_app: set_config(chat.actor) is accepted, as any placeholder is ...');
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          '... but the actor is still alice');
SET chat.current_actor = '22222222-2222-4222-8222-222222222222';
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'SET chat.current_actor does not change the actor');
SET application_name = '22222222-2222-4222-8222-222222222222';
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'SET application_name does not change the actor');
SET ROLE chat_service;
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'SET ROLE chat_service does not change the actor');
RESET ALL;
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'RESET ALL does not change the actor');
-- SET SESSION AUTHORIZATION is refused to a role that logged in as itself;
-- this test connects as a superuser, which may use it, so only check that
-- it switches no actor.
SET SESSION AUTHORIZATION regress_nobody;
SELECT is(session_user, 'regress_nobody', 'now regress_nobody by session authorization');
-- ... after which regress_nobody cannot SET ROLE to a privileged role ...
SELECT throws_ok('SET ROLE chat_service', '42501', NULL,
                 'regress_nobody cannot SET ROLE chat_service');
SELECT throws_ok('SET ROLE regress_app', '42501', NULL,
                 'regress_nobody cannot SET ROLE regress_app');
-- ... nor use the actor the previous role left, nor pick another.
SELECT throws_ok($$SELECT * FROM chat.history('2b36d078-2d46-5ea6-a968-518e80fae814')$$, '42501', NULL,
                 'regress_nobody cannot read through the actor that regress_app chose');
SELECT throws_ok($$SELECT chat.act_as('22222222-2222-4222-8222-222222222222')$$, '42501', NULL,
                 'regress_nobody cannot act_as after SET SESSION AUTHORIZATION');
RESET SESSION AUTHORIZATION;
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'SET SESSION AUTHORIZATION did not change the actor');

-- The catalogs agree: chat_service may execute exactly the API, and may
-- only SELECT the six views.
SET ROLE regress_app;
SELECT results_eq(
    $$SELECT p.oid::regprocedure::text
        FROM pg_proc p
       WHERE p.pronamespace = 'chat'::regnamespace
         AND has_function_privilege('regress_app', p.oid, 'EXECUTE')
       ORDER BY 1$$,
    $$VALUES ('chat._admin_blocks()'),
             ('chat._admin_chats()'),
             ('chat._admin_messages()'),
             ('chat._admin_reports()'),
             ('chat._audit_log()'),
             ('chat._consolidate_batch(integer)'),
             ('chat._consolidate_start(boolean,integer)'),
             ('chat._my_chats()'),
             ('chat._my_media()'),
             ('chat._my_messages()'),
             ('chat.ack_delivered(uuid,bigint)'),
             ('chat.act_as(uuid,boolean)'),
             ('chat.add_filter_rule(text,text,text)'),
             ('chat.admin_filter_rules()'),
             ('chat.admin_held_messages(boolean)'),
             ('chat.admin_history(uuid,text,bigint,integer)'),
             ('chat.admin_inbox(integer,timestamp with time zone,uuid)'),
             ('chat.admin_legal_holds(boolean)'),
             ('chat.admin_search(text,text,integer,timestamp with time zone,uuid,bigint)'),
             ('chat.apply_retention(integer)'),
             ('chat.approve_held_message(uuid,bigint)'),
             ('chat.archive(uuid)'),
             ('chat.block(uuid)'),
             ('chat.catch_up(jsonb,integer)'),
             ('chat.chat_bookings(uuid)'),
             ('chat.chat_for_booking(uuid)'),
             ('chat.chat_with(uuid)'),
             ('chat.claim_notifications(integer,interval)'),
             ('chat.clear_history(uuid)'),
             ('chat.complete_notification(bigint)'),
             ('chat.consolidate_legacy(boolean,integer,uuid,bigint,bigint,bigint,bigint,integer)'),
             ('chat.current_actor()'),
             ('chat.delete_message(uuid,bigint)'),
             ('chat.edit_message(uuid,bigint,text)'),
             ('chat.erase_profile(uuid,text)'),
             ('chat.export_my_data()'),
             ('chat.export_profile(uuid,text)'),
             ('chat.fail_notification(bigint,text)'),
             ('chat.gallery(uuid,bigint,integer,integer)'),
             ('chat.get_chat(uuid)'),
             ('chat.get_or_create_chat(uuid,uuid)'),
             ('chat.grant_portfolio_consent(uuid,bigint,integer)'),
             ('chat.hide_message(uuid,bigint,text)'),
             ('chat.history(uuid,bigint,integer)'),
             ('chat.inbox(integer,timestamp with time zone,uuid,boolean)'),
             ('chat.issue_login_token(uuid,interval)'),
             ('chat.issue_token(uuid,interval)'),
             ('chat.kpis(date,date)'),
             ('chat.legacy_problems()'),
             ('chat.legacy_report()'),
             ('chat.listen()'),
             ('chat.listen_channel()'),
             ('chat.mark_read(uuid,bigint)'),
             ('chat.mark_unread(uuid,bigint)'),
             ('chat.messages_since(uuid,bigint,integer)'),
             ('chat.mute(uuid,timestamp with time zone)'),
             ('chat.my_portfolio(bigint,integer)'),
             ('chat.notification_preferences()'),
             ('chat.notification_queue()'),
             ('chat.pair_chat_id(uuid,uuid)'),
             ('chat.pending_messages(uuid)'),
             ('chat.pin(uuid,bigint,text,timestamp with time zone)'),
             ('chat.pinned(uuid)'),
             ('chat.portfolio(uuid,bigint,integer)'),
             ('chat.privacy_log(uuid)'),
             ('chat.react(uuid,bigint,text)'),
             ('chat.rebuild_kpis()'),
             ('chat.reject_held_message(uuid,bigint,text)'),
             ('chat.relay_status()'),
             ('chat.release_legal_hold(uuid,text)'),
             ('chat.remove_filter_rule(text)'),
             ('chat.report(uuid,text,bigint,text)'),
             ('chat.reset_actor()'),
             ('chat.resolve_report(bigint,text,text)'),
             ('chat.retention_status()'),
             ('chat.revoke_portfolio_consent(uuid,bigint,integer)'),
             ('chat.revoke_tokens(uuid)'),
             ('chat.rotate_signing_key()'),
             ('chat.search(uuid,text,integer,bigint)'),
             ('chat.search_all(text,integer,timestamp with time zone,uuid,bigint)'),
             ('chat.send_message(uuid,text,uuid,uuid,jsonb,bigint)'),
             ('chat.set_legal_hold(uuid,text)'),
             ('chat.set_notification_preferences(boolean,text,time without time zone,time without time zone)'),
             ('chat.stylist_kpis(uuid,date,date)'),
             ('chat.take_orphaned_images(integer)'),
             ('chat.typing(uuid)'),
             ('chat.unarchive(uuid)'),
             ('chat.unblock(uuid)'),
             ('chat.undelivered(integer)'),
             ('chat.unmute(uuid)'),
             ('chat.unpin(uuid,bigint)'),
             ('chat.unreact(uuid,bigint,text)'),
             ('chat.upsert_booking(uuid,uuid,uuid,text,timestamp with time zone,text)'),
             ('chat.upsert_profile(uuid,text,text)')$$,
    'chat_service may execute exactly the API functions (and the functions of the views, and the two steps of consolidate_legacy, which runs with its caller''s rights)');
SELECT results_eq(
    $$SELECT c.relname::text COLLATE "default",
             has_table_privilege('regress_app', c.oid, 'SELECT'),
             has_table_privilege('regress_app', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        FROM pg_class c
       WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind IN ('r', 'v')
       ORDER BY 1$$,
    $$VALUES ('_message_rows', false, false),
             ('admin_blocks', true, false),
             ('admin_chats', true, false),
             ('admin_messages', true, false),
             ('admin_reports', true, false),
             ('audit_entries', false, false),
             ('audit_log', true, false),
             ('bookings', false, false),
             ('caught_up', false, false),
             ('chat_messages', false, false),
             ('chats', false, false),
             ('filter_rules', false, false),
             ('filter_state', false, false),
             ('filtered_messages', false, false),
             ('held_messages', false, false),
             ('kpi_booking_chats', false, false),
             ('kpi_bookings', false, false),
             ('kpi_chat_months', false, false),
             ('kpi_chats', false, false),
             ('kpi_days', false, false),
             ('kpi_pairs', false, false),
             ('kpi_reactivations', false, false),
             ('kpi_responses', false, false),
             ('kpi_stylist_days', false, false),
             ('kpi_stylist_responses', false, false),
             ('legacy_imports', false, false),
             ('legacy_messages', true, true),
             ('legacy_plan', false, false),
             ('legal_holds', false, false),
             ('media', false, false),
             ('my_chats', true, false),
             ('my_media', true, false),
             ('my_messages', true, false),
             ('notification_preferences', false, false),
             ('notifications', false, false),
             ('orphaned_images', false, false),
             ('pins', false, false),
             ('portfolio_consents', false, false),
             ('privacy_requests', false, false),
             ('profiles', false, false),
             ('reactions', false, false),
             ('relay_watermark', false, false),
             ('reports', false, false),
             ('retention_marks', false, false),
             ('retention_state', false, false),
             ('secrets', false, false),
             ('token_revocations', false, false),
             ('used_tokens', false, false)$$,
    'chat_service may only SELECT the views, and nothing on the tables but load the staging table of a migration');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
