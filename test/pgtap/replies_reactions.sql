-- test/pgtap/replies_reactions.sql: replies, reactions and booking cards,
-- rule by rule.
BEGIN;
\ir fixtures.psql
SELECT plan(37);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'message ' || i) FROM generate_series(1, 5) i;
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), 'carol''s message');

--
-- Replies
--
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'a reply', reply_to_seq => 2), 6::bigint,
          'a reply is sent like any message');
SELECT results_eq($$SELECT reply_to FROM chat.history(pg_temp.chat_of('alice', 'sam'), max_rows => 1)$$,
                  $$VALUES (jsonb_build_object('seq', 2, 'sender_id', pg_temp.id('alice'), 'preview', 'message 2'))$$,
                  'history carries the quoted message''s seq, sender and preview');
SELECT is((SELECT reply_to_seq FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 6),
          2::bigint, 'the reply stores the quoted seq');
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE reply_to IS NOT NULL),
          1::bigint, 'messages that quote nothing have reply_to NULL');
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'x', reply_to_seq => 7)$$),
          '22023: reply_to_seq 7: no such message in this chat (hint: A reply quotes an earlier message of the same chat.)',
          'a reply to a seq not (yet) in the chat: 22023');
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'x', reply_to_seq => 0)$$),
          '22023: reply_to_seq 0: no such message in this chat (hint: A reply quotes an earlier message of the same chat.)',
          'a reply to seq 0: 22023');
SELECT is(pg_temp.error_of($$SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), 'x', reply_to_seq => 2)$$),
          '22023: reply_to_seq 2: no such message in this chat (hint: A reply quotes an earlier message of the same chat.)',
          'a reply quotes a message of its own chat only');
SELECT is((SELECT last_seq FROM chat.chats WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 6::bigint,
          'the refused replies stored nothing');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 2);
SELECT is((SELECT reply_to->>'preview' FROM chat.history(pg_temp.chat_of('alice', 'sam'), max_rows => 1)),
          '[deleted]', 'the quoted message deleted: the reply shows [deleted]');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 6, 'test');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'quoting the hidden one', reply_to_seq => 6);
SELECT is((SELECT reply_to->>'preview' FROM chat.undelivered() WHERE seq = 7), NULL,
          'undelivered carries replies too (none for sam: he wrote it)');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT seq, reply_to->>'preview' FROM chat.undelivered() WHERE seq = 7$$,
                  $$VALUES (7::bigint, '[hidden]')$$,
                  'a quoted message hidden by a moderator shows [hidden] (in undelivered)');

--
-- Reactions
--
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(chat.react(pg_temp.chat_of('alice', 'sam'), 7, '👍'), '{"👍": 1}'::jsonb, 'react returns the counts');
SELECT is(chat.react(pg_temp.chat_of('alice', 'sam'), 7, '👍'), '{"👍": 1}'::jsonb, 'the same reaction again is a no-op');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 7, '👍');
SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 7, '🔥');
SELECT results_eq($$SELECT reactions, my_reactions FROM chat.messages_since(pg_temp.chat_of('alice', 'sam'), 6)$$,
                  $$VALUES ('{"👍": 2, "🔥": 1}'::jsonb, '{👍,🔥}'::text[])$$,
                  'rows carry the counts and the actor''s own reactions');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT my_reactions FROM chat.messages_since(pg_temp.chat_of('alice', 'sam'), 6)$$,
                  $$VALUES ('{👍}'::text[])$$,
                  '... each actor their own');
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 6, '👍')$$),
          '55000: message 6 of chat <id> is hidden (hint: A deleted or hidden message takes no reactions.)',
          'a hidden message takes no reaction');
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 99, '👍')$$),
          '22023: message 99 does not exist in chat <id>',
          'a seq that does not exist: 22023');
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 7, 'ok')$$),
          '22023: emoji must be a single emoji (hint: Pass one emoji such as 👍, ❤️ or 👍🏽.)',
          'text is not an emoji');
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 7, NULL)$$),
          '22004: emoji must not be null', 'a NULL emoji: 22004');
SELECT is((SELECT count(*) FROM (SELECT chat._check_emoji(e)
                                   FROM unnest(ARRAY['👍', '❤️', '👍🏿', '👩‍👩‍👧‍👦', '🧑🏽‍🎨', '🇯🇵',
                                                     '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '#️⃣', '☕', '✂️', '🪮']) AS e) x),
          11::bigint, 'emoji with skin tones, joiner sequences, flags, tag flags, keycaps and symbols pass');
SELECT is((SELECT count(*) FILTER (WHERE pg_temp.error_of(format('SELECT chat._check_emoji(%L)', e)) LIKE '22023:%')
             FROM unnest(ARRAY['a', '1', 'é', '👍👍', '🇯', ' 👍', '👍 ', E'👍\n', '😀x', '<b>', repeat('👍', 20),
                               '‍', '️', '🏽']) AS e),
          14::bigint, 'letters, digits, two emoji, a lone regional indicator, spaces, joiners, selectors or tones alone fail');
-- at most 20 different emoji per person on a message
SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 5, chr(x)) FROM generate_series(128512, 128531) x;
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 5, '🦄')$$),
          '54000: at most 20 different reactions per person to a message (hint: Take one back with chat.unreact() first.)',
          'the 21st different emoji of one person on one message: 54000');
SELECT is(chat.unreact(pg_temp.chat_of('alice', 'sam'), 7, '👍'), '{"👍": 1, "🔥": 1}'::jsonb,
          'unreact takes the actor''s own reaction back, not the other''s');
SELECT is(chat.unreact(pg_temp.chat_of('alice', 'sam'), 7, '👍'), '{"👍": 1, "🔥": 1}'::jsonb,
          'unreacting again is a no-op');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 4, '🔥');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 4);
SELECT results_eq($$SELECT reactions, my_reactions FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE seq = 4$$,
                  $$VALUES ('{}'::jsonb, '{}'::text[])$$,
                  'a deleted message shows no reactions');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 7, '👍')$$),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'an outsider cannot react: the one error for someone else''s chat');
SELECT chat.reset_actor();
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 7, '👍')$$) LIKE '28000:%', true,
          'without an actor: 28000');

SELECT is((SELECT count(*) FROM chat.chat_messages m
            WHERE m.reaction_count <> (SELECT count(*) FROM chat.reactions r
                                        WHERE r.chat_id = m.chat_id AND r.seq = m.seq)), 0::bigint,
          'every message''s reaction_count is the number of its reactions, after reacting and taking back');

SELECT is(pg_temp.error_of($$SELECT chat._check_emoji('🏴' || (SELECT string_agg(chr(917504 + ascii(c)), '') FROM regexp_split_to_table('call5551234', '') c) || chr(917631))$$),
          '22023: emoji must be a single emoji (hint: Pass one emoji such as 👍, ❤️ or 👍🏽.)',
          'a black flag carrying text in tag characters is not an emoji');
SELECT is(pg_temp.error_of($$SELECT chat._check_emoji(array_to_string(array_fill('😀'::text, ARRAY[5]), chr(8205)))$$),
          '22023: emoji must be a single emoji (hint: Pass one emoji such as 👍, ❤️ or 👍🏽.)',
          'five emoji joined by zero-width joiners are not one');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 3, '🔥');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 3, 'test');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(chat.unreact(pg_temp.chat_of('alice', 'sam'), 3, '😀'), '{}'::jsonb,
          'unreact on a hidden message does not show its counts');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.clear_history(pg_temp.chat_of('alice', 'sam'));
SELECT is(pg_temp.error_of($$SELECT chat.react(pg_temp.chat_of('alice', 'sam'), 7, '👍')$$),
          '22023: message 7 does not exist in chat <id>',
          'a message the actor cleared takes no reaction from them: it does not exist for them');
SELECT is(pg_temp.error_of($$SELECT chat.upsert_profile('00000000-0000-0000-0000-000000000000', 'customer', 'Nil')$$),
          '22023: the nil UUID is not a profile id', 'the nil UUID (a card''s missing sender) is no profile');

--
-- Booking cards
--
SET stylist_chat.booking_cards = on;
SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'), 'Cut', '2030-01-01 10:00+00', 'pending');
SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'), 'Cut', '2030-01-01 10:00+00', 'pending');
SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'), 'Cut', '2030-01-02 10:00+00', 'cancelled');
SELECT results_eq($$SELECT seq, sender_id, kind, card->>'event', booking_id FROM chat.chat_messages
                     WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND kind = 'booking' ORDER BY seq$$,
                  $$VALUES (8::bigint, NULL::uuid, 'booking', 'booked', pg_temp.id('b1')),
                           (9::bigint, NULL::uuid, 'booking', 'rescheduled', pg_temp.id('b1')),
                           (10::bigint, NULL::uuid, 'booking', 'cancelled', pg_temp.id('b1'))$$,
                  'a new booking, a new time and a new status post a card each; the same state again none');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT results_eq($$SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (3)$$, 'the cards are unread for the stylist ...');
SELECT is((SELECT count(*) FROM chat.undelivered() WHERE kind = 'booking'), 3::bigint,
          '... and delivered to him through undelivered()');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.mark_read(pg_temp.chat_of('alice', 'sam'), 7);
SELECT results_eq($$SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))$$,
                  $$VALUES (3)$$, 'and for the customer, recounted exactly when her read mark moves');

SELECT * FROM finish();
ROLLBACK;
