--
-- inbox_controls: what each participant does with their own side of a
-- chat.  mark_unread() sets the actor's read mark back.
--
\i sql/ids.psql
\pset null '(null)'
-- two more people, for a chat of their own
\set gia  00000000-0000-4000-8000-0000000000c7
\set wes  00000000-0000-4000-8000-000000000055

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.upsert_profile(:'gia', 'customer', 'Gia') \g /dev/null
SELECT chat.upsert_profile(:'wes', 'stylist', 'Wes') \g /dev/null
SELECT chat.pair_chat_id(:'gia', :'wes') AS gia_wes \gset

BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.chat_with(:'gia') = :'gia_wes' AS opened;
SELECT chat.send_message(:'gia_wes', 'Your colour is ready to book.');
SELECT chat.send_message(:'gia_wes', 'Saturday 10:00 or Tuesday 14:00?');
COMMIT;
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.send_message(:'gia_wes', 'Saturday, please.');
COMMIT;
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.send_message(:'gia_wes', 'Booked!');
SELECT chat.send_message(:'gia_wes', 'sent by mistake');
SELECT chat.delete_message(:'gia_wes', 5);
COMMIT;

-- Gia reads everything.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.mark_read(:'gia_wes');
SELECT last_read_seq, unread_count FROM chat.get_chat(:'gia_wes');
COMMIT;

-- mark_unread(chat_id, from_seq): the actor's read mark goes back to
-- from_seq - 1 and is returned; the unread count is that of the other
-- participant's messages after it that are not deleted (2 and 4 here: 3 is
-- Gia's own, 5 is deleted).  Relayed as a "read" event with the new mark.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.mark_unread(:'gia_wes', 2);
SELECT last_read_seq, unread_count FROM chat.get_chat(:'gia_wes');
SELECT unread_count FROM chat.inbox() WHERE chat_id = :'gia_wes';
-- It never moves the mark forwards: from 4 on is unread already.
SELECT chat.mark_unread(:'gia_wes', 4);
-- Wes's side does not change.
SELECT chat.act_as(:'wes') \g /dev/null
SELECT last_read_seq, unread_count, other_read_seq FROM chat.get_chat(:'gia_wes');
COMMIT;

-- Everything unread, then read again.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.mark_unread(:'gia_wes', 1);
SELECT last_read_seq, unread_count FROM chat.get_chat(:'gia_wes');
SELECT chat.mark_read(:'gia_wes');
SELECT last_read_seq, unread_count FROM chat.get_chat(:'gia_wes');
COMMIT;

-- Refusals, each with its SQLSTATE.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SAVEPOINT s;
SELECT chat.mark_unread(:'gia_wes', 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.mark_unread(:'gia_wes', 6);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.mark_unread(:'gia_wes', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.mark_unread(NULL, 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- Ana is not in this chat: the one answer for "not yours" and "no such chat"
SELECT chat.act_as(:'ana') \g /dev/null
SAVEPOINT a;
SELECT chat.mark_unread(:'gia_wes', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.mark_unread(:'no_such_chat', 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
