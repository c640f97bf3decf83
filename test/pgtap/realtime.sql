-- test/pgtap/realtime.sql: the real-time functions, rule by rule: the
-- private LISTEN channel (listen_channel, listen), typing, the offline
-- catch-up (undelivered) and the relay's status (relay_status).
--
-- Runs as the extension owner (a superuser), choosing the acting profile
-- with chat.act_as(); the privilege checks run as a member of chat_service
-- and as a role with no grants.  Whether the library is preloaded or not,
-- every test holds: nothing here waits for the relay worker.
--
-- People (pg_temp.id(name) gives the fixed id):
--   alice  11111111-1111-4111-8111-111111111111  customer
--   sam    22222222-2222-4222-8222-222222222222  stylist
--   carol  33333333-3333-4333-8333-333333333333  customer
--   sue    44444444-4444-4444-8444-444444444444  stylist
--   erin   eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee  customer
--   ada    adadadad-adad-4ada-8ada-adadadadadad  admin
-- Booking b1  b0000000-0000-4000-8000-000000000001  alice + sam.
-- Chats: pg_temp.chat_of(customer, stylist); a made-up chat id is
--   deadbeef-dead-5ead-beef-deadbeefdead.

-- A channel name must stay the same across transactions: alice's name is
-- taken here, in a transaction of its own that leaves nothing behind, and
-- compared with the one the test transaction gets.
BEGIN;
SELECT chat.upsert_profile('11111111-1111-4111-8111-111111111111', 'customer', 'Alice') \g /dev/null
SELECT chat.act_as('11111111-1111-4111-8111-111111111111') \g /dev/null
SELECT chat.listen_channel() AS alice_channel_earlier \gset
ROLLBACK;

BEGIN;
SELECT plan(91);

\ir fixtures.psql

-- The channel of a profile, as listen_channel() gives it to that profile;
-- the actor is left as it was.
CREATE FUNCTION pg_temp.channel_of(who text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    was uuid := chat.current_actor();
    ch text;
BEGIN
    PERFORM chat.act_as(pg_temp.id(who));
    ch := chat.listen_channel();
    IF was IS NULL THEN
        PERFORM chat.reset_actor();
    ELSE
        PERFORM chat.act_as(was);
    END IF;
    RETURN ch;
END
$$;

-- Everything the extension has stored, as row counts and as the rows this
-- transaction has inserted, updated and deleted in schema chat so far.
CREATE FUNCTION pg_temp.footprint() RETURNS text
LANGUAGE sql AS $$
    SELECT format('profiles=%s bookings=%s chats=%s messages=%s media=%s watermarks=%s secrets=%s writes=%s',
        (SELECT count(*) FROM chat.profiles), (SELECT count(*) FROM chat.bookings),
        (SELECT count(*) FROM chat.chats), (SELECT count(*) FROM chat.chat_messages),
        (SELECT count(*) FROM chat.media), (SELECT count(*) FROM chat.relay_watermark),
        (SELECT count(*) FROM chat.secrets),
        (SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_xact_user_tables
          WHERE schemaname = 'chat'))
$$;

-- Messages sent through pg_temp.send(), in the order they were sent.
CREATE TEMP TABLE sent (n serial PRIMARY KEY, chat_id uuid, seq bigint, sender_id uuid, body text);
CREATE FUNCTION pg_temp.send(who text, customer text, stylist text, body text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    c uuid := pg_temp.chat_of(customer, stylist);
    s bigint;
BEGIN
    PERFORM chat.act_as(pg_temp.id(who));
    s := chat.send_message(c, body);
    INSERT INTO pg_temp.sent (chat_id, seq, sender_id, body) VALUES (c, s, pg_temp.id(who), body);
    RETURN s;
END
$$;

-- What each call of pg_temp.fetch() got from chat.undelivered(), in the
-- order it came; the function returns the number of rows.
CREATE TEMP TABLE got (who text, batch integer, pos bigint, chat_id uuid, seq bigint, sender_id uuid,
                       body text, created_at timestamptz, deleted_at timestamptz,
                       attachments jsonb, booking jsonb);
CREATE FUNCTION pg_temp.fetch(who text, p_batch integer, p_max integer DEFAULT 500) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM chat.act_as(pg_temp.id(who));
    INSERT INTO pg_temp.got
    SELECT who, p_batch, u.ord, u.chat_id, u.seq, u.sender_id, u.body, u.created_at, u.deleted_at,
           u.attachments, u.booking
      FROM chat.undelivered(p_max) WITH ORDINALITY
           AS u(chat_id, seq, sender_id, body, booking_id, client_msg_id, created_at,
                edited_at, deleted_at, hidden_at, attachments, booking, kind, card, reply_to,
                reactions, my_reactions, ord);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The read state of a profile's chats, as inbox() and get_chat() report
-- it, and as the table holds it.
CREATE FUNCTION pg_temp.read_state(who text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM chat.act_as(pg_temp.id(who));
    SELECT string_agg(format('%s: inbox unread=%s get_chat unread=%s read=%s other_read=%s table=%s/%s/%s/%s',
                             i.other_name, i.unread_count, g.unread_count, g.last_read_seq, g.other_read_seq,
                             c.customer_read_seq, c.customer_unread, c.stylist_read_seq, c.stylist_unread),
                      '; ' ORDER BY i.other_name)
      INTO r
      FROM chat.inbox() i
      CROSS JOIN LATERAL chat.get_chat(i.chat_id) g
      JOIN chat.chats c ON c.chat_id = i.chat_id;
    RETURN r;
END
$$;

CREATE ROLE regress_nobody LOGIN;
CREATE ROLE regress_app LOGIN IN ROLE chat_service;

-- The people, kept by the application backend.
DO $$
BEGIN
    PERFORM chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
    PERFORM chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
    PERFORM chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
    PERFORM chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
    PERFORM chat.upsert_profile(pg_temp.id('erin'), 'customer', 'Erin');
    PERFORM chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
    PERFORM chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'),
                                'Haircut', '2024-01-10 10:00+00', 'confirmed');
END
$$;

------------------------------------------------------------------------
-- chat.listen_channel()
------------------------------------------------------------------------

-- Nobody acting: no channel (28000).
SELECT throws_ok('SELECT chat.listen_channel()', '28000', NULL, 'listen_channel without an actor: 28000');

-- A channel is "chat_" and 40 lowercase hex digits: a valid, unquoted
-- identifier of 45 characters.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT matches(chat.listen_channel(), '^chat_[0-9a-f]{40}$', 'alice''s channel is chat_ and 40 lowercase hex digits');
SELECT is(length(chat.listen_channel()), 45, '... 45 characters in all');
SELECT listen_channel AS alice_channel FROM chat.listen_channel() \gset

-- Every profile has its own channel.
SELECT is((SELECT count(DISTINCT pg_temp.channel_of(who)) FROM unnest(ARRAY['alice', 'sam', 'carol', 'ada']) AS who),
          4::bigint, 'alice, sam, carol and ada have four different channels');

-- A profile's channel never changes: not within a transaction, whoever
-- acted in between ...
SELECT chat.act_as(pg_temp.id('sam'));
SELECT isnt(chat.listen_channel(), :'alice_channel', 'sam''s channel is not alice''s');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.listen_channel(), :'alice_channel', 'alice''s channel is the same after sam acted');
-- ... nor from one transaction to the next.
SELECT is(chat.listen_channel(), :'alice_channel_earlier', 'alice''s channel is the one an earlier transaction got');

-- It is HMAC-SHA256 of the profile id under the key in chat.secrets,
-- truncated to 20 bytes: it depends on that key ...
SELECT is(chat.listen_channel(),
          (SELECT 'chat_' || left(encode(pg_temp.hmac_sha256(key, uuid_send(pg_temp.id('alice'))), 'hex'), 40)
             FROM chat.secrets WHERE name = 'channel'),
          'alice''s channel is chat_ || hex(HMAC-SHA256(key, alice''s id))[1:40]');
SAVEPOINT other_key;
UPDATE chat.secrets SET key = sha256('another key'::bytea) WHERE name = 'channel';
SELECT isnt(chat.listen_channel(), :'alice_channel', 'under another key alice''s channel is another');
ROLLBACK TO SAVEPOINT other_key;

-- ... and cannot be worked out from the id alone: it is neither the id
-- nor a plain hash of it.
SELECT is(
    (SELECT coalesce(array_agg(what ORDER BY what), '{}')
       FROM (VALUES
         ('id hex', replace(pg_temp.id('alice')::text, '-', '')),
         ('md5(id text)', md5(pg_temp.id('alice')::text)),
         ('md5(id hex)', md5(replace(pg_temp.id('alice')::text, '-', ''))),
         ('md5(id bytes)', md5(uuid_send(pg_temp.id('alice')))),
         ('sha224(id bytes)', encode(sha224(uuid_send(pg_temp.id('alice'))), 'hex')),
         ('sha256(id bytes)', encode(sha256(uuid_send(pg_temp.id('alice'))), 'hex')),
         ('sha256(id text)', encode(sha256(convert_to(pg_temp.id('alice')::text, 'UTF8')), 'hex')),
         ('sha384(id bytes)', encode(sha384(uuid_send(pg_temp.id('alice'))), 'hex')),
         ('sha512(id bytes)', encode(sha512(uuid_send(pg_temp.id('alice'))), 'hex')),
         ('sha512(id text)', encode(sha512(convert_to(pg_temp.id('alice')::text, 'UTF8')), 'hex'))
       ) AS h(what, digest)
      WHERE position(left(digest, 16) IN substr(:'alice_channel', 6)) > 0
         OR position(left(substr(:'alice_channel', 6), 16) IN digest) > 0),
    '{}'::text[], 'alice''s channel shares no 16 hex digits with her id or any plain hash of it');

-- The key: 32 random bytes, for the extension owner's eyes only.
SELECT is((SELECT octet_length(key) FROM chat.secrets WHERE name = 'channel'), 32, 'the channel key is 32 bytes');
SELECT is((SELECT count(*) FROM chat.secrets
            WHERE name = 'channel' AND key <> decode(repeat('00', 32), 'hex')),
          1::bigint, 'the channel key is not all zeros');
SELECT is(
    (SELECT coalesce(array_agg(r || ' may ' || p ORDER BY r, p), '{}')
       FROM unnest(ARRAY['chat_service', 'regress_app', 'regress_nobody', 'public']) AS r,
            unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p
      WHERE has_table_privilege(r, 'chat.secrets', p)),
    '{}'::text[], 'chat_service, its members, other roles and PUBLIC have no privilege on chat.secrets');
SET ROLE regress_app;
SELECT throws_ok('SELECT key FROM chat.secrets', '42501', NULL, 'a chat_service member cannot read chat.secrets: 42501');
SELECT throws_ok($$UPDATE chat.secrets SET key = sha256('mine'::bytea)$$, '42501', NULL,
                 'a chat_service member cannot replace the key: 42501');
RESET ROLE;
SET ROLE regress_nobody;
SELECT throws_ok('SELECT key FROM chat.secrets', '42501', NULL, 'an unprivileged role cannot read chat.secrets: 42501');
RESET ROLE;

-- Nor may anyone but the owner compute a channel from a key and an id, or
-- draw keys.
SELECT is(
    (SELECT coalesce(array_agg(r || ' may execute ' || f ORDER BY r, f), '{}')
       FROM unnest(ARRAY['chat_service', 'regress_app', 'regress_nobody', 'public']) AS r,
            unnest(ARRAY['chat._channel_name(bytea,uuid)', 'chat._random_key()']) AS f
      WHERE has_function_privilege(r, f, 'EXECUTE')),
    '{}'::text[], 'nobody but the owner may execute chat._channel_name or chat._random_key');
SET ROLE regress_app;
SELECT throws_ok($$SELECT chat._channel_name(sha256('guess'::bytea), '11111111-1111-4111-8111-111111111111')$$,
                 '42501', NULL, 'a chat_service member cannot call chat._channel_name: 42501');
RESET ROLE;

------------------------------------------------------------------------
-- chat.listen()
------------------------------------------------------------------------

-- Nobody acting: nothing to listen to (28000).
SELECT chat.reset_actor();
SELECT throws_ok('SELECT chat.listen()', '28000', NULL, 'listen without an actor: 28000');

-- listen() returns the actor's channel.  Its LISTEN takes effect when the
-- transaction commits, and this one never does: pg_listening_channels()
-- shows nothing before the commit, so only the returned name is checked
-- here.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.listen(), :'alice_channel', 'listen() as alice returns alice''s channel');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(chat.listen(), chat.listen_channel(), 'listen() as sam returns sam''s channel');
SET ROLE regress_app;
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.listen(), :'alice_channel', 'listen() called by a chat_service member returns the same name');
RESET ROLE;

------------------------------------------------------------------------
-- chat.typing()
------------------------------------------------------------------------
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));

-- Nobody acting: 28000.
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$, '28000', NULL,
                 'typing without an actor: 28000');

-- Only a participant types in a chat: someone else, an admin, and a
-- made-up chat id all get 42501, with one message shape.
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$),
          '42501: chat <id> does not exist or you are not one of its participants '
          '(hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'carol typing in the chat of alice and sam: 42501');
SELECT is(pg_temp.error_of($$SELECT chat.typing(pg_temp.id('made-up chat'))$$),
          pg_temp.error_of($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$),
          '... the very error a made-up chat id gets');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT throws_ok($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$, '42501', NULL,
                 'an admin typing: 42501');

-- A NULL chat: 22004.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT throws_ok('SELECT chat.typing(NULL)', '22004', 'chat_id must not be null', 'typing(NULL): 22004');

-- A participant's typing succeeds and stores nothing: no row anywhere is
-- inserted, updated or deleted.
SELECT pg_temp.footprint() AS footprint_before_typing \gset
SELECT lives_ok($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$, 'alice types in her chat with sam');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT lives_ok($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$, 'sam types in it too');
SELECT lives_ok($$SELECT chat.typing(pg_temp.chat_of('alice', 'sam')); SELECT chat.typing(pg_temp.chat_of('alice', 'sam'))$$,
                'sam types twice more at once');
SELECT is(pg_temp.footprint(), :'footprint_before_typing', 'typing wrote nothing');
SELECT matches(:'footprint_before_typing'::text, 'writes=[1-9]', '... (the write counter does count this transaction''s writes)');

------------------------------------------------------------------------
-- chat.undelivered()
------------------------------------------------------------------------

-- Each row is a message with its chat: chat_id, then the columns of
-- history().
SELECT is(
    (SELECT array_agg(n || ' ' || format_type(t, NULL) ORDER BY i)
       FROM pg_proc p,
            unnest(p.proargnames, p.proallargtypes::oid[], p.proargmodes::text[]) WITH ORDINALITY AS a(n, t, m, i)
      WHERE p.oid = 'chat.undelivered(integer)'::regprocedure AND m = 't'),
    'chat_id uuid'::text || (SELECT array_agg(n || ' ' || format_type(t, NULL) ORDER BY i)
       FROM pg_proc p,
            unnest(p.proargnames, p.proallargtypes::oid[], p.proargmodes::text[]) WITH ORDINALITY AS a(n, t, m, i)
      WHERE p.oid = 'chat.history(uuid,bigint,integer)'::regprocedure AND m = 't'),
    'undelivered returns chat_id and the columns of history');

-- Nobody acting: 28000.
SELECT chat.reset_actor();
SELECT throws_ok('SELECT * FROM chat.undelivered()', '28000', NULL, 'undelivered without an actor: 28000');

-- max_rows is 1 to 1000, and not NULL.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT throws_ok('SELECT * FROM chat.undelivered(0)', '22023', 'max_rows must be between 1 and 1000, not 0',
                 'undelivered(0): 22023');
SELECT throws_ok('SELECT * FROM chat.undelivered(-1)', '22023', NULL, 'undelivered(-1): 22023');
SELECT throws_ok('SELECT * FROM chat.undelivered(1001)', '22023', NULL, 'undelivered(1001): 22023');
SELECT throws_ok('SELECT * FROM chat.undelivered(NULL)', '22004', 'max_rows must not be null',
                 'undelivered(NULL): 22004');

-- Sam, a stylist, has three chats, with alice, carol and erin; the
-- customers write in turn, and sam answers twice.
SELECT pg_temp.send('alice', 'alice', 'sam', 'a1');
SELECT pg_temp.send('carol', 'carol', 'sam', 'c1');
SELECT pg_temp.send('sam', 'alice', 'sam', 's1');
SELECT chat.act_as(pg_temp.id('erin'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT pg_temp.send('erin', 'erin', 'sam', 'e1');
SELECT pg_temp.send('alice', 'alice', 'sam', 'a2');
SELECT pg_temp.send('carol', 'carol', 'sam', 'c2');
SELECT pg_temp.send('sam', 'carol', 'sam', 's2');
SELECT pg_temp.send('alice', 'alice', 'sam', 'a3');
SELECT pg_temp.send('erin', 'erin', 'sam', 'e2');

-- As sent in this one transaction, the messages share one created_at.
-- Catching up 3 at a time takes three calls (3, 3 and 1 rows), and a
-- fourth finds nothing: every message of the customers comes exactly
-- once, none of sam's own, each chat's in seq order, and oldest first.
SAVEPOINT same_time;
SELECT is(pg_temp.fetch('sam', 1, 3), 3::bigint, 'same created_at: the first call of 3 gets 3');
SELECT is(pg_temp.fetch('sam', 2, 3), 3::bigint, 'same created_at: the second call of 3 gets 3');
SELECT is(pg_temp.fetch('sam', 3, 3), 1::bigint, 'same created_at: the third call of 3 gets the last one');
SELECT is(pg_temp.fetch('sam', 4, 3), 0::bigint, 'same created_at: the fourth call gets nothing');
SELECT results_eq($$SELECT chat_id, seq, body FROM got ORDER BY chat_id, seq, batch$$,
                  $$SELECT chat_id, seq, body FROM sent WHERE sender_id <> pg_temp.id('sam') ORDER BY chat_id, seq$$,
                  'same created_at: the calls got each customer message exactly once');
SELECT is((SELECT count(*) FROM got WHERE sender_id = pg_temp.id('sam')), 0::bigint,
          'same created_at: none of sam''s own messages');
SELECT is_empty($$SELECT FROM (SELECT seq, lag(seq) OVER (PARTITION BY chat_id ORDER BY batch, pos) AS before
                                 FROM got) AS g
                   WHERE seq <= before$$,
                'same created_at: within each chat, seq ascending across the calls');
SELECT is_empty($$SELECT FROM (SELECT created_at, lag(created_at) OVER (ORDER BY batch, pos) AS before
                                 FROM got) AS g
                   WHERE created_at < before$$,
                'same created_at: created_at never decreases across the calls');
ROLLBACK TO SAVEPOINT same_time;

-- Give the messages the times they would have had, sent one a minute in
-- that order; now "oldest first" interleaves the chats.
UPDATE chat.chat_messages m SET created_at = '2024-05-01 12:00+00'::timestamptz + s.n * interval '1 minute'
  FROM sent s WHERE m.chat_id = s.chat_id AND m.seq = s.seq;
UPDATE chat.chats c SET last_message_at = (SELECT max(m.created_at) FROM chat.chat_messages m WHERE m.chat_id = c.chat_id)
 WHERE c.chat_id IN (SELECT chat_id FROM sent);

SELECT pg_temp.read_state('sam') AS sam_read_state, pg_temp.read_state('alice') AS alice_read_state \gset
SELECT is(pg_temp.fetch('sam', 1, 3), 3::bigint, 'the first call of 3 gets 3');
SELECT is(pg_temp.fetch('sam', 2, 3), 3::bigint, 'the second call of 3 gets 3');
SELECT is(pg_temp.fetch('sam', 3, 3), 1::bigint, 'the third call of 3 gets the last one');
SELECT is(pg_temp.fetch('sam', 4, 3), 0::bigint, 'the fourth call gets nothing');
SELECT results_eq($$SELECT batch, body FROM got ORDER BY batch, pos$$,
                  $$VALUES (1, 'a1'), (1, 'c1'), (1, 'e1'), (2, 'a2'), (2, 'c2'), (2, 'a3'), (3, 'e2')$$,
                  'the customers'' messages come oldest first across the chats, each exactly once');
SELECT is((SELECT count(*) FROM got WHERE sender_id = pg_temp.id('sam')), 0::bigint,
          'none of sam''s own messages came');
SELECT results_eq($$SELECT chat_id, seq, sender_id, created_at FROM got ORDER BY batch, pos$$,
                  $$SELECT m.chat_id, m.seq, m.sender_id, m.created_at FROM got g
                      JOIN chat.chat_messages m ON m.chat_id = g.chat_id AND m.seq = g.seq ORDER BY g.batch, g.pos$$,
                  'each row carries its message''s chat, seq, sender and created_at');

-- Fetching is not reading: the unread counts and read marks of both
-- participants are as they were.
SELECT is(pg_temp.read_state('sam'), :'sam_read_state', 'sam''s unread counts and read marks did not change');
SELECT is(pg_temp.read_state('alice'), :'alice_read_state', 'nor alice''s');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT results_eq($$SELECT other_name, unread_count FROM chat.inbox() ORDER BY other_name$$,
                  $$VALUES ('Alice', 2), ('Carol', 0), ('Erin', 2)$$,
                  'sam''s inbox still counts alice''s and erin''s messages after his answers unread');

-- Once caught up, another call gets nothing ...
SELECT is(pg_temp.fetch('sam', 5), 0::bigint, 'another call, of the default size, gets nothing');
-- ... until new messages come, which the next call gets, once.
SELECT pg_temp.send('alice', 'alice', 'sam', 'a4');
SELECT pg_temp.send('carol', 'carol', 'sam', 'c3');
SELECT is(pg_temp.fetch('sam', 6), 2::bigint, 'after two new messages, the next call gets two');
SELECT results_eq($$SELECT body FROM got WHERE batch = 6 ORDER BY body$$, $$VALUES ('a4'), ('c3')$$,
                  '... the two new ones');
SELECT is(pg_temp.fetch('sam', 7), 0::bigint, '... and the call after that nothing');

-- The actor's own new messages never come.
SELECT pg_temp.send('sam', 'erin', 'sam', 's3');
SELECT is(pg_temp.fetch('sam', 8), 0::bigint, 'sam''s own new message does not come to sam');

-- A message deleted before it was fetched comes as a tombstone: no body,
-- no attachments, deleted_at set.  The others come with their
-- attachments and booking.
SELECT pg_temp.send('alice', 'alice', 'sam', 'a5');
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'a6', booking_id => pg_temp.id('b1'),
    attachments => '[{"storage_key": "alice/6.jpg", "content_type": "image/jpeg", "byte_size": 6, "width": 3, "height": 2}]');
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), (SELECT seq FROM sent WHERE body = 'a5'));
SELECT is(pg_temp.fetch('sam', 9), 2::bigint, 'a deleted and a new message: two rows');
SELECT results_eq(
    $$SELECT body, deleted_at IS NOT NULL, attachments, booking->>'service' FROM got WHERE batch = 9 ORDER BY seq$$,
    $$VALUES (NULL::text, true, '[]'::jsonb, NULL::text),
             ('a6', false, '[{"storage_key": "alice/6.jpg", "content_type": "image/jpeg", "byte_size": 6, "width": 3, "height": 2}]'::jsonb, 'Haircut')$$,
    'the deleted message is a tombstone; the other has its attachment and booking');

-- An admin takes part in no chat: nothing is undelivered to her, at any
-- size from 1 to 1000.
SELECT is(pg_temp.fetch('ada', 10, 1), 0::bigint, 'an admin gets nothing (max_rows 1)');
SELECT is(pg_temp.fetch('ada', 11, 1000), 0::bigint, 'an admin gets nothing (max_rows 1000)');

-- Each participant has a delivery mark of their own: sam fetching did not
-- deliver his answers to the customers ...
SELECT is(pg_temp.fetch('alice', 12), 1::bigint, 'alice gets one message ...');
SELECT results_eq($$SELECT sender_id, body FROM got WHERE batch = 12$$, $$VALUES (pg_temp.id('sam'), 's1')$$,
                  '... sam''s answer s1');
SELECT pg_temp.fetch('carol', 13), pg_temp.fetch('erin', 14);
SELECT results_eq($$SELECT who, sender_id, body FROM got WHERE batch IN (13, 14) ORDER BY batch, pos$$,
                  $$VALUES ('carol', pg_temp.id('sam'), 's2'), ('erin', pg_temp.id('sam'), 's3')$$,
                  'carol gets sam''s s2, erin his s3');
-- ... and alice fetching does not deliver her messages to sam.
SELECT pg_temp.send('alice', 'alice', 'sam', 'a7');
SELECT is(pg_temp.fetch('alice', 15), 0::bigint, 'alice''s own a7 does not come to alice');
SELECT is(pg_temp.fetch('sam', 16), 1::bigint, 'after alice fetched, sam still gets a7');
SELECT results_eq($$SELECT body FROM got WHERE batch = 16$$, $$VALUES ('a7')$$, '... which is a7');

------------------------------------------------------------------------
-- Within a chat, created_at never decreases with seq
------------------------------------------------------------------------

-- Messages sent one after the other ...
SELECT chat.act_as(pg_temp.id('erin'));
SELECT chat.chat_with(pg_temp.id('sue'));
SELECT pg_temp.send('erin', 'erin', 'sue', 'x1');
SELECT pg_temp.send('sue', 'erin', 'sue', 'x2');
SELECT pg_temp.send('erin', 'erin', 'sue', 'x3');
SELECT is_empty($$SELECT FROM chat.chat_messages a JOIN chat.chat_messages b ON b.chat_id = a.chat_id AND b.seq = a.seq + 1
                   WHERE a.chat_id = pg_temp.chat_of('erin', 'sue') AND b.created_at < a.created_at$$,
                'erin and sue''s messages: created_at never decreases with seq');
-- ... even when the previous message is later than this transaction's
-- now(), as when a sender whose transaction began later committed first.
UPDATE chat.chat_messages SET created_at = now() + interval '1 hour'
 WHERE chat_id = pg_temp.chat_of('erin', 'sue') AND seq = 3;
UPDATE chat.chats SET last_message_at = now() + interval '1 hour' WHERE chat_id = pg_temp.chat_of('erin', 'sue');
SELECT is(pg_temp.send('sue', 'erin', 'sue', 'x4'), 4::bigint, 'sue sends x4 after a message dated an hour ahead');
SELECT ok((SELECT b.created_at >= a.created_at
             FROM chat.chat_messages a JOIN chat.chat_messages b ON b.chat_id = a.chat_id AND b.seq = 4
            WHERE a.chat_id = pg_temp.chat_of('erin', 'sue') AND a.seq = 3),
          'x4 is not dated before x3');
SELECT is((SELECT last_message_at FROM chat.chats WHERE chat_id = pg_temp.chat_of('erin', 'sue')),
          now() + interval '1 hour', 'the chat''s last_message_at did not move back');
SELECT is_empty($$SELECT FROM chat.chat_messages a JOIN chat.chat_messages b ON b.chat_id = a.chat_id AND b.seq = a.seq + 1
                   WHERE b.created_at < a.created_at$$,
                'in every chat, created_at never decreases with seq');

------------------------------------------------------------------------
-- chat.relay_status()
------------------------------------------------------------------------

-- Its columns.
SELECT is(
    (SELECT array_agg(n || ' ' || format_type(t, NULL) ORDER BY i)
       FROM pg_proc p,
            unnest(p.proargnames, p.proallargtypes::oid[], p.proargmodes::text[]) WITH ORDINALITY AS a(n, t, m, i)
      WHERE p.oid = 'chat.relay_status()'::regprocedure AND m = 'o'),
    ARRAY['preloaded boolean', 'running boolean', 'pid integer', 'started_at timestamp with time zone',
          'events_relayed bigint', 'last_relay_at timestamp with time zone', 'queued bigint',
          'dropped bigint', 'backlog bigint', 'relayed_database text', 'relays_this_database boolean',
          'notify_queue_usage double precision', 'failed_cycles bigint', 'last_error text',
          'last_error_at timestamp with time zone', 'bookkeeper_pid integer', 'notes_waiting bigint',
          'standby boolean'],
    'relay_status returns preloaded, running, pid, started_at, events_relayed, last_relay_at, queued, dropped, backlog, relayed_database, relays_this_database, notify_queue_usage, failed_cycles, last_error, last_error_at, bookkeeper_pid, notes_waiting, standby');

-- chat_service may call it, with nobody acting: one row.
SELECT chat.reset_actor();
SET ROLE regress_app;
SELECT is((SELECT count(*) FROM chat.relay_status()), 1::bigint, 'a chat_service member gets one row of relay_status');
RESET ROLE;

-- preloaded says whether the library is in shared_preload_libraries; a
-- worker runs only then, and has a pid exactly when it runs: the pid of
-- the "stylist_chat relay" process.
SELECT is((SELECT preloaded FROM chat.relay_status()),
          current_setting('shared_preload_libraries') ~ '(^|[\s,])stylist_chat($|[\s,])',
          'preloaded matches shared_preload_libraries');
SELECT ok((SELECT preloaded OR NOT running FROM chat.relay_status()), 'no worker runs unless preloaded');
SELECT ok((SELECT running = (pid IS NOT NULL) AND running = (started_at IS NOT NULL) FROM chat.relay_status()),
          'pid and started_at are set exactly when the worker runs');
SELECT ok((SELECT NOT running
                  OR EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = s.pid AND a.backend_type = 'stylist_chat relay')
             FROM chat.relay_status() s),
          'a running worker''s pid is the stylist_chat relay process');
SELECT ok((SELECT events_relayed >= 0 AND queued >= 0 AND dropped >= 0 AND backlog >= 0 FROM chat.relay_status()),
          'the counters are not negative');
SELECT ok((SELECT notify_queue_usage BETWEEN 0 AND 1 AND failed_cycles >= 0
                  AND (last_error IS NULL) = (last_error_at IS NULL) FROM chat.relay_status()),
          'notify_queue_usage is a fraction, failed_cycles a count, last_error and its time go together');
SELECT is((SELECT notify_queue_usage FROM chat.relay_status()), pg_notification_queue_usage(),
          'notify_queue_usage is the server''s pg_notification_queue_usage()');

-- It names the one database the worker serves, and says whether this is
-- it (this test's database is not: a NOTICE says so too).
SELECT is((SELECT relayed_database FROM chat.relay_status()),
          current_setting('stylist_chat.database', true),
          'relayed_database is the setting stylist_chat.database');
SELECT is((SELECT relays_this_database FROM chat.relay_status()),
          current_setting('stylist_chat.database', true) IS NOT DISTINCT FROM current_database(),
          'relays_this_database says whether this database is the one relayed');

-- backlog counts the messages above each chat's watermark; it sees this
-- transaction's messages, which no worker can relay before they commit.
SELECT backlog AS backlog_before FROM chat.relay_status() \gset
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sue'));
SELECT is((SELECT backlog FROM chat.relay_status()), :backlog_before::bigint, 'a new chat, without messages, adds no backlog');
SELECT chat.send_message(pg_temp.chat_of('carol', 'sue'), 'one');
SELECT chat.send_message(pg_temp.chat_of('carol', 'sue'), 'two');
SELECT chat.send_message(pg_temp.chat_of('carol', 'sue'), 'three');
SELECT is((SELECT backlog FROM chat.relay_status()), :backlog_before + 3::bigint, 'three messages add 3 to the backlog');
INSERT INTO chat.relay_watermark (chat_id, relayed_seq) VALUES (pg_temp.chat_of('carol', 'sue'), 2);
SELECT is((SELECT backlog FROM chat.relay_status()), :backlog_before + 1::bigint,
          'with the watermark at 2, one of them is backlog');
UPDATE chat.relay_watermark SET relayed_seq = 3 WHERE chat_id = pg_temp.chat_of('carol', 'sue');
SELECT is((SELECT backlog FROM chat.relay_status()), :backlog_before::bigint, 'with the watermark at 3, none is');

SELECT * FROM finish();
ROLLBACK;
