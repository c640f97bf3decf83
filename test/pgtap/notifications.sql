-- test/pgtap/notifications.sql: offline notifications and unread reminders,
-- rule by rule.  The relay worker calls chat._note_messages() with each
-- batch it relays; here the test calls it (as the owner, inside this one
-- transaction, which the worker never sees), with messages dated back so
-- that their notifications are due, at the default delays (30 s for a
-- notification, 4 h for an unread reminder).
BEGIN;
\ir fixtures.psql
SELECT plan(65);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Mia Stylist');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.chat_with(pg_temp.id('sue'));

-- send as someone, dated back: the message's time is then - ago
CREATE FUNCTION pg_temp.send(who text, customer text, stylist text, body text, ago interval)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
BEGIN
    PERFORM chat.act_as(pg_temp.id(who));
    v_seq := chat.send_message(pg_temp.chat_of(customer, stylist), body);
    UPDATE chat.chat_messages SET created_at = now() - ago
     WHERE chat_id = pg_temp.chat_of(customer, stylist) AND seq = v_seq;
    RETURN v_seq;
END
$$;

-- what the relay worker does with these messages of a chat
CREATE FUNCTION pg_temp.note(customer text, stylist text, from_seq bigint, to_seq bigint)
RETURNS void LANGUAGE sql AS $$
    SELECT chat._note_messages(array_agg(m.chat_id ORDER BY m.seq), array_agg(m.seq ORDER BY m.seq),
                               array_agg(m.sender_id ORDER BY m.seq),
                               array_agg(c.customer_id ORDER BY m.seq),
                               array_agg(c.stylist_id ORDER BY m.seq),
                               array_agg(m.created_at ORDER BY m.seq))
      FROM chat.chat_messages m JOIN chat.chats c ON c.chat_id = m.chat_id
     WHERE m.chat_id = pg_temp.chat_of(customer, stylist) AND m.seq BETWEEN from_seq AND to_seq
$$;

CREATE FUNCTION pg_temp.claim() RETURNS SETOF record LANGUAGE sql AS $$
    SELECT kind, recipient_id, message_count, first_seq, last_seq FROM chat.claim_notifications(100, '1 minute')
$$;

-- The worker records, per recipient and chat, a notification and a reminder.
SELECT pg_temp.send('alice', 'alice', 'sam', 'Hi, can I move Friday to 3pm?', '5 minutes');
SELECT pg_temp.note('alice', 'sam', 1, 1);
SELECT results_eq($$SELECT kind, recipient_id, first_seq, last_seq, status,
                           available_at - first_at FROM chat.notifications ORDER BY kind$$,
                  $$VALUES ('messages', pg_temp.id('sam'), 1::bigint, 1::bigint, 'waiting', interval '30 seconds'),
                           ('reminder', pg_temp.id('sam'), 1::bigint, 1::bigint, 'waiting', interval '4 hours')$$,
                  'a message gives its recipient a notification due after 30 s and a reminder after 4 h');

-- Later messages coalesce into the waiting ones.
SELECT pg_temp.send('alice', 'alice', 'sam', 'Or Saturday morning.', '4 minutes');
SELECT pg_temp.send('alice', 'alice', 'sam', 'Thanks!', '3 minutes');
SELECT pg_temp.note('alice', 'sam', 2, 3);
SELECT results_eq($$SELECT kind, first_seq, last_seq FROM chat.notifications ORDER BY kind$$,
                  $$VALUES ('messages', 1::bigint, 3::bigint), ('reminder', 1::bigint, 3::bigint)$$,
                  'three messages, one notification (and one reminder)');
SELECT pg_temp.note('alice', 'sam', 1, 3);
SELECT is((SELECT count(*) FROM chat.notifications), 2::bigint,
          'the worker noting the same messages again changes nothing');

-- Booking cards and the sender's own side notify nobody.
SELECT chat._note_messages(ARRAY[pg_temp.chat_of('alice', 'sam')], ARRAY[99::bigint], ARRAY[NULL::uuid],
                           ARRAY[pg_temp.id('alice')], ARRAY[pg_temp.id('sam')], ARRAY[now()]);
SELECT is((SELECT count(*) FROM chat.notifications), 2::bigint, 'a message without sender (a booking card) notifies nobody');
-- (seq 99 was only for that: the chat's noted seq goes back to its last message)
UPDATE chat.relay_watermark SET noted_seq = 3 WHERE chat_id = pg_temp.chat_of('alice', 'sam');
SELECT is((SELECT count(*) FROM chat.notifications WHERE recipient_id = pg_temp.id('alice')), 0::bigint,
          'the sender is not notified of their own messages');

-- Claimed when due: whom to tell, of how many messages, from whom.
SELECT results_eq($$SELECT kind, recipient_id, sender_id, sender_name, message_count, first_seq, last_seq,
                           show_preview, preview, attempt
                      FROM chat.claim_notifications(10, '1 minute')$$,
                  $$VALUES ('messages', pg_temp.id('sam'), pg_temp.id('alice'), 'Alice', 3, 1::bigint, 3::bigint,
                            false, NULL::text, 1)$$,
                  'the due notification: Alice sent 3 messages; no preview by default');
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute')), 0::bigint,
          'a leased notification is not offered to another sender');
SELECT ok((SELECT available_at BETWEEN now() + interval '59 seconds' AND now() + interval '61 seconds'
             FROM chat.notifications WHERE kind = 'messages' AND status = 'leased'),
          'the lease runs for the time asked');

-- A message after the claim starts a new notification.
SELECT pg_temp.send('alice', 'alice', 'sam', 'Are you there?', '2 minutes');
SELECT pg_temp.note('alice', 'sam', 4, 4);
SELECT results_eq($$SELECT first_seq, last_seq, status FROM chat.notifications WHERE kind = 'messages' ORDER BY id$$,
                  $$VALUES (1::bigint, 3::bigint, 'leased'), (4::bigint, 4::bigint, 'waiting')$$,
                  'a message after the claim is not added to the leased notification but waits in a new one');

-- Complete: removed, once.
SELECT ok(chat.complete_notification((SELECT id FROM chat.notifications WHERE kind = 'messages' AND status = 'leased')),
          'completing a leased notification returns true');
SELECT is((SELECT count(*) FROM chat.notifications WHERE first_seq = 1 AND kind = 'messages'), 0::bigint,
          'and removes it');
SELECT ok(NOT chat.complete_notification((SELECT max(id) FROM chat.notifications) + 1000),
          'completing one that is not leased returns false');

-- Delivered in time: the recipient's session fetched the message.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT count(*) FROM chat.undelivered();
SELECT is((SELECT count(*) FROM pg_temp.claim() AS (kind text, recipient uuid, n integer, f bigint, l bigint)
            WHERE kind = 'messages'), 0::bigint,
          'a message that reached a session of its recipient gives no notification');
SELECT is((SELECT count(*) FROM chat.notifications WHERE kind = 'messages'), 0::bigint,
          'and the notification is dropped');

-- Delivered but unread: the reminder still comes, after 4 hours.
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute') WHERE kind = 'reminder'), 0::bigint,
          'no reminder before 4 hours');
UPDATE chat.chat_messages SET created_at = created_at - interval '5 hours' WHERE chat_id = pg_temp.chat_of('alice', 'sam');
UPDATE chat.notifications SET first_at = first_at - interval '5 hours', available_at = available_at - interval '5 hours'
 WHERE kind = 'reminder';
SELECT results_eq($$SELECT kind, recipient_id, message_count, first_seq, last_seq
                      FROM chat.claim_notifications(10, '1 minute')$$,
                  $$VALUES ('reminder', pg_temp.id('sam'), 4, 1::bigint, 4::bigint)$$,
                  'a chat unread for 4 hours gives one reminder, with the unread count');
SELECT ok(chat.complete_notification((SELECT id FROM chat.notifications WHERE kind = 'reminder')), 'the reminder is completed');

-- Read meanwhile: no reminder.
SELECT pg_temp.send('alice', 'alice', 'sam', 'One more thing', '5 hours');
SELECT pg_temp.note('alice', 'sam', 5, 5);
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.mark_read(pg_temp.chat_of('alice', 'sam'), 5);
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute')), 0::bigint,
          'a message read before its notification is due notifies nobody (neither kind)');
SELECT is((SELECT count(*) FROM chat.notifications), 0::bigint, 'both are dropped');

-- Partly delivered: only what did not get through, each after its own delay.
SELECT pg_temp.send('carol', 'carol', 'sam', 'first', '10 minutes');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT count(*) FROM chat.undelivered();
SELECT pg_temp.send('carol', 'carol', 'sam', 'second', '10 seconds');
SELECT pg_temp.note('carol', 'sam', 1, 2);
UPDATE chat.notifications SET available_at = now() - interval '1 second' WHERE kind = 'messages';
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute')), 0::bigint,
          'the first message was delivered; the second is not 30 s old yet: nothing now');
SELECT results_eq($$SELECT first_seq, last_seq, status, available_at FROM chat.notifications WHERE kind = 'messages'$$,
                  $$SELECT 2::bigint, 2::bigint, 'waiting', created_at + interval '30 seconds'
                      FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('carol', 'sam') AND seq = 2$$,
                  'the notification now starts at the second message, due 30 s after it');
UPDATE chat.chat_messages SET created_at = created_at - interval '1 minute' WHERE chat_id = pg_temp.chat_of('carol', 'sam');
UPDATE chat.notifications SET first_at = first_at - interval '1 minute', available_at = available_at - interval '1 minute'
 WHERE kind = 'messages';
SELECT results_eq($$SELECT kind, message_count, first_seq, last_seq FROM chat.claim_notifications(10, '1 minute')$$,
                  $$VALUES ('messages', 1, 2::bigint, 2::bigint)$$,
                  'then it is due, for the second message only');
DELETE FROM chat.notifications;

-- Deleted and hidden messages are not counted; none left, no notification.
SELECT pg_temp.send('carol', 'carol', 'sue', 'oops', '5 minutes');
SELECT pg_temp.send('carol', 'carol', 'sue', 'real question', '5 minutes');
SELECT pg_temp.note('carol', 'sue', 1, 2);
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.delete_message(pg_temp.chat_of('carol', 'sue'), 1);
SELECT results_eq($$SELECT message_count, first_seq, last_seq FROM chat.claim_notifications(10, '1 minute')
                     WHERE kind = 'messages'$$,
                  $$VALUES (1, 2::bigint, 2::bigint)$$,
                  'a deleted message is not counted');
DELETE FROM chat.notifications;
SELECT pg_temp.send('carol', 'carol', 'sue', 'gone too', '5 minutes');
SELECT pg_temp.note('carol', 'sue', 3, 3);
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.delete_message(pg_temp.chat_of('carol', 'sue'), 3);
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute')), 0::bigint,
          'when every message it covers is deleted, there is nothing to notify');
SELECT is((SELECT count(*) FROM chat.notifications WHERE kind = 'messages'), 0::bigint, 'and it is dropped');

-- Muted and blocked chats notify nobody.
SELECT pg_temp.send('carol', 'carol', 'sue', 'muted?', '5 minutes');
SELECT pg_temp.note('carol', 'sue', 4, 4);
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.mute(pg_temp.chat_of('carol', 'sue'), now() + interval '1 hour');
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute')), 0::bigint,
          'a chat the recipient muted gives no notification');
SELECT is((SELECT count(*) FROM chat.notifications WHERE kind = 'messages'), 0::bigint,
          'the muted chat''s notification is dropped (its reminder when due)');
SELECT chat.unmute(pg_temp.chat_of('carol', 'sue'));
SELECT pg_temp.send('carol', 'carol', 'sue', 'blocked?', '5 minutes');
SELECT pg_temp.note('carol', 'sue', 5, 5);
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.block(pg_temp.chat_of('carol', 'sue'));
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute')), 0::bigint,
          'a blocked chat gives no notification');
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.unblock(pg_temp.chat_of('carol', 'sue'));
DELETE FROM chat.notifications;

-- Previews only when the recipient allows them.
SELECT chat.act_as(pg_temp.id('sue'));
SELECT results_eq($$SELECT * FROM chat.notification_preferences()$$,
                  $$VALUES (false, 'UTC', NULL::time, NULL::time)$$,
                  'the defaults: no previews, UTC, no quiet hours');
SELECT lives_ok($$SELECT chat.set_notification_preferences(true)$$, 'a profile allows previews');
SELECT pg_temp.send('carol', 'carol', 'sue', repeat('long text ', 20), '5 minutes');
SELECT pg_temp.note('carol', 'sue', 6, 6);
SELECT results_eq($$SELECT show_preview, preview FROM chat.claim_notifications(10, '1 minute')$$,
                  $$VALUES (true, left(repeat('long text ', 20), 119) || '…')$$,
                  'with previews allowed, the last message''s text, cut to 120 characters');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sue'), '',
                         attachments => '[{"storage_key": "k/1.jpg", "content_type": "image/jpeg", "byte_size": 100, "width": 10, "height": 10}]');
UPDATE chat.chat_messages SET created_at = now() - interval '5 minutes'
 WHERE chat_id = pg_temp.chat_of('carol', 'sue') AND seq = 7;
SELECT pg_temp.note('carol', 'sue', 7, 7);
SELECT results_eq($$SELECT preview FROM chat.claim_notifications(10, '1 minute')$$,
                  $$VALUES ('sent 1 image')$$,
                  'an image without text is previewed as such');
DELETE FROM chat.notifications;

-- Quiet hours, read in the profile's time zone.
SELECT chat.act_as(pg_temp.id('sue'));
SELECT lives_ok($$SELECT chat.set_notification_preferences(false, 'Europe/Berlin', '22:00', '07:00')$$,
                'quiet hours from 22:00 to 07:00, Berlin time');
SELECT results_eq($$SELECT * FROM chat.notification_preferences()$$,
                  $$VALUES (false, 'Europe/Berlin', '22:00'::time, '07:00'::time)$$,
                  'the preferences read back');
SELECT is(chat._quiet_until(pg_temp.id('sue'), '2026-01-10 23:30 Europe/Berlin'),
          '2026-01-11 07:00 Europe/Berlin'::timestamptz, 'at 23:30 they end at 07:00 the next morning');
SELECT is(chat._quiet_until(pg_temp.id('sue'), '2026-01-11 03:00 Europe/Berlin'),
          '2026-01-11 07:00 Europe/Berlin'::timestamptz, 'at 03:00 they end at 07:00 that morning');
SELECT is(chat._quiet_until(pg_temp.id('sue'), '2026-01-11 07:00 Europe/Berlin'), NULL,
          'at 07:00 they are over');
SELECT is(chat._quiet_until(pg_temp.id('sue'), '2026-01-10 21:59 Europe/Berlin'), NULL,
          'at 21:59 they have not begun');
SELECT is(chat._quiet_until(pg_temp.id('sue'), '2026-07-10 22:30 Europe/Berlin'),
          '2026-07-11 07:00 Europe/Berlin'::timestamptz, 'in summer time too');
SELECT is(chat._quiet_until(pg_temp.id('sue'), '2026-01-10 22:30 UTC'),
          '2026-01-11 07:00 Europe/Berlin'::timestamptz, 'whatever zone the time is given in');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.set_notification_preferences(false, 'America/New_York', '12:00', '13:30');
SELECT is(chat._quiet_until(pg_temp.id('sam'), '2026-03-02 12:15 America/New_York'),
          '2026-03-02 13:30 America/New_York'::timestamptz, 'a window within one day');
SELECT is(chat._quiet_until(pg_temp.id('alice'), now()), NULL, 'a profile without preferences has no quiet hours');

-- A notification due in quiet hours waits for their end.
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.set_notification_preferences(false, 'UTC', (now() - interval '1 hour')::time,
                                         (now() + interval '1 hour')::time);
SELECT pg_temp.send('carol', 'carol', 'sue', 'at night', '5 minutes');
SELECT pg_temp.note('carol', 'sue', 8, 8);
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute')), 0::bigint,
          'nothing is sent in quiet hours');
SELECT results_eq($$SELECT status, available_at FROM chat.notifications WHERE kind = 'messages'$$,
                  $$SELECT 'waiting', chat._quiet_until(pg_temp.id('sue'), now())$$,
                  'the notification waits until the quiet hours end');
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.set_notification_preferences(false);
UPDATE chat.notifications SET available_at = now() - interval '1 second';
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute') WHERE kind = 'messages'), 1::bigint,
          'and goes out once they are over');
DELETE FROM chat.notifications;

-- A lease that runs out offers the notification again; failure backs off.
SELECT pg_temp.send('carol', 'carol', 'sue', 'lease', '5 minutes');
SELECT pg_temp.note('carol', 'sue', 9, 9);
SELECT is((SELECT attempt FROM chat.claim_notifications(10, '1 minute') WHERE kind = 'messages'), 1, 'first attempt');
UPDATE chat.notifications SET available_at = now() - interval '1 second' WHERE status = 'leased';
SELECT is((SELECT attempt FROM chat.claim_notifications(10, '1 minute') WHERE kind = 'messages'), 2,
          'a lease that ran out (the sender died) is offered again, attempt 2');
SELECT is(chat.fail_notification((SELECT id FROM chat.notifications WHERE kind = 'messages'), 'provider timeout'),
          now() + interval '60 seconds', 'a failure after the 2nd attempt retries in 60 s');
SELECT results_eq($$SELECT status, last_error FROM chat.notifications WHERE kind = 'messages'$$,
                  $$VALUES ('leased', 'provider timeout')$$, 'keeping the error');
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute') WHERE kind = 'messages'), 0::bigint,
          'not offered during the back-off');
UPDATE chat.notifications SET attempts = 10, available_at = now() - interval '1 second' WHERE kind = 'messages';
SELECT is((SELECT count(*) FROM chat.claim_notifications(10, '1 minute') WHERE kind = 'messages'), 0::bigint,
          'after 10 attempts it is not offered again');
SELECT results_eq($$SELECT status, kind, notifications FROM chat.notification_queue() WHERE status = 'failed'$$,
                  $$VALUES ('failed', 'messages', 1::bigint)$$, 'but kept as given up, for the queue''s monitor');
SELECT is(regexp_replace(pg_temp.error_of($$SELECT chat.fail_notification((SELECT id FROM chat.notifications WHERE status = 'failed'), 'x')$$),
                         'notification [0-9]+', 'notification <n>'),
          '55000: notification <n> is not leased (hint: It was completed, given up, or never existed.)',
          'failing one that is not leased: 55000');
DELETE FROM chat.notifications;

-- The sender's arguments.
SELECT is(pg_temp.error_of($$SELECT * FROM chat.claim_notifications(10, '0 s')$$),
          '22023: lease must be between 1 second and 1 hour (hint: Lease a notification for about as long as sending it may take.)',
          'a lease of nothing: 22023');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.claim_notifications(0, '1 min')$$),
          '22023: max_rows must be between 1 and 1000, not 0',
          'max_rows out of range: 22023');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.claim_notifications(NULL, '1 min')$$),
          '22004: max_rows must not be null', 'NULL max_rows: 22004');
SELECT is(pg_temp.error_of($$SELECT chat.complete_notification(NULL)$$),
          '22004: notification_id must not be null', 'NULL id: 22004');

-- The preferences' arguments.
SELECT chat.act_as(pg_temp.id('sue'));
SELECT is(pg_temp.error_of($$SELECT chat.set_notification_preferences(true, 'Mars/Olympus')$$),
          '22023: unknown time zone "Mars/Olympus" (hint: Use a name of pg_timezone_names, such as ''Europe/Berlin''.)',
          'an unknown time zone: 22023');
SELECT is(pg_temp.error_of($$SELECT chat.set_notification_preferences(true, 'UTC', '22:00')$$),
          '22023: quiet hours need a start and a different end (hint: Pass both quiet_from and quiet_until (e.g. ''22:00'' and ''07:00''), or neither.)',
          'quiet hours without an end: 22023');
SELECT is(pg_temp.error_of($$SELECT chat.set_notification_preferences(true, 'UTC', '22:00', '22:00')$$),
          '22023: quiet hours need a start and a different end (hint: Pass both quiet_from and quiet_until (e.g. ''22:00'' and ''07:00''), or neither.)',
          'quiet hours ending when they begin: 22023');
SELECT is(pg_temp.error_of($$SELECT chat.set_notification_preferences(NULL)$$),
          '22004: show_previews must not be null', 'NULL show_previews: 22004');
SELECT chat.reset_actor();
SELECT is(pg_temp.error_of($$SELECT chat.set_notification_preferences(true)$$),
          pg_temp.error_of($$SELECT chat.inbox()$$), 'no actor: the usual 28000');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.notification_preferences()$$),
          pg_temp.error_of($$SELECT chat.inbox()$$), 'reading them without an actor too');

-- Two waiting notifications of one recipient and chat (the worker found
-- the first locked by a sender) are merged by the next claim.
SELECT pg_temp.send('carol', 'carol', 'sue', 'part one', '5 minutes');
SELECT pg_temp.send('carol', 'carol', 'sue', 'part two', '4 minutes');
INSERT INTO chat.notifications (recipient_id, chat_id, kind, first_seq, last_seq, first_at, last_at, available_at)
SELECT pg_temp.id('sue'), chat_id, 'messages', seq, seq, created_at, created_at, created_at + interval '30 s'
  FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('carol', 'sue') AND seq IN (10, 11);
SELECT results_eq($$SELECT message_count, first_seq, last_seq FROM chat.claim_notifications(10, '1 minute')$$,
                  $$VALUES (2, 10::bigint, 11::bigint)$$,
                  'two waiting notifications of one chat go out as one');
SELECT is((SELECT count(*) FROM chat.notifications), 1::bigint, 'the other is removed');

SELECT * FROM finish();
ROLLBACK;
