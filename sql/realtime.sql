--
-- realtime: what a connected client uses: its private LISTEN channel,
-- typing notices, the catch-up of the messages it missed while offline,
-- and the relay's status.  The output is the same whether or not the
-- library is preloaded: nothing here waits for the relay worker.
--
\i sql/ids.psql
\pset null '(null)'

SET ROLE regress_app;

-- People of their own for this file: customers Dee and Eve, and Uma, a
-- stylist, with a chat each.
SELECT chat.upsert_profile(:'dee', 'customer', 'Dee') \g /dev/null
SELECT chat.upsert_profile(:'eve', 'customer', 'Eve') \g /dev/null
SELECT chat.upsert_profile(:'uma', 'stylist', 'Uma') \g /dev/null
BEGIN;
SELECT chat.act_as(:'uma') \g /dev/null
SELECT chat.chat_with(:'dee') AS dee_uma, chat.chat_with(:'eve') AS eve_uma \gset
COMMIT;

--
-- The private channel
--
-- listen_channel(): the actor's channel, "chat_" and 40 hex digits of an
-- HMAC of the profile id under a key made at CREATE EXTENSION.  The key is
-- random, so only the shape of the name is shown.
SELECT chat.act_as(:'uma', for_session => true) \g /dev/null
SELECT length(chat.listen_channel()) AS length,
       left(chat.listen_channel(), 5) AS prefix,
       chat.listen_channel() ~ '^chat_[0-9a-f]{40}$' AS lowercase_hex;
SELECT chat.listen_channel() AS uma_channel \gset
-- Every profile has its own.
SELECT chat.act_as(:'dee', for_session => true) \g /dev/null
SELECT chat.listen_channel() <> :'uma_channel' AS differs_from_umas;
-- Without an actor there is none.
SELECT chat.reset_actor() \g /dev/null
SELECT chat.listen_channel();
-- The key is for the extension owner only, not for the application.
SELECT key FROM chat.secrets;
-- A role outside chat_service cannot ask for a channel at all.
RESET ROLE;
SET ROLE regress_nobody;
SELECT chat.listen_channel();
RESET ROLE;
SET ROLE regress_app;

-- listen(): LISTEN on the actor's channel, and return its name.  Like
-- LISTEN itself, it takes effect when the transaction commits.
BEGIN;
SELECT chat.act_as(:'uma') \g /dev/null
SELECT chat.listen() = :'uma_channel' AS is_umas_channel;
SELECT count(*) AS listening_before_commit FROM pg_listening_channels();
COMMIT;
SELECT pg_listening_channels() = :'uma_channel' AS listening_after_commit;
UNLISTEN *;

--
-- Typing
--
-- typing(chat_id): tell the other participant the actor is typing.  It is
-- relayed at once and never stored: the chat has no message yet.
SELECT chat.act_as(:'dee', for_session => true) \g /dev/null
SELECT chat.typing(:'dee_uma');
SELECT last_seq, last_message_at FROM chat.get_chat(:'dee_uma');
-- Only a participant types in a chat: Eve gets for Dee's chat the very
-- error a made-up chat id gets.
SELECT chat.act_as(:'eve', for_session => true) \g /dev/null
SELECT chat.typing(:'dee_uma');
SELECT chat.typing(:'no_such_chat');
SELECT chat.typing(NULL);

--
-- Catching up
--
-- While Uma is offline, Dee and Eve write to her, one message after the
-- other; the last thing Uma did was answer Dee.  Dee deletes a message
-- sent by mistake, and Eve sends a photo.
SELECT chat.act_as(:'dee', for_session => true) \g /dev/null
SELECT chat.send_message(:'dee_uma', 'Hi Uma!');
SELECT chat.send_message(:'dee_uma', 'Are you free on Saturday?');
SELECT chat.act_as(:'eve', for_session => true) \g /dev/null
SELECT chat.send_message(:'eve_uma', 'Hello, do you do braids?');
SELECT chat.act_as(:'uma', for_session => true) \g /dev/null
SELECT chat.send_message(:'dee_uma', 'Yes, at 10?');
SELECT chat.act_as(:'dee', for_session => true) \g /dev/null
SELECT chat.send_message(:'dee_uma', 'Perfect, see you then.');
SELECT chat.send_message(:'dee_uma', 'Oops, wrong chat');
SELECT chat.delete_message(:'dee_uma', 5) \g /dev/null
SELECT chat.act_as(:'eve', for_session => true) \g /dev/null
SELECT chat.send_message(:'eve_uma', 'Like this one',
    attachments => '[{"storage_key": "eve/braids.jpg", "content_type": "image/jpeg",
                      "byte_size": 4096, "width": 600, "height": 800}]');

-- Back online, Uma calls undelivered(max_rows) until it returns nothing.
-- Each call returns the oldest messages she has not fetched yet, across
-- all her chats, and marks them delivered.  Her own message is not among
-- them; the deleted one comes as a tombstone, without its body.
SELECT chat.act_as(:'uma', for_session => true) \g /dev/null
SELECT CASE chat_id WHEN :'dee_uma' THEN 'Dee' WHEN :'eve_uma' THEN 'Eve' END AS chat,
       seq, body, deleted_at IS NOT NULL AS deleted, jsonb_array_length(attachments) AS photos
  FROM chat.undelivered(2);
SELECT CASE chat_id WHEN :'dee_uma' THEN 'Dee' WHEN :'eve_uma' THEN 'Eve' END AS chat,
       seq, body, deleted_at IS NOT NULL AS deleted, jsonb_array_length(attachments) AS photos
  FROM chat.undelivered(2);
SELECT CASE chat_id WHEN :'dee_uma' THEN 'Dee' WHEN :'eve_uma' THEN 'Eve' END AS chat,
       seq, body, deleted_at IS NOT NULL AS deleted, jsonb_array_length(attachments) AS photos
  FROM chat.undelivered(2);
SELECT CASE chat_id WHEN :'dee_uma' THEN 'Dee' WHEN :'eve_uma' THEN 'Eve' END AS chat,
       seq, body, deleted_at IS NOT NULL AS deleted, jsonb_array_length(attachments) AS photos
  FROM chat.undelivered(2);

-- Fetched is not read: the unread counts are as they were (Dee's deleted
-- message is not counted, and Uma has read Dee's chat up to her answer).
SELECT other_name, unread_count FROM chat.inbox() ORDER BY other_name;

-- A new message comes in the next call, and only once.
SELECT chat.act_as(:'dee', for_session => true) \g /dev/null
SELECT chat.send_message(:'dee_uma', 'See you Saturday!');
SELECT chat.act_as(:'uma', for_session => true) \g /dev/null
SELECT seq, body FROM chat.undelivered();
SELECT seq, body FROM chat.undelivered();

-- Each participant has their own delivery mark: Dee has not fetched Uma's
-- answer yet.
SELECT chat.act_as(:'dee', for_session => true) \g /dev/null
SELECT seq, body FROM chat.undelivered();

-- An admin takes part in no chat, so nothing is undelivered to her.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT count(*) FROM chat.undelivered(1000);

-- max_rows is 1 to 1000, and an actor is needed.
SELECT * FROM chat.undelivered(0);
SELECT * FROM chat.undelivered(1001);
SELECT * FROM chat.undelivered(NULL);
SELECT chat.reset_actor() \g /dev/null
SELECT * FROM chat.undelivered();

--
-- The relay
--
-- relay_status(): the relay worker's state.  Most figures depend on the
-- server (is the library preloaded? does the worker serve this
-- database?), so only the columns, and what holds anyway, are shown.
SELECT * FROM chat.relay_status() WHERE false;
-- The worker serves one database (stylist_chat.database); in any other,
-- such as this test's, relay_status() says so with a NOTICE, shown once
-- here.
SELECT relayed_database = current_setting('stylist_chat.database') AS names_the_relayed_database,
       relays_this_database
  FROM chat.relay_status();
SET client_min_messages = warning;
SELECT running = (pid IS NOT NULL) AS pid_when_running,
       preloaded OR NOT running AS runs_only_when_preloaded,
       events_relayed >= 0 AND queued >= 0 AND dropped >= 0 AS counts
  FROM chat.relay_status();
-- preloaded says whether stylist_chat is in shared_preload_libraries, a
-- setting only a superuser may read.
RESET ROLE;
SELECT preloaded = (current_setting('shared_preload_libraries') ~ '(^|[\s,])stylist_chat($|[\s,])')
       AS preloaded_as_configured
  FROM chat.relay_status();
SET ROLE regress_app;

-- backlog: the messages not yet relayed.  It counts this transaction's
-- own messages too, which no worker can relay before they commit.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT backlog AS backlog_before FROM chat.relay_status() \gset
SELECT chat.act_as(:'eve') \g /dev/null
SELECT chat.send_message(:'eve_uma', 'One more thing...') \g /dev/null
SELECT chat.send_message(:'eve_uma', 'Can you make it shorter?') \g /dev/null
SELECT backlog - :backlog_before AS new_backlog FROM chat.relay_status();
ROLLBACK;
RESET client_min_messages;

RESET ROLE;
