-- test/pgtap/message_rows.sql: the readers of one chat (chat._chat_rows(),
-- behind history() and messages_since()) compute on the chat itself what
-- the view chat._message_rows computes on each row's chat (so that on a
-- Citus cluster the statement goes whole to the chat's node): both give
-- the same rows, for messages with images, a booking, a reply, reactions,
-- a hidden and a deleted one.  And what a single server says of Citus.
-- Everything is rolled back.
BEGIN;
SELECT plan(13);

SET client_min_messages = warning;
SELECT chat.upsert_profile('5e000000-0000-4000-8000-00000000ee01', 'stylist', 'Sty');
SELECT chat.upsert_profile('c0000000-0000-4000-8000-00000000ee01', 'customer', 'Cus');
SELECT chat.upsert_profile('ad000000-0000-4000-8000-00000000ee01', 'admin', 'Adm');
SELECT chat.upsert_booking('b0000000-0000-4000-8000-00000000ee01', 'c0000000-0000-4000-8000-00000000ee01',
                           '5e000000-0000-4000-8000-00000000ee01', 'Cut', now() + interval '2 days',
                           'confirmed');
CREATE TEMP TABLE t AS
SELECT chat.pair_chat_id('c0000000-0000-4000-8000-00000000ee01', '5e000000-0000-4000-8000-00000000ee01') AS id;
GRANT SELECT ON t TO PUBLIC;
SELECT chat.act_as('c0000000-0000-4000-8000-00000000ee01');
SELECT chat.send_message((SELECT id FROM t), 'two images',
                         attachments => '[{"storage_key": "k/1.jpg", "content_type": "image/jpeg", "byte_size": 10, "width": 1, "height": 1},
                                          {"storage_key": "k/2.png", "content_type": "image/png", "byte_size": 20, "width": 2, "height": 2}]');
SELECT chat.send_message((SELECT id FROM t), 'about the booking', booking_id => 'b0000000-0000-4000-8000-00000000ee01');
SELECT chat.send_message((SELECT id FROM t), 'a reply', reply_to_seq => 2);
SELECT chat.send_message((SELECT id FROM t), 'to be hidden');
SELECT chat.send_message((SELECT id FROM t), 'to be deleted');
SELECT chat.send_message((SELECT id FROM t), 'a reply to the hidden one', reply_to_seq => 5);
SELECT chat.react((SELECT id FROM t), 2, '👍');
SELECT chat.react((SELECT id FROM t), 2, '❤️');
SELECT chat.react((SELECT id FROM t), 5, '👍');
SELECT chat.delete_message((SELECT id FROM t), 6);
SELECT chat.act_as('5e000000-0000-4000-8000-00000000ee01');
SELECT chat.react((SELECT id FROM t), 2, '👍');
SELECT chat.react((SELECT id FROM t), 4, '😂');
SELECT chat.act_as('ad000000-0000-4000-8000-00000000ee01');
SELECT chat.hide_message((SELECT id FROM t), 5, 'rude');
SELECT chat.act_as('c0000000-0000-4000-8000-00000000ee01');

SELECT is((SELECT count(*) FROM chat._message_rows WHERE chat_id = (SELECT id FROM t)), 7::bigint,
          'the chat has 7 messages (a booking card first)');

-- the view's rows, the actor's reactions added as every reader adds them
-- (chat._chat_rows() leaves the booking to its callers)
CREATE TEMP VIEW from_view AS
SELECT m.chat_id, m.seq, m.sender_id, m.body, m.booking_id, m.client_msg_id, m.created_at,
       m.edited_at, m.deleted_at, m.hidden_at, m.attachments, m.kind, m.card,
       m.reply_to, m.reactions,
       CASE WHEN m.has_reactions
            THEN (SELECT coalesce(array_agg(x.emoji ORDER BY x.created_at, x.emoji), '{}')
                    FROM chat.reactions x
                   WHERE x.chat_id = m.chat_id AND x.seq = m.seq
                     AND x.profile_id = 'c0000000-0000-4000-8000-00000000ee01')
            ELSE '{}'::text[] END AS my_reactions
  FROM chat._message_rows m
 WHERE m.chat_id = (SELECT id FROM t);

SELECT set_eq($$SELECT * FROM chat._chat_rows((SELECT id FROM t), 1, 7, NULL,
                                             'c0000000-0000-4000-8000-00000000ee01')$$,
              $$SELECT * FROM from_view$$,
              'chat._chat_rows() gives the rows of the view chat._message_rows');
SELECT set_eq($$SELECT * FROM chat._chat_rows((SELECT id FROM t), 2, 4, NULL,
                                             'c0000000-0000-4000-8000-00000000ee01')$$,
              $$SELECT * FROM from_view WHERE seq BETWEEN 2 AND 4$$,
              '... only those of the range asked for');
SELECT set_eq($$SELECT * FROM chat._chat_rows((SELECT id FROM t), 2, 6, ARRAY[2, 4, 6]::bigint[],
                                             'c0000000-0000-4000-8000-00000000ee01')$$,
              $$SELECT * FROM from_view WHERE seq IN (2, 4, 6)$$,
              '... or only those of the seqs asked for');
-- what the rows hold, so that the comparison compares something
SELECT is((SELECT jsonb_array_length(attachments) FROM from_view WHERE seq = 2), 2,
          'the message with two images has them');
SELECT is((SELECT reactions FROM from_view WHERE seq = 2), '{"👍": 2, "❤️": 1}'::jsonb,
          '... and its reactions, with the actor''s own');
SELECT is((SELECT my_reactions FROM from_view WHERE seq = 2), ARRAY['❤️', '👍'],
          '... which my_reactions lists (oldest first; at one time, by emoji)');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM from_view
            WHERE booking_id IS NOT NULL OR reply_to IS NOT NULL OR hidden_at IS NOT NULL
               OR deleted_at IS NOT NULL),
          ARRAY[1, 3, 4, 5, 6, 7]::bigint[],
          'a booking card, a message about a booking, replies, a hidden and a deleted message are among them');

-- the booking, which the callers add: as the view has it
SELECT set_eq($$SELECT seq, booking FROM chat.history((SELECT id FROM t))$$,
              $$SELECT seq, booking FROM chat._message_rows WHERE chat_id = (SELECT id FROM t)$$,
              'history() gives each message the booking the view gives it');
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM chat.messages_since((SELECT id FROM t), 0)
            WHERE booking->>'service' = 'Cut'),
          ARRAY[1, 3]::bigint[],
          '... which the card and the message about the booking have');

-- one server: nothing is distributed, and distributing needs Citus
SELECT is(chat._distributed(), false, 'on one server chat._distributed() is false');
SELECT lives_ok($$SELECT chat._refuse_on_citus('kpis')$$,
                'chat._refuse_on_citus() lets everything run on one server');
SELECT throws_ok('SELECT * FROM chat.distribute_tables()', '55000',
                 'chat.distribute_tables() needs Citus, and the extension citus is not installed in this database',
                 'chat.distribute_tables() without Citus: 55000, and what to do');

SELECT * FROM finish();
ROLLBACK;
