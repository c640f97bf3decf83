-- test/pgtap/send_path.sql: chat.send_message() in C (src/send_path.c)
-- beside the same send in PL/pgSQL (chat._send_message_sql()): the same
-- rows and the same errors; every index holds what was written (amcheck);
-- what changes a table after the first send (a constraint, an index, a
-- column with a default, a trigger) is honoured by the next one.
-- Everything is rolled back.
BEGIN;
SELECT plan(38);

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT chat.upsert_profile('5e000000-0000-4000-8000-00000000cc01', 'stylist', 'Sty');
SELECT chat.upsert_profile('c0000000-0000-4000-8000-00000000cc01', 'customer', 'Cee');
SELECT chat.upsert_profile('c0000000-0000-4000-8000-00000000cc02', 'customer', 'Sql');
SELECT chat.upsert_profile('c0000000-0000-4000-8000-00000000cc03', 'customer', 'Other');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc01');
SELECT chat.chat_with('5e000000-0000-4000-8000-00000000cc01');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc02');
SELECT chat.chat_with('5e000000-0000-4000-8000-00000000cc01');
CREATE TEMP TABLE t (name text PRIMARY KEY, id uuid);
INSERT INTO t VALUES
    ('c', chat.pair_chat_id('c0000000-0000-4000-8000-00000000cc01', '5e000000-0000-4000-8000-00000000cc01')),
    ('sql', chat.pair_chat_id('c0000000-0000-4000-8000-00000000cc02', '5e000000-0000-4000-8000-00000000cc01'));
GRANT SELECT ON t TO PUBLIC;

-- a send in either chat: through C into chat c, through PL/pgSQL into chat sql
CREATE FUNCTION pg_temp.send_both(who text, body text, client_msg_id text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    a bigint;
    b bigint;
BEGIN
    PERFORM chat.act_as(CASE who WHEN 'customer' THEN 'c0000000-0000-4000-8000-00000000cc01'
                                 ELSE '5e000000-0000-4000-8000-00000000cc01' END::uuid);
    a := chat.send_message((SELECT id FROM t WHERE name = 'c'), body,
                           client_msg_id => replace(client_msg_id, 'X', '1')::uuid);
    PERFORM chat.act_as(CASE who WHEN 'customer' THEN 'c0000000-0000-4000-8000-00000000cc02'
                                 ELSE '5e000000-0000-4000-8000-00000000cc01' END::uuid);
    b := chat._send_message_sql((SELECT id FROM t WHERE name = 'sql'), body, NULL,
                                replace(client_msg_id, 'X', '2')::uuid, NULL, NULL);
    RETURN a || ' ' || b;
END
$$;
-- the SQLSTATE of a statement, or 'ok'
CREATE FUNCTION pg_temp.state(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
-- a chat's row and messages, without what names the people
CREATE FUNCTION pg_temp.written(name text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'chat', (SELECT to_jsonb(c) - 'chat_id' - 'customer_id' - 'stylist_id' FROM chat.chats c
                  WHERE c.chat_id = (SELECT id FROM t WHERE t.name = $1)),
        'messages', (SELECT jsonb_agg(to_jsonb(m) - 'chat_id' - 'sender_id' - 'client_msg_id'
                                      || jsonb_build_object('sender', p.role,
                                                            'client_msg_id', m.client_msg_id IS NOT NULL)
                                      ORDER BY m.seq)
                       FROM chat.chat_messages m JOIN chat.profiles p ON p.id = m.sender_id
                      WHERE m.chat_id = (SELECT id FROM t WHERE t.name = $1)))
$$;

-- 1. the same sends write the same rows
SELECT is(pg_temp.send_both('customer', 'Hello, is Friday fine?'), '1 1', 'a first message: seq 1 either way');
SELECT is(pg_temp.send_both('customer', 'And a second one', 'aaaaaaaa-0000-4000-8000-00000000000X'), '2 2',
          'a message with a client_msg_id');
SELECT is(pg_temp.send_both('stylist', 'Friday is fine'), '3 3', 'the stylist answers');
SELECT is(pg_temp.send_both('stylist', repeat('é', 4000)), '4 4', 'a body of 4,000 characters (8,000 bytes)');
SELECT is(pg_temp.send_both('customer', E'\t x \n'), '5 5', 'a body of blanks around a letter');
SELECT is(pg_temp.written('c'), pg_temp.written('sql'),
          'the chat rows (seq, read marks, unread counts, times, activity minute) and messages are the same');
SELECT is((SELECT activity_minute FROM chat.chats WHERE chat_id = (SELECT id FROM t WHERE name = 'c')),
          chat._activity_minute(now()), 'the generated activity minute is computed');

-- 2. a retry, and the same errors
SELECT is(pg_temp.send_both('customer', 'And a second one', 'aaaaaaaa-0000-4000-8000-00000000000X'), '2 2',
          'a retry with the same client_msg_id returns the first seq either way');
SELECT is(pg_temp.state($$SELECT pg_temp.send_both('stylist', 'mine now', 'aaaaaaaa-0000-4000-8000-00000000000X')$$),
          '23505', 'the other participant''s client_msg_id: 23505');
SELECT chat.act_as('5e000000-0000-4000-8000-00000000cc01');
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'x',
                                            client_msg_id => 'aaaaaaaa-0000-4000-8000-000000000001')$$,
                 '23505', 'client_msg_id aaaaaaaa-0000-4000-8000-000000000001 is already used in this chat by the other participant',
                 '... with the PL/pgSQL send''s message');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc03');
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'let me in')$$,
                 '42501', format('chat %s does not exist or you are not one of its participants', (SELECT id FROM t WHERE name = 'c')),
                 'someone else''s chat: 42501, the one answer');
SELECT throws_ok($$SELECT chat.send_message('00000000-0000-4000-8000-000000000000', 'anyone?')$$,
                 '42501', 'chat 00000000-0000-4000-8000-000000000000 does not exist or you are not one of its participants',
                 'no such chat: the same answer');
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'who?')$$, '28000', NULL,
                 'no actor: 28000');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc01');
SELECT is(pg_temp.state($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), ' ')$$),
          pg_temp.state($$SELECT chat._send_message_sql((SELECT id FROM t WHERE name = 'c'), ' ', NULL, NULL, NULL, NULL)$$),
          'a body of blanks: the same error');
SELECT is(pg_temp.state($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), repeat('a', 4001))$$),
          pg_temp.state($$SELECT chat._send_message_sql((SELECT id FROM t WHERE name = 'c'), repeat('a', 4001), NULL, NULL, NULL, NULL)$$),
          'a body of 4,001 characters: the same error');
SELECT is(pg_temp.state($$SELECT chat.send_message(NULL, 'x')$$), '22004', 'no chat id: 22004, as before');
SAVEPOINT read_only;
SET LOCAL transaction_read_only = on;
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'x')$$, '25006', NULL,
                 'a read-only transaction: 25006');
ROLLBACK TO read_only;
SELECT chat.act_as('5e000000-0000-4000-8000-00000000cc01');
SELECT chat.block((SELECT id FROM t WHERE name = 'c'));
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc01');
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'still there?')$$,
                 '55000', 'this chat is blocked', 'a chat the other participant blocked: 55000');
SELECT is(chat.send_message((SELECT id FROM t WHERE name = 'c'), 'And a second one',
                            client_msg_id => 'aaaaaaaa-0000-4000-8000-000000000001'), 2::bigint,
          'a retry of a message sent before the block still returns its seq');
SELECT chat.act_as('5e000000-0000-4000-8000-00000000cc01');
SELECT chat.unblock((SELECT id FROM t WHERE name = 'c'));

-- the send waits 2 s for a lock (send_path.sh), and leaves the session's
-- lock_timeout as it was, after an error too
SET LOCAL lock_timeout = '123ms';
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc01');
SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'timeout?') AS discard;
SELECT is(pg_temp.state($$SELECT chat.send_message('00000000-0000-4000-8000-000000000000', 'x')$$) || ' '
          || current_setting('lock_timeout'), '42501 123ms', 'the session''s lock_timeout is left as it was');
RESET lock_timeout;

-- 3. several sends in one statement see each other
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc01');
SELECT is((SELECT array_agg(chat.send_message((SELECT id FROM t WHERE name = 'c'), 'burst ' || g) ORDER BY g)
             FROM generate_series(1, 3) g), ARRAY[7, 8, 9]::bigint[], 'three sends in one statement: seq 7, 8, 9');

-- 4. what changed the tables since the first send
ALTER TABLE chat.chat_messages ADD CONSTRAINT send_path_forbidden CHECK (body <> 'forbidden');
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'forbidden')$$, '23514', NULL,
                 'a CHECK constraint added after the first send is checked');
ALTER TABLE chat.chat_messages DROP CONSTRAINT send_path_forbidden;
CREATE INDEX send_path_upper ON chat.chat_messages ((upper(body))) WHERE seq > 9;
ALTER TABLE chat.chat_messages ADD COLUMN send_path_extra text DEFAULT 'a default';
SELECT is(chat.send_message((SELECT id FROM t WHERE name = 'c'), 'indexed'), 10::bigint, 'a send after an index and a column were added');
SELECT is((SELECT send_path_extra FROM chat.chat_messages WHERE chat_id = (SELECT id FROM t WHERE name = 'c') AND seq = 10),
          'a default', 'the new column has its default');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT seq FROM chat.chat_messages WHERE upper(body) = 'INDEXED' AND seq > 9), 10::bigint,
          'the new expression index finds it');
RESET enable_seqscan;
RESET enable_bitmapscan;
CREATE FUNCTION pg_temp.shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.body := upper(NEW.body);
    RETURN NEW;
END
$$;
CREATE TRIGGER send_path_shout BEFORE INSERT ON chat.chat_messages FOR EACH ROW EXECUTE FUNCTION pg_temp.shout();
SELECT is(chat.send_message((SELECT id FROM t WHERE name = 'c'), 'quiet please'), 11::bigint,
          'a table with a trigger of its own: the send goes on');
SELECT is((SELECT body FROM chat.chat_messages WHERE chat_id = (SELECT id FROM t WHERE name = 'c') AND seq = 11),
          'QUIET PLEASE', '... through the PL/pgSQL send, which fires it');
DROP TRIGGER send_path_shout ON chat.chat_messages;
SELECT is(chat.send_message((SELECT id FROM t WHERE name = 'c'), 'quiet again'), 12::bigint, 'the trigger dropped');
SELECT is((SELECT body FROM chat.chat_messages WHERE chat_id = (SELECT id FROM t WHERE name = 'c') AND seq = 12),
          'quiet again', '... and not fired any more');

-- which path a send took: the PL/pgSQL send's calls in this transaction
SET LOCAL track_functions = 'pl';
CREATE FUNCTION pg_temp.sql_sends() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((SELECT calls FROM pg_stat_xact_user_functions
                      WHERE funcid = 'chat._send_message_sql(uuid,text,uuid,uuid,jsonb,bigint)'::regprocedure), 0)
$$;
CREATE TEMP TABLE calls AS SELECT pg_temp.sql_sends() AS before;
SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'plain') AS discard;
SELECT is(pg_temp.sql_sends() - (SELECT before FROM calls), 0::bigint, 'a plain text message: the send in C');
CREATE TABLE public.send_path_log (body text);
CREATE RULE send_path_also AS ON INSERT TO chat.chat_messages DO ALSO INSERT INTO public.send_path_log VALUES (NEW.body);
SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'ruled') AS discard;
SELECT is((SELECT string_agg(body, ' ') FROM public.send_path_log) || ' '
          || (pg_temp.sql_sends() - (SELECT before FROM calls)),
          'ruled 1', 'a table with a rule: not written around it; the PL/pgSQL send, whose plain INSERT the rule follows');
DROP RULE send_path_also ON chat.chat_messages;
CREATE RULE send_path_instead AS ON INSERT TO chat.chat_messages DO INSTEAD NOTHING;
SELECT is(pg_temp.state($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'swallowed')$$), '0A000',
          '... a rule that takes the insert''s place: the send refuses (0A000) rather than count a message that is not there');
DROP RULE send_path_instead ON chat.chat_messages;
-- (an INSERT that such a rule rewrote into nothing names no table, so
-- PostgreSQL keeps its plan in this session past the DROP RULE: forgotten)
DISCARD PLANS;
ALTER TABLE chat.chat_messages ADD CONSTRAINT send_path_whole_row CHECK (length(chat_messages::text) < 100000);
SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'whole row') AS discard;
SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'whole row again') AS discard;
SELECT is(pg_temp.sql_sends() - (SELECT before FROM calls), 3::bigint,
          'a CHECK constraint reading the whole row: the PL/pgSQL send (its state would outlive the call)');
ALTER TABLE chat.chat_messages DROP CONSTRAINT send_path_whole_row;
-- a failure while preparing leaves nothing half-made for the next send
ALTER TABLE chat.chat_messages RENAME COLUMN kind TO send_path_kind;
SELECT is(pg_temp.state($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'x')$$) || ' '
          || pg_temp.state($$SELECT chat.send_message((SELECT id FROM t WHERE name = 'c'), 'x')$$),
          'XX000 XX000', 'a column of chat_messages renamed: each send fails, the second as the first');
ALTER TABLE chat.chat_messages RENAME COLUMN send_path_kind TO kind;
SELECT is(chat.send_message((SELECT id FROM t WHERE name = 'c'), 'renamed back'), 17::bigint,
          '... and once it has its name back, the send works');
SELECT is(pg_temp.sql_sends() - (SELECT before FROM calls), 3::bigint, '... in C');

-- 5. every B-tree index of both tables holds every row, and nothing else
SELECT is((SELECT count(*) FROM (SELECT bt_index_parent_check(i.indexrelid, true)
                                   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                                  WHERE i.indrelid IN ('chat.chats'::regclass, 'chat.chat_messages'::regclass)
                                    AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')) x),
          7::bigint, 'amcheck finds the 7 B-tree indexes of chats and chat_messages consistent with the rows');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000cc01');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM chat.search((SELECT id FROM t WHERE name = 'c'), 'burst')),
          ARRAY[7, 8, 9]::bigint[], 'the search index (GIN) finds the three bursts');

SELECT * FROM finish();
ROLLBACK;
