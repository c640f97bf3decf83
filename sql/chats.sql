--
-- chats: one chat per customer-stylist pair, for the whole relationship.
-- Its id is a name-based UUID of the pair, so the same pair always gets the
-- same chat, from whichever side and by whichever function it is opened.
--
\i sql/ids.psql
\pset null '(null)'

SET ROLE regress_app;

-- Ana (a customer) opens her chat with Sam: chat_with(other) creates it on
-- first use and returns its id.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.chat_with(:'sam') AS chat_id;
COMMIT;

-- Sam (a stylist) opens it from his side: the same chat.  pair_chat_id()
-- computes the id without opening anything (the customer comes first).
BEGIN;
SELECT chat.act_as(:'sam') \g /dev/null
SELECT chat.chat_with(:'ana') AS chat_id,
       chat.pair_chat_id(:'ana', :'sam') AS pair_chat_id;
COMMIT;
SELECT chat.pair_chat_id(:'ana', :'sam') AS ana_sam \gset

-- get_or_create_chat(customer, stylist) names both sides; the actor must be
-- one of them.  Ana gets the same chat again, and opens one with Tia.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.get_or_create_chat(:'ana', :'sam') = :'ana_sam' AS same_chat;
SELECT chat.get_or_create_chat(:'ana', :'tia') AS chat_id;
COMMIT;

-- chat_for_booking(booking) opens the chat of the booking's pair: both of
-- Ana's bookings with Sam lead to the one chat.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.chat_for_booking(:'b1') = :'ana_sam' AS b1_chat,
       chat.chat_for_booking(:'b2') = :'ana_sam' AS b2_chat;
COMMIT;

-- Sam opens a chat with Ben, his other customer.
BEGIN;
SELECT chat.act_as(:'sam') \g /dev/null
SELECT chat.chat_with(:'ben') AS chat_id;
COMMIT;

-- Opening again never makes a second chat: Ana is in two, Sam in two.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat_id, customer_id, stylist_id FROM chat.my_chats ORDER BY chat_id;
SELECT chat.act_as(:'sam') \g /dev/null
SELECT chat_id, customer_id, stylist_id FROM chat.my_chats ORDER BY chat_id;
COMMIT;

-- get_chat(chat_id) is the header of a chat as the actor sees it: both
-- participants, the last seq, the actor's read mark and unread count, and
-- how far the other participant has read.  A new chat has no messages.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT customer_name, stylist_name, created_at IS NOT NULL AS has_created_at,
       last_seq, last_message_at, last_read_seq, unread_count, other_read_seq
  FROM chat.get_chat(:'ana_sam');
COMMIT;
