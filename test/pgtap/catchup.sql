-- test/pgtap/catchup.sql: the acknowledged catch-up (catch_up), the live
-- acknowledgement (ack_delivered) and the delivered marks, rule by rule.
-- The delivered events themselves are tested where a relay is heard:
-- test/libpq/catchup_kills.c.
BEGIN;
\ir fixtures.psql
SELECT plan(60);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');

-- The delivered marks of a chat, "customer/stylist".
CREATE FUNCTION pg_temp.marks(c uuid) RETURNS text
LANGUAGE sql AS $$
    SELECT customer_delivered_seq || '/' || stylist_delivered_seq FROM chat.chats WHERE chat_id = c
$$;
-- A received position: [{"chat_id": c, "seq": s}, ...] from pairs.
CREATE FUNCTION pg_temp.rcv(VARIADIC pairs text[]) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('chat_id', pairs[i], 'seq', pairs[i + 1]::bigint)), '[]')
      FROM generate_series(1, array_length(pairs, 1), 2) i
$$;
-- What catch_up returned, as "chat:seq" in order, chats named by stylist.
CREATE FUNCTION pg_temp.got(received jsonb, max_rows integer DEFAULT 500) RETURNS text
LANGUAGE sql AS $$
    SELECT coalesce(string_agg(CASE k.chat_id WHEN pg_temp.chat_of('alice', 'sam') THEN 'sam'
                                              WHEN pg_temp.chat_of('alice', 'sue') THEN 'sue'
                                              ELSE 'other' END || ':' || k.seq, ' '), '')
      FROM chat.catch_up(received, max_rows) k
$$;

-- Sam writes 3 to Alice, Sue 2, Alice answers Sam once; then Sam again.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.chat_with(pg_temp.id('alice'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'sam ' || i) FROM generate_series(1, 3) i;
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.chat_with(pg_temp.id('alice'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sue'), 'sue ' || i) FROM generate_series(1, 2) i;
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'alice 4');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'sam 5');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), 'carol 1');

-- Fetching moves nothing.  Everything here is sent in one transaction, at
-- one now(): oldest first then means by chat_id (Sam's chat sorts first),
-- then seq.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.got(NULL), 'sam:1 sam:2 sam:3 sam:5 sue:1 sue:2',
          'catch_up(NULL) returns the others'' messages oldest first across chats, without the actor''s own');
SELECT is(pg_temp.got(NULL), 'sam:1 sam:2 sam:3 sam:5 sue:1 sue:2', '... and the same again: nothing was marked');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')) || ' ' || pg_temp.marks(pg_temp.chat_of('alice', 'sue')),
          '0/0 0/0', 'no delivered mark moved');
SELECT is(pg_temp.got(NULL, 2), 'sam:1 sam:2', 'max_rows caps the batch');
SELECT is(pg_temp.got('null'), 'sam:1 sam:2 sam:3 sam:5 sue:1 sue:2', 'JSON null is no position');
SELECT is(pg_temp.got('[]'), 'sam:1 sam:2 sam:3 sam:5 sue:1 sue:2', 'nor is an empty array');

-- Acknowledging moves the actor's marks to exactly what was received.
SELECT is(pg_temp.got(pg_temp.rcv(pg_temp.chat_of('alice', 'sam')::text, '2'), 2), 'sam:3 sam:5',
          'a position moves the mark, and the rows above it come back');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')), '2/0',
          'the customer''s mark of that chat is the seq she gave; the stylist''s is untouched');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sue')), '0/0', 'a chat not named is untouched');
SELECT is(pg_temp.got(pg_temp.rcv(pg_temp.chat_of('alice', 'sam')::text, '3', pg_temp.chat_of('alice', 'sue')::text, '1'), 1),
          'sam:5', 'two chats at once; the actor''s own message 4 is skipped');
SELECT is(pg_temp.got(pg_temp.rcv(pg_temp.chat_of('alice', 'sam')::text, '5')), 'sue:2',
          'acknowledging 5 passes over the actor''s own 4');
SELECT is(pg_temp.got(pg_temp.rcv(pg_temp.chat_of('alice', 'sue')::text, '2')), '',
          'the call that acknowledges the last batch returns nothing');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')) || ' ' || pg_temp.marks(pg_temp.chat_of('alice', 'sue')),
          '5/0 2/0', 'the marks are where the client put them');

-- Never backwards; again is a no-op; 0 is fine.
SELECT is(pg_temp.got(pg_temp.rcv(pg_temp.chat_of('alice', 'sam')::text, '1', pg_temp.chat_of('alice', 'sue')::text, '0')), '',
          'an older position is accepted ...');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')) || ' ' || pg_temp.marks(pg_temp.chat_of('alice', 'sue')),
          '5/0 2/0', '... and moves nothing backwards');
SELECT is(pg_temp.got(format('[{"chat_id": "%s", "seq": 3}, {"chat_id": "%s", "seq": 4}]',
                             upper(pg_temp.chat_of('alice', 'sam')::text), pg_temp.chat_of('alice', 'sam'))::jsonb), '',
          'a chat named twice (in any case) counts with its highest seq');

-- get_chat shows how far the other participant has received.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT other_delivered_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 5::bigint,
          'get_chat().other_delivered_seq: the stylist sees the customer''s mark');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is((SELECT other_delivered_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 0::bigint,
          '... and the customer sees the stylist''s');

-- Each participant has a mark of their own.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT string_agg(seq::text, ' ') FROM chat.catch_up() WHERE chat_id = pg_temp.chat_of('alice', 'sam')),
          '4', 'the stylist is offered the customer''s message only');
SELECT is((SELECT count(*) FROM chat.catch_up(pg_temp.rcv(pg_temp.chat_of('alice', 'sam')::text, '4',
                                                         pg_temp.chat_of('carol', 'sam')::text, '1'))), 0::bigint,
          'the stylist acknowledges in two chats');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')) || ' ' || pg_temp.marks(pg_temp.chat_of('carol', 'sam')),
          '5/4 0/1', 'only the stylist''s marks moved');

-- ack_delivered: the same for one chat.
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'sam ' || i) FROM generate_series(6, 8) i;
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.ack_delivered(pg_temp.chat_of('alice', 'sam'), 7), 7::bigint, 'ack_delivered returns the new mark');
SELECT is(chat.ack_delivered(pg_temp.chat_of('alice', 'sam'), 6), 7::bigint, '... never backwards');
SELECT is(chat.ack_delivered(pg_temp.chat_of('alice', 'sam'), 7), 7::bigint, '... again is a no-op');
SELECT is(pg_temp.got(NULL), 'sam:8', 'catch_up continues after what ack_delivered acknowledged');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')), '7/4', 'ack_delivered moved the customer''s mark only');

-- undelivered() (1.0) shares the marks.
SELECT is((SELECT string_agg(seq::text, ' ') FROM chat.undelivered()), '8', 'undelivered() fetches what is left ...');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')), '8/4', '... and moves the same mark');
SELECT is(pg_temp.got(NULL), '', 'after which catch_up has nothing');

-- Rows are the message row of every reader: a hidden message comes masked.
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sue'), 'something rude',
    attachments => '[{"storage_key": "k/1", "content_type": "image/png", "byte_size": 10, "width": 2, "height": 2}]');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sue'), 3, 'rude');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT seq, body, hidden_at IS NOT NULL, attachments FROM chat.catch_up()$$,
                  $$VALUES (3::bigint, NULL::text, true, '[]'::jsonb)$$,
                  'a hidden message comes without its body and attachments');

-- Only the actor's own chats, and nothing moves on any refusal.
SELECT is(pg_temp.error_of(format($$SELECT * FROM chat.catch_up(pg_temp.rcv(%L, '1'))$$, pg_temp.chat_of('carol', 'sam'))),
          pg_temp.error_of(format($$SELECT * FROM chat.catch_up(pg_temp.rcv(%L, '1'))$$, pg_temp.id('made-up chat'))),
          'somebody else''s chat and no chat at all give the same error');
SELECT is(pg_temp.error_of(format($$SELECT * FROM chat.catch_up(pg_temp.rcv(%L, '1'))$$, pg_temp.chat_of('carol', 'sam'))),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          '... the one 42501 of every function');
SELECT is(pg_temp.error_of(format($$SELECT * FROM chat.catch_up(pg_temp.rcv(%L, '3', %L, '1'))$$,
                                  pg_temp.chat_of('alice', 'sue'), pg_temp.chat_of('carol', 'sam'))),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'a forged position beside a good one is refused ...');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sue')) || ' ' || pg_temp.marks(pg_temp.chat_of('carol', 'sam')),
          '2/0 0/1', '... and neither mark moved');
SELECT is(pg_temp.error_of(format($$SELECT chat.ack_delivered(%L, 1)$$, pg_temp.chat_of('carol', 'sam'))),
          pg_temp.error_of(format($$SELECT chat.ack_delivered(%L, 1)$$, pg_temp.id('made-up chat'))),
          'ack_delivered: somebody else''s chat and no chat give the same error');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'sam 9');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.error_of(format($$SELECT * FROM chat.catch_up(pg_temp.rcv(%L, '9', %L, '4'))$$,
                                  pg_temp.chat_of('alice', 'sam'), pg_temp.chat_of('alice', 'sue'))),
          '22023: seq 4 is beyond the last message of chat <id> (3) (hint: Acknowledge only seqs you have received.)',
          'a position beyond the chat''s last message is refused ...');
SELECT is(pg_temp.marks(pg_temp.chat_of('alice', 'sam')), '8/4', '... and the good position beside it did not move either');
SELECT is(pg_temp.error_of(format($$SELECT chat.ack_delivered(%L, 4)$$, pg_temp.chat_of('alice', 'sue'))),
          '22023: seq 4 is beyond the last message of chat <id> (3) (hint: Acknowledge only seqs you have received.)',
          'ack_delivered beyond the last message: 22023');
SELECT is(pg_temp.error_of(format($$SELECT chat.ack_delivered(%L, -1)$$, pg_temp.chat_of('alice', 'sue'))),
          '22023: seq must not be negative, not -1 (hint: Pass the highest seq of the chat you have received.)',
          'ack_delivered of a negative seq: 22023');

-- Malformed positions: 22023 naming the element.
SELECT is(pg_temp.error_of(format('SELECT * FROM chat.catch_up(%L)', r)), e, 'received ' || r || ': ' || e)
  FROM (VALUES
    ('{"chat_id": "x"}', '22023: received must be a JSON array (hint: Pass [{"chat_id": "...", "seq": 12}, ...]: per chat, the highest seq you hold; or NULL.)'),
    ('"abc"', '22023: received must be a JSON array (hint: Pass [{"chat_id": "...", "seq": 12}, ...]: per chat, the highest seq you hold; or NULL.)'),
    ('[[1]]', '22023: received element 1: must be a JSON object (hint: Each element is {"chat_id": "...", "seq": 12}.)'),
    ('[{"chat_id": "deadbeef-dead-5ead-beef-deadbeefdead", "seq": 1}, {"seq": 1}]', '22023: received element 2: chat_id must be a UUID string'),
    ('[{"chat_id": "deadbeef-dead-5ead-beef-deadbeefdead"}]', '22023: received element 1: seq is missing (hint: Each element is {"chat_id": "...", "seq": 12}.)'),
    ('[{"chat_id": "deadbeef-dead-5ead-beef-deadbeefdead", "seq": -1}]', '22023: received element 1: seq must be a whole number from 0 up, not -1'),
    ('[{"chat_id": "deadbeef-dead-5ead-beef-deadbeefdead", "seq": 1.5}]', '22023: received element 1: seq must be a whole number from 0 up, not 1.5'),
    ('[{"chat_id": "deadbeef-dead-5ead-beef-deadbeefdead", "seq": 99999999999999999999}]', '22023: received element 1: seq must be a whole number from 0 up, not 99999999999999999999'),
    ('[{"chat_id": "deadbeef-dead-5ead-beef-deadbeefdead", "seq": null}]', '22023: received element 1: seq must be a whole number from 0 up, not null'),
    ('[{"chat_id": 12, "seq": 1}]', '22023: received element 1: chat_id must be a UUID string'),
    ('[{"chat_id": "deadbeef-dead-5ead-beef-deadbeefdead", "seq": 1, "x": 1}]', '22023: received element 1: unknown key x (hint: The keys are chat_id and seq.)')
  ) AS t(r, e);
SELECT is(pg_temp.error_of($$SELECT * FROM chat.catch_up((SELECT jsonb_agg(jsonb_build_object('chat_id', pg_temp.chat_of('alice', 'sam'), 'seq', 1)) FROM generate_series(1, 1001)))$$),
          '54000: received holds 1001 positions, at most 1000 are allowed (hint: Acknowledge the rest in a further call, or with chat.ack_delivered().)',
          'at most 1000 positions: 54000');
SELECT is(pg_temp.error_of('SELECT * FROM chat.catch_up(NULL, NULL)'), '22004: max_rows must not be null', 'max_rows NULL: 22004');
SELECT is(pg_temp.error_of('SELECT * FROM chat.catch_up(NULL, 1001)'), '22023: max_rows must be between 1 and 1000, not 1001', 'max_rows 1001: 22023');
SELECT is(pg_temp.error_of('SELECT chat.ack_delivered(NULL, 1)'), '22004: chat_id must not be null', 'ack_delivered chat_id NULL: 22004');
SELECT is(pg_temp.error_of(format('SELECT chat.ack_delivered(%L, NULL)', pg_temp.chat_of('alice', 'sue'))),
          '22004: seq must not be null', 'ack_delivered seq NULL: 22004');

-- An admin takes part in no chat; without an actor nothing at all.
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is(pg_temp.got(NULL), '', 'an admin has nothing to catch up');
SELECT is(pg_temp.error_of(format($$SELECT chat.ack_delivered(%L, 1)$$, pg_temp.chat_of('alice', 'sam'))),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'an admin acknowledges nothing');
SELECT chat.reset_actor();
SELECT throws_ok('SELECT * FROM chat.catch_up()', '28000', NULL, 'catch_up without an actor: 28000');
SELECT throws_ok(format('SELECT chat.ack_delivered(%L, 1)', pg_temp.chat_of('alice', 'sam')), '28000', NULL,
                 'ack_delivered without an actor: 28000');

-- Writers wait at most 2 s for a lock.
SELECT is((SELECT count(*) FROM pg_proc
            WHERE oid IN ('chat.catch_up(jsonb,integer)'::regprocedure, 'chat.ack_delivered(uuid,bigint)'::regprocedure)
              AND 'lock_timeout=2s' = ANY (proconfig) AND prosecdef AND provolatile = 'v'),
          2::bigint, 'catch_up and ack_delivered: volatile, security definer, lock_timeout 2s');

SELECT * FROM finish();
ROLLBACK;
