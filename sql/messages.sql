--
-- messages: sending, editing and deleting, and reading a chat back.  Every
-- message gets the chat's next seq (1, 2, 3, ... without gaps).
--
\i sql/ids.psql
\pset null '(null)'

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.pair_chat_id(:'ana', :'sam') AS ana_sam \gset

-- send_message(chat_id, body) returns the new message's seq.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.send_message(:'ana_sam', 'Hi Sam, are you free next week?');
-- booking_id ties a message to one of the pair's bookings.
SELECT chat.send_message(:'ana_sam', 'I booked a colour for the 16th.', booking_id => :'b2');
COMMIT;

-- attachments: a JSON array of images (metadata and a key in the
-- application's object store, never the bytes).
BEGIN;
SELECT chat.act_as(:'sam') \g /dev/null
SELECT chat.send_message(:'ana_sam', 'Here are two shades to choose from.',
    attachments => '[{"storage_key": "shades/copper.jpg", "content_type": "image/jpeg",
                      "byte_size": 81920, "width": 800, "height": 600},
                     {"storage_key": "shades/honey.png", "content_type": "image/png",
                      "byte_size": 40960, "width": 640, "height": 480}]');
COMMIT;

BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
-- A message with attachments may have no text: the body is then ''.
SELECT chat.send_message(:'ana_sam', NULL,
    attachments => '[{"storage_key": "ana/now.jpg", "content_type": "image/jpeg",
                      "byte_size": 102400, "width": 1080, "height": 1350}]');
-- client_msg_id, a UUID made by the client, makes a send idempotent: a
-- retry of the same message returns the first seq and stores nothing.
SELECT chat.send_message(:'ana_sam', 'The honey one, please!', client_msg_id => :'retry_id');
SELECT chat.send_message(:'ana_sam', 'The honey one, please!', client_msg_id => :'retry_id');
COMMIT;

-- history(chat_id) returns the newest messages first, each with its
-- attachments and booking.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT seq, CASE sender_id WHEN :'ana' THEN 'Ana' ELSE 'Sam' END AS sender,
       body, client_msg_id, jsonb_array_length(attachments) AS photos,
       booking->>'service' AS booking
  FROM chat.history(:'ana_sam');
SELECT jsonb_pretty(attachments) AS attachments
  FROM chat.history(:'ana_sam') WHERE seq = 3;
SELECT jsonb_pretty(booking) AS booking
  FROM chat.history(:'ana_sam') WHERE seq = 2;
COMMIT;

-- edit_message(chat_id, seq, body) changes one's own message and marks it
-- edited; delete_message(chat_id, seq) leaves a tombstone that keeps its
-- seq but loses its body and attachments.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.edit_message(:'ana_sam', 1, 'Hi Sam, are you free on Monday?') \g /dev/null
SELECT chat.delete_message(:'ana_sam', 4) \g /dev/null
-- Deleting twice is a no-op.
SELECT chat.delete_message(:'ana_sam', 4) \g /dev/null
SELECT seq, body, jsonb_array_length(attachments) AS photos,
       edited_at IS NOT NULL AS edited, deleted_at IS NOT NULL AS deleted
  FROM chat.history(:'ana_sam');
COMMIT;

-- Paging back through history: max_rows per page, and before_seq = the
-- smallest seq of the previous page.
BEGIN;
SELECT chat.act_as(:'sam') \g /dev/null
SELECT seq, body FROM chat.history(:'ana_sam', max_rows => 2);
SELECT seq, body FROM chat.history(:'ana_sam', before_seq => 4, max_rows => 2);
SELECT seq, body FROM chat.history(:'ana_sam', before_seq => 2, max_rows => 2);
COMMIT;

-- messages_since(chat_id, after_seq) catches up, oldest first: a client
-- passes the last seq it holds (0 for everything) and calls again from the
-- last seq returned until fewer than max_rows come back.
BEGIN;
SELECT chat.act_as(:'sam') \g /dev/null
SELECT seq, body FROM chat.messages_since(:'ana_sam', 0, max_rows => 3);
SELECT seq, body FROM chat.messages_since(:'ana_sam', 3, max_rows => 3);
SELECT seq, body FROM chat.messages_since(:'ana_sam', 5);
COMMIT;
