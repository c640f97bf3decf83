--
-- replies_reactions: a message may quote an earlier one of its chat
-- (send_message's reply_to_seq), and either participant reacts to a
-- message with emoji.  Every message row carries the quoted message
-- (reply_to), the reaction counts and the actor's own reactions.
--
\i sql/ids.psql
\pset null '(null)'
-- an error undoes its statement only, not the transaction
\set ON_ERROR_ROLLBACK on
-- two more people, for a chat of their own
\set gil  00000000-0000-4000-8000-0000000001c1
\set wes  00000000-0000-4000-8000-000000000151

SET ROLE regress_app;
SELECT chat.upsert_profile(:'gil', 'customer', 'Gil') \g /dev/null
SELECT chat.upsert_profile(:'wes', 'stylist', 'Wes') \g /dev/null
SELECT chat.pair_chat_id(:'gil', :'wes') AS gil_wes \gset

BEGIN;
SELECT chat.act_as(:'gil') \g /dev/null
SELECT chat.chat_with(:'wes') = :'gil_wes' AS opened;
SELECT chat.send_message(:'gil_wes', 'Which shampoo did you recommend last time?');
SELECT chat.send_message(:'gil_wes', 'And for how long should I leave the mask on?');
COMMIT;

-- send_message(..., reply_to_seq): the reply quotes an earlier message of
-- the same chat; rows carry its seq, sender and a one-line preview.
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.send_message(:'gil_wes', 'The violet one, twice a week.', reply_to_seq => 1);
SELECT chat.send_message(:'gil_wes', 'Five minutes.', reply_to_seq => 2);
SELECT seq, body, reply_to->>'seq' AS quotes, reply_to->>'preview' AS quoted
  FROM chat.history(:'gil_wes') ORDER BY seq;
COMMIT;

-- A quoted message deleted later shows as "[deleted]" in the reply.
BEGIN;
SELECT chat.act_as(:'gil') \g /dev/null
SELECT chat.delete_message(:'gil_wes', 2);
SELECT seq, reply_to->>'preview' AS quoted FROM chat.messages_since(:'gil_wes', 3);
COMMIT;

-- A reply quotes a message of the same chat only.
BEGIN;
SELECT chat.act_as(:'gil') \g /dev/null
SELECT chat.send_message(:'gil_wes', 'Which one?', reply_to_seq => 99);
ROLLBACK;

-- react(chat_id, seq, emoji): one reaction per person, emoji and message;
-- it returns the message's counts.  Reacting twice with one emoji is a
-- no-op.
BEGIN;
SELECT chat.act_as(:'gil') \g /dev/null
SELECT chat.react(:'gil_wes', 3, '👍');
SELECT chat.react(:'gil_wes', 3, '❤️');
SELECT chat.react(:'gil_wes', 3, '👍');
COMMIT;
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.react(:'gil_wes', 3, '👍🏽');
SELECT chat.react(:'gil_wes', 3, '👍');
-- rows carry the counts and the actor's own reactions
SELECT seq, reactions, my_reactions FROM chat.history(:'gil_wes') WHERE seq = 3;
COMMIT;

-- An emoji is one emoji: with a skin tone, a joined sequence, a flag or a
-- keycap; not text, not two emoji.
BEGIN;
SELECT chat.act_as(:'gil') \g /dev/null
SELECT chat.react(:'gil_wes', 4, e) FROM unnest(ARRAY['👩‍🎨', '🇮🇹', '5️⃣']) AS e;
SELECT chat.react(:'gil_wes', 4, 'ok');
SELECT chat.react(:'gil_wes', 4, '👍👍');
SELECT chat.react(:'gil_wes', 4, '');
ROLLBACK;

-- unreact(chat_id, seq, emoji) takes one back; taking back what is not
-- there is a no-op.
BEGIN;
SELECT chat.act_as(:'gil') \g /dev/null
SELECT chat.unreact(:'gil_wes', 3, '❤️');
SELECT chat.unreact(:'gil_wes', 3, '❤️');
SELECT seq, reactions, my_reactions FROM chat.history(:'gil_wes') WHERE seq = 3;
COMMIT;

-- A deleted message takes no reaction, nor does a message of a blocked
-- chat; a deleted message shows none.
BEGIN;
SELECT chat.act_as(:'gil') \g /dev/null
SELECT chat.react(:'gil_wes', 2, '👍');
ROLLBACK;
BEGIN;
SELECT chat.act_as(:'wes') \g /dev/null
SELECT chat.block(:'gil_wes') \g /dev/null
SELECT chat.react(:'gil_wes', 1, '👍');
ROLLBACK;

-- Someone else's chat: the same error as a chat that does not exist.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.react(:'gil_wes', 1, '👍');
SELECT chat.send_message(:'gil_wes', 'hi', reply_to_seq => 1);
ROLLBACK;
