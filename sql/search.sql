--
-- search: "what was that shampoo you recommended last time?"  A
-- participant searches one chat or all of theirs; an admin searches every
-- chat, audited.  Case and accents do not matter; words are not stemmed,
-- so that words of any language match as written.
--
\i sql/ids.psql
\pset null '(null)'
-- a stylist with two customers of its own
\set gia  00000000-0000-4000-8000-0000000000e1
\set kim  00000000-0000-4000-8000-0000000000e2
\set wes  00000000-0000-4000-8000-00000000005a

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.upsert_profile(:'gia', 'customer', 'Gia') \g /dev/null
SELECT chat.upsert_profile(:'kim', 'customer', 'Kim') \g /dev/null
SELECT chat.upsert_profile(:'wes', 'stylist', 'Wes') \g /dev/null
SELECT chat.pair_chat_id(:'gia', :'wes') AS gia_wes \gset
SELECT chat.pair_chat_id(:'kim', :'wes') AS kim_wes \gset

BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.chat_with(:'gia') = :'gia_wes' AS opened;
SELECT chat.chat_with(:'kim') = :'kim_wes' AS opened;
SELECT chat.send_message(:'gia_wes', 'Your Balayáge came out great! Use a purple shampoo once a week.');
SELECT chat.send_message(:'gia_wes', 'The dry shampoo I recommended is "Klorane", the oat one.');
SELECT chat.send_message(:'gia_wes', 'Shampoo every other day, not daily.');
SELECT chat.send_message(:'gia_wes', 'Conditioner only on the ends, no oil at the roots.');
SELECT chat.send_message(:'gia_wes', '東京都 salon: ｓｈａｍｐｏｏ bar on the left.');
SELECT chat.send_message(:'kim_wes', 'Kim, bring the shampoo you use, I''d like to see it.');
COMMIT;
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.send_message(:'gia_wes', 'Which shampoo was it again? The purple one?');
COMMIT;

-- search(chat_id, query, max_rows, before_seq): the chat's messages that
-- match, newest first, each with a snippet of at most about 160
-- characters, the matching words marked «like this».
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT seq, snippet FROM chat.search(:'gia_wes', 'shampoo');
-- case and accents do not matter, either way round
SELECT seq, snippet FROM chat.search(:'gia_wes', 'BALAYAGE');
SELECT seq, snippet FROM chat.search(:'gia_wes', 'balayáge');
-- all words must match, in any order
SELECT seq, snippet FROM chat.search(:'gia_wes', 'shampoo purple');
-- "quoted phrases" match in this order
SELECT seq, snippet FROM chat.search(:'gia_wes', '"dry shampoo"');
SELECT seq, snippet FROM chat.search(:'gia_wes', '"shampoo dry"');
-- or: either
SELECT seq, snippet FROM chat.search(:'gia_wes', 'klorane or conditioner');
-- -excluded words and phrases
SELECT seq, snippet FROM chat.search(:'gia_wes', 'shampoo -purple -"dry shampoo"');
-- the last word while typing is a prefix, from 3 characters on; a space
-- after it ends it
SELECT seq, snippet FROM chat.search(:'gia_wes', 'sham');
SELECT seq, snippet FROM chat.search(:'gia_wes', 'sham ');
SELECT seq, snippet FROM chat.search(:'gia_wes', 'condit');
-- punctuation is no operator: it separates words
SELECT seq, snippet FROM chat.search(:'gia_wes', 'oil & !roots | (ends)');
-- full-width letters are letters; text without spaces is one word, found
-- whole or by its beginning
SELECT seq, snippet FROM chat.search(:'gia_wes', 'shampoo bar');
SELECT seq, snippet FROM chat.search(:'gia_wes', '東京');
SELECT seq, snippet FROM chat.search(:'gia_wes', '東京都');
SELECT seq, snippet FROM chat.search(:'gia_wes', '京都');
-- nothing found is no error
SELECT count(*) FROM chat.search(:'gia_wes', 'perm');
-- pages: before_seq is the smallest seq of the previous page
SELECT seq, sender_id = :'gia' AS by_gia, booking_id FROM chat.search(:'gia_wes', 'shampoo', 2);
SELECT seq FROM chat.search(:'gia_wes', 'shampoo', 2, before_seq => 3);
SELECT seq FROM chat.search(:'gia_wes', 'shampoo', 2, before_seq => 1);
COMMIT;

-- Deleted and hidden messages never match.
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.delete_message(:'gia_wes', 3);
SELECT chat.act_as(:'ada') \g /dev/null
SELECT chat.hide_message(:'gia_wes', 1, 'brand promotion');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT seq, snippet FROM chat.search(:'gia_wes', 'shampoo');
SELECT count(*) FROM chat.search(:'gia_wes', 'balayage');
ROLLBACK;

-- search_all(query, max_rows, before_at, before_chat_id, before_seq): the
-- same across all the actor's chats, newest first, each with its chat and
-- the other participant.  The next page starts after the created_at,
-- chat_id and seq of the last row.
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat_id = :'gia_wes' AS with_gia, seq, other_name, snippet
  FROM chat.search_all('shampoo', 3);
SELECT s.created_at AS last_at, s.chat_id AS last_chat, s.seq AS last_seq
  FROM chat.search_all('shampoo', 3) s ORDER BY s.created_at, s.chat_id, s.seq LIMIT 1 \gset
SELECT chat_id = :'gia_wes' AS with_gia, seq, other_name
  FROM chat.search_all('shampoo', 3, :'last_at', :'last_chat', :'last_seq');
-- Kim sees her own chat only
SELECT chat.act_as(:'kim') \g /dev/null
SELECT other_name, seq, snippet FROM chat.search_all('shampoo');
-- Ben has no chat with these words
SELECT chat.act_as(:'ben') \g /dev/null
SELECT count(*) FROM chat.search_all('shampoo');
COMMIT;

-- admin_search(query, reason, max_rows, ...): an admin searches every
-- chat, hidden messages included; each chat whose messages are returned is
-- recorded in the audit log first, with the reason.
BEGIN;
SELECT chat.act_as(:'ada') \g /dev/null
SELECT chat.hide_message(:'gia_wes', 1, 'brand promotion') \g /dev/null
SELECT chat_id = :'gia_wes' AS with_gia, seq, hidden_at IS NOT NULL AS hidden, snippet
  FROM chat.admin_search('klorane or "purple shampoo"', 'report 42: product promotion');
SELECT chat_id = :'gia_wes' AS with_gia, action, seq, reason
  FROM chat.audit_log WHERE action = 'search' ORDER BY at, chat_id;
ROLLBACK;

-- Errors.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SAVEPOINT s;
-- nothing to search for: 22023 with a hint
SELECT * FROM chat.search(:'gia_wes', '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.search(:'gia_wes', ' "!?" ... ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.search(:'gia_wes', '-oil -"dry shampoo"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- at most 200 characters: 22001
SELECT * FROM chat.search(:'gia_wes', repeat('shampoo ', 26));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.search(:'gia_wes', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.search(:'gia_wes', 'shampoo', 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.search_all('shampoo', 20, now());
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- another pair's chat, or none: one answer
SELECT * FROM chat.search(chat.pair_chat_id(:'kim', :'wes'), 'shampoo');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.search(:'no_such_chat', 'shampoo');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- only admins search every chat, and only with a reason
SELECT * FROM chat.admin_search('shampoo', 'curious');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.act_as(:'ada') \g /dev/null
SELECT * FROM chat.admin_search('shampoo', '  ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
