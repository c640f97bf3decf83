--
-- pins: either participant pins a message of the chat, with an optional
-- note and expiry; both see the chat's pins.  Deleted or hidden messages
-- and expired pins leave the list.  At most 50 pins a chat.
--
\i sql/ids.psql
\pset null '(null)'
-- two more people, for a chat of their own
\set fay  00000000-0000-4000-8000-0000000000c6
\set vic  00000000-0000-4000-8000-000000000054

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.upsert_profile(:'fay', 'customer', 'Fay') \g /dev/null
SELECT chat.upsert_profile(:'vic', 'stylist', 'Vic') \g /dev/null
SELECT chat.pair_chat_id(:'fay', :'vic') AS fay_vic \gset

BEGIN;
SELECT chat.act_as(:'vic') \g /dev/null
SELECT chat.chat_with(:'fay') = :'fay_vic' AS opened;
SELECT chat.send_message(:'fay_vic', 'Formula: 7.3 + 8.34, 20 vol, 35 minutes.');
SELECT chat.send_message(:'fay_vic', 'Please book a patch test 48 hours before.');
SELECT chat.send_message(:'fay_vic', 'See you then!');
COMMIT;

-- pin(chat_id, seq, note, expires_at): either participant pins; the note is
-- one line of at most 200 characters.
BEGIN;
SELECT chat.act_as(:'vic') \g /dev/null
SELECT chat.pin(:'fay_vic', 1, 'colour formula');
COMMIT;
BEGIN;
SELECT chat.act_as(:'fay') \g /dev/null
SELECT chat.pin(:'fay_vic', 2, '  allergy: patch test needed  ', expires_at => now() + interval '30 days');
SELECT chat.pin(:'fay_vic', 3);
COMMIT;

-- pinned(chat_id): both participants see the same pins, most recently
-- pinned first, each with a preview of its message.
BEGIN;
SELECT chat.act_as(:'vic') \g /dev/null
SELECT seq, note, CASE pinned_by WHEN :'fay' THEN 'Fay' ELSE 'Vic' END AS pinned_by,
       expires_at IS NOT NULL AS expires, CASE sender_id WHEN :'fay' THEN 'Fay' ELSE 'Vic' END AS sender,
       preview, booking_id
  FROM chat.pinned(:'fay_vic');
COMMIT;

-- Pinning again changes the note and the expiry; unpin() removes a pin,
-- and unpinning what is not pinned is a no-op.
BEGIN;
SELECT chat.act_as(:'fay') \g /dev/null
SELECT chat.pin(:'fay_vic', 2, 'allergy: patch test done, all clear');
SELECT chat.unpin(:'fay_vic', 3);
SELECT chat.unpin(:'fay_vic', 3);
SELECT chat.unpin(:'fay_vic', 999);
SELECT seq, note, expires_at FROM chat.pinned(:'fay_vic');
COMMIT;

-- Pins and unpins are relayed to both participants as "pinned" and
-- "unpinned" events with the message's seq.
BEGIN;
SELECT chat.act_as(:'vic') \g /dev/null
SELECT chat.pin(:'fay_vic', 3, 'the appointment');
SELECT chat.unpin(:'fay_vic', 3);
COMMIT;

-- A deleted or hidden message leaves the list, and cannot be pinned.
BEGIN;
SELECT chat.act_as(:'vic') \g /dev/null
SELECT chat.pin(:'fay_vic', 3, 'the appointment');
SELECT chat.delete_message(:'fay_vic', 3);
SELECT seq, note FROM chat.pinned(:'fay_vic');
SELECT chat.pin(:'fay_vic', 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT chat.act_as(:'ada') \g /dev/null
SELECT chat.hide_message(:'fay_vic', 1, 'regress: hidden for the example');
SELECT chat.act_as(:'fay') \g /dev/null
SELECT seq, note FROM chat.pinned(:'fay_vic');
SELECT chat.pin(:'fay_vic', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- An expired pin is not listed (here its expiry is moved into the past
-- by the superuser, as time would).
BEGIN;
RESET ROLE;
UPDATE chat.pins SET expires_at = now() - interval '1 second' WHERE chat_id = :'fay_vic' AND seq = 2;
SET ROLE regress_app;
SELECT chat.act_as(:'fay') \g /dev/null
SELECT seq, note FROM chat.pinned(:'fay_vic');
ROLLBACK;
SET ROLE regress_app;

-- Refusals, each with its SQLSTATE.
BEGIN;
SELECT chat.act_as(:'fay') \g /dev/null
SAVEPOINT s;
SELECT chat.pin(:'fay_vic', 2, repeat('x', 201));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.pin(:'fay_vic', 2, E'two\nlines');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.pin(:'fay_vic', 2, '   ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.pin(:'fay_vic', 2, expires_at => now() - interval '1 minute');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.pin(:'fay_vic', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.pin(:'fay_vic', 42);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- Ana is not in this chat: the one answer for "not yours" and "no such chat"
SELECT chat.act_as(:'ana') \g /dev/null
SAVEPOINT a;
SELECT chat.pin(:'fay_vic', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT * FROM chat.pinned(:'fay_vic');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.unpin(:'fay_vic', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.unpin(:'no_such_chat', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

-- At most 50 pins a chat.
BEGIN;
SELECT chat.act_as(:'fay') \g /dev/null
SELECT count(chat.send_message(:'fay_vic', 'note ' || i)) FROM generate_series(1, 49) AS i;
SELECT count(chat.pin(:'fay_vic', s)) FROM generate_series(4, 51) AS s;
SELECT count(*) FROM chat.pinned(:'fay_vic');
SAVEPOINT s;
SELECT chat.pin(:'fay_vic', 52);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- pinning a pinned message again is no new pin
SELECT chat.pin(:'fay_vic', 51, 'changed');
-- an unpin makes room
SELECT chat.unpin(:'fay_vic', 51);
SELECT chat.pin(:'fay_vic', 52);
ROLLBACK;
