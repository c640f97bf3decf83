--
-- catchup: the acknowledged offline catch-up and delivery receipts.
-- catch_up(received, max_rows) returns what has not reached the actor yet
-- and marks as delivered only what the client passes back as received;
-- ack_delivered(chat_id, seq) does the same for one chat, for a live
-- client.  get_chat() shows how far the other participant has received.
--
\i sql/ids.psql
\pset null '(null)'
-- a customer and two stylists of their own
\set nia  00000000-0000-4000-8000-0000000000cd
\set dot  00000000-0000-4000-8000-00000000005d
\set rex  00000000-0000-4000-8000-00000000005e

SET ROLE regress_app;
SELECT chat.upsert_profile(:'nia', 'customer', 'Nia') \g /dev/null
SELECT chat.upsert_profile(:'dot', 'stylist', 'Dot') \g /dev/null
SELECT chat.upsert_profile(:'rex', 'stylist', 'Rex') \g /dev/null
SELECT chat.pair_chat_id(:'nia', :'dot') AS nia_dot, chat.pair_chat_id(:'nia', :'rex') AS nia_rex \gset

-- While Nia is offline, Dot and Rex write to her; she answers Dot once.
BEGIN;
SELECT chat.act_as(:'dot') \g /dev/null
SELECT chat.chat_with(:'nia') = :'nia_dot' AS opened;
SELECT chat.send_message(:'nia_dot', 'Your colour is booked for Friday.');
SELECT chat.send_message(:'nia_dot', 'Please come 10 minutes early.');
COMMIT;
BEGIN;
SELECT chat.act_as(:'rex') \g /dev/null
SELECT chat.chat_with(:'nia') = :'nia_rex' AS opened;
SELECT chat.send_message(:'nia_rex', 'Thanks for the review!');
COMMIT;
BEGIN;
SELECT chat.act_as(:'nia') \g /dev/null
SELECT chat.send_message(:'nia_dot', 'Thank you, see you then.');
SELECT chat.act_as(:'dot') \g /dev/null
SELECT chat.send_message(:'nia_dot', 'Bring the photo you liked.');
COMMIT;

--
-- The exchange
--
-- Back online, Nia's client calls catch_up() without a position: it gets
-- the oldest messages sent to her, across her chats, at most max_rows,
-- and nothing is marked delivered yet.  Her own message is not among them.
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT CASE chat_id WHEN :'nia_dot' THEN 'Dot' WHEN :'nia_rex' THEN 'Rex' END AS chat, seq, body
  FROM chat.catch_up(NULL, 2);
-- Asking again without a position gives the same rows: a connection lost
-- before they arrived loses nothing.
SELECT CASE chat_id WHEN :'nia_dot' THEN 'Dot' WHEN :'nia_rex' THEN 'Rex' END AS chat, seq, body
  FROM chat.catch_up(NULL, 2);
SELECT chat.act_as(:'dot', for_session => true) \g /dev/null
SELECT other_delivered_seq FROM chat.get_chat(:'nia_dot');

-- Having stored them, the client passes back, per chat, the highest seq it
-- holds.  That moves Nia's delivered marks, and the same call returns the
-- next rows above them.
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT CASE chat_id WHEN :'nia_dot' THEN 'Dot' WHEN :'nia_rex' THEN 'Rex' END AS chat, seq, body
  FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', :'nia_dot', 'seq', 2)), 2);
-- Dot now sees that Nia has received her first two messages (the double
-- tick); she has not read them.
SELECT chat.act_as(:'dot', for_session => true) \g /dev/null
SELECT last_seq, other_read_seq, other_delivered_seq FROM chat.get_chat(:'nia_dot');

-- The last batch is acknowledged by a call that returns nothing.  Giving
-- a position again, or an older one, changes nothing: marks never move
-- backwards.
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT count(*) AS more FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 4}, {"chat_id": "%s", "seq": 1}]',
                                                  :'nia_dot', :'nia_rex')::jsonb);
SELECT count(*) AS more FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 4}, {"chat_id": "%s", "seq": 0}]',
                                                  :'nia_dot', :'nia_rex')::jsonb);
SELECT chat.act_as(:'dot', for_session => true) \g /dev/null
SELECT other_delivered_seq FROM chat.get_chat(:'nia_dot');

--
-- The live path
--
-- A client that got a message through its LISTEN channel (and fetched it
-- with messages_since) acknowledges it with ack_delivered(chat_id, seq),
-- which returns the delivered mark.
SELECT chat.send_message(:'nia_dot', 'Running 5 minutes late, sorry!');
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT seq, body FROM chat.messages_since(:'nia_dot', 4);
SELECT chat.ack_delivered(:'nia_dot', 5);
SELECT chat.ack_delivered(:'nia_dot', 2);     -- never backwards
SELECT count(*) AS more FROM chat.catch_up();
-- The old call undelivered() still works as in 1.0, and moves the same
-- marks when its transaction commits, without an acknowledgement.
SELECT chat.act_as(:'rex', for_session => true) \g /dev/null
SELECT chat.send_message(:'nia_rex', 'Leave us a photo too?');
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT seq, body FROM chat.undelivered();
SELECT count(*) AS more FROM chat.catch_up();
SELECT chat.act_as(:'rex', for_session => true) \g /dev/null
SELECT other_delivered_seq FROM chat.get_chat(:'nia_rex');

--
-- Refusals: nothing moves
--
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT chat.send_message(:'nia_dot', 'One more thing.') \g /dev/null
SELECT chat.act_as(:'dot', for_session => true) \g /dev/null
SELECT chat.send_message(:'nia_dot', 'Yes?') AS last_seq;
-- Only the actor's own chats: a chat of somebody else, or none at all,
-- gives the one answer of every function (42501), even beside a position
-- of her own that is fine.
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 7}, {"chat_id": "%s", "seq": 1}]',
                                   :'nia_dot', chat.pair_chat_id(:'ana', :'sam'))::jsonb);
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 1}]', :'no_such_chat')::jsonb);
SELECT chat.ack_delivered(chat.pair_chat_id(:'ana', :'sam'), 1);
-- A position beyond the chat's last message, or negative, or malformed.
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 8}]', :'nia_dot')::jsonb);
SELECT chat.ack_delivered(:'nia_dot', 8);
SELECT chat.ack_delivered(:'nia_dot', -1);
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s", "seq": -1}]', :'nia_dot')::jsonb);
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 1.5}]', :'nia_dot')::jsonb);
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s", "seq": "7"}]', :'nia_dot')::jsonb);
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s"}]', :'nia_dot')::jsonb);
SELECT * FROM chat.catch_up('[{"chat_id": "nia", "seq": 7}]');
SELECT * FROM chat.catch_up('[{"chat_id": null, "seq": 7}]');
SELECT * FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 7, "at": 1}]', :'nia_dot')::jsonb);
SELECT * FROM chat.catch_up('[7]');
SELECT * FROM chat.catch_up('{"seq": 7}');
SELECT * FROM chat.catch_up((SELECT jsonb_agg(jsonb_build_object('chat_id', :'nia_dot', 'seq', 1))
                               FROM generate_series(1, 1001)));
SELECT * FROM chat.catch_up(NULL, 0);
SELECT * FROM chat.catch_up(NULL, NULL);
SELECT chat.ack_delivered(NULL, 1);
SELECT chat.ack_delivered(:'nia_dot', NULL);
-- After all that, Nia's mark of Dot's chat is where it was.
SELECT chat.act_as(:'dot', for_session => true) \g /dev/null
SELECT other_delivered_seq FROM chat.get_chat(:'nia_dot');
-- A chat named twice counts with its highest seq; JSON null is no position.
SELECT chat.act_as(:'nia', for_session => true) \g /dev/null
SELECT seq, body FROM chat.catch_up(format('[{"chat_id": "%s", "seq": 5}, {"chat_id": "%s", "seq": 6}]',
                                           :'nia_dot', :'nia_dot')::jsonb);
SELECT seq, body FROM chat.catch_up('null', 1);
-- An admin takes part in no chat: nothing to catch up, nothing to
-- acknowledge.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT count(*) FROM chat.catch_up();
SELECT chat.ack_delivered(:'nia_dot', 1);
-- Without an actor, and for a role outside chat_service, nothing.
SELECT chat.reset_actor() \g /dev/null
SELECT * FROM chat.catch_up();
SELECT chat.ack_delivered(:'nia_dot', 1);
RESET ROLE;
SET ROLE regress_nobody;
SELECT * FROM chat.catch_up();
SELECT chat.ack_delivered(:'nia_dot', 1);
RESET ROLE;
