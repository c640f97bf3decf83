-- test/pgtap/search.sql: search, rule by rule.
BEGIN;
\ir fixtures.psql
SELECT plan(55);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(pg_temp.id('dave'), 'customer', 'Dave');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');

-- Alice and Sam: 1,000 messages, more than the 400 that chat.search reads
-- by the primary key before it asks the index.  Every message has
-- "appointment"; "shampoo" is in every 7th; "rareword" in three.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'),
           format('Message %s about the appointment%s%s', i,
                  CASE WHEN i % 7 = 0 THEN ', and the shampoo' ELSE '' END,
                  CASE WHEN i IN (5, 250, 900) THEN ', rareword' ELSE '' END))
  FROM generate_series(1, 1000) i;
-- Carol and Sam, Dave and Sue
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), 'Carol''s shampoo question ' || i) FROM generate_series(1, 30) i;
SELECT chat.act_as(pg_temp.id('dave'));
SELECT chat.chat_with(pg_temp.id('sue'));
SELECT chat.send_message(pg_temp.chat_of('dave', 'sue'), 'Dave''s secret shampoo, rareword') FROM generate_series(1, 3) i;

-- What a query must find: every message of the chat whose words match,
-- checked one by one, newest first.
CREATE FUNCTION pg_temp.expected(chat uuid, q text, before bigint DEFAULT NULL) RETURNS SETOF bigint
LANGUAGE sql AS $$
    SELECT m.seq FROM chat.chat_messages m
     WHERE m.chat_id = chat AND m.deleted_at IS NULL AND m.hidden_at IS NULL
       AND (before IS NULL OR m.seq < before)
       AND chat._search_words(m.body) @@ (chat._search_query(q)).tsq
     ORDER BY m.seq DESC
$$;
-- All pages of a search, max_rows at a time, following before_seq.
CREATE FUNCTION pg_temp.all_pages(chat uuid, q text, page integer) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_before bigint;
    v_seq bigint;
    n integer;
BEGIN
    LOOP
        n := 0;
        FOR v_seq IN SELECT s.seq FROM chat.search(chat, q, page, v_before) s LOOP
            RETURN NEXT v_seq;
            v_before := v_seq;
            n := n + 1;
        END LOOP;
        EXIT WHEN n < page;
    END LOOP;
END
$$;

--
-- search: newest first, the window and the index agree
--
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'rareword')$$,
                  $$VALUES (900::bigint), (250), (5)$$,
                  'a rare word: the newest from the window, the older from the index, newest first');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'appointment', 5)$$,
                  $$VALUES (1000::bigint), (999), (998), (997), (996)$$,
                  'a frequent word: the newest page');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'appointment', 3, 400)$$,
                  $$VALUES (399::bigint), (398), (397)$$,
                  'a frequent word, a page deep in the chat');
SELECT results_eq($$SELECT * FROM pg_temp.all_pages(pg_temp.chat_of('alice', 'sam'), 'shampoo', 9)$$,
                  $$SELECT * FROM pg_temp.expected(pg_temp.chat_of('alice', 'sam'), 'shampoo')$$,
                  'paging 9 at a time through a word in every 7th message finds each match once, newest first');
SELECT results_eq($$SELECT * FROM pg_temp.all_pages(pg_temp.chat_of('alice', 'sam'), 'rareword or "message 17"', 2)$$,
                  $$SELECT * FROM pg_temp.expected(pg_temp.chat_of('alice', 'sam'), 'rareword or "message 17"')$$,
                  'paging 2 at a time across the window''s edge');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'shampoo -appointment')$$,
                  $$SELECT * FROM pg_temp.expected(pg_temp.chat_of('alice', 'sam'), 'shampoo -appointment')$$,
                  'an exclusion that excludes everything finds nothing');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), '"message 70" or "message 7"', 20, 71)$$,
                  $$VALUES (70::bigint), (7)$$,
                  'phrases joined by or, before a seq');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'appoint', 1000)), 1000::bigint,
          'the last word is a prefix: 1,000 matches in one page of 1,000');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'ap')), 0::bigint,
          'a prefix of fewer than 3 characters is a whole word');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'rareword', 20, 5)), 0::bigint,
          'before_seq excludes itself');
SELECT results_eq($$SELECT sender_id, booking_id, created_at <= now() FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'rareword', 1)$$,
                  $$VALUES (pg_temp.id('alice'), NULL::uuid, true)$$,
                  'a hit carries its sender, booking and time');
SELECT is((SELECT snippet FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'shampoo', 1)),
          'Message 994 about the appointment, and the «shampoo»', 'the snippet marks the match');

-- Only the chat's own messages, never another chat's.
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'carol or dave')), 0::bigint,
          'other chats'' messages never match');

--
-- Deleted, hidden and edited messages
--
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 900);
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 5);
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 250, 'test');
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 994, 'test');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'rareword')), 0::bigint,
          'deleted and hidden messages never match, in the window nor in the index');
SELECT is((SELECT min(seq) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'shampoo', 1)), 987::bigint,
          'a hidden message is skipped: the next match comes first');
SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 3, 'Balayáge, new text');
SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 998, 'Edited to say balayage');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'BALAYAGE')$$,
                  $$VALUES (998::bigint), (3)$$,
                  'an edited message matches its new text, accents and case aside ...');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), '"message 3 about"')), 0::bigint,
          '... and no longer its old text');

--
-- Queries as people type them: never a syntax error, never an operator
--
SELECT lives_ok($$SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), $q$'a' & !b | c:* <-> d <2> e$q$)$$,
                'tsquery operators in a query are punctuation');
SELECT results_eq($$SELECT seq FROM chat.search(pg_temp.chat_of('alice', 'sam'), $q$!appointment$q$, 1000)$$,
                  $$SELECT * FROM pg_temp.expected(pg_temp.chat_of('alice', 'sam'), 'appointment')$$,
                  '"!" is not a negation');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), $q$appointment:* | rareword\' "o'brien \\$q$)), 0::bigint,
          'quotes and backslashes are no syntax');
SELECT is((SELECT count(*) FILTER (WHERE e NOT IN ('no er', '22023'))
             FROM (SELECT left(pg_temp.error_of(format('SELECT * FROM chat.search(%L, %L)',
                                                       pg_temp.chat_of('alice', 'sam'), q)), 5) AS e
                     FROM (SELECT string_agg(substr($c$ab'"\:*&|!<->()-or 1é東$c$, (random() * 22)::int + 1, 1), '') AS q
                             FROM generate_series(1, 300) n, generate_series(1, 12) k
                            GROUP BY n) g) r),
          0::bigint, '300 random queries of operator characters: matches or 22023, nothing else');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.search(pg_temp.chat_of('alice', 'sam'), '- "" -x ...')$$),
          '22023: search query has no word to find (hint: Type at least one word that is not excluded with "-"; punctuation alone is not searched.)',
          'a query with no word to find is 22023 with a hint');
SELECT is(left(pg_temp.error_of(format('SELECT * FROM chat.search(%L, %L)', pg_temp.chat_of('alice', 'sam'), repeat('x', 201))), 5),
          '22001', 'a query of more than 200 characters is 22001');
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.search_all(repeat('é', 201))$$), 5),
          '22001', 'search_all too');

--
-- Access
--
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of(format('SELECT * FROM chat.search(%L, %L)', pg_temp.chat_of('alice', 'sam'), 'shampoo')),
          pg_temp.error_of(format('SELECT * FROM chat.search(%L, %L)', pg_temp.id('made-up chat'), 'shampoo')),
          'an outsider gets the same error for another pair''s chat as for no chat');
SELECT pg_temp.rows_read('chat.chat_messages') AS messages_before \gset
SELECT is(left(pg_temp.error_of(format('SELECT * FROM chat.search(%L, %L)', pg_temp.chat_of('alice', 'sam'), 'shampoo')), 5),
          '42501', '... 42501');
SELECT is(pg_temp.rows_read('chat.chat_messages') - :messages_before, 0::bigint, '... and not one of its messages is read');
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.admin_search('shampoo', 'curious')$$), 5),
          '42501', 'a participant cannot call admin_search');
SELECT chat.reset_actor();
SELECT is(left(pg_temp.error_of(format('SELECT * FROM chat.search(%L, %L)', pg_temp.chat_of('alice', 'sam'), 'shampoo')), 5),
          '28000', 'search without an actor is 28000');
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.search_all('shampoo')$$), 5),
          '28000', 'search_all without an actor is 28000');
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.admin_search('shampoo', 'x')$$), 5),
          '28000', 'admin_search without an actor is 28000');

--
-- search_all: every chat of the actor's, no other
--
SELECT chat.act_as(pg_temp.id('sam'));
SELECT results_eq($$SELECT chat_id, other_id, other_name, count(*) FROM chat.search_all('shampoo', 1000)
                    GROUP BY 1, 2, 3 ORDER BY 4$$,
                  format($$VALUES (%L::uuid, %L::uuid, 'Carol'::text, 30::bigint), (%L, %L, 'Alice', 141)$$,
                         pg_temp.chat_of('carol', 'sam'), pg_temp.id('carol'),
                         pg_temp.chat_of('alice', 'sam'), pg_temp.id('alice')),
                  'the stylist finds the word in both customers'' chats (not the hidden match), with each customer''s name');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is((SELECT array_agg(DISTINCT other_name) FROM chat.search_all('shampoo or rareword', 1000)), '{Sam}',
          'a customer finds only her own chat''s messages');
CREATE FUNCTION pg_temp.all_pages_all(q text, page integer) RETURNS TABLE (chat_id uuid, seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    b_at timestamptz;
    b_chat uuid;
    b_seq bigint;
    n integer;
BEGIN
    LOOP
        n := 0;
        FOR r IN SELECT * FROM chat.search_all(q, page, b_at, b_chat, b_seq) LOOP
            chat_id := r.chat_id;
            seq := r.seq;
            RETURN NEXT;
            b_at := r.created_at; b_chat := r.chat_id; b_seq := r.seq;
            n := n + 1;
        END LOOP;
        EXIT WHEN n < page;
    END LOOP;
END
$$;
SELECT chat.act_as(pg_temp.id('sam'));
SELECT bag_eq($$SELECT * FROM pg_temp.all_pages_all('shampoo', 13)$$,
              $$SELECT chat_id, seq FROM chat.search_all('shampoo', 1000)$$,
              'search_all: paging 13 at a time finds each match once');
SELECT is((SELECT count(*) FROM chat.search_all('rareword')), 0::bigint,
          'search_all: a word only in other people''s chats finds nothing');
-- A stylist of more than 200 chats: the index's matches across all chats,
-- filtered by the stylist's, for a word in fewer than 20,000 messages.
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(('c3000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'customer', 'Many ' || i),
       chat.act_as(('c3000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid),
       chat.send_message(chat.chat_with(pg_temp.id('sue')),
                         CASE WHEN i % 3 = 0 THEN 'Toner and glossword, please' ELSE 'Toner, please' END)
  FROM generate_series(1, 210) i;
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is((SELECT count(*) FROM chat.search_all('toner', 1000)), 210::bigint,
          'a stylist of 210 chats finds a word in each of them');
SELECT bag_eq($$SELECT * FROM pg_temp.all_pages_all('glossword or secret', 8)$$,
              $$SELECT m.chat_id, m.seq FROM chat.chat_messages m JOIN chat.chats c USING (chat_id)
                 WHERE c.stylist_id = pg_temp.id('sue') AND (m.body LIKE '%glossword%' OR m.body LIKE '%secret%')$$,
              'paging 8 at a time through the matches of 211 chats finds each once');
SELECT is((SELECT count(*) FROM chat.search_all('question')), 0::bigint,
          'a word only in other stylists'' chats finds nothing');
-- the caller's EXPLAIN sees a function, not the rows it read
SELECT chat.act_as(pg_temp.id('carol'));
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
    r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END
$$;
SELECT doesnt_match(pg_temp.plan_of($$SELECT * FROM chat.search_all('rareword') WHERE seq > 0$$), 'chat_messages|Index|Bitmap',
              'EXPLAIN ANALYZE of search_all shows no message table and no row count of it');

--
-- admin_search: audited, one entry per chat returned
--
SELECT chat.act_as(pg_temp.id('ada'));
CREATE TEMP TABLE audit_before AS SELECT coalesce(max(id), 0) AS id FROM chat.audit_entries;
SELECT is((SELECT count(*) FROM chat.admin_search('rareword', 'ticket 7', 1000)), 4::bigint,
          'an admin finds a word in every chat, hidden messages included (not deleted ones)');
SELECT results_eq($$SELECT chat_id, actor_id, action, seq, reason FROM chat.audit_entries
                     WHERE id > (SELECT id FROM audit_before) ORDER BY chat_id$$,
                  format($$SELECT c, %L::uuid, 'search'::text, NULL::bigint, 'ticket 7'::text FROM unnest(%L::uuid[]) c ORDER BY c$$,
                         pg_temp.id('ada'), ARRAY[pg_temp.chat_of('alice', 'sam'), pg_temp.chat_of('dave', 'sue')]),
                  'each chat whose messages were returned is in the audit log once, with the reason');
SELECT is((SELECT count(*) FROM chat.admin_search('nosuchword', 'ticket 8')), 0::bigint, 'nothing found ...');
SELECT is((SELECT count(*) FROM chat.audit_entries WHERE id > (SELECT id FROM audit_before)), 2::bigint,
          '... records nothing more');
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.admin_search('rareword', NULL)$$), 5), '22004',
          'admin_search needs a reason');
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.admin_search('rareword', repeat('x', 501))$$), 5), '22001',
          'admin_search refuses a reason of more than 500 characters');


--
-- replies and cleared history
--
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), 'Which conditioner goes with it?', reply_to_seq => 2);
SELECT results_eq($$SELECT reply_to->>'seq', reply_to->>'preview' FROM chat.search(pg_temp.chat_of('carol', 'sam'), 'conditioner')$$,
                  $$VALUES ('2', 'Carol''s shampoo question 2')$$,
                  'a reply found by search carries the message it quotes');
SELECT results_eq($$SELECT reply_to->>'seq' FROM chat.search_all('conditioner')$$,
                  $$VALUES ('2')$$, '... and so does search_all');
SELECT chat.clear_history(pg_temp.chat_of('carol', 'sam'));
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('carol', 'sam'), 'shampoo')), 0::bigint,
          'after clear_history search finds nothing cleared');
SELECT is((SELECT count(*) FROM chat.search_all('conditioner')), 0::bigint, '... nor does search_all');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT isnt((SELECT count(*) FROM chat.search(pg_temp.chat_of('carol', 'sam'), 'shampoo')), 0::bigint,
            'the other participant still finds them');

-- The index's functions are C (src/search_words.c); what they return is
-- what these SQL definitions of the same folding and splitting return, on
-- text that takes every branch: ASCII, marks, compatibility forms, letters
-- without a base, scripts without spaces, long runs at and around 500
-- characters, control characters, nothing but punctuation, empty.
CREATE FUNCTION pg_temp.ref_text(body text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
RETURN CASE WHEN octet_length(body) = char_length(body) THEN lower(body)
            WHEN getdatabaseencoding() = 'UTF8'
            THEN lower(normalize(regexp_replace(normalize(body, NFKD),
                     '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g'), NFC))
            ELSE lower(body) END;
CREATE FUNCTION pg_temp.ref_vector(chat uuid, body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE
RETURN to_tsvector('pg_catalog.simple',
                   CASE WHEN char_length(pg_temp.ref_text(body)) < 500 THEN pg_temp.ref_text(body)
                        ELSE regexp_replace(pg_temp.ref_text(body), '\S{250}\S{250}\S*', ' ', 'g') END)
       || array_to_tsvector(ARRAY[' chat ' || chat::text]);
CREATE TEMP TABLE awkward (body text);
INSERT INTO awkward VALUES
    ('Hi! Could we move my appointment to 3pm tomorrow?'), ('BALAYAGE Balayáge balayage'),
    ('Ｆｕｌｌｗｉｄｔｈ ﬁne ligatures ½ ²'), ('ø ł ß Æ İstanbul ΣΊΣΥΦΟΣ'), ('e' || chr(769) || 'te a' || chr(7616) || 'b'),
    ('我想预约明天下午三点。好的！'), ('日本語のテキスト、句読点。'), ('emoji 💇‍♀️ and 👍🏽 there'),
    (repeat('x', 499)), (repeat('x', 500)), (repeat('é', 499)), (repeat('é', 500) || ' tail words'),
    ('before ' || repeat('ab', 300) || ' after ' || repeat('ü', 600) || ' end'),
    (repeat('word ', 120)), ('tab' || chr(9) || 'new' || chr(10) || 'line' || chr(13) || 'ret'),
    ('...!!!???'), (''), (' '), ('e-mail: Mia.Smith@Example.COM, +49 (0)30 1234-5678'),
    ('https://example.com/a/b?c=d#e'), ('x' || chr(8203) || 'y zero width'), ('Ǆ ǅ ǆ titlecase');
SELECT is((SELECT count(*) FROM awkward
            WHERE chat._search_text(body) IS DISTINCT FROM pg_temp.ref_text(body)),
          0::bigint, '_search_text folds as its SQL definition does');
SELECT is((SELECT count(*) FROM awkward
            WHERE chat._search_vector('4a8c6f14-3f54-5d0e-9b1a-2e4f6a8c0d12', body)
                  IS DISTINCT FROM pg_temp.ref_vector('4a8c6f14-3f54-5d0e-9b1a-2e4f6a8c0d12', body)),
          0::bigint, '_search_vector holds the words and chat lexeme its SQL definition gives');
SELECT is((SELECT count(*) FROM awkward
            WHERE chat._search_words(body) || array_to_tsvector(ARRAY[chat._search_chat_lexeme('4a8c6f14-3f54-5d0e-9b1a-2e4f6a8c0d12')])
                  IS DISTINCT FROM chat._search_vector('4a8c6f14-3f54-5d0e-9b1a-2e4f6a8c0d12', body)),
          0::bigint, '_search_vector is _search_words and _search_chat_lexeme together');
SELECT is(chat._search_vector('4a8c6f14-3f54-5d0e-9b1a-2e4f6a8c0d12', repeat('é', 500) || ' tail words'),
          $$' chat 4a8c6f14-3f54-5d0e-9b1a-2e4f6a8c0d12' 'tail':1 'words':2$$::tsvector,
          'a run of 500 characters without a space is left out, the rest is indexed');
SELECT is(chat._search_text(NULL), NULL, 'NULL folds to NULL');

SELECT * FROM finish();
ROLLBACK;
