--
-- reading: the inbox, unread counts and read marks, the bookings of a chat,
-- and the views a participant or an admin reads through.
--
\i sql/ids.psql
\pset null '(null)'

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.pair_chat_id(:'ana', :'sam') AS ana_sam,
       chat.pair_chat_id(:'ana', :'tia') AS ana_tia,
       chat.pair_chat_id(:'ben', :'sam') AS ben_sam \gset

-- More traffic: Tia writes to Ana (they have no booking: a chat never
-- needs one), and Ben writes twice to Sam.
BEGIN;
SELECT chat.act_as(:'tia') \g /dev/null
SELECT chat.send_message(:'ana_tia', 'Hi Ana, I have a free slot on Friday.');
COMMIT;
BEGIN;
SELECT chat.act_as(:'ben') \g /dev/null
SELECT chat.send_message(:'ben_sam', 'Can I come in before the 20th?', booking_id => :'b3');
SELECT chat.send_message(:'ben_sam', E'Any day works for me,\nmornings preferably, and if you have time for a quick shave as well that would be great.');
COMMIT;

-- inbox(): the actor's chats, most recent activity first, with the other
-- participant, a one-line preview of the last message, the unread count
-- and the pair's number of bookings.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat_id, other_name, preview, unread_count, bookings_count,
       last_message_at IS NOT NULL AS has_last_message_at
  FROM chat.inbox();
-- A long preview is cut at 80 characters, on one line.
SELECT chat.act_as(:'sam') \g /dev/null
SELECT other_name, preview, unread_count, bookings_count FROM chat.inbox();
COMMIT;

-- mark_read(chat_id, up_to_seq) moves the actor's read mark and returns
-- it; the unread count follows.
BEGIN;
SELECT chat.act_as(:'sam') \g /dev/null
-- Partly: up to seq 1.
SELECT chat.mark_read(:'ben_sam', 1);
SELECT last_seq, last_read_seq, unread_count FROM chat.get_chat(:'ben_sam');
-- All: up_to_seq NULL (the default) means everything so far.
SELECT chat.mark_read(:'ben_sam');
SELECT last_seq, last_read_seq, unread_count FROM chat.get_chat(:'ben_sam');
-- Never backwards: an older mark is ignored and the current one returned.
SELECT chat.mark_read(:'ben_sam', 1);
COMMIT;

-- Ben sees how far Sam has read (other_read_seq): a read receipt.
BEGIN;
SELECT chat.act_as(:'ben') \g /dev/null
SELECT last_seq, last_read_seq, unread_count, other_read_seq FROM chat.get_chat(:'ben_sam');
COMMIT;

-- Sending marks the sender's chat read: Ana answers Tia with a photo, so
-- her unread count is 0 and Tia's preview is "[photo]".
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.send_message(:'ana_tia', '',
    attachments => '[{"storage_key": "ana/nails.jpg", "content_type": "image/jpeg",
                      "byte_size": 2048, "width": 300, "height": 300}]');
SELECT other_name, preview, unread_count FROM chat.inbox();
SELECT chat.act_as(:'tia') \g /dev/null
SELECT other_name, preview, unread_count FROM chat.inbox();
COMMIT;

-- chat_bookings(chat_id): every booking of the chat's pair, newest first.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT booking_id, service, starts_at, status FROM chat.chat_bookings(:'ana_sam');
COMMIT;

-- The views my_chats, my_messages and my_media show the actor's own chats
-- and nothing else.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat_id, customer_id, stylist_id, last_seq, last_read_seq, unread_count
  FROM chat.my_chats ORDER BY chat_id;
SELECT chat_id, seq, sender_id, body, deleted_at IS NOT NULL AS deleted
  FROM chat.my_messages ORDER BY chat_id, seq;
SELECT chat_id, seq, position, storage_key, content_type, byte_size, width, height
  FROM chat.my_media ORDER BY chat_id, seq, position;
COMMIT;

-- With nobody acting, the views are empty (no error).
SELECT count(*) FROM chat.my_chats;
SELECT count(*) FROM chat.my_messages;

-- The views admin_chats and admin_messages show every chat to an admin:
-- both read states, and every message.
BEGIN;
SELECT chat.act_as(:'ada') \g /dev/null
SELECT chat_id, customer_id, stylist_id, last_seq,
       customer_read_seq, customer_unread, stylist_read_seq, stylist_unread
  FROM chat.admin_chats ORDER BY chat_id;
SELECT chat_id, count(*) AS messages, count(deleted_at) AS deleted
  FROM chat.admin_messages GROUP BY chat_id ORDER BY chat_id;
COMMIT;

-- To anyone else they are empty.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT count(*) FROM chat.admin_chats;
SELECT count(*) FROM chat.admin_messages;
COMMIT;
