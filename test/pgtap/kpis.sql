-- test/pgtap/kpis.sql: the relationship KPIs (README, "Relationship KPIs")
-- against answers worked out by hand from the definitions.
--
-- A small platform, messages and bookings dated in 2025-12 ... 2026-05
-- (the session's time zone is Tokyo's: days must be UTC days all the
-- same).  Then:
--   1. the rollups from the history (chat._rebuild_kpis()), and every
--      column of chat.kpis() and chat.stylist_kpis() for a full month
--      (2026-03-01 .. 2026-03-31), a span from mid-month to mid-month
--      (2026-03-15 .. 2026-04-10) and one day (2026-04-01), each value
--      derived in a comment next to it;
--   2. the rollups kept message by message as the relay worker does
--      (chat._note_messages(), in batches, some twice) equal the rebuild;
--   3. messages that were never noted are read back from a chat's history
--      with its next one;
--   4. who may read the figures, and the errors;
--   5. bookings cancelled after the messages were relayed: the figures
--      that "read bookings as they are now" follow;
--   6. stylist_chat.kpis is a server setting (reload to change), so the
--      figures with it off are tested by test/scripts/kpis.sh.
BEGIN;
\ir fixtures.psql
SELECT plan(255);

SET client_min_messages = warning;
SET LOCAL TimeZone = 'Asia/Tokyo';
-- booking cards on: they are messages of nobody, and must not count
SET stylist_chat.booking_cards = on;

SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('dave'), 'customer', 'Dave');
SELECT chat.upsert_profile(pg_temp.id('erin'), 'customer', 'Erin');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');

-- a booking's id by its name in this file
CREATE FUNCTION pg_temp.bk(name text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT md5('booking ' || name)::uuid $$;

-- send as someone, at the time given
CREATE FUNCTION pg_temp.send(who text, customer text, stylist text, at timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
BEGIN
    PERFORM chat.act_as(pg_temp.id(who));
    v_seq := chat.send_message(pg_temp.chat_of(customer, stylist), 'sent at ' || at);
    UPDATE chat.chat_messages SET created_at = at
     WHERE chat_id = pg_temp.chat_of(customer, stylist) AND seq = v_seq;
    RETURN v_seq;
END
$$;

-- create or update a booking at the time given (its created_at when new),
-- and date the booking cards it posted then
CREATE FUNCTION pg_temp.book(name text, customer text, stylist text, starts timestamptz, status text,
                             at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_new boolean := NOT EXISTS (SELECT FROM chat.bookings WHERE id = pg_temp.bk(name));
    v_last bigint := coalesce((SELECT last_seq FROM chat.chats
                                WHERE chat_id = pg_temp.chat_of(customer, stylist)), 0);
BEGIN
    PERFORM chat.upsert_booking(pg_temp.bk(name), pg_temp.id(customer), pg_temp.id(stylist),
                                'Cut and colour', starts, status);
    IF v_new THEN
        UPDATE chat.bookings SET created_at = at WHERE id = pg_temp.bk(name);
    END IF;
    UPDATE chat.chat_messages SET created_at = at
     WHERE chat_id = pg_temp.chat_of(customer, stylist) AND seq > v_last AND sender_id IS NULL;
END
$$;

-- what the relay worker does with these messages of a chat (booking cards
-- included: their sender is NULL)
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

-- one batch of messages of several chats, in the order they were sent
CREATE FUNCTION pg_temp.note_batch(msgs text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- msgs: a query of (customer, stylist, from_seq, to_seq)
    EXECUTE format($q$
        SELECT chat._note_messages(array_agg(m.chat_id ORDER BY m.created_at, m.chat_id, m.seq),
                                   array_agg(m.seq ORDER BY m.created_at, m.chat_id, m.seq),
                                   array_agg(m.sender_id ORDER BY m.created_at, m.chat_id, m.seq),
                                   array_agg(c.customer_id ORDER BY m.created_at, m.chat_id, m.seq),
                                   array_agg(c.stylist_id ORDER BY m.created_at, m.chat_id, m.seq),
                                   array_agg(m.created_at ORDER BY m.created_at, m.chat_id, m.seq))
          FROM (%s) b (customer, stylist, from_seq, to_seq)
          JOIN chat.chat_messages m ON m.chat_id = pg_temp.chat_of(b.customer, b.stylist)
                                   AND m.seq BETWEEN b.from_seq AND b.to_seq
          JOIN chat.chats c ON c.chat_id = m.chat_id$q$, msgs);
END
$$;

-- the rollups the relay worker keeps (all but chat.kpi_pairs and chat.kpi_bookings) emptied
CREATE FUNCTION pg_temp.forget_messages() RETURNS void LANGUAGE sql AS $$
    DELETE FROM chat.kpi_chats;
    DELETE FROM chat.kpi_chat_months;
    DELETE FROM chat.kpi_days;
    DELETE FROM chat.kpi_stylist_days;
    DELETE FROM chat.kpi_responses;
    DELETE FROM chat.kpi_stylist_responses;
    DELETE FROM chat.kpi_booking_chats;
    DELETE FROM chat.kpi_reactivations;
    -- and nothing noted: _note_messages() leaves out what is
    UPDATE chat.relay_watermark SET noted_seq = 0;
$$;

/*
 * The platform.  Stylists sam and sue; customers alice, carol, dave, erin.
 * Times are UTC.  C: a customer's message, S: a stylist's, card: a booking
 * card (from nobody), with the booking it is for: its start, status and
 * when it was made.  The seq of each message of its chat in [].
 *
 * A  alice-sam  [1] card A1 made 02-01 09:00, starts 02-10 10:00, completed
 *               [2] C 02-27 09:00          (its first message)
 *               [3] S 02-28 23:00          S response 38 h, on 02-28
 *               [4] C 03-01 00:00:00       C response 3600 s
 *               [5] C 03-01 00:30
 *               [6] S 03-01 02:00          S response 7200 s (from [4])
 *               [7] card A2 made 03-05 12:00, starts 03-20 10:00, confirmed
 *               [8] C 03-21 12:00          C response 20 d 10 h = 1764000 s
 *               [9] S 03-21 12:10          S response 600 s
 *              [10] card A3 made 03-25 12:00, starts 04-20 10:00, confirmed
 *              [11] card A3 cancelled 03-28 09:00 (A3 counts nowhere)
 *              [12] S 03-31 23:59:59
 *              [13] C 04-01 00:00:00       C response 10 d 11 h 50 min = 906600 s (from [9])
 *              [14] S 04-01 00:05 (deleted) S response 300 s
 *              [15] card A4 made 04-05 09:00, starts 05-15 10:00, pending
 * B  carol-sam  [1] card B0 made 02-20 10:00, starts 03-01 12:00, completed
 *               [2] card B1 made 03-02 08:00, starts 03-10 14:00, completed
 *               [3] card B2 made 03-11 09:00, starts 03-25 14:00, no_show
 *               [4] S 03-16 09:00          (its first message)
 *               [5] C 03-16 09:01          C response 60 s
 *               [6] S 03-16 09:03          S response 120 s
 *               [7] C 03-16 09:06 (hidden) C response 180 s
 *               [8] S 04-05 10:00          S response 20 d 54 min = 1731240 s
 * C  dave-sam   [1] card C1 made 2025-12-01 10:00, starts 2025-12-20 15:00, completed
 *               [2] S 03-03 10:00          reactivation attempt: the latest booking
 *                                          started 73 days before; C2 made 03-20
 *                                          (within 30 days): a success
 *               [3] S 03-13 10:00          dormant still, but 10 days after the attempt
 *               [4] C 03-13 11:00          C response 10 d 1 h = 867600 s (from [2])
 *               [5] card C2 made 03-20 10:00, starts 04-09 10:00, confirmed
 *               [6] S 04-10 23:59:59       S response 28 d 12:59:59 = 2465999 s
 * D  carol-sue  [1] card D1 made 03-01 10:00, starts 03-31 23:30, completed
 *               [2] C 03-14 23:59:59       (its first message)
 *               [3] S 03-15 00:00:30       S response 31 s
 *               [4] card D2 made 04-01 09:00, starts 04-08 10:00, cancelled
 *               [5] C 04-02 08:00          C response 18 d 7:59:30 = 1583970 s
 * E  erin-sue   [1] card E1 made 2025-12-15 10:00, starts 01-05 11:00, completed
 *               [2] S 03-08 09:00          reactivation attempt (E1 started 61 d 22 h
 *                                          before); no booking made by 04-07 09:00
 *               [3] S 03-20 10:00          12 days after the attempt: not one
 *               [4] S 04-08 09:00          31 days after it: another attempt;
 *                                          E2 made 04-20: a success
 *               [5] C 04-08 10:00          C response 31 d 1 h = 2682000 s (from [2])
 *               [6] card E2 made 04-20 10:00, starts 05-02 10:00, confirmed
 * F  dave-sue   bookings only: F1 made 02-20 11:00 (no booking card, so no
 *               chat then), starts 03-05 10:00, completed; [1] card F2 made
 *               03-06 11:00, starts 03-28 10:00, completed.  A chat of cards
 *               only is not a conversation.
 * G  erin-sam   [1] C 03-02 10:00          (no booking ever)
 *               [2] S 03-02 10:20          S response 1200 s
 *               [3] C 04-11 00:00:00       C response on 04-11 (39 d 13 h 40 min)
 *
 * 29 messages of participants, 15 booking cards.
 */
SELECT pg_temp.book('A1', 'alice', 'sam', '2026-02-10 10:00+00', 'completed', '2026-02-01 09:00+00');
SELECT pg_temp.send('alice', 'alice', 'sam', '2026-02-27 09:00+00');
SELECT pg_temp.send('sam', 'alice', 'sam', '2026-02-28 23:00+00');
SELECT pg_temp.send('alice', 'alice', 'sam', '2026-03-01 00:00:00+00');
SELECT pg_temp.send('alice', 'alice', 'sam', '2026-03-01 00:30+00');
SELECT pg_temp.send('sam', 'alice', 'sam', '2026-03-01 02:00+00');
SELECT pg_temp.book('A2', 'alice', 'sam', '2026-03-20 10:00+00', 'confirmed', '2026-03-05 12:00+00');
SELECT pg_temp.send('alice', 'alice', 'sam', '2026-03-21 12:00+00');
SELECT pg_temp.send('sam', 'alice', 'sam', '2026-03-21 12:10+00');
SELECT pg_temp.book('A3', 'alice', 'sam', '2026-04-20 10:00+00', 'confirmed', '2026-03-25 12:00+00');
SELECT pg_temp.book('A3', 'alice', 'sam', '2026-04-20 10:00+00', 'cancelled', '2026-03-28 09:00+00');
SELECT pg_temp.send('sam', 'alice', 'sam', '2026-03-31 23:59:59+00');
SELECT pg_temp.send('alice', 'alice', 'sam', '2026-04-01 00:00:00+00');
SELECT pg_temp.send('sam', 'alice', 'sam', '2026-04-01 00:05+00');
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 14);
SELECT pg_temp.book('A4', 'alice', 'sam', '2026-05-15 10:00+00', 'pending', '2026-04-05 09:00+00');

SELECT pg_temp.book('B0', 'carol', 'sam', '2026-03-01 12:00+00', 'completed', '2026-02-20 10:00+00');
SELECT pg_temp.book('B1', 'carol', 'sam', '2026-03-10 14:00+00', 'completed', '2026-03-02 08:00+00');
SELECT pg_temp.book('B2', 'carol', 'sam', '2026-03-25 14:00+00', 'no_show', '2026-03-11 09:00+00');
SELECT pg_temp.send('sam', 'carol', 'sam', '2026-03-16 09:00+00');
SELECT pg_temp.send('carol', 'carol', 'sam', '2026-03-16 09:01+00');
SELECT pg_temp.send('sam', 'carol', 'sam', '2026-03-16 09:03+00');
SELECT pg_temp.send('carol', 'carol', 'sam', '2026-03-16 09:06+00');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('carol', 'sam'), 7, 'test: a hidden message still counts');
SELECT pg_temp.send('sam', 'carol', 'sam', '2026-04-05 10:00+00');

SELECT pg_temp.book('C1', 'dave', 'sam', '2025-12-20 15:00+00', 'completed', '2025-12-01 10:00+00');
SELECT pg_temp.send('sam', 'dave', 'sam', '2026-03-03 10:00+00');
SELECT pg_temp.send('sam', 'dave', 'sam', '2026-03-13 10:00+00');
SELECT pg_temp.send('dave', 'dave', 'sam', '2026-03-13 11:00+00');
SELECT pg_temp.book('C2', 'dave', 'sam', '2026-04-09 10:00+00', 'confirmed', '2026-03-20 10:00+00');
SELECT pg_temp.send('sam', 'dave', 'sam', '2026-04-10 23:59:59+00');

SELECT pg_temp.book('D1', 'carol', 'sue', '2026-03-31 23:30+00', 'completed', '2026-03-01 10:00+00');
SELECT pg_temp.send('carol', 'carol', 'sue', '2026-03-14 23:59:59+00');
SELECT pg_temp.send('sue', 'carol', 'sue', '2026-03-15 00:00:30+00');
SELECT pg_temp.book('D2', 'carol', 'sue', '2026-04-08 10:00+00', 'cancelled', '2026-04-01 09:00+00');
SELECT pg_temp.send('carol', 'carol', 'sue', '2026-04-02 08:00+00');

SELECT pg_temp.book('E1', 'erin', 'sue', '2026-01-05 11:00+00', 'completed', '2025-12-15 10:00+00');
SELECT pg_temp.send('sue', 'erin', 'sue', '2026-03-08 09:00+00');
SELECT pg_temp.send('sue', 'erin', 'sue', '2026-03-20 10:00+00');
SELECT pg_temp.send('sue', 'erin', 'sue', '2026-04-08 09:00+00');
SELECT pg_temp.send('erin', 'erin', 'sue', '2026-04-08 10:00+00');
SELECT pg_temp.book('E2', 'erin', 'sue', '2026-05-02 10:00+00', 'confirmed', '2026-04-20 10:00+00');

SET stylist_chat.booking_cards = off;
SELECT pg_temp.book('F1', 'dave', 'sue', '2026-03-05 10:00+00', 'completed', '2026-02-20 11:00+00');
SET stylist_chat.booking_cards = on;
SELECT pg_temp.book('F2', 'dave', 'sue', '2026-03-28 10:00+00', 'completed', '2026-03-06 11:00+00');

SELECT chat.act_as(pg_temp.id('erin'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT pg_temp.send('erin', 'erin', 'sam', '2026-03-02 10:00+00');
SELECT pg_temp.send('sam', 'erin', 'sam', '2026-03-02 10:20+00');
SELECT pg_temp.send('erin', 'erin', 'sam', '2026-04-11 00:00:00+00');

SELECT results_eq($$SELECT c.customer_id, c.stylist_id, count(m.sender_id), count(*) - count(m.sender_id),
                           min(m.created_at) FILTER (WHERE m.sender_id IS NOT NULL)
                      FROM chat.chats c JOIN chat.chat_messages m ON m.chat_id = c.chat_id
                     GROUP BY c.customer_id, c.stylist_id ORDER BY 5 NULLS LAST$$,
                  $$VALUES (pg_temp.id('alice'), pg_temp.id('sam'), 10::bigint, 5::bigint,
                            '2026-02-27 09:00+00'::timestamptz),
                           (pg_temp.id('erin'), pg_temp.id('sam'), 3, 0, '2026-03-02 10:00+00'),
                           (pg_temp.id('dave'), pg_temp.id('sam'), 4, 2, '2026-03-03 10:00+00'),
                           (pg_temp.id('erin'), pg_temp.id('sue'), 4, 2, '2026-03-08 09:00+00'),
                           (pg_temp.id('carol'), pg_temp.id('sue'), 3, 2, '2026-03-14 23:59:59+00'),
                           (pg_temp.id('carol'), pg_temp.id('sam'), 5, 3, '2026-03-16 09:00+00'),
                           (pg_temp.id('dave'), pg_temp.id('sue'), 0, 1, NULL)$$,
                  'the platform: seven chats, 29 messages of participants, 15 booking cards');

/*
 * check_kpis: every column of chat.kpis() (stylist NULL) or
 * chat.stylist_kpis(), read as an admin, against the expected values, a
 * query of (column, value): counts and dates exactly, the other figures
 * rounded to 3 decimals, the response-time percentiles within 5 % of the
 * exact value (nearest rank).  One more test: the expected values name
 * every column (unless every is false: then only the columns named).
 */
CREATE FUNCTION pg_temp.check_kpis(what text, stylist text, p_from date, p_to date, expected text,
                                   every boolean DEFAULT true)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    got jsonb;
    e record;
    g numeric;
    cols text[] := ARRAY['period_from', 'period_to'];
BEGIN
    PERFORM chat.act_as(pg_temp.id('ada'));
    IF stylist IS NULL THEN
        SELECT to_jsonb(k) INTO got FROM chat.kpis(p_from, p_to) k;
    ELSE
        SELECT to_jsonb(k) INTO got FROM chat.stylist_kpis(pg_temp.id(stylist), p_from, p_to) k;
    END IF;
    IF every THEN
        RETURN NEXT is(got->>'period_from', p_from::text, what || ': period_from');
        RETURN NEXT is(got->>'period_to', p_to::text, what || ': period_to');
    END IF;
    FOR e IN EXECUTE format('SELECT v.column1::text AS col, v.column2::numeric AS want FROM (%s) v', expected) LOOP
        cols := cols || e.col;
        g := (got->>e.col)::numeric;
        IF e.col ~ '_(median|p90)_s$' AND e.want IS NOT NULL THEN
            RETURN NEXT ok(g BETWEEN e.want * 0.95 AND e.want * 1.05,
                           format('%s: %s within 5 %% of %s s (got %s)', what, e.col, e.want, g));
        ELSE
            RETURN NEXT is(round(g, 3), round(e.want, 3), format('%s: %s', what, e.col));
        END IF;
    END LOOP;
    IF every THEN
        RETURN NEXT is(array(SELECT jsonb_object_keys(got) ORDER BY 1), array(SELECT unnest(cols) ORDER BY 1),
                       what || ': every column is checked');
    END IF;
END
$$;

-- upsert_booking keeps the UTC days each pair's bookings start, not
-- cancelled ones (A3, D2); carol-sue's starts 03-31 23:30 UTC (04-01 in Tokyo)
SELECT results_eq($$SELECT customer_id, stylist_id, booking_days FROM chat.kpi_pairs
                     ORDER BY booking_days[1]$$,
                  $$VALUES (pg_temp.id('dave'), pg_temp.id('sam'), '{2025-12-20, 2026-04-09}'::date[]),
                           (pg_temp.id('erin'), pg_temp.id('sue'), '{2026-01-05, 2026-05-02}'),
                           (pg_temp.id('alice'), pg_temp.id('sam'), '{2026-02-10, 2026-03-20, 2026-05-15}'),
                           (pg_temp.id('carol'), pg_temp.id('sam'), '{2026-03-01, 2026-03-10, 2026-03-25}'),
                           (pg_temp.id('dave'), pg_temp.id('sue'), '{2026-03-05, 2026-03-28}'),
                           (pg_temp.id('carol'), pg_temp.id('sue'), '{2026-03-31}')$$,
                  'upsert_booking keeps the days each pair''s bookings start, sorted, without the cancelled ones');

-- 1. The rollups from the history, and the figures.
SELECT is(chat._rebuild_kpis(), 29::bigint, '_rebuild_kpis() counts the 29 messages of participants, no card');

/*
 * March, 2026-03-01 .. 2026-03-31 (the end: 04-01 00:00 UTC).
 * Messages in it: A [4] [5] [6] [8] [9] [12]; B [4]-[7]; C [2]-[4];
 * D [2] [3]; E [2] [3]; G [1] [2].  Not: A [2] [3] (February), A [13]
 * (04-01 00:00:00), and the booking cards.
 * Pair bookings (starts, not cancelled): A 02-10, 03-20, 05-15; B 03-01,
 * 03-10, 03-25; C 2025-12-20, 04-09; D 03-31 23:30; E 01-05, 05-02; F
 * 03-05, 03-28; G none.
 */
SELECT * FROM pg_temp.check_kpis('kpis, March', NULL, '2026-03-01', '2026-03-31', $$VALUES
    ('days', 31),
    ('active_conversations', 6),                -- A B C D E G (F has cards only)
    ('messages', 19),                           -- A 6, B 4, C 3, D 2, E 2, G 2
    ('customer_messages', 8),                   -- A [4][5][8], B [5][7], C [4], D [2], G [1]
    ('stylist_messages', 11),                   -- A [6][9][12], B [4][6], C [2][3], D [3], E [2][3], G [2]
    ('messages_per_active_conversation_month', 19 / 6.0 * 30 / 31),          -- 3.065
    -- first message day to last day with a message in March:
    -- A 02-27..03-31 32, B 03-16..03-16 0, C 03-03..03-13 10, D 03-14..03-15 1,
    -- E 03-08..03-20 12, G 03-02..03-02 0
    ('avg_conversation_longevity_days', (32 + 0 + 10 + 1 + 12 + 0) / 6.0),   -- 9.167
    -- bookings starting before 04-01: A 2, B 3, C 1, D 1, E 1, G 0
    ('multi_booking_rate', 2 / 6.0),            -- A, B
    ('bookings_per_conversation', 8 / 6.0),     -- 1.333
    -- bookings from the first message's day to the end of the last day with
    -- a message: A [02-27, 04-01) 03-20; B [03-16, 03-17), C [03-03, 03-14),
    -- D [03-14, 03-16), E [03-08, 03-21): none; G: none
    ('bookings_spanned_per_conversation', 1 / 6.0),
    -- first contact .. last activity: A 02-10 (A1) .. 03-31 = 49; B 03-01 (B0)
    -- .. 03-25 (B2) = 24; C 2025-12-20 (C1) .. 03-13 = 83; D 03-14 .. 03-31
    -- (D1) = 17; E 01-05 (E1) .. 03-20 = 74; G 03-02 .. 03-02 = 0
    ('avg_relationship_duration_days', (49 + 24 + 83 + 17 + 74 + 0) / 6.0),  -- 41.167
    -- customers: A [4] 3600, B [5] 60, B [7] 180, C [4] 867600, A [8] 1764000
    ('customer_responses', 5),
    ('customer_response_median_s', 3600),       -- 3rd of 5
    ('customer_response_p90_s', 1764000),       -- 5th of 5
    -- stylists: D [3] 31, B [6] 120, A [9] 600, G [2] 1200, A [6] 7200
    ('stylist_responses', 5),
    ('stylist_response_median_s', 600),         -- 3rd of 5
    ('stylist_response_p90_s', 7200),           -- 5th of 5
    -- starting in March: B0 03-01 (no message before B1 started: not
    -- chatted; B1 later), F1 03-05 (no message; F2 later), B1 03-10 (chatted
    -- 03-16; B2 later), A2 03-20 (chatted 03-21; A4 later), B2 03-25 (chatted
    -- 04-05; none later), F2 03-28 (no message; none later), D1 03-31 23:30
    -- (chatted 04-02; D2 is cancelled: none later)
    ('bookings_chatted', 4),                    -- B1 A2 B2 D1
    ('rebooking_rate_chatted', 2 / 4.0),        -- B1 A2
    ('bookings_not_chatted', 3),                -- B0 F1 F2
    ('rebooking_rate_not_chatted', 2 / 3.0),    -- B0 F1
    -- attempts: C [2] 03-03 (C2 made 03-20: booked), E [2] 03-08 (nothing by 04-07)
    ('reactivation_attempts', 2),
    ('reactivation_rate', 1 / 2.0),
    -- not the pair's first: B1, A2, B2, F2; a message before it was made: A2
    -- (made 03-05, A's first message 02-27); B1 03-02 and B2 03-11 were made
    -- before B's first message (03-16); F has none
    ('repeat_bookings', 4),
    ('repeat_bookings_after_chat_rate', 1 / 4.0)
$$);

/*
 * 2026-03-15 .. 2026-04-10 (the end: 04-11 00:00 UTC).
 * Messages in it: A [8] [9] [12] [13] [14]; B [4]-[8]; C [6]; D [3] [5];
 * E [3]-[5].  Not: D [2] (03-14 23:59:59), G [3] (04-11 00:00:00).  G has
 * none: 5 active conversations.
 */
SELECT * FROM pg_temp.check_kpis('kpis, 03-15 to 04-10', NULL, '2026-03-15', '2026-04-10', $$VALUES
    ('days', 27),                               -- 17 in March, 10 in April
    ('active_conversations', 5),                -- A B C D E
    ('messages', 16),                           -- A 5, B 5, C 1, D 2, E 3
    ('customer_messages', 6),                   -- A [8][13], B [5][7], D [5], E [5]
    ('stylist_messages', 10),                   -- A [9][12][14], B [4][6][8], C [6], D [3], E [3][4]
    ('messages_per_active_conversation_month', 16 / 5.0 * 30 / 27),          -- 3.556
    -- A 02-27..04-01 33, B 03-16..04-05 20, C 03-03..04-10 38,
    -- D 03-14..04-02 19, E 03-08..04-08 31
    ('avg_conversation_longevity_days', (33 + 20 + 38 + 19 + 31) / 5.0),     -- 28.2
    -- bookings starting before 04-11: A 2, B 3, C 2 (C2 04-09), D 1, E 1
    ('multi_booking_rate', 3 / 5.0),            -- A B C
    ('bookings_per_conversation', 9 / 5.0),
    -- A [02-27, 04-02) 03-20; B [03-16, 04-06) 03-25; C [03-03, 04-11) 04-09;
    -- D [03-14, 04-03) 03-31 23:30; E [03-08, 04-09) none
    ('bookings_spanned_per_conversation', 4 / 5.0),
    -- A 02-10 .. 04-01 = 50; B 03-01 .. 04-05 = 35; C 2025-12-20 .. 04-10 = 111;
    -- D 03-14 .. 04-02 = 19; E 01-05 .. 04-08 = 93
    ('avg_relationship_duration_days', (50 + 35 + 111 + 19 + 93) / 5.0),     -- 61.6
    -- customers: B [5] 60, B [7] 180, A [13] 906600, D [5] 1583970,
    -- A [8] 1764000, E [5] 2682000
    ('customer_responses', 6),
    ('customer_response_median_s', 906600),     -- 3rd of 6
    ('customer_response_p90_s', 2682000),       -- 6th of 6 (5.4 rounded up)
    -- stylists: D [3] 31, B [6] 120, A [14] 300, A [9] 600, B [8] 1731240,
    -- C [6] 2465999
    ('stylist_responses', 6),
    ('stylist_response_median_s', 300),         -- 3rd of 6
    ('stylist_response_p90_s', 2465999),        -- 6th of 6
    -- starting in it: A2 (chatted, A4 later), B2 (chatted, none later), F2
    -- (not chatted, none later), D1 (chatted, none later), C2 04-09 10:00
    -- (chatted 04-10 23:59:59, none later); D2 04-08 is cancelled
    ('bookings_chatted', 4),                    -- A2 B2 D1 C2
    ('rebooking_rate_chatted', 1 / 4.0),        -- A2
    ('bookings_not_chatted', 1),                -- F2
    ('rebooking_rate_not_chatted', 0),
    -- attempts: E [4] 04-08 09:00 (31 days after E [2]; E2 made 04-20: booked)
    ('reactivation_attempts', 1),
    ('reactivation_rate', 1),
    -- not the first: A2 (chat before), B2 (no), F2 (no), C2 (made 03-20,
    -- C's first message 03-03: chat before)
    ('repeat_bookings', 4),
    ('repeat_bookings_after_chat_rate', 2 / 4.0)
$$);

/*
 * One day, 2026-04-01: A [13] (00:00:00) and A [14] (00:05) only.
 */
SELECT * FROM pg_temp.check_kpis('kpis, 04-01', NULL, '2026-04-01', '2026-04-01', $$VALUES
    ('days', 1),
    ('active_conversations', 1),                -- A
    ('messages', 2),
    ('customer_messages', 1),                   -- A [13]
    ('stylist_messages', 1),                    -- A [14], deleted
    ('messages_per_active_conversation_month', 2 / 1.0 * 30 / 1),            -- 60
    ('avg_conversation_longevity_days', 33),    -- 02-27 .. 04-01
    ('multi_booking_rate', 1),                  -- A1, A2 before 04-02
    ('bookings_per_conversation', 2),
    ('bookings_spanned_per_conversation', 1),   -- A2, in [02-27, 04-02)
    ('avg_relationship_duration_days', 50),     -- 02-10 .. 04-01
    ('customer_responses', 1),                  -- A [13] 906600
    ('customer_response_median_s', 906600),
    ('customer_response_p90_s', 906600),
    ('stylist_responses', 1),                   -- A [14] 300
    ('stylist_response_median_s', 300),
    ('stylist_response_p90_s', 300),
    ('bookings_chatted', 0),                    -- no booking starts on 04-01
    ('rebooking_rate_chatted', NULL),
    ('bookings_not_chatted', 0),
    ('rebooking_rate_not_chatted', NULL),
    ('reactivation_attempts', 0),
    ('reactivation_rate', NULL),
    ('repeat_bookings', 0),
    ('repeat_bookings_after_chat_rate', NULL)
$$);

-- sam: chats A B C G, bookings A B C
SELECT * FROM pg_temp.check_kpis('stylist_kpis sam, March', 'sam', '2026-03-01', '2026-03-31', $$VALUES
    ('days', 31),
    ('active_conversations', 4),                -- A B C G
    ('messages', 15),                           -- A 6, B 4, C 3, G 2
    ('customer_messages', 7),                   -- A 3, B 2, C 1, G 1
    ('stylist_messages', 8),                    -- A 3, B 2, C 2, G 1
    ('messages_per_active_conversation_month', 15 / 4.0 * 30 / 31),          -- 3.629
    ('avg_conversation_longevity_days', (32 + 0 + 10 + 0) / 4.0),            -- A B C G: 10.5
    ('multi_booking_rate', 2 / 4.0),            -- A (2), B (3); C 1, G 0
    ('bookings_per_conversation', 6 / 4.0),
    ('bookings_spanned_per_conversation', 1 / 4.0),                          -- A2
    ('avg_relationship_duration_days', (49 + 24 + 83 + 0) / 4.0),            -- 39
    ('customer_responses', 5),                  -- 60 180 3600 867600 1764000
    ('customer_response_median_s', 3600),
    ('customer_response_p90_s', 1764000),
    ('stylist_responses', 4),                   -- B [6] 120, A [9] 600, G [2] 1200, A [6] 7200
    ('stylist_response_median_s', 600),         -- 2nd of 4
    ('stylist_response_p90_s', 7200),           -- 4th of 4 (3.6 rounded up)
    ('bookings_chatted', 3),                    -- B1 A2 B2
    ('rebooking_rate_chatted', 2 / 3.0),        -- B1 A2
    ('bookings_not_chatted', 1),                -- B0
    ('rebooking_rate_not_chatted', 1),          -- B1 follows it
    ('reactivation_attempts', 1),               -- C [2]
    ('reactivation_rate', 1),
    ('repeat_bookings', 3),                     -- B1 A2 B2
    ('repeat_bookings_after_chat_rate', 1 / 3.0)                             -- A2
$$);

SELECT * FROM pg_temp.check_kpis('stylist_kpis sam, 03-15 to 04-10', 'sam', '2026-03-15', '2026-04-10', $$VALUES
    ('days', 27),
    ('active_conversations', 3),                -- A B C (G: none in it)
    ('messages', 11),                           -- A 5, B 5, C 1
    ('customer_messages', 4),                   -- A [8][13], B [5][7]
    ('stylist_messages', 7),                    -- A [9][12][14], B [4][6][8], C [6]
    ('messages_per_active_conversation_month', 11 / 3.0 * 30 / 27),          -- 4.074
    ('avg_conversation_longevity_days', (33 + 20 + 38) / 3.0),               -- 30.333
    ('multi_booking_rate', 1),                  -- A 2, B 3, C 2
    ('bookings_per_conversation', 7 / 3.0),
    ('bookings_spanned_per_conversation', 1),   -- A2, B2, C2
    ('avg_relationship_duration_days', (50 + 35 + 111) / 3.0),               -- 65.333
    ('customer_responses', 4),                  -- 60 180 906600 1764000
    ('customer_response_median_s', 180),        -- 2nd of 4
    ('customer_response_p90_s', 1764000),       -- 4th of 4
    ('stylist_responses', 5),                   -- 120 300 600 1731240 2465999
    ('stylist_response_median_s', 600),         -- 3rd of 5
    ('stylist_response_p90_s', 2465999),        -- 5th of 5
    ('bookings_chatted', 3),                    -- A2 B2 C2
    ('rebooking_rate_chatted', 1 / 3.0),        -- A2
    ('bookings_not_chatted', 0),
    ('rebooking_rate_not_chatted', NULL),
    ('reactivation_attempts', 0),
    ('reactivation_rate', NULL),
    ('repeat_bookings', 3),                     -- A2 B2 C2
    ('repeat_bookings_after_chat_rate', 2 / 3.0)                             -- A2 C2
$$);

-- sue: chats D E (F has cards only), bookings D E F
SELECT * FROM pg_temp.check_kpis('stylist_kpis sue, March', 'sue', '2026-03-01', '2026-03-31', $$VALUES
    ('days', 31),
    ('active_conversations', 2),                -- D E
    ('messages', 4),
    ('customer_messages', 1),                   -- D [2]
    ('stylist_messages', 3),                    -- D [3], E [2][3]
    ('messages_per_active_conversation_month', 4 / 2.0 * 30 / 31),           -- 1.935
    ('avg_conversation_longevity_days', (1 + 12) / 2.0),
    ('multi_booking_rate', 0),                  -- D 1, E 1
    ('bookings_per_conversation', 1),
    ('bookings_spanned_per_conversation', 0),
    ('avg_relationship_duration_days', (17 + 74) / 2.0),
    ('customer_responses', 0),
    ('customer_response_median_s', NULL),
    ('customer_response_p90_s', NULL),
    ('stylist_responses', 1),                   -- D [3] 31
    ('stylist_response_median_s', 31),
    ('stylist_response_p90_s', 31),
    ('bookings_chatted', 1),                    -- D1
    ('rebooking_rate_chatted', 0),
    ('bookings_not_chatted', 2),                -- F1 F2
    ('rebooking_rate_not_chatted', 1 / 2.0),    -- F1
    ('reactivation_attempts', 1),               -- E [2]
    ('reactivation_rate', 0),
    ('repeat_bookings', 1),                     -- F2
    ('repeat_bookings_after_chat_rate', 0)
$$);

SELECT * FROM pg_temp.check_kpis('stylist_kpis sue, 03-15 to 04-10', 'sue', '2026-03-15', '2026-04-10', $$VALUES
    ('days', 27),
    ('active_conversations', 2),                -- D E
    ('messages', 5),                            -- D [3][5], E [3][4][5]
    ('customer_messages', 2),                   -- D [5], E [5]
    ('stylist_messages', 3),                    -- D [3], E [3][4]
    ('messages_per_active_conversation_month', 5 / 2.0 * 30 / 27),           -- 2.778
    ('avg_conversation_longevity_days', (19 + 31) / 2.0),
    ('multi_booking_rate', 0),
    ('bookings_per_conversation', 1),
    ('bookings_spanned_per_conversation', 1 / 2.0),                          -- D1
    ('avg_relationship_duration_days', (19 + 93) / 2.0),
    ('customer_responses', 2),                  -- D [5] 1583970, E [5] 2682000
    ('customer_response_median_s', 1583970),    -- 1st of 2
    ('customer_response_p90_s', 2682000),       -- 2nd of 2
    ('stylist_responses', 1),                   -- D [3] 31
    ('stylist_response_median_s', 31),
    ('stylist_response_p90_s', 31),
    ('bookings_chatted', 1),                    -- D1
    ('rebooking_rate_chatted', 0),
    ('bookings_not_chatted', 1),                -- F2
    ('rebooking_rate_not_chatted', 0),
    ('reactivation_attempts', 1),               -- E [4]
    ('reactivation_rate', 1),
    ('repeat_bookings', 1),                     -- F2
    ('repeat_bookings_after_chat_rate', 0)
$$);

-- Every figure of the platform and of each stylist, for these periods and
-- one that holds everything, as a row each
CREATE FUNCTION pg_temp.all_kpis() RETURNS TABLE (label text, k jsonb) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat.act_as(pg_temp.id('ada'));
    RETURN QUERY
    SELECT w.who || ' ' || p.f || ' .. ' || p.t,
           CASE WHEN w.who = 'all' THEN (SELECT to_jsonb(x) FROM chat.kpis(p.f, p.t) x)
                ELSE (SELECT to_jsonb(x) FROM chat.stylist_kpis(pg_temp.id(w.who), p.f, p.t) x) END
      FROM (VALUES ('all'), ('sam'), ('sue')) w (who)
     CROSS JOIN (VALUES ('2026-03-01'::date, '2026-03-31'::date), ('2026-03-15', '2026-04-10'),
                        ('2026-04-01', '2026-04-01'), ('2025-12-01', '2026-05-31')) p (f, t);
END
$$;

-- Every row of the ten rollups
CREATE FUNCTION pg_temp.rollups() RETURNS TABLE (t text, r text) LANGUAGE sql AS $$
    SELECT 'kpi_chats', to_jsonb(x)::text FROM chat.kpi_chats x
    UNION ALL SELECT 'kpi_chat_months', to_jsonb(x)::text FROM chat.kpi_chat_months x
    UNION ALL SELECT 'kpi_days', to_jsonb(x)::text FROM chat.kpi_days x
    UNION ALL SELECT 'kpi_stylist_days', to_jsonb(x)::text FROM chat.kpi_stylist_days x
    UNION ALL SELECT 'kpi_responses', to_jsonb(x)::text FROM chat.kpi_responses x
    UNION ALL SELECT 'kpi_stylist_responses', to_jsonb(x)::text FROM chat.kpi_stylist_responses x
    UNION ALL SELECT 'kpi_pairs', to_jsonb(x)::text FROM chat.kpi_pairs x
    UNION ALL SELECT 'kpi_bookings', to_jsonb(x)::text FROM chat.kpi_bookings x
    UNION ALL SELECT 'kpi_booking_chats', to_jsonb(x)::text FROM chat.kpi_booking_chats x
    UNION ALL SELECT 'kpi_reactivations', to_jsonb(x)::text FROM chat.kpi_reactivations x
    ORDER BY 1, 2
$$;

CREATE TEMP TABLE rebuilt_kpis AS SELECT * FROM pg_temp.all_kpis();
CREATE TEMP TABLE rebuilt_rollups AS SELECT * FROM pg_temp.rollups();

-- 2. Kept as the relay worker does: the same figures.  The rollups of the
-- messages emptied (upsert_booking keeps chat.kpi_pairs), then every
-- message noted again, booking cards with them.
SELECT pg_temp.forget_messages();
-- A: one message at a time
DO $$
BEGIN
    FOR s IN 1..15 LOOP
        PERFORM pg_temp.note('alice', 'sam', s, s);
    END LOOP;
END
$$;
-- B: all at once
SELECT pg_temp.note('carol', 'sam', 1, 8);
-- C: [1]-[3], then [3]-[6] (its [3] again), twice
SELECT pg_temp.note('dave', 'sam', 1, 3);
SELECT pg_temp.note('dave', 'sam', 3, 6);
SELECT pg_temp.note('dave', 'sam', 3, 6);
-- D, E, F, G: batches of several chats, in time order; the second twice
SELECT pg_temp.note_batch($$VALUES ('carol', 'sue', 1, 3), ('erin', 'sue', 1, 3), ('erin', 'sam', 1, 1),
                                   ('dave', 'sue', 1, 1)$$);
SELECT pg_temp.note_batch($$VALUES ('carol', 'sue', 4, 5), ('erin', 'sue', 4, 6), ('erin', 'sam', 2, 3)$$);
SELECT pg_temp.note_batch($$VALUES ('carol', 'sue', 4, 5), ('erin', 'sue', 4, 6), ('erin', 'sam', 2, 3)$$);

SELECT results_eq('SELECT * FROM pg_temp.all_kpis() ORDER BY 1', 'SELECT * FROM rebuilt_kpis ORDER BY 1',
                  'the rollups kept batch by batch give the figures of the rebuild, every column, 12 periods');
SELECT results_eq('SELECT * FROM pg_temp.rollups()', 'SELECT * FROM rebuilt_rollups ORDER BY 1, 2',
                  'and they are the rollups of the rebuild, row for row');

-- every message of every chat noted once more, in one batch: nothing changes
SELECT pg_temp.note_batch($$VALUES ('alice', 'sam', 1, 15), ('carol', 'sam', 1, 8), ('dave', 'sam', 1, 6),
                                   ('carol', 'sue', 1, 5), ('erin', 'sue', 1, 6), ('dave', 'sue', 1, 1),
                                   ('erin', 'sam', 1, 3)$$);
SELECT results_eq('SELECT * FROM pg_temp.all_kpis() ORDER BY 1', 'SELECT * FROM rebuilt_kpis ORDER BY 1',
                  'messages noted a second time count once: the same figures');
SELECT results_eq('SELECT * FROM pg_temp.rollups()', 'SELECT * FROM rebuilt_rollups ORDER BY 1, 2',
                  'and the same rollups');

-- 3. Gaps: messages never noted are read back from the history when the
-- next message of their chat is.
SELECT pg_temp.forget_messages();
SELECT pg_temp.note_batch($$VALUES ('carol', 'sam', 1, 8), ('dave', 'sam', 1, 6), ('carol', 'sue', 1, 5),
                                   ('dave', 'sue', 1, 1), ('erin', 'sam', 1, 3), ('erin', 'sue', 1, 2)$$);
-- A: nothing of it noted, then its last message ([14]) only
SELECT pg_temp.note('alice', 'sam', 14, 14);
-- E: [1]-[2] noted, then its last message ([5]) only
SELECT pg_temp.note('erin', 'sue', 5, 5);
SELECT results_eq('SELECT * FROM pg_temp.all_kpis() ORDER BY 1', 'SELECT * FROM rebuilt_kpis ORDER BY 1',
                  'a chat''s messages not noted are read back with its next one: the figures of the rebuild');
SELECT results_eq('SELECT * FROM pg_temp.rollups()', 'SELECT * FROM rebuilt_rollups ORDER BY 1, 2',
                  'and the rollups of the rebuild');

-- 4. Who may read the figures; the errors.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT throws_ok($$SELECT * FROM chat.kpis('2026-03-01', '2026-03-31')$$, '42501', NULL,
                 'kpis() by a customer: 42501');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('sam'), '2026-03-01', '2026-03-31')$$, '42501', NULL,
                 'stylist_kpis() of a stylist by a customer: 42501');
SELECT throws_ok('SELECT chat.rebuild_kpis()', '42501', NULL, 'rebuild_kpis() by a customer: 42501');

SELECT chat.act_as(pg_temp.id('sam'));
SELECT throws_ok($$SELECT * FROM chat.kpis('2026-03-01', '2026-03-31')$$, '42501', NULL,
                 'kpis() by a stylist: 42501');
SELECT is((SELECT to_jsonb(k) FROM chat.stylist_kpis(pg_temp.id('sam'), '2026-03-01', '2026-03-31') k),
          (SELECT k FROM rebuilt_kpis WHERE label = 'sam 2026-03-01 .. 2026-03-31'),
          'stylist_kpis() by the stylist for themself: their figures, as an admin reads them');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('alice'), '2026-03-01', '2026-03-31')$$, '42501', NULL,
                 'stylist_kpis() of a customer''s id by a stylist: 42501 (learns nothing of the id)');
SELECT throws_ok('SELECT chat.rebuild_kpis()', '42501', NULL, 'rebuild_kpis() by a stylist: 42501');

SELECT chat.act_as(pg_temp.id('sue'));
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('sam'), '2026-03-01', '2026-03-31')$$, '42501', NULL,
                 'stylist_kpis() of another stylist: 42501');

SELECT chat.reset_actor();
SELECT throws_ok($$SELECT * FROM chat.kpis('2026-03-01', '2026-03-31')$$, '28000', NULL,
                 'kpis() with nobody acting: 28000');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('sam'), '2026-03-01', '2026-03-31')$$, '28000', NULL,
                 'stylist_kpis() with nobody acting: 28000');
SELECT throws_ok('SELECT chat.rebuild_kpis()', '28000', NULL, 'rebuild_kpis() with nobody acting: 28000');

SELECT chat.act_as(pg_temp.id('ada'));
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('alice'), '2026-03-01', '2026-03-31')$$, '22023', NULL,
                 'stylist_kpis() by an admin for a customer''s id: 22023');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('ghost'), '2026-03-01', '2026-03-31')$$, '22023', NULL,
                 'stylist_kpis() by an admin for no profile: 22023');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(NULL, '2026-03-01', '2026-03-31')$$, '22004', NULL,
                 'stylist_kpis() of a NULL stylist: 22004');
SELECT throws_ok($$SELECT * FROM chat.kpis(NULL, '2026-03-31')$$, '22004', NULL, 'kpis() from NULL: 22004');
SELECT throws_ok($$SELECT * FROM chat.kpis('2026-03-01', NULL)$$, '22004', NULL, 'kpis() to NULL: 22004');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('sam'), NULL, '2026-03-31')$$, '22004', NULL,
                 'stylist_kpis() from NULL: 22004');
SELECT throws_ok($$SELECT * FROM chat.kpis('2026-04-01', '2026-03-31')$$, '22023', NULL,
                 'kpis() from after to: 22023');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('sam'), '2026-04-01', '2026-03-31')$$, '22023', NULL,
                 'stylist_kpis() from after to: 22023');
SELECT throws_ok($$SELECT * FROM chat.kpis('-infinity', '2026-03-31')$$, '22023', NULL,
                 'kpis() from -infinity: 22023');
SELECT throws_ok($$SELECT * FROM chat.kpis('2026-03-01', 'infinity')$$, '22023', NULL,
                 'kpis() to infinity: 22023');
SELECT throws_ok($$SELECT * FROM chat.stylist_kpis(pg_temp.id('sam'), '2026-03-01', 'infinity')$$, '22023', NULL,
                 'stylist_kpis() to infinity: 22023');

-- rebuild_kpis() by an admin: from the gap-filled rollups, the same again
SELECT is(chat.rebuild_kpis(), 29::bigint, 'rebuild_kpis() by an admin returns the 29 messages it counted');
SELECT results_eq('SELECT * FROM pg_temp.rollups()', 'SELECT * FROM rebuilt_rollups ORDER BY 1, 2',
                  'and recomputes the same rollups');

/*
 * 5. Bookings as they are now.  "The rest reads bookings as they are now":
 * a booking cancelled after the messages were relayed changes which
 * bookings were chatted after and which messages were reactivation
 * attempts.  B1 (carol-sam, 03-10) and C2 (dave-sam, 04-09) are cancelled
 * on 04-20, the rollups being those of before.  Bookings now: A 02-10,
 * 03-20, 05-15; B 03-01, 03-25; C 2025-12-20; D 03-31 23:30; E 01-05,
 * 05-02; F 03-05, 03-28.
 */
SELECT pg_temp.book('B1', 'carol', 'sam', '2026-03-10 14:00+00', 'cancelled', '2026-04-20 10:00+00');
SELECT pg_temp.book('C2', 'dave', 'sam', '2026-04-09 10:00+00', 'cancelled', '2026-04-20 10:00+00');

SELECT * FROM pg_temp.check_kpis('after B1 and C2 are cancelled: kpis, March', NULL, '2026-03-01', '2026-03-31', $$VALUES
    -- starting in March: B0 03-01 (next booking now B2 03-25; B [4]-[7] on
    -- 03-16 between: chatted; B2 later), F1 (not; F2 later), A2 (chatted; A4
    -- later), B2 (chatted; none later), F2 (not; none later), D1 (chatted;
    -- none later)
    ('bookings_chatted', 4),                    -- B0 A2 B2 D1
    ('rebooking_rate_chatted', 2 / 4.0),        -- B0 A2
    ('bookings_not_chatted', 2),                -- F1 F2
    ('rebooking_rate_not_chatted', 1 / 2.0),    -- F1
    -- C [2] 03-03 (no booking made by 04-02 now: C2 is cancelled), E [2] 03-08
    ('reactivation_attempts', 2),
    ('reactivation_rate', 0)
$$, false);
SELECT * FROM pg_temp.check_kpis('after B1 and C2 are cancelled: kpis, 03-15 to 04-10', NULL, '2026-03-15', '2026-04-10', $$VALUES
    ('bookings_chatted', 3),                    -- A2 B2 D1 (C2 is cancelled)
    ('rebooking_rate_chatted', 1 / 3.0),        -- A2
    ('bookings_not_chatted', 1),                -- F2
    ('rebooking_rate_not_chatted', 0),
    -- C [6] 04-10 23:59:59: dave's latest booking made before it is now C1,
    -- started 2025-12-20, 111 days before, and the last attempt (C [2]
    -- 03-03) is 38 days old: an attempt, without booking after it.  E [4]
    -- 04-08: booked (E2).
    ('reactivation_attempts', 2),
    ('reactivation_rate', 1 / 2.0)
$$, false);
SELECT is(chat.rebuild_kpis(), 29::bigint, 'rebuild_kpis() after the cancellations: 29 messages');
SELECT * FROM pg_temp.check_kpis('after B1 and C2 are cancelled, rebuilt: kpis, March', NULL, '2026-03-01', '2026-03-31', $$VALUES
    ('bookings_chatted', 4),                    -- as above
    ('rebooking_rate_chatted', 2 / 4.0),
    ('bookings_not_chatted', 2),
    ('rebooking_rate_not_chatted', 1 / 2.0),
    ('reactivation_attempts', 2),
    ('reactivation_rate', 0)
$$, false);
SELECT * FROM pg_temp.check_kpis('after B1 and C2 are cancelled, rebuilt: kpis, 03-15 to 04-10', NULL, '2026-03-15', '2026-04-10', $$VALUES
    ('bookings_chatted', 3),
    ('rebooking_rate_chatted', 1 / 3.0),
    ('bookings_not_chatted', 1),
    ('rebooking_rate_not_chatted', 0),
    ('reactivation_attempts', 2),
    ('reactivation_rate', 1 / 2.0)
$$, false);

-- 6. stylist_chat.kpis is a server setting (reload to change): it cannot be
-- turned off in a transaction.  test/scripts/kpis.sh turns it off and on.
SELECT throws_ok('SET LOCAL stylist_chat.kpis = off', '55P02', NULL,
                 'stylist_chat.kpis cannot be SET in a session (it is reloaded with the configuration)');

SELECT * FROM finish();
ROLLBACK;
