--
-- errors: a catalogue of refusals, one line each: SQLSTATE and message.
-- No actor is 28000, a missing argument 22004, a value that is too long
-- 22001, anything else wrong with the input 22023 (22P02 for text that is
-- not a UUID or not JSON), and a chat that is not the actor's 42501.
--
\i sql/ids.psql

-- regress_try(statement, chat_id) runs a statement, with chat_id as $1,
-- and returns "SQLSTATE: message" for its error, or "ok".  Either way it
-- undoes what the statement did.
CREATE FUNCTION regress_try(stmt text, chat_id uuid DEFAULT NULL) RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    succeeded boolean := false;
BEGIN
    EXECUTE stmt USING chat_id;
    succeeded := true;
    RAISE EXCEPTION 'undo';
EXCEPTION WHEN OTHERS THEN
    IF succeeded THEN
        RETURN 'ok';
    END IF;
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SET ROLE regress_app;
SELECT chat.pair_chat_id(:'ana', :'sam') AS ana_sam \gset
\pset tuples_only on

--
-- Acting
--
-- nobody is acting
SELECT regress_try($$SELECT chat.inbox()$$);
SELECT regress_try($$SELECT chat.send_message($1, 'Hi')$$, :'ana_sam');
-- act_as a NULL profile
SELECT regress_try($$SELECT chat.act_as(NULL)$$);
-- act_as a profile that does not exist
SELECT regress_try($$SELECT chat.act_as('00000000-0000-4000-8000-000000000099')$$);
-- act_as text that is not a UUID
SELECT regress_try($$SELECT chat.act_as('ana')$$);

-- From here on Ana is acting.
SELECT chat.act_as(:'ana', for_session => true) \g /dev/null

--
-- Profiles and bookings
--
-- a NULL id
SELECT regress_try($$SELECT chat.upsert_profile(NULL, 'customer', 'Zoe')$$);
-- an unknown role
SELECT regress_try($$SELECT chat.upsert_profile('00000000-0000-4000-8000-0000000000c9', 'owner', 'Zoe')$$);
-- a blank display name
SELECT regress_try($$SELECT chat.upsert_profile('00000000-0000-4000-8000-0000000000c9', 'customer', '  ')$$);
-- a display name of 201 characters
SELECT regress_try($$SELECT chat.upsert_profile('00000000-0000-4000-8000-0000000000c9', 'customer', repeat('z', 201))$$);
-- a control character in a display name
SELECT regress_try($$SELECT chat.upsert_profile('00000000-0000-4000-8000-0000000000c9', 'customer', E'Zo\te')$$);
-- a stylist who has chats cannot become a customer
SELECT regress_try($$SELECT chat.upsert_profile('00000000-0000-4000-8000-000000000051', 'customer', 'Sam')$$);
-- an unknown booking status
SELECT regress_try($$SELECT chat.upsert_booking('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-000000000051', 'Haircut', '2026-03-02 10:00+00', 'done')$$);
-- a start time of infinity
SELECT regress_try($$SELECT chat.upsert_booking('00000000-0000-4000-8000-0000000000b9', '00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-000000000051', 'Haircut', 'infinity', 'pending')$$);
-- a booking's customer who is a stylist
SELECT regress_try($$SELECT chat.upsert_booking('00000000-0000-4000-8000-0000000000b9', '00000000-0000-4000-8000-000000000052', '00000000-0000-4000-8000-000000000051', 'Haircut', '2026-04-01 10:00+00', 'pending')$$);
-- a booking's customer who does not exist
SELECT regress_try($$SELECT chat.upsert_booking('00000000-0000-4000-8000-0000000000b9', '00000000-0000-4000-8000-000000000099', '00000000-0000-4000-8000-000000000051', 'Haircut', '2026-04-01 10:00+00', 'pending')$$);
-- moving a booking to another pair (Ben's, not Ana's)
SELECT regress_try($$SELECT chat.upsert_booking('00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-0000000000c2', '00000000-0000-4000-8000-000000000051', 'Haircut', '2026-03-02 10:00+00', 'completed')$$);

--
-- Opening chats (as Ana, a customer)
--
-- a NULL other profile
SELECT regress_try($$SELECT chat.chat_with(NULL)$$);
-- a chat with another customer
SELECT regress_try($$SELECT chat.chat_with('00000000-0000-4000-8000-0000000000c2')$$);
-- a chat with a profile that does not exist
SELECT regress_try($$SELECT chat.chat_with('00000000-0000-4000-8000-000000000099')$$);
-- customer and stylist swapped
SELECT regress_try($$SELECT chat.get_or_create_chat('00000000-0000-4000-8000-000000000051', '00000000-0000-4000-8000-0000000000c1')$$);
-- a booking that does not exist
SELECT regress_try($$SELECT chat.chat_for_booking('00000000-0000-4000-8000-0000000000b9')$$);
-- text that is not a UUID
SELECT regress_try($$SELECT chat.chat_with('sam')$$);
SELECT regress_try($$SELECT * FROM chat.history('3509ee12')$$);

--
-- Sending (in Ana and Sam's chat, $1)
--
-- a NULL chat
SELECT regress_try($$SELECT chat.send_message(NULL, 'Hi')$$);
-- a NULL body without attachments
SELECT regress_try($$SELECT chat.send_message($1, NULL)$$, :'ana_sam');
-- a blank body without attachments
SELECT regress_try($$SELECT chat.send_message($1, E' \n ')$$, :'ana_sam');
-- a body of 4001 characters
SELECT regress_try($$SELECT chat.send_message($1, repeat('x', 4001))$$, :'ana_sam');
-- a body of 4000 characters is fine
SELECT regress_try($$SELECT chat.send_message($1, repeat('x', 4000))$$, :'ana_sam');
-- a booking of another pair (Ben and Sam's)
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', booking_id => '00000000-0000-4000-8000-0000000000b3')$$, :'ana_sam');
-- a booking that does not exist
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', booking_id => '00000000-0000-4000-8000-0000000000b9')$$, :'ana_sam');
-- attachments that are not JSON
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{storage_key: a.jpg}]')$$, :'ana_sam');
-- attachments that are not an array
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '{"storage_key": "a.jpg"}')$$, :'ana_sam');
-- an attachment that is not an object
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '["a.jpg"]')$$, :'ana_sam');
-- an unknown key
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"url": "http://x/a.jpg", "storage_key": "a.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}]')$$, :'ana_sam');
-- a missing key
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1}]')$$, :'ana_sam');
-- an empty storage_key
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}]')$$, :'ana_sam');
-- a content_type that is not an image
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.pdf", "content_type": "application/pdf", "byte_size": 1, "width": 1, "height": 1}]')$$, :'ana_sam');
-- a content_type in upper case
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.jpg", "content_type": "image/JPEG", "byte_size": 1, "width": 1, "height": 1}]')$$, :'ana_sam');
-- a negative byte_size
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.jpg", "content_type": "image/jpeg", "byte_size": -1, "width": 1, "height": 1}]')$$, :'ana_sam');
-- a byte_size given as a string
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.jpg", "content_type": "image/jpeg", "byte_size": "1", "width": 1, "height": 1}]')$$, :'ana_sam');
-- a width that is not a whole number
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1.5, "height": 1}]')$$, :'ana_sam');
-- a whole number written with a decimal point is fine
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.jpg", "content_type": "image/jpeg", "byte_size": 1024.0, "width": 800.0, "height": 600}]')$$, :'ana_sam');
-- the second of two attachments is wrong
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => '[{"storage_key": "a.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}, {"storage_key": "b.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 0, "height": 1}]')$$, :'ana_sam');
-- 11 attachments
SELECT regress_try($$SELECT chat.send_message($1, 'Hi', attachments => (SELECT jsonb_agg(jsonb_build_object('storage_key', 'p' || i || '.jpg', 'content_type', 'image/jpeg', 'byte_size', 1, 'width', 1, 'height', 1)) FROM generate_series(1, 11) AS i))$$, :'ana_sam');
-- an empty array is no attachment, so the body must not be empty
SELECT regress_try($$SELECT chat.send_message($1, '', attachments => '[]')$$, :'ana_sam');

--
-- Editing and deleting (in Ana and Sam's chat, $1)
--
-- a message that does not exist
SELECT regress_try($$SELECT chat.edit_message($1, 99, 'Hi')$$, :'ana_sam');
SELECT regress_try($$SELECT chat.delete_message($1, 99)$$, :'ana_sam');
-- a NULL seq
SELECT regress_try($$SELECT chat.delete_message($1, NULL)$$, :'ana_sam');
-- a NULL body
SELECT regress_try($$SELECT chat.edit_message($1, 1, NULL)$$, :'ana_sam');
-- an empty body
SELECT regress_try($$SELECT chat.edit_message($1, 1, '')$$, :'ana_sam');
-- a deleted message (seq 4)
SELECT regress_try($$SELECT chat.edit_message($1, 4, 'Hi')$$, :'ana_sam');

--
-- Reading (in Ana and Sam's chat, $1)
--
-- a NULL chat
SELECT regress_try($$SELECT * FROM chat.history(NULL)$$);
-- max_rows out of 1 to 1000
SELECT regress_try($$SELECT * FROM chat.history($1, max_rows => 0)$$, :'ana_sam');
SELECT regress_try($$SELECT * FROM chat.history($1, max_rows => -1)$$, :'ana_sam');
SELECT regress_try($$SELECT * FROM chat.history($1, max_rows => 100000)$$, :'ana_sam');
SELECT regress_try($$SELECT * FROM chat.messages_since($1, 0, max_rows => 1001)$$, :'ana_sam');
-- a NULL max_rows
SELECT regress_try($$SELECT * FROM chat.history($1, max_rows => NULL)$$, :'ana_sam');
-- a negative after_seq
SELECT regress_try($$SELECT * FROM chat.messages_since($1, -1)$$, :'ana_sam');
-- a NULL after_seq
SELECT regress_try($$SELECT * FROM chat.messages_since($1, NULL)$$, :'ana_sam');
-- mark_read beyond the last message, or below 0
SELECT regress_try($$SELECT chat.mark_read($1, 99)$$, :'ana_sam');
SELECT regress_try($$SELECT chat.mark_read($1, -1)$$, :'ana_sam');
-- a chat of someone else (Ben and Sam's) or of nobody: the same answer
SELECT regress_try($$SELECT chat.chat_bookings($1)$$, chat.pair_chat_id(:'ben', :'sam'));
SELECT regress_try($$SELECT chat.chat_bookings($1)$$, '00000000-0000-4000-8000-000000000000');

--
-- Replies and reactions (in Ana and Sam's chat, $1)
--
-- a reply to a seq that is not in the chat
SELECT regress_try($$SELECT chat.send_message($1, 'which one?', reply_to_seq => 999)$$, :'ana_sam');
-- not an emoji, two emoji, none
SELECT regress_try($$SELECT chat.react($1, 1, 'ok')$$, :'ana_sam');
SELECT regress_try($$SELECT chat.react($1, 1, '👍👍')$$, :'ana_sam');
SELECT regress_try($$SELECT chat.react($1, 1, NULL)$$, :'ana_sam');
-- a message that does not exist
SELECT regress_try($$SELECT chat.react($1, 999, '👍')$$, :'ana_sam');
-- someone else's chat (Ben and Sam's): the one 42501, before the emoji is looked at
SELECT regress_try($$SELECT chat.react($1, 1, 'ok')$$, chat.pair_chat_id(:'ben', :'sam'));
SELECT regress_try($$SELECT chat.send_message($1, 'x', reply_to_seq => 999)$$, chat.pair_chat_id(:'ben', :'sam'));

--
-- Inbox controls (in Ana and Sam's chat, $1)
--
-- a NULL chat
SELECT regress_try($$SELECT chat.archive(NULL)$$);
SELECT regress_try($$SELECT chat.mute(NULL)$$);
SELECT regress_try($$SELECT chat.clear_history(NULL)$$);
-- a mute time that is not in the future
SELECT regress_try($$SELECT chat.mute($1, now() - interval '1 hour')$$, :'ana_sam');
SELECT regress_try($$SELECT chat.mute($1, '-infinity')$$, :'ana_sam');
-- a NULL archived in the inbox
SELECT regress_try($$SELECT * FROM chat.inbox(archived => NULL)$$);
-- a chat of someone else (Ben and Sam's) or of nobody: the same answer
SELECT regress_try($$SELECT chat.archive($1)$$, chat.pair_chat_id(:'ben', :'sam'));
SELECT regress_try($$SELECT chat.mute($1, now() - interval '1 hour')$$, chat.pair_chat_id(:'ben', :'sam'));
SELECT regress_try($$SELECT chat.clear_history($1)$$, '00000000-0000-4000-8000-000000000000');

--
-- Gallery and portfolio consent (in Ana and Sam's chat, $1; Ana is its
-- customer)
--
-- paging out of range
SELECT regress_try($$SELECT * FROM chat.gallery($1, max_rows => 0)$$, :'ana_sam');
SELECT regress_try($$SELECT * FROM chat.gallery($1, before_position => 1)$$, :'ana_sam');
-- a position out of 1 to 10, a NULL position, a message that does not exist
SELECT regress_try($$SELECT chat.grant_portfolio_consent($1, 1, 0)$$, :'ana_sam');
SELECT regress_try($$SELECT chat.revoke_portfolio_consent($1, 1, NULL)$$, :'ana_sam');
SELECT regress_try($$SELECT chat.grant_portfolio_consent($1, 99, 1)$$, :'ana_sam');
-- a deleted message (seq 4)
SELECT regress_try($$SELECT chat.grant_portfolio_consent($1, 4, 1)$$, :'ana_sam');
-- someone else's chat (Ben and Sam's): the one 42501
SELECT regress_try($$SELECT * FROM chat.gallery($1)$$, chat.pair_chat_id(:'ben', :'sam'));
SELECT regress_try($$SELECT chat.grant_portfolio_consent($1, 1, 1)$$, chat.pair_chat_id(:'ben', :'sam'));
-- a customer has no portfolio
SELECT regress_try($$SELECT * FROM chat.my_portfolio()$$);
SELECT regress_try($$SELECT * FROM chat.portfolio($1)$$, :'ana');
SELECT regress_try($$SELECT * FROM chat.portfolio(NULL)$$);

--
-- An idempotency key belongs to its sender: Sam cannot reuse the
-- client_msg_id of Ana's message 5.
--
SELECT chat.act_as(:'sam', for_session => true) \g /dev/null
SELECT regress_try($$SELECT chat.send_message($1, 'Me too', client_msg_id => '00000000-0000-4000-8000-00000000e001')$$, :'ana_sam');

\pset tuples_only off

-- A refused call leaves nothing behind: this send is refused after it took
-- the chat's next seq, yet the chat still ends at seq 5, so the next message
-- will be 6, without a gap.
SELECT chat.send_message(:'ana_sam', 'Hi', booking_id => :'b3');
SELECT last_seq FROM chat.get_chat(:'ana_sam');

-- Clean up.
SELECT chat.reset_actor() \g /dev/null
RESET ROLE;
DROP FUNCTION regress_try(text, uuid);
DROP ROLE regress_app;
DROP ROLE regress_nobody;
