-- test/pgtap/inbox.sql: the inbox, whole and in pages.
BEGIN;
SELECT plan(12);

SET client_min_messages = warning;
SELECT chat.upsert_profile('5e000000-0000-4000-8000-00000000aa01', 'stylist', 'Sty');
SELECT chat.upsert_profile(('c0000000-0000-4000-8000-0000000000' || lpad(i::text, 2, '0'))::uuid,
                           'customer', 'Customer ' || i)
  FROM generate_series(1, 5) i;

-- five chats of one stylist; two of them share an activity time, so that
-- the tie-break by chat_id is exercised
DO $$
BEGIN
    FOR i IN 1..5 LOOP
        PERFORM chat.act_as(('c0000000-0000-4000-8000-0000000000' || lpad(i::text, 2, '0'))::uuid);
        PERFORM chat.send_message(chat.chat_with('5e000000-0000-4000-8000-00000000aa01'), 'hello ' || i);
    END LOOP;
END
$$;
UPDATE chat.chats SET last_message_at = timestamptz '2026-01-01 10:00+00' + (i || ' minutes')::interval
  FROM (SELECT chat_id, row_number() OVER (ORDER BY customer_id) AS i
          FROM chat.chats WHERE stylist_id = '5e000000-0000-4000-8000-00000000aa01') n
 WHERE chats.chat_id = n.chat_id;
UPDATE chat.chats SET last_message_at = timestamptz '2026-01-01 10:03+00'
 WHERE chat_id = chat.pair_chat_id('c0000000-0000-4000-8000-000000000004',
                                   '5e000000-0000-4000-8000-00000000aa01');

SELECT chat.act_as('5e000000-0000-4000-8000-00000000aa01');

-- Without arguments, every chat, most recent activity first, ties by chat_id.
SELECT is((SELECT count(*) FROM chat.inbox()), 5::bigint, 'inbox() returns all five chats');
SELECT ok((SELECT bool_and(activity_at = coalesce(last_message_at, activity_at)) FROM chat.inbox()),
          'activity_at is the last message''s time');
SELECT results_eq(
    $$SELECT chat_id FROM chat.inbox()$$,
    $$SELECT chat_id FROM chat.chats WHERE stylist_id = '5e000000-0000-4000-8000-00000000aa01'
       ORDER BY last_message_at DESC, chat_id$$,
    'inbox() orders by activity, newest first, then by chat_id');

-- Pages of two, each starting after the last row of the one before, cover
-- every chat exactly once, in the same order.
CREATE TEMP TABLE paged (n serial, chat_id uuid, activity_at timestamptz);
DO $$
DECLARE
    v_at timestamptz;
    v_id uuid;
    got integer;
BEGIN
    LOOP
        INSERT INTO paged (chat_id, activity_at)
        SELECT i.chat_id, i.activity_at FROM chat.inbox(2, v_at, v_id) i;
        GET DIAGNOSTICS got = ROW_COUNT;
        EXIT WHEN got = 0;
        SELECT p.activity_at, p.chat_id INTO v_at, v_id FROM paged p ORDER BY p.n DESC LIMIT 1;
    END LOOP;
END
$$;
SELECT is((SELECT count(*) FROM paged), 5::bigint, 'pages of 2 return 5 rows in all');
SELECT is((SELECT count(DISTINCT chat_id) FROM paged), 5::bigint, 'no chat comes twice');
SELECT results_eq($$SELECT chat_id FROM paged ORDER BY n$$,
                  $$SELECT chat_id FROM chat.inbox()$$,
                  'the pages, in order, are the whole inbox');
SELECT is((SELECT count(*) FROM chat.inbox(2)), 2::bigint, 'max_rows 2 returns two rows');

-- Bad paging arguments.
SELECT throws_ok($$SELECT * FROM chat.inbox(0)$$, '22023', NULL, 'max_rows 0: 22023');
SELECT throws_ok($$SELECT * FROM chat.inbox(1001)$$, '22023', NULL, 'max_rows 1001: 22023');
SELECT throws_ok($$SELECT * FROM chat.inbox(10, now(), NULL)$$, '22023', NULL,
                 'before_activity without before_chat_id: 22023');
SELECT throws_ok($$SELECT * FROM chat.inbox(10, NULL, gen_random_uuid())$$, '22023', NULL,
                 'before_chat_id without before_activity: 22023');

-- Nobody acting: 28000, as everywhere.
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT * FROM chat.inbox(2)$$, '28000', NULL, 'inbox needs an actor');

SELECT * FROM finish();
ROLLBACK;
