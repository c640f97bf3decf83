-- test/pgtap/caught_up.sql: undelivered() and catch_up() read only the
-- chats active since the actor was last caught up (chat.caught_up); when
-- that mark moves, and that it does not hide what it must not.  The
-- whole file is one transaction, so every time written in it is its start:
-- "old" chats are made old by moving their times back as the owner.
BEGIN;
\ir fixtures.psql
SELECT plan(17);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id(n), 'customer', n) FROM unnest(ARRAY['alice', 'carol', 'dave']) n;
-- each customer writes to Sam twice
SELECT chat.act_as(pg_temp.id(n)), chat.send_message(chat.chat_with(pg_temp.id('sam')), n || ' ' || i)
  FROM unnest(ARRAY['alice', 'carol', 'dave']) n, generate_series(1, 2) i;
-- Alice's and Carol's chats were last active two hours ago
UPDATE chat.chats SET last_message_at = last_message_at - interval '2 hours'
 WHERE chat_id IN (pg_temp.chat_of('alice', 'sam'), pg_temp.chat_of('carol', 'sam'));
UPDATE chat.chat_messages SET created_at = created_at - interval '2 hours'
 WHERE chat_id IN (pg_temp.chat_of('alice', 'sam'), pg_temp.chat_of('carol', 'sam'));

CREATE FUNCTION pg_temp.mark(who text) RETURNS bigint
LANGUAGE sql AS $$ SELECT before_minute FROM chat.caught_up WHERE profile_id = pg_temp.id(who) $$;
CREATE FUNCTION pg_temp.undelivered(max_rows integer DEFAULT 500) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(u.body, ', ' ORDER BY u.created_at, u.chat_id, u.seq), '')
      FROM chat.undelivered(max_rows) u
$$;

-- the horizon: no running transaction of this database started before it
SELECT ok(chat._activity_horizon() <= transaction_timestamp(),
          'the horizon is never after the start of the current transaction');
SELECT is(chat._activity_horizon(),
          (SELECT least(min(xact_start), transaction_timestamp()) FROM pg_stat_activity
            WHERE datname = current_database()),
          'the horizon is the earliest start of the transactions running in this database');

-- no mark yet: everything is read; a call cut off by max_rows moves no mark
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.undelivered(1), 'alice 1', 'max_rows 1: the oldest message');
SELECT is(pg_temp.mark('sam'), NULL, 'a call cut off by max_rows moves no mark');
SELECT is(pg_temp.undelivered(), 'alice 2, carol 1, carol 2, dave 1, dave 2', 'then the rest, oldest first');
SELECT is(pg_temp.mark('sam'), chat._activity_minute(chat._activity_horizon()) - 1,
          'a complete call marks the actor caught up before the minute of the horizon, less one');
SELECT is(pg_temp.mark('alice'), NULL, '... the actor alone');

-- the mark bounds the read: a message waiting in a chat older than the
-- mark is not looked for (the API never leaves one there: moved back by
-- hand here, to show that the old chats are not read)
UPDATE chat.chats SET stylist_delivered_seq = 1 WHERE chat_id = pg_temp.chat_of('alice', 'sam');
SELECT is(pg_temp.undelivered(), '', 'chats last active before the mark are not read');
SELECT is((SELECT count(*) FROM chat.catch_up()), 0::bigint, '... by catch_up() either');
DELETE FROM chat.caught_up WHERE profile_id = pg_temp.id('sam');
SELECT is(pg_temp.undelivered(), 'alice 2', 'without the mark every chat is read again');

-- a new message in an old chat is found: its chat's activity is now
SELECT is(pg_temp.undelivered(), '', 'caught up');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), 'carol again');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.undelivered(), 'carol again', 'a new message in a chat older than the mark is found');

-- catch_up(): the mark moves only when a call returns nothing
DELETE FROM chat.caught_up;
SELECT chat.act_as(pg_temp.id('dave'));
SELECT chat.send_message(pg_temp.chat_of('dave', 'sam'), 'dave 3');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT string_agg(c.body, ', ') FROM chat.catch_up() c), 'dave 3', 'catch_up returns what waits');
SELECT is(pg_temp.mark('sam'), NULL, '... and moves no mark while it returns something');
SELECT is((SELECT count(*) FROM chat.catch_up(jsonb_build_array(
               jsonb_build_object('chat_id', pg_temp.chat_of('dave', 'sam'), 'seq', 3)))), 0::bigint,
          'acknowledged, nothing is left');
SELECT is(pg_temp.mark('sam'), chat._activity_minute(chat._activity_horizon()) - 1,
          '... and the mark moves');

-- nobody but the owner reads or writes the marks
SELECT is((SELECT count(*) FROM information_schema.role_table_grants
            WHERE table_schema = 'chat' AND table_name = 'caught_up'
              AND grantee <> (SELECT tableowner FROM pg_tables WHERE schemaname = 'chat' AND tablename = 'caught_up')),
          0::bigint, 'chat.caught_up: no privilege for anyone but its owner');

SELECT * FROM finish();
ROLLBACK;
