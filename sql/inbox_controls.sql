--
-- inbox_controls: what each participant does with their own side of a
-- chat.  mark_unread() sets the actor's read mark back; archive(), mute()
-- and clear_history() change only the actor's view.
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

--
-- archive(chat_id) / unarchive(chat_id): the chat leaves the actor's inbox
-- until a new message arrives in it, whoever sends it.  inbox(archived =>
-- true) lists the archived chats.  Only the actor's side changes, and
-- nothing is relayed.
--
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.archive(:'gia_wes');
SELECT count(*) AS in_inbox FROM chat.inbox();
SELECT other_name, preview, is_archived FROM chat.inbox(archived => true);
SELECT is_archived FROM chat.get_chat(:'gia_wes');
-- Wes's inbox does not change.
SELECT chat.act_as(:'wes') \g /dev/null
SELECT other_name, is_archived FROM chat.inbox();
-- Wes writes: the chat is back in Gia's inbox.
SELECT chat.send_message(:'gia_wes', 'See you Saturday!');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT other_name, preview, unread_count, is_archived FROM chat.inbox();
SELECT count(*) AS archived FROM chat.inbox(archived => true);
-- So does a message of Gia's own; and unarchive() brings it back at once.
SELECT chat.archive(:'gia_wes');
SELECT chat.send_message(:'gia_wes', 'Thanks!');
SELECT other_name, is_archived FROM chat.inbox();
SELECT chat.archive(:'gia_wes');
SELECT chat.archive(:'gia_wes');      -- archiving twice is a no-op
SELECT chat.unarchive(:'gia_wes');
SELECT other_name, is_archived FROM chat.inbox();
SELECT chat.unarchive(:'gia_wes');    -- so is unarchiving a chat not archived
COMMIT;

--
-- mute(chat_id, until DEFAULT NULL) / unmute(chat_id): messages and events
-- still come; get_chat() and inbox() show muted_until for whoever sends
-- notifications.  NULL mutes until unmuted (infinity).
--
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.mute(:'gia_wes', '2099-01-01 09:00+00');
SELECT muted_until FROM chat.get_chat(:'gia_wes');
SELECT other_name, muted_until FROM chat.inbox();
SELECT chat.mute(:'gia_wes');         -- muting again replaces the time
SELECT muted_until FROM chat.get_chat(:'gia_wes');
-- Wes's side is not muted.
SELECT chat.act_as(:'wes') \g /dev/null
SELECT muted_until FROM chat.get_chat(:'gia_wes');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT chat.unmute(:'gia_wes');
SELECT muted_until FROM chat.get_chat(:'gia_wes');
COMMIT;

--
-- clear_history(chat_id): Gia no longer sees the messages so far, Wes
-- still does.  It returns the seq cleared up to; the read mark moves there
-- (nothing is unread).  Not reversible.
--
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.send_message(:'gia_wes', 'Bring a photo of the colour you like.');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT last_seq, last_read_seq, unread_count, cleared_seq FROM chat.get_chat(:'gia_wes');
SELECT chat.clear_history(:'gia_wes');
SELECT last_seq, last_read_seq, unread_count, cleared_seq FROM chat.get_chat(:'gia_wes');
SELECT count(*) AS history FROM chat.history(:'gia_wes');
SELECT count(*) AS since_0 FROM chat.messages_since(:'gia_wes', 0);
SELECT count(*) AS my_messages FROM chat.my_messages WHERE chat_id = :'gia_wes';
-- The inbox keeps the chat, without a preview of what was cleared.
SELECT other_name, preview, unread_count FROM chat.inbox();
-- Wes still sees all eight.
SELECT chat.act_as(:'wes') \g /dev/null
SELECT count(*) AS history FROM chat.history(:'gia_wes');
SELECT other_name, preview FROM chat.inbox();
-- What comes after is seen as usual.
SELECT chat.send_message(:'gia_wes', 'Saturday it is.');
SELECT chat.act_as(:'gia') \g /dev/null
SELECT seq, body FROM chat.history(:'gia_wes');
SELECT other_name, preview, unread_count FROM chat.inbox();
-- mark_unread() does not bring back what was cleared.
SELECT chat.mark_unread(:'gia_wes', 1);
SELECT last_read_seq, unread_count FROM chat.get_chat(:'gia_wes');
COMMIT;

-- Refusals, each with its SQLSTATE.
BEGIN;
SELECT chat.act_as(:'gia') \g /dev/null
SAVEPOINT s;
SELECT chat.mute(:'gia_wes', now() - interval '1 minute');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM chat.inbox(archived => NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.archive(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT chat.clear_history(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- Ana is not in this chat: the one answer for "not yours" and "no such chat",
-- whatever else is wrong with the call
SELECT chat.act_as(:'ana') \g /dev/null
SAVEPOINT a;
SELECT chat.archive(:'gia_wes');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.mute(:'gia_wes', now() - interval '1 minute');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO a;
SELECT chat.clear_history(:'no_such_chat');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
