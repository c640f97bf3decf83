--
-- access: only the two participants of a chat read and write it; an admin
-- reads every chat through the admin views and writes none.  Someone else
-- gets the same answer as for a chat that does not exist, so chat ids
-- cannot be probed.
--
\i sql/ids.psql
\pset null '(null)'

-- A leaky function: it prints every value it is shown.  Anybody can write
-- one; it is not LEAKPROOF and claims to be very cheap, so the planner
-- would like to run it early.
CREATE FUNCTION regress_leak(value text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001
AS $$
BEGIN
    RAISE NOTICE 'regress_leak sees %', quote_nullable(value);
    RETURN true;
END
$$;

SET ROLE regress_app;
SELECT chat.pair_chat_id(:'ana', :'sam') AS ana_sam \gset

-- Cleo, a third customer, has no chat with Sam.
SELECT chat.upsert_profile(:'cleo', 'customer', 'Cleo') \g /dev/null

-- Cleo cannot read, write or mark Ana and Sam's chat: each call gets 42501
-- and the very message a made-up chat id gets.
SELECT chat.act_as(:'cleo', for_session => true) \g /dev/null
SELECT seq FROM chat.history(:'ana_sam');
SELECT seq FROM chat.history(:'no_such_chat');
SELECT chat.send_message(:'ana_sam', 'Hello?');
SELECT chat.send_message(:'no_such_chat', 'Hello?');
SELECT seq FROM chat.messages_since(:'ana_sam', 0);
SELECT last_seq FROM chat.get_chat(:'ana_sam');
SELECT chat.mark_read(:'ana_sam');
SELECT chat.edit_message(:'ana_sam', 1, 'Hi Cleo');
SELECT chat.delete_message(:'ana_sam', 1);
SELECT service FROM chat.chat_bookings(:'ana_sam');
-- Nor open it, by the pair or by one of its bookings.
SELECT chat.get_or_create_chat(:'ana', :'sam');
SELECT chat.chat_for_booking(:'b1');
-- Her views show nothing of it.
SELECT count(*) FROM chat.my_chats;
SELECT count(*) FROM chat.my_messages;
SELECT count(*) FROM chat.my_media;

-- A participant changes only their own messages: Sam cannot edit or delete
-- Ana's.
SELECT chat.act_as(:'sam', for_session => true) \g /dev/null
SELECT chat.edit_message(:'ana_sam', 1, 'Hi Sam, are you free on Tuesday?');
SELECT chat.delete_message(:'ana_sam', 1);

-- Ada, an admin, reads through the admin views but takes part in no chat:
-- she cannot open, send to, read the history of, or mark read a chat.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT chat.chat_with(:'sam');
SELECT chat.get_or_create_chat(:'ana', :'sam');
SELECT chat.send_message(:'ana_sam', 'This is the admin.');
SELECT seq FROM chat.history(:'ana_sam');
SELECT chat.mark_read(:'ana_sam');
SELECT count(*) FROM chat.my_messages;

-- The application's role reaches the data only through the API: not the
-- tables, not the internal functions.
SELECT chat.act_as(:'ana', for_session => true) \g /dev/null
SELECT count(*) FROM chat.chat_messages;
UPDATE chat.chats SET customer_unread = 0;
SELECT chat._messages(:'ana_sam', 0, NULL, 10, false);

-- A leaky function in a WHERE clause on a security-barrier view runs only
-- after the view's own filter: it sees Ana's 7 messages (her chats with
-- Sam and Tia) and her 3 photos, never Ben's messages.
SELECT count(*) FROM chat.my_messages WHERE regress_leak(body);
SELECT count(*) FROM chat.my_media WHERE regress_leak(storage_key);

SELECT chat.reset_actor() \g /dev/null
RESET ROLE;
DROP FUNCTION regress_leak(text);
