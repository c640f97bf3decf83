-- test/pgtap/inbox.sql: the inbox, whole and in pages.
BEGIN;
SELECT plan(24);

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
-- Every row of the pages of FN (inbox or admin_inbox) of SIZE rows, in
-- order, each page starting after the last row of the one before.
CREATE FUNCTION pg_temp.pages(fn text, size integer)
RETURNS TABLE (chat_id uuid, activity_at timestamptz) LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz;
    v_id uuid;
    r record;
    got integer;
BEGIN
    LOOP
        got := 0;
        FOR r IN EXECUTE format('SELECT i.chat_id, i.activity_at FROM chat.%I($1, $2, $3) i', fn)
                 USING size, v_at, v_id LOOP
            chat_id := r.chat_id;
            activity_at := r.activity_at;
            RETURN NEXT;
            v_at := r.activity_at;
            v_id := r.chat_id;
            got := got + 1;
        END LOOP;
        EXIT WHEN got = 0;
    END LOOP;
END
$$;
CREATE TEMP TABLE paged (n serial, chat_id uuid, activity_at timestamptz);
INSERT INTO paged (chat_id, activity_at)
SELECT p.chat_id, p.activity_at FROM pg_temp.pages('inbox', 2) WITH ORDINALITY p ORDER BY p.ordinality;
SELECT is((SELECT count(*) FROM paged), 5::bigint, 'pages of 2 return 5 rows in all');
SELECT is((SELECT count(DISTINCT chat_id) FROM paged), 5::bigint, 'no chat comes twice');
SELECT results_eq($$SELECT chat_id FROM paged ORDER BY n$$,
                  $$SELECT chat_id FROM chat.inbox()$$,
                  'the pages, in order, are the whole inbox');
SELECT is((SELECT count(*) FROM chat.inbox(2)), 2::bigint, 'max_rows 2 returns two rows');

-- Many chats in the same minutes (a page reads the minutes of its rows and
-- sorts them by the exact time): a second stylist with 40 chats whose last
-- activity falls in three minutes, several at the very same instant, two
-- of them archived.  Pages of 3 and of 7 give the whole inbox in order.
SELECT chat.reset_actor();
SELECT chat.upsert_profile('5e000000-0000-4000-8000-00000000aa02', 'stylist', 'Busy');
SELECT chat.upsert_profile(('c0000000-0000-4000-8000-0000000001' || lpad(i::text, 2, '0'))::uuid,
                           'customer', 'Regular ' || i)
  FROM generate_series(1, 40) i;
DO $$
BEGIN
    FOR i IN 1..40 LOOP
        PERFORM chat.act_as(('c0000000-0000-4000-8000-0000000001' || lpad(i::text, 2, '0'))::uuid);
        PERFORM chat.chat_with('5e000000-0000-4000-8000-00000000aa02');
    END LOOP;
    PERFORM chat.reset_actor();
END
$$;
UPDATE chat.chats c
   SET last_message_at = timestamptz '2026-02-01 10:00:00+00' + ((n.i * 7919) % 150 / 4 * 4 || ' seconds')::interval
  FROM (SELECT chat_id, row_number() OVER (ORDER BY customer_id) AS i
          FROM chat.chats WHERE stylist_id = '5e000000-0000-4000-8000-00000000aa02') n
 WHERE c.chat_id = n.chat_id;
UPDATE chat.chats SET stylist_archived_seq = last_seq
 WHERE chat_id IN (chat.pair_chat_id('c0000000-0000-4000-8000-000000000107', '5e000000-0000-4000-8000-00000000aa02'),
                   chat.pair_chat_id('c0000000-0000-4000-8000-000000000133', '5e000000-0000-4000-8000-00000000aa02'));
SELECT chat.act_as('5e000000-0000-4000-8000-00000000aa02');
CREATE TEMP TABLE busy_ref AS
SELECT row_number() OVER (ORDER BY coalesce(last_message_at, created_at) DESC, chat_id) AS n, chat_id
  FROM chat.chats
 WHERE stylist_id = '5e000000-0000-4000-8000-00000000aa02' AND stylist_archived_seq IS NULL;
CREATE TEMP TABLE busy_paged (page_size integer, n serial, chat_id uuid);
INSERT INTO busy_paged (page_size, chat_id)
SELECT size, p.chat_id
  FROM unnest(ARRAY[3, 7]) size, pg_temp.pages('inbox', size) WITH ORDINALITY p
 ORDER BY size, p.ordinality;
SELECT is((SELECT count(DISTINCT last_message_at) FROM chat.chats
            WHERE stylist_id = '5e000000-0000-4000-8000-00000000aa02') < 40
          AND (SELECT count(DISTINCT date_trunc('minute', last_message_at)) FROM chat.chats
                WHERE stylist_id = '5e000000-0000-4000-8000-00000000aa02') = 3, true,
          'the busy stylist''s 40 chats fall in three minutes, some at one instant');
SELECT results_eq($$SELECT chat_id FROM busy_paged WHERE page_size = 3 ORDER BY n$$,
                  $$SELECT chat_id FROM busy_ref ORDER BY n$$,
                  'pages of 3 give the 38 chats that are not archived, each once, in order');
SELECT results_eq($$SELECT chat_id FROM busy_paged WHERE page_size = 7 ORDER BY n$$,
                  $$SELECT chat_id FROM busy_ref ORDER BY n$$,
                  'and so do pages of 7');
SELECT results_eq($$SELECT chat_id FROM chat.inbox(5, archived => true)$$,
                  $$SELECT chat_id FROM chat.chats
                     WHERE stylist_id = '5e000000-0000-4000-8000-00000000aa02' AND stylist_archived_seq IS NOT NULL
                     ORDER BY coalesce(last_message_at, created_at) DESC, chat_id$$,
                  'the archived page lists the two archived chats, in order');

-- Bad paging arguments.
SELECT throws_ok($$SELECT * FROM chat.inbox(0)$$, '22023', NULL, 'max_rows 0: 22023');
SELECT throws_ok($$SELECT * FROM chat.inbox(1001)$$, '22023', NULL, 'max_rows 1001: 22023');
SELECT throws_ok($$SELECT * FROM chat.inbox(10, now(), NULL)$$, '22023', NULL,
                 'before_activity without before_chat_id: 22023');
SELECT throws_ok($$SELECT * FROM chat.inbox(10, NULL, gen_random_uuid())$$, '22023', NULL,
                 'before_chat_id without before_activity: 22023');

-- An admin's view of every chat (admin_inbox): pages of 4 and of 9 give
-- all the chats of the platform (45, archived ones too), each once, newest
-- first; nobody else may look.
SELECT chat.upsert_profile('adadadad-adad-4ada-8ada-adadadadaa01', 'admin', 'Ada');
SELECT chat.act_as('adadadad-adad-4ada-8ada-adadadadaa01');
CREATE TEMP TABLE admin_paged (page_size integer, n serial, chat_id uuid);
INSERT INTO admin_paged (page_size, chat_id)
SELECT size, p.chat_id
  FROM unnest(ARRAY[4, 9]) size, pg_temp.pages('admin_inbox', size) WITH ORDINALITY p
 ORDER BY size, p.ordinality;
SELECT results_eq($$SELECT chat_id FROM admin_paged WHERE page_size = 4 ORDER BY n$$,
                  $$SELECT chat_id FROM chat.chats ORDER BY coalesce(last_message_at, created_at) DESC, chat_id$$,
                  'admin_inbox: pages of 4 give every chat, each once, newest first');
SELECT results_eq($$SELECT chat_id FROM admin_paged WHERE page_size = 9 ORDER BY n$$,
                  $$SELECT chat_id FROM chat.chats ORDER BY coalesce(last_message_at, created_at) DESC, chat_id$$,
                  '... and so do pages of 9');
SELECT is((SELECT customer_name || ' / ' || stylist_name FROM chat.admin_inbox(1)
            WHERE chat_id = (SELECT chat_id FROM chat.chats
                              ORDER BY coalesce(last_message_at, created_at) DESC, chat_id LIMIT 1)),
          (SELECT pc.display_name || ' / ' || ps.display_name
             FROM chat.chats c JOIN chat.profiles pc ON pc.id = c.customer_id JOIN chat.profiles ps ON ps.id = c.stylist_id
            ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.chat_id LIMIT 1),
          'admin_inbox names both participants');
SELECT throws_ok($$SELECT * FROM chat.admin_inbox(0)$$, '22023', NULL, 'admin_inbox max_rows 0: 22023');
SELECT throws_ok($$SELECT * FROM chat.admin_inbox(NULL)$$, '22004', NULL, 'admin_inbox max_rows NULL: 22004');
SELECT throws_ok($$SELECT * FROM chat.admin_inbox(10, now(), NULL)$$, '22023', NULL,
                 'admin_inbox before_activity without before_chat_id: 22023');
SELECT chat.act_as('5e000000-0000-4000-8000-00000000aa02');
SELECT throws_ok($$SELECT * FROM chat.admin_inbox(10)$$, '42501', NULL, 'a stylist may not list every chat');
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT * FROM chat.admin_inbox(10)$$, '28000', NULL, 'admin_inbox needs an actor');

-- Nobody acting: 28000, as everywhere.
SELECT chat.reset_actor();
SELECT throws_ok($$SELECT * FROM chat.inbox(2)$$, '28000', NULL, 'inbox needs an actor');

SELECT * FROM finish();
ROLLBACK;
