--
-- gallery: every image of a chat, newest first, without scrolling the
-- thread; and portfolio consent: the customer lets the stylist show an
-- image of their chat publicly, until they take it back.
--
\i sql/ids.psql
\pset null '(null)'
-- two more people, for a chat of their own
\set gia  00000000-0000-4000-8000-0000000000c8
\set wes  00000000-0000-4000-8000-000000000056
\set gb1  00000000-0000-4000-8000-0000000000b8

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.upsert_profile(:'gia', 'customer', 'Gia') \g /dev/null
SELECT chat.upsert_profile(:'wes', 'stylist', 'Wes') \g /dev/null
SELECT chat.upsert_booking(:'gb1', :'gia', :'wes', 'Balayage', '2030-03-01 10:00+00', 'completed') \g /dev/null
SELECT chat.pair_chat_id(:'gia', :'wes') AS gia_wes \gset

-- Gia sends two inspiration photos with her booking; Wes answers with
-- three photos of the result; then some text; then one more photo.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.chat_with(:'wes') = :'gia_wes' AS opened;
SELECT chat.send_message(:'gia_wes', 'Something like these?', :'gb1', NULL,
    '[{"storage_key": "u/gia/inspo-1.jpg", "content_type": "image/jpeg", "byte_size": 120000, "width": 1080, "height": 1350},
      {"storage_key": "u/gia/inspo-2.jpg", "content_type": "image/jpeg", "byte_size": 98000, "width": 1080, "height": 1080}]');
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.send_message(:'gia_wes', 'Done! Front, side, back.', :'gb1', NULL,
    '[{"storage_key": "u/wes/result-front.jpg", "content_type": "image/jpeg", "byte_size": 250000, "width": 3024, "height": 4032},
      {"storage_key": "u/wes/result-side.jpg", "content_type": "image/jpeg", "byte_size": 240000, "width": 3024, "height": 4032},
      {"storage_key": "u/wes/result-back.jpg", "content_type": "image/jpeg", "byte_size": 230000, "width": 3024, "height": 4032}]');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.send_message(:'gia_wes', 'I love it');
SELECT chat.send_message(:'gia_wes', '',
    attachments => '[{"storage_key": "u/gia/week-later.png", "content_type": "image/png", "byte_size": 80000, "width": 750, "height": 1000}]');
COMMIT;

-- gallery(chat_id, before_seq, max_rows, before_position): every image of
-- the chat, newest first, with its message's seq, sender and booking, and
-- whether consent to show it in the stylist's portfolio is in force.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT seq, position, storage_key, content_type, width, height,
       CASE sender_id WHEN :'gia' THEN 'Gia' ELSE 'Wes' END AS sender,
       booking_id = :'gb1' AS with_booking, portfolio_consent
  FROM chat.gallery(:'gia_wes');
COMMIT;

-- Pages: max_rows images at a time.  A page may end inside a message, so
-- the next page starts before the last image's (seq, position).
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT seq, position, storage_key FROM chat.gallery(:'gia_wes', max_rows => 3);
SELECT seq, position, storage_key FROM chat.gallery(:'gia_wes', before_seq => 2, before_position => 2, max_rows => 3);
-- before_seq alone: the images of the messages before it
SELECT seq, position, storage_key FROM chat.gallery(:'gia_wes', before_seq => 2);
COMMIT;

-- grant_portfolio_consent(chat_id, seq, position): the customer lets the
-- stylist show one image in the portfolio (any image of the chat: here
-- Wes's photos of the result).  Granting again is a no-op.  The grant is
-- relayed to both participants as a "consent" event with the seq.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.grant_portfolio_consent(:'gia_wes', 2, 1);
SELECT chat.grant_portfolio_consent(:'gia_wes', 2, 3);
SELECT chat.grant_portfolio_consent(:'gia_wes', 2, 1);
SELECT seq, position, portfolio_consent FROM chat.gallery(:'gia_wes') WHERE seq = 2;
COMMIT;

-- portfolio(stylist_id, before_consent_id, max_rows): the public
-- portfolio, newest consent first, for the application backend
-- (chat_service), with or without an actor.  It shows the image and when
-- consent was given: never the customer, the chat or the message.
SELECT storage_key, content_type, byte_size, width, height FROM chat.portfolio(:'wes');
-- one image a page: the next page starts before the last consent_id
SELECT consent_id AS last_consent, storage_key FROM chat.portfolio(:'wes', max_rows => 1) \gset
\echo :storage_key
SELECT storage_key FROM chat.portfolio(:'wes', before_consent_id => :last_consent, max_rows => 1);

-- my_portfolio(before_consent_id, max_rows): the acting stylist's own,
-- with where each image comes from.
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT storage_key, chat_id = :'gia_wes' AS from_gia, seq, position FROM chat.my_portfolio();
COMMIT;

-- revoke_portfolio_consent(chat_id, seq, position): the image leaves the
-- portfolio at once.  Revoking what is not granted is a no-op.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.revoke_portfolio_consent(:'gia_wes', 2, 3);
SELECT chat.revoke_portfolio_consent(:'gia_wes', 2, 3);
SELECT chat.revoke_portfolio_consent(:'gia_wes', 1, 1);
COMMIT;
SELECT storage_key FROM chat.portfolio(:'wes');

-- Every grant and revocation is kept, with who and when (read here by the
-- superuser: the table is nobody else's).
RESET ROLE;
SELECT seq, position, storage_key, granted_by = :'gia' AS by_gia,
       revoked_at IS NOT NULL AS revoked, revoked_by = :'gia' AS revoked_by_gia
  FROM chat.portfolio_consents WHERE chat_id = :'gia_wes' ORDER BY id;
SET ROLE regress_app;

-- A hidden message's images are never shown, and leave the portfolio at
-- once; a deleted message's images are gone.  Their consents stay as
-- evidence.
BEGIN;
SELECT chat.act_as(:'ada') \g /dev/null
SELECT chat.hide_message(:'gia_wes', 2, 'regress: hidden for the example');
SELECT storage_key FROM chat.portfolio(:'wes');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.delete_message(:'gia_wes', 4);
SELECT seq, position, storage_key FROM chat.gallery(:'gia_wes');
ROLLBACK;

-- Refusals, each with its SQLSTATE.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SAVEPOINT s;
SELECT chat.grant_portfolio_consent(:'gia_wes', 3, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.grant_portfolio_consent(:'gia_wes', 2, 11);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.grant_portfolio_consent(:'gia_wes', 99, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.grant_portfolio_consent(:'gia_wes', NULL, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.gallery(:'gia_wes', before_position => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.gallery(:'gia_wes', max_rows => 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.my_portfolio();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- the stylist may not grant for the customer, nor revoke
SELECT chat.act_as(:'wes') \g /dev/null
SAVEPOINT w;
SELECT chat.grant_portfolio_consent(:'gia_wes', 2, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO w;
SELECT chat.revoke_portfolio_consent(:'gia_wes', 2, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.act_as(:'ada') \g /dev/null
SELECT chat.hide_message(:'gia_wes', 1, 'regress');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.grant_portfolio_consent(:'gia_wes', 1, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- Ana is not in this chat: the one answer for "not yours" and "no such chat"
SELECT chat.act_as(:'ana') \g /dev/null
SAVEPOINT a;
SELECT * FROM chat.gallery(:'gia_wes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.grant_portfolio_consent(:'gia_wes', 2, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.revoke_portfolio_consent(:'gia_wes', 2, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.revoke_portfolio_consent(:'no_such_chat', 2, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
-- a customer has no portfolio
SELECT * FROM chat.portfolio(:'ana');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Without an actor: 28000.
SELECT * FROM chat.gallery(:'gia_wes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- portfolio() is not for end users (chat_user): they read their own
-- through my_portfolio().
RESET ROLE;
SELECT has_function_privilege('chat_user', 'chat.portfolio(uuid,bigint,integer)', 'EXECUTE') AS user_reads_any,
       has_function_privilege('chat_user', 'chat.my_portfolio(bigint,integer)', 'EXECUTE') AS user_reads_own;
