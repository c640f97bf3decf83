-- test/pgtap/tokens.sql: identity tokens, key rotation, the audit log and
-- hidden messages, as the roles that would really call them.
--
--   tap_enduser   IN ROLE chat_user: an end-user connection (authenticate)
--   tap_service   IN ROLE chat_service: the application backend
--   tap_nobody    no grants at all
--   tap_mallory   SUPERUSER but not the extension owner
--
-- People (fixed ids):
--   alice  11111111-1111-4111-8111-111111111111  customer
--   sam    22222222-2222-4222-8222-222222222222  stylist
--   bob    33333333-3333-4333-8333-333333333333  customer, outside the chat
--   ada    44444444-4444-4444-8444-444444444444  admin
--   ghost  99999999-9999-4999-8999-999999999999  no profile
--
-- Tokens are kept in a temporary table readable by every test role.  Some
-- are built from scratch in SQL (HMAC-SHA256 written with sha256()), so that
-- a token with a good signature and a bad version or a past expiry can be
-- made; the builders are first checked to agree with chat._sign_token_v2
-- and chat._check_token.  Version 1 tokens are what 1.0 issued.
BEGIN;
SELECT plan(188);

CREATE ROLE tap_enduser NOLOGIN IN ROLE chat_user;
CREATE ROLE tap_service NOLOGIN IN ROLE chat_service;
CREATE ROLE tap_nobody NOLOGIN;
CREATE ROLE tap_mallory NOLOGIN SUPERUSER;

CREATE TEMP TABLE tok (name text PRIMARY KEY, token text);
GRANT ALL ON tok TO PUBLIC;
CREATE TEMP TABLE seen (name text PRIMARY KEY, value text);
GRANT ALL ON seen TO PUBLIC;

CREATE FUNCTION pg_temp.t(name text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT token FROM pg_temp.tok WHERE name = $1 $$;

-- pg_temp.hmac_sha256(key, message) and pg_temp.error_of(statement)
\ir fixtures.psql

-- a version 1 token from its parts: version, profile, expiry, signing key
CREATE FUNCTION pg_temp.mk(version int, profile uuid, expires timestamptz, key bytea) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(replace(encode(p || pg_temp.hmac_sha256(key, p), 'base64'), E'\n', ''), '+/=', '-_')
      FROM (SELECT set_byte('\x00'::bytea, 0, version) || uuid_send(profile)
                   || int8send(((extract(epoch FROM expires) - 946684800) * 1000000)::bigint) AS p) x
$$;

-- a version 2 token from its parts: flags, profile, issue and expiry times,
-- token id, signing key (the layout of src/token.c)
CREATE FUNCTION pg_temp.mk2(flags int, profile uuid, issued timestamptz, expires timestamptz,
                            token_id uuid, key bytea) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(replace(encode(p || pg_temp.hmac_sha256(key, p), 'base64'), E'\n', ''), '+/=', '-_')
      FROM (SELECT '\x02'::bytea || set_byte('\x00'::bytea, 0, flags) || uuid_send(profile)
                   || int8send(((extract(epoch FROM issued) - 946684800) * 1000000)::bigint)
                   || int8send(((extract(epoch FROM expires) - 946684800) * 1000000)::bigint)
                   || uuid_send(token_id) || '\x0000'::bytea AS p) x
$$;

-- the token with one character (1-based position) replaced
CREATE FUNCTION pg_temp.flip(token text, pos int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT overlay(token PLACING CASE WHEN substr(token, pos, 1) = 'A' THEN 'B' ELSE 'A' END
                   FROM pos FOR 1)
$$;

-- how authenticate refuses a token: SQLSTATE/message/detail/hint
CREATE FUNCTION pg_temp.refusal(token text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM chat.authenticate(token);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN st || '/' || msg || '/' || det || '/' || hnt;
END
$$;

CREATE FUNCTION pg_temp.signing(which text) RETURNS bytea
LANGUAGE sql STABLE AS $$ SELECT key FROM chat.secrets WHERE name = which $$;

DO $$
BEGIN
    PERFORM chat.upsert_profile('11111111-1111-4111-8111-111111111111', 'customer', 'Alice');
    PERFORM chat.upsert_profile('22222222-2222-4222-8222-222222222222', 'stylist', 'Sam');
    PERFORM chat.upsert_profile('33333333-3333-4333-8333-333333333333', 'customer', 'Bob');
    PERFORM chat.upsert_profile('44444444-4444-4444-8444-444444444444', 'admin', 'Ada');
    PERFORM chat.act_as('11111111-1111-4111-8111-111111111111');
    PERFORM chat.send_message(chat.chat_with('22222222-2222-4222-8222-222222222222'), 'Hello Sam',
        attachments => '[{"storage_key": "k/1", "content_type": "image/png", "byte_size": 10, "width": 2, "height": 2}]');
    PERFORM chat.act_as('22222222-2222-4222-8222-222222222222');
    PERFORM chat.send_message(chat.chat_with('11111111-1111-4111-8111-111111111111'), 'Hi Alice');
    PERFORM chat.act_as('11111111-1111-4111-8111-111111111111');
    PERFORM chat.send_message(chat.chat_with('22222222-2222-4222-8222-222222222222'), 'something abusive',
        attachments => '[{"storage_key": "k/3", "content_type": "image/jpeg", "byte_size": 20, "width": 3, "height": 3}]');
    PERFORM chat.reset_actor();
END
$$;
INSERT INTO seen VALUES ('chat', chat.pair_chat_id('11111111-1111-4111-8111-111111111111',
                                                   '22222222-2222-4222-8222-222222222222')::text);
CREATE FUNCTION pg_temp.chat() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT value::uuid FROM pg_temp.seen WHERE name = 'chat' $$;

--
-- The token format, and the SQL builder used below
--
SELECT is(pg_temp.mk2(1, '11111111-1111-4111-8111-111111111111', '2029-12-31 23:00:00.5+00',
                      '2030-01-01 00:00:00.123456+00', 'abcdef00-0000-4000-8000-000000000001',
                      pg_temp.signing('signing')),
          chat._sign_token_v2(pg_temp.signing('signing'), '11111111-1111-4111-8111-111111111111',
                              '2029-12-31 23:00:00.5+00', '2030-01-01 00:00:00.123456+00',
                              'abcdef00-0000-4000-8000-000000000001', true),
          'the SQL builder of version 2 tokens agrees with chat._sign_token_v2');
SELECT is((SELECT row(profile_id, issued_at, expires_at, token_id, single_use)::text
             FROM chat._check_token(pg_temp.mk2(0, '11111111-1111-4111-8111-111111111111', '2029-12-31 23:00+00',
                                                '2030-01-01 00:00+00', 'abcdef00-0000-4000-8000-000000000002',
                                                pg_temp.signing('signing')),
                                    pg_temp.signing('signing'), NULL)),
          row('11111111-1111-4111-8111-111111111111'::uuid, '2029-12-31 23:00+00'::timestamptz,
              '2030-01-01 00:00+00'::timestamptz, 'abcdef00-0000-4000-8000-000000000002'::uuid, false)::text,
          'a built version 2 token checks, and says what it holds');
SELECT is((SELECT row(profile_id, issued_at, token_id, single_use, key_fingerprint = substr(sha256(pg_temp.signing('signing')), 1, 16))::text
             FROM chat._check_token(pg_temp.mk(1, '11111111-1111-4111-8111-111111111111', now() + interval '1 hour',
                                               pg_temp.signing('signing')),
                                    pg_temp.signing('signing'), NULL)),
          row('11111111-1111-4111-8111-111111111111'::uuid, NULL::timestamptz, NULL::uuid, false, true)::text,
          'a built version 1 token (as 1.0 issued them) checks: no issue time, no id, not single use; the fingerprint is that of its key');

--
-- issue_token: chat_service members and superusers only
--
SET ROLE tap_service;
SELECT lives_ok($$INSERT INTO pg_temp.tok VALUES
    ('alice', chat.issue_token('11111111-1111-4111-8111-111111111111')),
    ('sam',   chat.issue_token('22222222-2222-4222-8222-222222222222', '10 minutes')),
    ('bob',   chat.issue_token('33333333-3333-4333-8333-333333333333')),
    ('ada',   chat.issue_token('44444444-4444-4444-8444-444444444444', '30 days'))$$,
    'a chat_service member issues tokens');
SELECT ok(pg_temp.t('alice') ~ '^[A-Za-z0-9_-]{112}$', 'a token is 112 characters of base64url');
SELECT isnt(pg_temp.t('alice'), pg_temp.t('bob'), 'tokens of two profiles differ');
SELECT throws_ok($$SELECT chat.issue_token('99999999-9999-4999-8999-999999999999')$$, '22023', NULL,
                 'no token for a profile that does not exist');
SELECT throws_ok($$SELECT chat.issue_token('11111111-1111-4111-8111-111111111111', '0 seconds')$$, '22023', NULL,
                 'no token with a ttl of zero');
SELECT throws_ok($$SELECT chat.issue_token('11111111-1111-4111-8111-111111111111', '-1 hour')$$, '22023', NULL,
                 'no token with a negative ttl');
SELECT throws_ok($$SELECT chat.issue_token('11111111-1111-4111-8111-111111111111', '30 days 1 second')$$, '22023', NULL,
                 'no token for more than 30 days');
SELECT throws_ok($$SELECT chat.issue_token(NULL)$$, '22004', NULL, 'no token for NULL');
SELECT throws_ok($$SELECT chat.issue_token('11111111-1111-4111-8111-111111111111', NULL)$$, '22004', NULL,
                 'no token with a NULL ttl');
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('alice'))$$, '42501', NULL,
                 'a chat_service member that is not a chat_user member cannot authenticate');
SELECT throws_ok('SELECT * FROM chat.secrets', '42501', NULL, 'a chat_service member cannot read the keys');
RESET ROLE;

SELECT ok(chat.issue_token('11111111-1111-4111-8111-111111111111') ~ '^[A-Za-z0-9_-]{112}$',
          'a superuser issues tokens');

SET ROLE tap_enduser;
SELECT throws_ok($$SELECT chat.issue_token('11111111-1111-4111-8111-111111111111')$$, '42501', NULL,
                 'a chat_user member cannot issue a token');
SELECT throws_ok('SELECT chat.rotate_signing_key()', '42501', NULL, 'a chat_user member cannot rotate the key');
SELECT throws_ok($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111')$$, '42501', NULL,
                 'a chat_user member cannot act_as');
SELECT throws_ok($$SELECT chat.act_as('11111111-1111-4111-8111-111111111111', true)$$, '42501', NULL,
                 'a chat_user member cannot act_as for the session');
SELECT throws_ok('SELECT * FROM chat.secrets', '42501', NULL, 'a chat_user member cannot read the keys');
SELECT throws_ok($$SELECT chat._sign_token_v2('\x00'::bytea, '11111111-1111-4111-8111-111111111111', now(), now(), gen_random_uuid(), false)$$, '42501', NULL,
                 'a chat_user member cannot call chat._sign_token_v2');
SELECT throws_ok($$SELECT chat._check_token(pg_temp.t('alice'), '\x00'::bytea, NULL)$$, '42501', NULL,
                 'a chat_user member cannot call chat._check_token');
SELECT throws_ok($$SELECT chat._act_as_token('11111111-1111-4111-8111-111111111111', now(), now() + interval '1 hour', '\x00'::bytea, false)$$, '42501', NULL,
                 'a chat_user member cannot call chat._act_as_token');
SELECT throws_ok($$SELECT chat.upsert_profile('99999999-9999-4999-8999-999999999999', 'admin', 'Mallory')$$, '42501', NULL,
                 'a chat_user member cannot call chat.upsert_profile');
RESET ROLE;

SET ROLE tap_nobody;
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('alice'))$$, '42501', NULL,
                 'a role in neither chat_user nor chat_service cannot authenticate');
SELECT throws_ok($$SELECT chat.issue_token('11111111-1111-4111-8111-111111111111')$$, '42501', NULL,
                 'a role with no grants cannot issue a token');
SELECT throws_ok('SELECT chat.rotate_signing_key()', '42501', NULL, 'a role with no grants cannot rotate the key');
RESET ROLE;

--
-- Bad tokens: 28000, one message, nobody acting
--
INSERT INTO tok
SELECT name, token FROM (VALUES
    ('empty',         ''),
    ('truncated 75',  left(pg_temp.t('alice'), 75)),
    ('truncated 72',  left(pg_temp.t('alice'), 72)),
    ('one character', left(pg_temp.t('alice'), 1)),
    ('over-long 113', pg_temp.t('alice') || 'A'),
    ('over-long 116', pg_temp.t('alice') || 'AAAA'),
    ('doubled',       pg_temp.t('alice') || pg_temp.t('alice')),
    ('1 MB',          repeat(pg_temp.t('alice'), 13798)),
    ('padded',        pg_temp.t('alice') || '='),
    ('newline',       pg_temp.t('alice') || E'\n'),
    ('leading space', ' ' || left(pg_temp.t('alice'), 111)),
    ('control character', overlay(pg_temp.t('alice') PLACING E'\x01' FROM 40 FOR 1)),
    ('non-ASCII',     overlay(pg_temp.t('alice') PLACING 'é' FROM 40 FOR 1)),
    ('standard base64', translate(pg_temp.t('alice'), '-_', '+/') || CASE WHEN pg_temp.t('alice') ~ '[-_]' THEN '' ELSE '+' END),
    ('lower-cased',   lower(pg_temp.t('alice')) || CASE WHEN pg_temp.t('alice') ~ '[A-Z]' THEN '' ELSE 'x' END),
    ('tampered version char', pg_temp.flip(pg_temp.t('alice'), 1)),
    ('tampered flags char',   pg_temp.flip(pg_temp.t('alice'), 2)),
    ('tampered profile char', pg_temp.flip(pg_temp.t('alice'), 6)),
    ('tampered issue time char', pg_temp.flip(pg_temp.t('alice'), 30)),
    ('tampered expiry char',  pg_temp.flip(pg_temp.t('alice'), 40)),
    ('tampered token id char', pg_temp.flip(pg_temp.t('alice'), 55)),
    ('tampered mac char',     pg_temp.flip(pg_temp.t('alice'), 90)),
    ('tampered last char',    pg_temp.flip(pg_temp.t('alice'), 112)),
    ('mac of another token',  left(pg_temp.t('alice'), 72) || substr(pg_temp.t('bob'), 73)),
    ('payload of another',    left(pg_temp.t('bob'), 72) || substr(pg_temp.t('alice'), 73)),
    ('not base64 at all',     repeat('!', 112)),
    ('all A',                 repeat('A', 112)),
    ('foreign installation',  chat._sign_token_v2(chat._random_key(), '11111111-1111-4111-8111-111111111111', now(), now() + interval '1 hour', gen_random_uuid(), false)),
    ('signed with the channel key', chat._sign_token_v2(pg_temp.signing('channel'), '11111111-1111-4111-8111-111111111111', now(), now() + interval '1 hour', gen_random_uuid(), false)),
    ('expired',               chat._sign_token_v2(pg_temp.signing('signing'), '11111111-1111-4111-8111-111111111111', now() - interval '2 seconds', now() - interval '1 second', gen_random_uuid(), false)),
    ('expired long ago',      chat._sign_token_v2(pg_temp.signing('signing'), '11111111-1111-4111-8111-111111111111', '-infinity', '-infinity', gen_random_uuid(), false)),
    ('built expired v2',      pg_temp.mk2(0, '11111111-1111-4111-8111-111111111111', clock_timestamp() - interval '1 hour', clock_timestamp() - interval '1 millisecond', gen_random_uuid(), pg_temp.signing('signing'))),
    ('unknown flag, good mac', pg_temp.mk2(2, '11111111-1111-4111-8111-111111111111', now(), now() + interval '1 hour', gen_random_uuid(), pg_temp.signing('signing'))),
    ('built expired',         pg_temp.mk(1, '11111111-1111-4111-8111-111111111111', clock_timestamp() - interval '1 millisecond', pg_temp.signing('signing'))),
    ('version 0, good mac',   pg_temp.mk(0, '11111111-1111-4111-8111-111111111111', now() + interval '1 hour', pg_temp.signing('signing'))),
    ('version 2, good mac',   pg_temp.mk(2, '11111111-1111-4111-8111-111111111111', now() + interval '1 hour', pg_temp.signing('signing'))),
    ('no such profile, good mac', chat._sign_token_v2(pg_temp.signing('signing'), '99999999-9999-4999-8999-999999999999', now(), now() + interval '1 hour', gen_random_uuid(), false)),
    ('key too short',         pg_temp.mk(1, '11111111-1111-4111-8111-111111111111', now() + interval '1 hour', '\x00'::bytea))
) AS v(name, token);
INSERT INTO tok VALUES ('NULL', NULL);

SELECT is((SELECT count(*) FROM tok WHERE name NOT IN ('alice', 'sam', 'bob', 'ada')
                                     AND token IS NOT DISTINCT FROM pg_temp.t('alice')), 0::bigint,
          'every bad token differs from the good one');

SET ROLE tap_enduser;
SELECT is(chat.current_actor(), NULL, 'an end-user connection starts with nobody acting');
SELECT throws_ok(format('SELECT chat.authenticate(%L)', token), '28000', 'invalid token',
                 'authenticate refuses a token: ' || name)
  FROM tok WHERE name NOT IN ('alice', 'sam', 'bob', 'ada') ORDER BY name;
SELECT is(chat.current_actor(), NULL, 'after every bad token nobody is acting');
-- every refusal is the same: code, message, detail and hint
SELECT is((WITH r AS (SELECT pg_temp.refusal(token) AS e FROM pg_temp.tok
                       WHERE name NOT IN ('alice', 'sam', 'bob', 'ada'))
           SELECT string_agg(DISTINCT e, ' | ') FROM r),
          '28000/invalid token//Ask the application for a new token.',
          'every bad token gets the same SQLSTATE, message, detail and hint');
RESET ROLE;

--
-- A good token
--
SET ROLE tap_enduser;
SELECT is(chat.authenticate(pg_temp.t('alice')), '11111111-1111-4111-8111-111111111111'::uuid,
          'authenticate returns the profile of a good token');
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid, 'and makes it the actor');
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('tampered mac char'))$$, '28000', 'invalid token',
                 'a bad token after a good one is refused');
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'and changes nobody');
SELECT lives_ok($$INSERT INTO pg_temp.seen VALUES ('alice channel', chat.listen_channel())$$,
                'alice asks her channel');
RESET ROLE;

--
-- Rotation: the previous key keeps working, two back does not
--
SET ROLE tap_service;
SELECT lives_ok('SELECT chat.rotate_signing_key()', 'a chat_service member rotates the signing key');
RESET ROLE;
SELECT isnt(pg_temp.signing('signing'), pg_temp.signing('signing_previous'), 'rotation makes a new key');
SET ROLE tap_enduser;
SELECT is(chat.authenticate(pg_temp.t('alice')), '11111111-1111-4111-8111-111111111111'::uuid,
          'a token of the previous key still works after one rotation');
SELECT is(chat.listen_channel(), (SELECT value FROM pg_temp.seen WHERE name = 'alice channel'),
          'the channel name does not change on rotation');
RESET ROLE;
SET ROLE tap_service;
SELECT lives_ok($$INSERT INTO pg_temp.tok VALUES ('sam after 1', chat.issue_token('22222222-2222-4222-8222-222222222222'))$$,
                'a token issued after the first rotation');
RESET ROLE;
INSERT INTO tok VALUES ('expired of previous', chat._sign_token_v2(pg_temp.signing('signing_previous'),
                        '11111111-1111-4111-8111-111111111111', now() - interval '1 hour', now() - interval '1 second',
                        gen_random_uuid(), false));
SET ROLE tap_enduser;
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('expired of previous'))$$, '28000', 'invalid token',
                 'an expired token of the previous key is refused');
RESET ROLE;
SET ROLE tap_service;
SELECT lives_ok('SELECT chat.rotate_signing_key()', 'a second rotation');
RESET ROLE;
SET ROLE tap_enduser;
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('alice'))$$, '28000', 'invalid token',
                 'a token two rotations old is refused');
SELECT is(chat.authenticate(pg_temp.t('sam after 1')), '22222222-2222-4222-8222-222222222222'::uuid,
          'a token of the key before the second rotation works');
RESET ROLE;
SET ROLE tap_service;
SELECT lives_ok($$INSERT INTO pg_temp.tok VALUES ('alice after 2', chat.issue_token('11111111-1111-4111-8111-111111111111')),
                                                 ('ada after 2', chat.issue_token('44444444-4444-4444-8444-444444444444')),
                                                 ('bob after 2', chat.issue_token('33333333-3333-4333-8333-333333333333'))$$,
                'tokens issued after the second rotation');
RESET ROLE;
SET ROLE tap_enduser;
SELECT is(chat.authenticate(pg_temp.t('alice after 2')), '11111111-1111-4111-8111-111111111111'::uuid,
          'a token of the current key works');
SELECT is(chat.listen_channel(), (SELECT value FROM pg_temp.seen WHERE name = 'alice channel'),
          'the channel name does not change on a second rotation');

--
-- hide_message: admins only
--
SELECT throws_ok(format('SELECT chat.hide_message(%L, 3, %L)', pg_temp.chat(), 'mine'), '42501', NULL,
                 'the customer of the chat cannot hide a message');
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('sam after 1'))$$, 'sam authenticates');
SELECT throws_ok(format('SELECT chat.hide_message(%L, 3, %L)', pg_temp.chat(), 'hers'), '42501', NULL,
                 'the stylist of the chat cannot hide a message');
SELECT throws_ok(format('SELECT * FROM chat.admin_history(%L, %L)', pg_temp.chat(), 'curious'), '42501', NULL,
                 'a participant cannot call admin_history');
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('bob after 2'))$$, 'bob authenticates');
SELECT throws_ok(format('SELECT chat.hide_message(%L, 3, %L)', pg_temp.chat(), 'spite'), '42501', NULL,
                 'an outsider cannot hide a message');
SELECT is((SELECT count(*) FROM chat.audit_log), 0::bigint, 'nothing in the audit log for a non-admin');
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('ada after 2'))$$, 'ada (admin) authenticates');
SELECT is((SELECT count(*) FROM chat.audit_log), 0::bigint, 'the audit log is empty before any admin action');
SELECT throws_ok(format('SELECT chat.hide_message(%L, 3, %L)', pg_temp.chat(), '   '), '22023', NULL,
                 'hide_message needs a reason');
SELECT throws_ok(format('SELECT chat.hide_message(%L, 3, NULL)', pg_temp.chat()), '22004', NULL,
                 'hide_message refuses a NULL reason');
SELECT throws_ok(format('SELECT chat.hide_message(%L, 99, %L)', pg_temp.chat(), 'r'), '22023', NULL,
                 'hide_message refuses a message that does not exist');
SELECT throws_ok(format('SELECT chat.hide_message(%L, 3, %L)', pg_temp.chat(), repeat('x', 501)), '22001', NULL,
                 'hide_message refuses a reason of more than 500 characters');
SELECT throws_ok(format('SELECT * FROM chat.admin_history(%L, %L)', pg_temp.chat(), repeat('x', 501)), '22001', NULL,
                 'admin_history refuses a reason of more than 500 characters');
SELECT is((SELECT count(*) FROM chat.audit_log), 0::bigint, 'refused admin calls write nothing to the audit log');
SELECT lives_ok(format('SELECT chat.hide_message(%L, 3, %L)', pg_temp.chat(), 'abusive language'),
                'an admin hides a message');
SELECT lives_ok(format('SELECT chat.hide_message(%L, 3, %L)', pg_temp.chat(), 'again'),
                'hiding twice is a no-op');
SELECT is((SELECT body FROM chat.admin_history(pg_temp.chat(), 'ticket 42') WHERE seq = 3),
          'something abusive', 'admin_history shows the hidden message as it was');
SELECT is((SELECT hidden_reason || '/' || (hidden_at IS NOT NULL) || '/' || jsonb_array_length(attachments)
             FROM chat.admin_history(pg_temp.chat(), NULL) WHERE seq = 3),
          'abusive language/true/1', 'admin_history shows the reason, the time and the attachments of a hidden message');
SELECT is((SELECT hidden_reason || '/' || hidden_by FROM chat.admin_messages WHERE chat_id = pg_temp.chat() AND seq = 3),
          'abusive language/44444444-4444-4444-8444-444444444444', 'admin_messages shows why and by whom a message was hidden (not its text)');
SELECT results_eq(
    -- a hide is recorded in the admin's transaction, a read in one of its own
    -- (so at a later time than this transaction's start)
    format($$SELECT actor_id, chat_id, action, seq, reason, at >= now() FROM chat.audit_log ORDER BY id$$),
    format($$VALUES ('44444444-4444-4444-8444-444444444444'::uuid, %L::uuid, 'hide_message'::text, 3::bigint, 'abusive language'::text, true),
                    ('44444444-4444-4444-8444-444444444444'::uuid, %L::uuid, 'read_history'::text, NULL::bigint, 'ticket 42'::text, true),
                    ('44444444-4444-4444-8444-444444444444'::uuid, %L::uuid, 'read_history'::text, NULL::bigint, NULL::text, true)$$,
           pg_temp.chat(), pg_temp.chat(), pg_temp.chat()),
    'the audit log records who, which chat, when and why; a second hide records nothing');
RESET ROLE;
SELECT is((SELECT count(*) FROM chat.audit_entries), 3::bigint, 'the admin sees every row of the audit log');

--
-- Participants see the hidden message without body or attachments
--
SET ROLE tap_enduser;
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('alice after 2'))$$, 'alice authenticates');
SELECT is((SELECT count(*) FROM chat.audit_log), 0::bigint, 'a participant sees nothing of the audit log');
SELECT is((SELECT coalesce(body, '<null>') || '/' || attachments::text || '/' || (hidden_at IS NOT NULL)
             FROM chat.history(pg_temp.chat()) WHERE seq = 3),
          '<null>/[]/true', 'history: a hidden message has no body and no attachments');
SELECT is((SELECT jsonb_array_length(attachments) FROM chat.history(pg_temp.chat()) WHERE seq = 1),
          1, 'history: the other messages keep their attachments');
SELECT is((SELECT coalesce(body, '<null>') || '/' || attachments::text
             FROM chat.messages_since(pg_temp.chat(), 0) WHERE seq = 3),
          '<null>/[]', 'messages_since: a hidden message has no body and no attachments');
SELECT is((SELECT coalesce(body, '<null>') || '/' || (hidden_at IS NOT NULL)
             FROM chat.my_messages WHERE chat_id = pg_temp.chat() AND seq = 3),
          '<null>/true', 'my_messages: a hidden message has no body');
SELECT is((SELECT string_agg(seq::text, ',' ORDER BY seq) FROM chat.my_media WHERE chat_id = pg_temp.chat()),
          '1', 'my_media: no attachment of a hidden message');
SELECT is((SELECT count(*) FROM chat.my_media WHERE storage_key = 'k/3'), 0::bigint,
          'my_media: the hidden attachment cannot be found by key');
SELECT is((SELECT preview FROM chat.inbox() WHERE chat_id = pg_temp.chat()), '[hidden]',
          'inbox: the preview of a hidden last message is [hidden]');
SELECT throws_ok(format('SELECT chat.edit_message(%L, 3, %L)', pg_temp.chat(), 'nicer now'), '55000', NULL,
                 'the sender cannot edit a hidden message');
SELECT throws_ok(format('SELECT chat.delete_message(%L, 3)', pg_temp.chat()), '55000', NULL,
                 'the sender cannot delete a hidden message');
SELECT is((SELECT count(*) FROM chat.admin_messages), 0::bigint, 'admin_messages shows nothing to a participant');
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('sam after 1'))$$, 'sam authenticates');
SELECT is((SELECT coalesce(body, '<null>') || '/' || attachments::text
             FROM chat.undelivered() WHERE chat_id = pg_temp.chat() AND seq = 3),
          '<null>/[]', 'undelivered: a hidden message has no body and no attachments');
SELECT is((SELECT preview FROM chat.inbox() WHERE chat_id = pg_temp.chat()), '[hidden]',
          'inbox of the other participant: [hidden]');

--
-- The audit log is append-only for everybody but the extension owner
--
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('ada after 2'))$$, 'ada authenticates again');
SELECT throws_ok(stmt, '42501', NULL, 'an admin end-user connection cannot ' || what)
  FROM (VALUES
    ('SELECT * FROM chat.audit_entries', 'SELECT chat.audit_entries'),
    ($$UPDATE chat.audit_entries SET reason = 'x'$$, 'UPDATE chat.audit_entries'),
    ('DELETE FROM chat.audit_entries', 'DELETE FROM chat.audit_entries'),
    ('TRUNCATE chat.audit_entries', 'TRUNCATE chat.audit_entries'),
    ($$INSERT INTO chat.audit_entries (chat_id, actor_id, action) VALUES ('2b36d078-2d46-5ea6-a968-518e80fae814', '44444444-4444-4444-8444-444444444444', 'read_history')$$, 'INSERT INTO chat.audit_entries')
  ) AS t(stmt, what);
SELECT throws_ok('TRUNCATE chat.audit_log', '42809', NULL, 'TRUNCATE of the chat.audit_log view is refused');
-- the view reads a function's rows: nothing can be written through it
SELECT throws_ok(stmt, '55000', NULL, 'an admin end-user connection cannot ' || what)
  FROM (VALUES
    ($$UPDATE chat.audit_log SET reason = 'nothing to see'$$, 'UPDATE chat.audit_log'),
    ('DELETE FROM chat.audit_log', 'DELETE FROM chat.audit_log'),
    ($$INSERT INTO chat.audit_log (actor_id, action, chat_id) VALUES ('44444444-4444-4444-8444-444444444444', 'read_history', '2b36d078-2d46-5ea6-a968-518e80fae814')$$, 'INSERT INTO chat.audit_log')
  ) AS t(stmt, what);
RESET ROLE;

SET ROLE tap_service;
SELECT lives_ok($$SELECT chat.act_as('44444444-4444-4444-8444-444444444444')$$, 'the service acts as the admin');
SELECT is((SELECT count(*) FROM chat.audit_log), 3::bigint, 'the service acting as an admin sees the audit log');
SELECT throws_ok(stmt, '42501', NULL, 'a chat_service member cannot ' || what)
  FROM (VALUES
    ($$UPDATE chat.audit_entries SET reason = 'x'$$, 'UPDATE chat.audit_entries'),
    ('DELETE FROM chat.audit_entries', 'DELETE FROM chat.audit_entries'),
    ('TRUNCATE chat.audit_entries', 'TRUNCATE chat.audit_entries')
  ) AS t(stmt, what);
SELECT lives_ok('SELECT chat.reset_actor()', 'the service stops acting');
SELECT is((SELECT count(*) FROM chat.audit_log), 0::bigint, 'the service acting as nobody sees nothing of the audit log');
RESET ROLE;

-- a superuser that does not own the extension: the trigger refuses
SET ROLE tap_mallory;
SELECT ok((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), 'tap_mallory is a superuser');
SELECT isnt((SELECT extowner FROM pg_extension WHERE extname = 'stylist_chat'),
            (SELECT oid FROM pg_roles WHERE rolname = current_user), 'and does not own the extension');
SELECT lives_ok($$SELECT chat.act_as('44444444-4444-4444-8444-444444444444')$$, 'tap_mallory acts as the admin');
SELECT throws_ok(stmt, '42501', 'the audit log is append-only', 'a non-owner superuser cannot ' || what)
  FROM (VALUES
    ($$UPDATE chat.audit_entries SET reason = 'nothing to see'$$, 'UPDATE chat.audit_entries'),
    ('DELETE FROM chat.audit_entries', 'DELETE FROM chat.audit_entries'),
    ('TRUNCATE chat.audit_entries', 'TRUNCATE chat.audit_entries')
  ) AS t(stmt, what);
SELECT throws_ok(stmt, '55000', NULL, 'a non-owner superuser cannot ' || what || ' (a view of a function''s rows)')
  FROM (VALUES
    ($$UPDATE chat.audit_log SET reason = 'nothing to see'$$, 'UPDATE chat.audit_log'),
    ('DELETE FROM chat.audit_log', 'DELETE FROM chat.audit_log')
  ) AS t(stmt, what);
SELECT lives_ok('SELECT chat.reset_actor()', 'tap_mallory stops acting');
RESET ROLE;

SELECT results_eq('SELECT action, reason FROM chat.audit_entries ORDER BY id',
                  $$VALUES ('hide_message'::text, 'abusive language'::text), ('read_history', 'ticket 42'), ('read_history', NULL)$$,
                  'after every attempt the audit log is as it was');
-- the extension owner may
SELECT lives_ok($$UPDATE chat.audit_entries SET reason = 'redacted by the owner' WHERE action = 'hide_message'$$,
                'the extension owner may update the audit log');
SELECT lives_ok($$DELETE FROM chat.audit_entries WHERE reason IS NULL$$,
                'the extension owner may delete from the audit log');
SELECT is((SELECT count(*) FROM chat.audit_entries), 2::bigint, 'the owner''s delete took effect');

--
-- Login tokens: good once
--
SET ROLE tap_service;
SELECT lives_ok($$INSERT INTO pg_temp.tok VALUES
    ('alice login', chat.issue_login_token('11111111-1111-4111-8111-111111111111')),
    ('sam login',   chat.issue_login_token('22222222-2222-4222-8222-222222222222', '1 hour'))$$,
    'a chat_service member issues login tokens');
SELECT ok(pg_temp.t('alice login') ~ '^[A-Za-z0-9_-]{112}$', 'a login token is 112 characters of base64url too');
SELECT throws_ok($$SELECT chat._check_token(pg_temp.t('alice login'), NULL, NULL)$$, '42501', NULL,
                 'a chat_service member cannot look inside a token');
SELECT throws_ok($$SELECT chat.issue_login_token('11111111-1111-4111-8111-111111111111', '1 hour 1 second')$$, '22023', NULL,
                 'no login token for more than an hour');
SELECT throws_ok($$SELECT chat.issue_login_token('99999999-9999-4999-8999-999999999999')$$, '22023', NULL,
                 'no login token for a profile that does not exist');
RESET ROLE;
SELECT is((SELECT single_use FROM chat._check_token(pg_temp.t('alice login'), pg_temp.signing('signing'), NULL)),
          true, 'a login token is marked single use');
SELECT is((SELECT single_use FROM chat._check_token(pg_temp.t('alice after 2'), pg_temp.signing('signing'), NULL)),
          false, 'a token from issue_token is not');
SET ROLE tap_enduser;
SELECT is(chat.authenticate(pg_temp.t('alice login')), '11111111-1111-4111-8111-111111111111'::uuid,
          'a login token authenticates once ...');
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('alice login'))$$, '28000', 'invalid token',
                 '... and never again: the same answer as any bad token');
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'the refused replay did not change who is acting');
RESET ROLE;
SELECT is((SELECT count(*) FROM chat.used_tokens
            WHERE token_id = (SELECT token_id FROM chat._check_token(pg_temp.t('alice login'), pg_temp.signing('signing'), NULL))),
          1::bigint, 'the spent login token is recorded, until it expires');
SET ROLE tap_enduser;
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('alice after 2'))$$,
                'a token from issue_token authenticates again and again');
SELECT lives_ok($$SELECT chat.authenticate(pg_temp.t('alice after 2'))$$, '... and again');
RESET ROLE;

--
-- Scope: the transaction, unless session identity is allowed
--
SET stylist_chat.session_identity = off;
SET ROLE tap_enduser;
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('sam after 1'), true)$$, '42501',
                 'session-scoped identity is not enabled for this connection',
                 'authenticate for the session is refused where session identity is off');
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('sam after 1'), NULL)$$, '22004', NULL,
                 'for_session must not be NULL');
SELECT is(chat.current_actor(), '11111111-1111-4111-8111-111111111111'::uuid,
          'the refused calls left the actor as it was');
RESET ROLE;
SET ROLE tap_service;
SELECT throws_ok($$SELECT chat.act_as('22222222-2222-4222-8222-222222222222', true)$$, '42501',
                 'session-scoped identity is not enabled for this connection',
                 'act_as for the session is refused where session identity is off');
RESET ROLE;
RESET stylist_chat.session_identity;
SET ROLE tap_enduser;
SELECT throws_ok($$SET stylist_chat.session_identity = on$$, '42501', NULL,
                 'a chat_user member cannot allow itself session identity');
SELECT throws_ok($$SELECT set_config('stylist_chat.session_identity', 'on', false)$$, '42501', NULL,
                 '... not with set_config either');
RESET ROLE;
SET ROLE tap_service;
SELECT throws_ok($$SET stylist_chat.session_identity = on$$, '42501', NULL,
                 'a chat_service member cannot allow itself session identity');
RESET ROLE;

--
-- revoke_tokens: every token of a profile issued until then
--
SET ROLE tap_service;
SELECT lives_ok($$INSERT INTO pg_temp.tok VALUES
    ('bob before revoke', chat.issue_token('33333333-3333-4333-8333-333333333333')),
    ('bob login before revoke', chat.issue_login_token('33333333-3333-4333-8333-333333333333'))$$,
    'tokens for bob');
SELECT lives_ok($$SELECT chat.revoke_tokens('33333333-3333-4333-8333-333333333333')$$,
                'the service revokes bob''s tokens (a stolen phone)');
SELECT lives_ok($$INSERT INTO pg_temp.tok VALUES ('bob after revoke', chat.issue_token('33333333-3333-4333-8333-333333333333'))$$,
                'a token issued after the revocation');
SELECT throws_ok($$SELECT chat.revoke_tokens('99999999-9999-4999-8999-999999999999')$$, '22023', NULL,
                 'revoke_tokens refuses a profile that does not exist');
SELECT throws_ok($$SELECT chat.revoke_tokens(NULL)$$, '22004', NULL, 'revoke_tokens refuses NULL');
RESET ROLE;
SET ROLE tap_enduser;
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('bob before revoke'))$$, '28000', 'invalid token',
                 'a token issued before the revocation is refused');
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('bob login before revoke'))$$, '28000', 'invalid token',
                 'so is a login token issued before it');
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('bob after 2'))$$, '28000', 'invalid token',
                 'so is an older one');
SELECT is(chat.authenticate(pg_temp.t('bob after revoke')), '33333333-3333-4333-8333-333333333333'::uuid,
          'a token issued after the revocation works');
SELECT throws_ok($$SELECT chat.revoke_tokens('33333333-3333-4333-8333-333333333333')$$, '42501', NULL,
                 'a chat_user member cannot revoke tokens');
SELECT throws_ok($$SELECT chat.issue_login_token('33333333-3333-4333-8333-333333333333')$$, '42501', NULL,
                 'a chat_user member cannot issue login tokens');
RESET ROLE;
SELECT is((SELECT count(*) FROM chat.token_revocations WHERE profile_id = '33333333-3333-4333-8333-333333333333'),
          1::bigint, 'one revocation row per profile');
-- a version 1 token (as 1.0 issued them, and still valid) of a revoked
-- profile: it has no issue time, so any revocation voids it
INSERT INTO tok VALUES ('bob v1', pg_temp.mk(1, '33333333-3333-4333-8333-333333333333', now() + interval '1 hour', pg_temp.signing('signing')));
INSERT INTO tok VALUES ('sam v1', pg_temp.mk(1, '22222222-2222-4222-8222-222222222222', now() + interval '1 hour', pg_temp.signing('signing')));
SET ROLE tap_enduser;
SELECT throws_ok($$SELECT chat.authenticate(pg_temp.t('bob v1'))$$, '28000', 'invalid token',
                 'a version 1 token of a profile with a revocation is refused');
SELECT is(chat.authenticate(pg_temp.t('sam v1')), '22222222-2222-4222-8222-222222222222'::uuid,
          'a version 1 token of any other profile still works');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
