-- test/pgtap/writable.sql: every call of the API that writes answers a
-- read-only transaction (and a standby: test/scripts/replica.sh) at once,
-- with 25006, its own name and a hint, before anything else it does; the
-- calls that only read still work there.  Everything is rolled back.
BEGIN;
SELECT plan(7);

SET client_min_messages = warning;
SELECT chat.upsert_profile('5e000000-0000-4000-8000-00000000dd01', 'stylist', 'Sty');
SELECT chat.upsert_profile('c0000000-0000-4000-8000-00000000dd01', 'customer', 'Cus');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000dd01');
SELECT chat.send_message(chat.chat_with('5e000000-0000-4000-8000-00000000dd01'), 'hello') AS seq;
CREATE TEMP TABLE t AS
SELECT chat.pair_chat_id('c0000000-0000-4000-8000-00000000dd01', '5e000000-0000-4000-8000-00000000dd01') AS id;

-- Every function of the API whose body writes (INSERT, UPDATE, DELETE, a
-- row lock) calls chat._require_writable() with its own name.
SELECT is((SELECT coalesce(string_agg(p.proname, ', ' ORDER BY p.proname), '')
             FROM pg_proc p
            WHERE p.pronamespace = 'chat'::regnamespace AND p.proname !~ '^_'
              AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
              AND p.prosrc ~ '(INSERT INTO|UPDATE chat|DELETE FROM|FOR (NO KEY )?UPDATE|FOR (KEY )?SHARE)'
              AND position(format('chat._require_writable(%L)', p.proname) IN p.prosrc) = 0),
          '', 'every writing function of the API calls chat._require_writable() with its name');
SELECT is((SELECT count(*) FROM pg_proc p
            WHERE p.pronamespace = 'chat'::regnamespace
              AND p.prosrc ~ 'chat\._require_writable\('),
          (SELECT count(*) FROM pg_proc p
            WHERE p.pronamespace = 'chat'::regnamespace
              AND p.prosrc ~ 'chat\._require_writable\(''[a-z_]+''\)'
              AND (p.proname = substring(p.prosrc FROM 'chat\._require_writable\(''([a-z_]+)''\)')
                   OR p.proname IN ('_send_message_sql'))),
          '... and each names itself (the PL/pgSQL send names send_message)');

SAVEPOINT ro;
SET LOCAL transaction_read_only = on;
SELECT throws_ok($$SELECT chat.mark_read((SELECT id FROM t))$$, '25006',
                 'chat.mark_read() writes, and this transaction is read-only',
                 'mark_read in a read-only transaction: 25006, named');
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t), 'x')$$, '25006',
                 'chat.send_message() writes, and this transaction is read-only',
                 'send_message (C) too');
SELECT throws_ok($$SELECT chat.send_message((SELECT id FROM t), 'x', reply_to_seq => 1)$$, '25006',
                 'chat.send_message() writes, and this transaction is read-only',
                 'send_message with a reply (PL/pgSQL) too');
SELECT is((SELECT count(*) FROM chat.history((SELECT id FROM t))), 1::bigint,
          'history() still reads in a read-only transaction');
SELECT is((SELECT count(*) FROM chat.inbox()), 1::bigint, '... and inbox()');
ROLLBACK TO ro;

SELECT * FROM finish();
ROLLBACK;
