/*
 * Relationship KPIs: the figures the platform steers by (active
 * conversations, messages, response times, bookings per relationship,
 * rebooking, reactivation), for any period, platform-wide
 * (chat.kpis()) or for one stylist (chat.stylist_kpis()).  README
 * defines every figure.
 *
 * A query reads rollups, never a message row.  They are kept as things
 * happen:
 *   - the bookkeeping worker hands every batch of messages relayed to
 *     chat._note_messages(), which calls chat._note_kpis() (when
 *     stylist_chat.kpis is on) in the same transaction: days with
 *     messages per chat and month (a bit a day), messages a day, response
 *     times a day in buckets 5 % wide, which booking a message follows,
 *     reactivation attempts.  Each chat's rollups remember the seq they
 *     are counted up to (kpi_chats.noted_seq): a message noted twice
 *     (a server crash brings a relay watermark back) counts once, and
 *     messages that were not noted (the setting was off, the bookkeeping
 *     failed) are read back from the chat's history the next time one of
 *     its messages is relayed;
 *   - chat.upsert_booking() keeps each pair's sorted booking start times
 *     (chat._note_booking_kpis());
 *   - chat.rebuild_kpis() recomputes everything from the history with the
 *     same code, a few thousand chats a call of _note_kpis().
 * Bookings themselves are read at query time (the bookings starting in
 * the period, with an index on starts_at): they are some thirty times
 * fewer than messages.
 */

-- Neither a SET clause nor STRICT on these two: either would keep them
-- from being inlined into the statements that use them (the relay
-- worker's, kpis()), whose own search_path is pinned.  NULL in, NULL out.
CREATE OR REPLACE FUNCTION chat._kpi_bucket(response interval)
RETURNS smallint
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    -- bucket b: from 1.05^b to 1.05^(b+1) milliseconds; -1: under 1 ms
    SELECT CASE WHEN extract(epoch FROM $1) * 1000 < 1 THEN -1
                ELSE floor(ln(extract(epoch FROM $1) * 1000) / ln(1.05)) END::smallint
$$;

COMMENT ON FUNCTION chat._kpi_bucket(interval) IS
'The bucket of a response time: b holds times from 1.05^b to 1.05^(b+1) milliseconds, -1 those under 1 ms. Internal.';
REVOKE ALL ON FUNCTION chat._kpi_bucket(interval) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._kpi_bucket_seconds(bucket integer)
RETURNS numeric
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    -- the middle of the bucket, within 2.5 % of any time in it
    SELECT CASE WHEN $1 < 0 THEN 0
                ELSE round((power(1.05::numeric, $1 + 0.5) / 1000)::numeric, 3) END
$$;

COMMENT ON FUNCTION chat._kpi_bucket_seconds(integer) IS
'The time a response-time bucket stands for, in seconds: its geometric middle, within 2.5 % of any time in it. Internal.';
REVOKE ALL ON FUNCTION chat._kpi_bucket_seconds(integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._kpi_note_bookings(chat_ids uuid[], seqs bigint[], sides text[],
                                                   customer_ids uuid[], stylist_ids uuid[],
                                                   ats timestamptz[])
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cand record;
    v_last_chat uuid;
    v_last_attempt timestamptz;
BEGIN
    /*
     * Reactivation attempts: a stylist's message to a customer whose
     * latest booking with them (made before the message) started 60 days
     * or more before it; the first, and then one 30 days after the last.
     * Rare, so a loop over the candidates.
     */
    FOR cand IN
        SELECT m.chat_id, m.customer_id, m.stylist_id, m.at
          FROM ROWS FROM (unnest(chat_ids), unnest(seqs), unnest(sides), unnest(customer_ids),
                          unnest(stylist_ids), unnest(ats))
               AS m (chat_id, seq, side, customer_id, stylist_id, at)
         WHERE m.side = 'stylist'
           AND (SELECT max(b.starts_at) FROM chat.bookings b
                 WHERE b.customer_id = m.customer_id AND b.stylist_id = m.stylist_id
                   AND b.status <> 'cancelled' AND b.created_at < m.at)
               <= m.at - interval '60 days'
         ORDER BY m.chat_id, m.seq
    LOOP
        IF v_last_chat IS DISTINCT FROM cand.chat_id THEN
            v_last_chat := cand.chat_id;
            SELECT max(a.at) INTO v_last_attempt FROM chat.kpi_reactivations a WHERE a.chat_id = cand.chat_id;
        END IF;
        IF v_last_attempt IS NULL OR cand.at >= v_last_attempt + interval '30 days' THEN
            INSERT INTO chat.kpi_reactivations (chat_id, at, stylist_id, customer_id, booked)
            VALUES (cand.chat_id, cand.at, cand.stylist_id, cand.customer_id,
                    EXISTS (SELECT FROM chat.bookings b
                             WHERE b.customer_id = cand.customer_id AND b.stylist_id = cand.stylist_id
                               AND b.status <> 'cancelled' AND b.created_at > cand.at
                               AND b.created_at <= cand.at + interval '30 days'))
            ON CONFLICT DO NOTHING;
            v_last_attempt := cand.at;
        END IF;
    END LOOP;

    -- the booking each message follows: the pair's latest started before it
    WITH y AS (
        SELECT m.chat_id, m.customer_id, m.stylist_id, m.at
          FROM ROWS FROM (unnest(chat_ids), unnest(customer_ids), unnest(stylist_ids), unnest(ats))
               AS m (chat_id, customer_id, stylist_id, at)
    ), pairs AS (
        SELECT y.chat_id, y.customer_id, y.stylist_id, min(y.at) AS min_at, max(y.at) AS max_at
          FROM y GROUP BY y.chat_id, y.customer_id, y.stylist_id
    )
    INSERT INTO chat.kpi_booking_chats (chat_id, booking_id, stylist_id, starts_at, rebooked)
    SELECT DISTINCT p.chat_id, b.id, p.stylist_id, b.starts_at, b.next_start IS NOT NULL
      FROM pairs p
     CROSS JOIN LATERAL (
            SELECT bk.id, bk.starts_at, lead(bk.starts_at) OVER (ORDER BY bk.starts_at) AS next_start
              FROM chat.bookings bk
             WHERE bk.customer_id = p.customer_id AND bk.stylist_id = p.stylist_id
               AND bk.status <> 'cancelled') b
      JOIN y ON y.chat_id = p.chat_id AND y.at > b.starts_at
            AND (b.next_start IS NULL OR y.at < b.next_start)
     WHERE b.starts_at < p.max_at AND (b.next_start IS NULL OR b.next_start > p.min_at)
    ON CONFLICT (chat_id, booking_id) DO NOTHING;
END
$$;

COMMENT ON FUNCTION chat._kpi_note_bookings(uuid[], bigint[], text[], uuid[], uuid[], timestamptz[]) IS
'The KPI rollups that follow from the pairs'' bookings, for participants'' messages (chat, seq, side, customer, stylist, time; in seq order per chat): the booking each message follows (kpi_booking_chats) and reactivation attempts (kpi_reactivations). Internal: used by chat._note_kpis() and chat._note_booking_kpis().';
REVOKE ALL ON FUNCTION chat._kpi_note_bookings(uuid[], bigint[], text[], uuid[], uuid[], timestamptz[]) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._note_kpis(chat_ids uuid[], seqs bigint[], sender_ids uuid[],
                                           customer_ids uuid[], stylist_ids uuid[],
                                           ats timestamptz[], day_rollups boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_chat uuid[];
    v_seq bigint[];
    v_side text[];
    v_customer uuid[];
    v_stylist uuid[];
    v_at timestamptz[];
    v_counted integer;
BEGIN
    /*
     * The messages to count: the participants' messages of the batch
     * above each chat's noted seq, and those of its history between the
     * noted seq and the batch (not noted before).
     */
    WITH u AS (
        SELECT u.chat_id, u.seq, u.sender_id, u.customer_id, u.stylist_id, u.at
          FROM ROWS FROM (unnest(chat_ids), unnest(seqs), unnest(sender_ids),
                          unnest(customer_ids), unnest(stylist_ids), unnest(ats))
               AS u (chat_id, seq, sender_id, customer_id, stylist_id, at)
         WHERE u.sender_id IS NOT NULL
    ), c AS (
        SELECT u.chat_id, u.customer_id, u.stylist_id, min(u.seq) AS first_seq,
               -- a chat not counted yet: from its lowest seq (history
               -- imported by chat.consolidate_legacy() is below 1)
               coalesce((SELECT k.noted_seq FROM chat.kpi_chats k WHERE k.chat_id = u.chat_id),
                        -9223372036854775808) AS noted_seq
          FROM u GROUP BY u.chat_id, u.customer_id, u.stylist_id
    ), todo AS (
        SELECT u.chat_id, u.seq, u.sender_id, u.customer_id, u.stylist_id, u.at
          FROM u JOIN c ON c.chat_id = u.chat_id
         WHERE u.seq > c.noted_seq
        UNION ALL
        -- per chat, a range of its primary key (OFFSET 0 keeps the planner
        -- from joining the whole table: the generic plan of a batch knows
        -- neither how many chats it holds nor how long their histories are)
        SELECT c.chat_id, h.seq, h.sender_id, c.customer_id, c.stylist_id, h.created_at
          FROM c CROSS JOIN LATERAL (
                SELECT x.seq, x.sender_id, x.created_at
                  FROM chat.chat_messages x
                 WHERE x.chat_id = c.chat_id AND x.seq > c.noted_seq AND x.seq < c.first_seq
                   AND x.sender_id IS NOT NULL
                OFFSET 0) h
    )
    SELECT array_agg(t.chat_id ORDER BY t.chat_id, t.seq), array_agg(t.seq ORDER BY t.chat_id, t.seq),
           array_agg(CASE WHEN t.sender_id = t.customer_id THEN 'customer' ELSE 'stylist' END
                     ORDER BY t.chat_id, t.seq),
           array_agg(t.customer_id ORDER BY t.chat_id, t.seq),
           array_agg(t.stylist_id ORDER BY t.chat_id, t.seq), array_agg(t.at ORDER BY t.chat_id, t.seq)
      INTO v_chat, v_seq, v_side, v_customer, v_stylist, v_at
      FROM (SELECT DISTINCT ON (todo.chat_id, todo.seq) todo.* FROM todo) t;
    IF v_chat IS NULL THEN
        RETURN 0;
    END IF;

    -- what follows from the pair's bookings: which booking each message
    -- follows, reactivation attempts
    PERFORM chat._kpi_note_bookings(v_chat, v_seq, v_side, v_customer, v_stylist, v_at);

    /*
     * The rollups, in one statement.  Responses: a run is a chat's
     * messages of one side in a row; run 0 continues the side that was
     * waiting before this batch (since kpi_chats.waiting_since).  Each
     * later run answers the run before it: its first message's time less
     * the start of that run.
     */
    WITH m AS (
        SELECT m.chat_id, m.seq, m.side, m.customer_id, m.stylist_id, m.at,
               (m.at AT TIME ZONE 'UTC')::date AS day,
               k.waiting_side, k.waiting_since, k.first_message_at AS known_first_at
          FROM ROWS FROM (unnest(v_chat), unnest(v_seq), unnest(v_side), unnest(v_customer),
                          unnest(v_stylist), unnest(v_at))
               AS m (chat_id, seq, side, customer_id, stylist_id, at)
          LEFT JOIN chat.kpi_chats k ON k.chat_id = m.chat_id
    ), x AS (
        SELECT m.*,
               CASE WHEN coalesce(lag(m.side) OVER w, m.waiting_side) IS DISTINCT FROM m.side
                    THEN 1 ELSE 0 END AS starts_run,
               coalesce(m.known_first_at, first_value(m.at) OVER w) AS first_at
          FROM m
        WINDOW w AS (PARTITION BY m.chat_id ORDER BY m.seq)
    ), y AS (
        SELECT x.*, sum(x.starts_run) OVER (PARTITION BY x.chat_id ORDER BY x.seq) AS run
          FROM x
    ), runs AS (
        SELECT y.chat_id, y.stylist_id, y.run, y.side, y.waiting_since,
               (array_agg(y.at ORDER BY y.seq))[1] AS run_first_at
          FROM y
         GROUP BY y.chat_id, y.stylist_id, y.run, y.side, y.waiting_since
    ), r AS (
        SELECT runs.*,
               CASE WHEN runs.run = 1 THEN runs.waiting_since
                    ELSE lag(runs.run_first_at) OVER (PARTITION BY runs.chat_id ORDER BY runs.run)
               END AS answers_from,
               CASE WHEN runs.run = 0 THEN runs.waiting_since ELSE runs.run_first_at END AS run_start,
               row_number() OVER (PARTITION BY runs.chat_id ORDER BY runs.run DESC) AS from_last
          FROM runs
    ), resp AS (
        SELECT r.stylist_id, r.side, (r.run_first_at AT TIME ZONE 'UTC')::date AS day,
               chat._kpi_bucket(greatest(r.run_first_at - r.answers_from, interval '0')) AS bucket
          FROM r
         WHERE r.run >= 1 AND r.answers_from IS NOT NULL
    ), chats AS (
        INSERT INTO chat.kpi_chats AS k (chat_id, stylist_id, noted_seq, first_message_at,
                                         last_message_at, waiting_side, waiting_since)
        SELECT s.chat_id, s.stylist_id, s.noted_seq, s.first_at, s.last_at, r.side, r.run_start
          FROM (SELECT y.chat_id, y.stylist_id, max(y.seq) AS noted_seq, min(y.first_at) AS first_at,
                       max(y.at) AS last_at
                  FROM y GROUP BY y.chat_id, y.stylist_id) s
          JOIN r ON r.chat_id = s.chat_id AND r.from_last = 1
        ON CONFLICT (chat_id) DO UPDATE
           SET noted_seq = excluded.noted_seq,
               last_message_at = greatest(k.last_message_at, excluded.last_message_at),
               waiting_side = excluded.waiting_side,
               waiting_since = excluded.waiting_since
    ), months AS (
        INSERT INTO chat.kpi_chat_months AS t (chat_id, month, stylist_id, first_day, day_bits, messages)
        SELECT y.chat_id, date_trunc('month', y.day)::date, y.stylist_id,
               (min(y.first_at) AT TIME ZONE 'UTC')::date,
               bit_or(1 << (extract(day FROM y.day)::integer - 1)), count(*)
          FROM y
         GROUP BY y.chat_id, date_trunc('month', y.day), y.stylist_id
        ON CONFLICT (chat_id, month) DO UPDATE
           SET day_bits = t.day_bits | excluded.day_bits,
               messages = t.messages + excluded.messages
    ), days AS (
        INSERT INTO chat.kpi_days AS t (day, customer_messages, stylist_messages)
        SELECT y.day, count(*) FILTER (WHERE y.side = 'customer'), count(*) FILTER (WHERE y.side = 'stylist')
          FROM y WHERE day_rollups GROUP BY y.day
        ON CONFLICT (day) DO UPDATE
           SET customer_messages = t.customer_messages + excluded.customer_messages,
               stylist_messages = t.stylist_messages + excluded.stylist_messages
    ), stylist_days AS (
        INSERT INTO chat.kpi_stylist_days AS t (stylist_id, day, customer_messages, stylist_messages)
        SELECT y.stylist_id, y.day, count(*) FILTER (WHERE y.side = 'customer'),
               count(*) FILTER (WHERE y.side = 'stylist')
          FROM y WHERE day_rollups GROUP BY y.stylist_id, y.day
        ON CONFLICT (stylist_id, day) DO UPDATE
           SET customer_messages = t.customer_messages + excluded.customer_messages,
               stylist_messages = t.stylist_messages + excluded.stylist_messages
    ), responses AS (
        INSERT INTO chat.kpi_responses AS t (day, side, bucket, responses)
        SELECT resp.day, resp.side, resp.bucket, count(*)
          FROM resp WHERE day_rollups GROUP BY resp.day, resp.side, resp.bucket
        ON CONFLICT (day, side, bucket) DO UPDATE SET responses = t.responses + excluded.responses
    ), stylist_responses AS (
        INSERT INTO chat.kpi_stylist_responses AS t (stylist_id, day, side, bucket, responses)
        SELECT resp.stylist_id, resp.day, resp.side, resp.bucket, count(*)
          FROM resp WHERE day_rollups GROUP BY resp.stylist_id, resp.day, resp.side, resp.bucket
        ON CONFLICT (stylist_id, day, side, bucket) DO UPDATE SET responses = t.responses + excluded.responses
    )
    SELECT count(*) INTO v_counted FROM y;

    RETURN cardinality(v_chat);
END
$$;

COMMENT ON FUNCTION chat._note_kpis(uuid[], bigint[], uuid[], uuid[], uuid[], timestamptz[], boolean) IS
'Counts a batch of messages (with the chat, seq, sender (NULL for a booking card: not counted), customer, stylist and time of each) into the KPI rollups, with the messages of each chat between its noted seq and the batch; a message already counted is skipped. day_rollups false leaves the rollups a day (messages, responses) to the caller. Returns how many it counted. Called by chat._note_messages() and chat.rebuild_kpis(). Internal.';
REVOKE ALL ON FUNCTION chat._note_kpis(uuid[], bigint[], uuid[], uuid[], uuid[], timestamptz[], boolean) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._note_booking_kpis(customer_id uuid, stylist_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_chat uuid := chat.pair_chat_id($1, $2);
    h record;
BEGIN
    -- the pair's row locked first, then read again in a statement of its
    -- own: two bookings of one pair at once each see the other's
    INSERT INTO chat.kpi_pairs AS p (chat_id, customer_id, stylist_id, booking_days)
    VALUES (v_chat, $1, $2, '{}')
    ON CONFLICT (chat_id) DO NOTHING;
    PERFORM FROM chat.kpi_pairs p WHERE p.chat_id = v_chat FOR UPDATE;
    UPDATE chat.kpi_pairs p
       SET booking_days = coalesce((SELECT array_agg((b.starts_at AT TIME ZONE 'UTC')::date
                                                     ORDER BY b.starts_at)
                                      FROM chat.bookings b
                                     WHERE b.customer_id = $1 AND b.stylist_id = $2
                                       AND b.status <> 'cancelled'), '{}')
     WHERE p.chat_id = v_chat;

    -- each booking: an earlier, a later one, a message before it was made
    DELETE FROM chat.kpi_bookings k WHERE k.chat_id = v_chat;
    INSERT INTO chat.kpi_bookings (chat_id, booking_id, stylist_id, starts_at, repeat, rebooked, chat_before)
    SELECT v_chat, b.id, b.stylist_id, b.starts_at,
           min(b.starts_at) OVER () < b.starts_at, max(b.starts_at) OVER () > b.starts_at,
           coalesce((SELECT m.created_at FROM chat.chat_messages m
                      WHERE m.chat_id = v_chat AND m.sender_id IS NOT NULL
                      ORDER BY m.seq LIMIT 1) < b.created_at, false)
      FROM chat.bookings b
     WHERE b.customer_id = $1 AND b.stylist_id = $2 AND b.status <> 'cancelled';

    /*
     * Which booking each message follows, and the reactivation attempts,
     * depend on the bookings: derived again from the pair's messages (a
     * booking is rare, a pair's history short).  A message the relay
     * worker notes while this transaction is open is judged by the
     * bookings as they were; the worker does not wait for this one.
     */
    DELETE FROM chat.kpi_booking_chats k WHERE k.chat_id = v_chat;
    DELETE FROM chat.kpi_reactivations a WHERE a.chat_id = v_chat;
    SELECT array_agg(m.chat_id ORDER BY m.seq) AS chat_ids, array_agg(m.seq ORDER BY m.seq) AS seqs,
           array_agg(CASE WHEN m.sender_id = $1 THEN 'customer' ELSE 'stylist' END ORDER BY m.seq) AS sides,
           array_agg($1 ORDER BY m.seq) AS customer_ids, array_agg($2 ORDER BY m.seq) AS stylist_ids,
           array_agg(m.created_at ORDER BY m.seq) AS ats
      INTO h
      FROM chat.chat_messages m
     WHERE m.chat_id = v_chat AND m.sender_id IS NOT NULL;
    IF h.chat_ids IS NOT NULL THEN
        PERFORM chat._kpi_note_bookings(h.chat_ids, h.seqs, h.sides, h.customer_ids, h.stylist_ids, h.ats);
    END IF;
END
$$;

COMMENT ON FUNCTION chat._note_booking_kpis(uuid, uuid) IS
'Keeps the KPI rollups that depend on a pair''s bookings after a booking of the pair changed: the days they start and what each booking''s figures need (not cancelled ones), and, from the pair''s messages, which booking each follows and the reactivation attempts. Called by chat.upsert_booking() when stylist_chat.kpis is on. Internal.';
REVOKE ALL ON FUNCTION chat._note_booking_kpis(uuid, uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._rebuild_kpis()
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
-- the batches here are thousands of chats: plans made for their sizes
-- (the relay worker's one-message batches use one generic plan instead)
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_after uuid := '00000000-0000-0000-0000-000000000000';
    v_ids uuid[];
    v_read bigint := 0;
    a record;
BEGIN
    -- writers wait (chat.upsert_booking() up to its lock_timeout; the
    -- relay worker does not: it skips the KPIs of a batch, which are read
    -- back with their chat's next message); readers go on with the
    -- figures as they were
    LOCK TABLE chat.kpi_chats, chat.kpi_chat_months, chat.kpi_days, chat.kpi_stylist_days,
               chat.kpi_responses, chat.kpi_stylist_responses, chat.kpi_pairs, chat.kpi_bookings,
               chat.kpi_booking_chats, chat.kpi_reactivations IN EXCLUSIVE MODE;
    DELETE FROM chat.kpi_chats;
    DELETE FROM chat.kpi_chat_months;
    DELETE FROM chat.kpi_days;
    DELETE FROM chat.kpi_stylist_days;
    DELETE FROM chat.kpi_responses;
    DELETE FROM chat.kpi_stylist_responses;
    DELETE FROM chat.kpi_pairs;
    DELETE FROM chat.kpi_bookings;
    DELETE FROM chat.kpi_booking_chats;
    DELETE FROM chat.kpi_reactivations;

    INSERT INTO chat.kpi_pairs (chat_id, customer_id, stylist_id, booking_days)
    SELECT chat.pair_chat_id(b.customer_id, b.stylist_id), b.customer_id, b.stylist_id,
           array_agg((b.starts_at AT TIME ZONE 'UTC')::date ORDER BY b.starts_at)
      FROM chat.bookings b
     WHERE b.status <> 'cancelled'
     GROUP BY b.customer_id, b.stylist_id;

    -- the messages, a few thousand chats at a time, through the code the
    -- relay worker runs
    LOOP
        SELECT array_agg(c.chat_id ORDER BY c.chat_id) INTO v_ids
          FROM (SELECT c.chat_id FROM chat.chats c WHERE c.chat_id > v_after
                 ORDER BY c.chat_id LIMIT 2000) c;
        EXIT WHEN v_ids IS NULL;
        SELECT array_agg(m.chat_id ORDER BY m.chat_id, m.seq) AS chat_ids,
               array_agg(m.seq ORDER BY m.chat_id, m.seq) AS seqs,
               array_agg(m.sender_id ORDER BY m.chat_id, m.seq) AS sender_ids,
               array_agg(c.customer_id ORDER BY m.chat_id, m.seq) AS customer_ids,
               array_agg(c.stylist_id ORDER BY m.chat_id, m.seq) AS stylist_ids,
               array_agg(m.created_at ORDER BY m.chat_id, m.seq) AS ats
          INTO a
          FROM chat.chat_messages m JOIN chat.chats c ON c.chat_id = m.chat_id
         WHERE m.chat_id = ANY (v_ids) AND m.sender_id IS NOT NULL;
        IF a.chat_ids IS NOT NULL THEN
            v_read := v_read + chat._note_kpis(a.chat_ids, a.seqs, a.sender_ids, a.customer_ids,
                                               a.stylist_ids, a.ats, false);
        END IF;
        v_after := v_ids[cardinality(v_ids)];
    END LOOP;

    /*
     * The rollups a day, in one pass over the history rather than a
     * version of each row per chunk of chats: messages, and responses as
     * chat._note_kpis() finds them (a run of one side's messages answers
     * the run before it, from that run's first message to its own).
     */
    WITH runs AS (
        SELECT r.stylist_id, r.side, (r.at AT TIME ZONE 'UTC')::date AS day,
               chat._kpi_bucket(greatest(r.at - r.answers_from, interval '0')) AS bucket
          FROM (SELECT s.stylist_id, s.side, s.at,
                       lag(s.at) OVER (PARTITION BY s.chat_id ORDER BY s.seq) AS answers_from
                  FROM (SELECT m.chat_id, m.seq, m.created_at AS at, c.stylist_id, m.sender_id,
                               CASE WHEN m.sender_id = c.customer_id THEN 'customer' ELSE 'stylist' END AS side,
                               lag(m.sender_id) OVER (PARTITION BY m.chat_id ORDER BY m.seq) AS previous_sender
                          FROM chat.chat_messages m JOIN chat.chats c ON c.chat_id = m.chat_id
                         WHERE m.sender_id IS NOT NULL) s
                 WHERE s.previous_sender IS DISTINCT FROM s.sender_id) r
         WHERE r.answers_from IS NOT NULL
    ), platform AS (
        INSERT INTO chat.kpi_responses (day, side, bucket, responses)
        SELECT runs.day, runs.side, runs.bucket, count(*) FROM runs GROUP BY runs.day, runs.side, runs.bucket
    )
    INSERT INTO chat.kpi_stylist_responses (stylist_id, day, side, bucket, responses)
    SELECT runs.stylist_id, runs.day, runs.side, runs.bucket, count(*)
      FROM runs GROUP BY runs.stylist_id, runs.day, runs.side, runs.bucket;
    INSERT INTO chat.kpi_stylist_days (stylist_id, day, customer_messages, stylist_messages)
    SELECT c.stylist_id, (m.created_at AT TIME ZONE 'UTC')::date,
           count(*) FILTER (WHERE m.sender_id = c.customer_id),
           count(*) FILTER (WHERE m.sender_id <> c.customer_id)
      FROM chat.chat_messages m JOIN chat.chats c ON c.chat_id = m.chat_id
     WHERE m.sender_id IS NOT NULL
     GROUP BY c.stylist_id, (m.created_at AT TIME ZONE 'UTC')::date;
    INSERT INTO chat.kpi_days (day, customer_messages, stylist_messages)
    SELECT d.day, sum(d.customer_messages), sum(d.stylist_messages)
      FROM chat.kpi_stylist_days d GROUP BY d.day;

    -- the bookings, once the first message of every chat is known
    INSERT INTO chat.kpi_bookings (chat_id, booking_id, stylist_id, starts_at, repeat, rebooked, chat_before)
    SELECT b.chat_id, b.id, b.stylist_id, b.starts_at,
           min(b.starts_at) OVER w < b.starts_at, max(b.starts_at) OVER w > b.starts_at,
           coalesce(k.first_message_at < b.created_at, false)
      FROM (SELECT chat.pair_chat_id(b.customer_id, b.stylist_id) AS chat_id, b.*
              FROM chat.bookings b WHERE b.status <> 'cancelled') b
      LEFT JOIN chat.kpi_chats k ON k.chat_id = b.chat_id
    WINDOW w AS (PARTITION BY b.chat_id);
    RETURN v_read;
END
$$;

COMMENT ON FUNCTION chat._rebuild_kpis() IS
'Recomputes every KPI rollup from the bookings and the message history; returns how many messages it counted. Internal: chat.rebuild_kpis() for admins.';
REVOKE ALL ON FUNCTION chat._rebuild_kpis() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.rebuild_kpis()
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat._require_writable('rebuild_kpis');
    PERFORM chat._refuse_on_citus('rebuild_kpis');
    PERFORM chat._require_admin();
    RETURN chat._rebuild_kpis();
END
$$;

COMMENT ON FUNCTION chat.rebuild_kpis() IS
'For admins: recomputes every KPI rollup from the bookings and the message history (after stylist_chat.kpis was off, or a bookkeeping failure the server log reported; after an upgrade from 1.0) and returns how many messages it counted. While it runs, upsert_booking() waits for it (up to its lock_timeout) and the bookkeeping worker skips the KPIs of what is relayed (each chat''s next message brings them in); readers see the figures as they were until it commits.';
REVOKE ALL ON FUNCTION chat.rebuild_kpis() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.rebuild_kpis() TO chat_service;

CREATE OR REPLACE FUNCTION chat._kpis(stylist_id uuid, from_day date, to_day date)
RETURNS SETOF chat.kpi_figures
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- the plans cost enough for JIT to compile them, which takes longer than
-- running them; a period's month rows and the pairs' booking days are
-- read from indexes in chat order and merged, not hashed (three times
-- over by parallel workers)
SET jit = off
SET enable_hashjoin = off
SET max_parallel_workers_per_gather = 0
AS $$
DECLARE
    -- one filter a rollup: the platform's tables, or a stylist's rows;
    -- planned with the period's values, so a stylist's rows are found by
    -- their index
    v_months text := CASE WHEN $1 IS NULL THEN '' ELSE 'AND cm.stylist_id = $3' END;
    v_days text := CASE WHEN $1 IS NULL THEN 'chat.kpi_days d WHERE'
                        ELSE 'chat.kpi_stylist_days d WHERE d.stylist_id = $3 AND' END;
    v_resp text := CASE WHEN $1 IS NULL THEN 'chat.kpi_responses r WHERE'
                        ELSE 'chat.kpi_stylist_responses r WHERE r.stylist_id = $3 AND' END;
    v_bookings text := CASE WHEN $1 IS NULL THEN '' ELSE 'AND kb.stylist_id = $3' END;
    v_marks text := CASE WHEN $1 IS NULL THEN '' ELSE 'AND bc.stylist_id = $3' END;
    -- the highest bit of a month's day bits, as a day of the month
    v_last_bit text := 'width_bucket(cmm.bits, ''{1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,'
                       '16384,32768,65536,131072,262144,524288,1048576,2097152,4194304,8388608,'
                       '16777216,33554432,67108864,134217728,268435456,536870912,1073741824}''::integer[])';
    v_attempts text := CASE WHEN $1 IS NULL THEN '' ELSE 'AND a.stylist_id = $3' END;
BEGIN
    RETURN QUERY EXECUTE format($q$
    WITH cmm AS (
        -- the chats' months in the period, with their days in it
        SELECT cm.chat_id, cm.month, cm.first_day,
               cm.day_bits
               & ((1::bigint << (least($2, (cm.month + interval '1 month')::date - 1) - cm.month + 1))
                  - (1::bigint << (greatest($1, cm.month) - cm.month)))::integer AS bits
          FROM chat.kpi_chat_months cm
         WHERE %8$s %1$s
    ), a AS (
        -- the active conversations: the day of the first message ever, the
        -- last day in the period with one
        %6$s
    ), ab AS (
        -- with the days the pair's bookings start: how many before the end
        -- of the period, and from the first message's day to the last day
        SELECT a.first_day, a.last_day, kp.booking_days AS days,
               coalesce(width_bucket($2, kp.booking_days), 0) AS before_end,
               coalesce(width_bucket(a.last_day, kp.booking_days)
                        - width_bucket(a.first_day - 1, kp.booking_days), 0) AS spanned
          FROM a LEFT JOIN chat.kpi_pairs kp ON kp.chat_id = a.chat_id
        OFFSET 0    -- each row's figures computed once, not at each use below
    ), act AS (
        SELECT count(*) AS active,
               avg(ab.last_day - ab.first_day) AS longevity,
               avg(CASE WHEN ab.before_end >= 2 THEN 1 ELSE 0 END) AS multi,
               avg(ab.before_end) AS depth,
               avg(ab.spanned) AS spanned,
               avg(greatest(ab.last_day, CASE WHEN ab.before_end > 0 THEN ab.days[ab.before_end] END)
                   - least(ab.first_day, CASE WHEN ab.before_end > 0 THEN ab.days[1] END)) AS duration
          FROM ab
    ), msg AS (
        SELECT coalesce(sum(d.customer_messages), 0)::bigint AS customer,
               coalesce(sum(d.stylist_messages), 0)::bigint AS stylist
          FROM %2$s d.day BETWEEN $1 AND $2
    ), h AS (
        SELECT r.side, r.bucket, sum(r.responses) AS n
          FROM %3$s r.day BETWEEN $1 AND $2
         GROUP BY r.side, r.bucket
    ), hc AS (
        SELECT h.side, h.bucket, sum(h.n) OVER (PARTITION BY h.side ORDER BY h.bucket) AS cum,
               sum(h.n) OVER (PARTITION BY h.side) AS total
          FROM h
    ), resp AS (
        SELECT s.side, coalesce(max(hc.total), 0)::bigint AS n,
               chat._kpi_bucket_seconds(min(hc.bucket) FILTER (WHERE hc.cum >= ceil(0.5 * hc.total))) AS median,
               chat._kpi_bucket_seconds(min(hc.bucket) FILTER (WHERE hc.cum >= ceil(0.9 * hc.total))) AS p90
          FROM (VALUES ('customer'), ('stylist')) s (side)
          LEFT JOIN hc ON hc.side = s.side
         GROUP BY s.side
    ), bks AS (
        -- the bookings starting in the period, and those of them the pair
        -- chatted after: two counts, no join
        SELECT k.n, k.rebooked, k.repeats, k.repeat_rate, c.n AS chatted, c.rebooked AS chatted_rebooked
          FROM (SELECT count(*) AS n, count(*) FILTER (WHERE kb.rebooked) AS rebooked,
                       count(*) FILTER (WHERE kb.repeat) AS repeats,
                       avg(CASE WHEN kb.chat_before THEN 1 ELSE 0 END) FILTER (WHERE kb.repeat) AS repeat_rate
                  FROM chat.kpi_bookings kb
                 WHERE kb.starts_at >= $4 AND kb.starts_at < $5 %4$s) k,
               (SELECT count(*) AS n, count(*) FILTER (WHERE bc.rebooked) AS rebooked
                  FROM chat.kpi_booking_chats bc
                 WHERE bc.starts_at >= $4 AND bc.starts_at < $5 %7$s) c
    ), re AS (
        SELECT count(*) AS attempts, avg(CASE WHEN a.booked THEN 1 ELSE 0 END) AS rate
          FROM chat.kpi_reactivations a
         WHERE a.at >= $4 AND a.at < $5 %5$s
    )
    SELECT $1, $2, ($2 - $1 + 1)::integer,
           act.active, msg.customer + msg.stylist, msg.customer, msg.stylist,
           round((msg.customer + msg.stylist)::numeric / nullif(act.active, 0) * 30 / ($2 - $1 + 1), 3),
           round(act.longevity, 3), round(act.multi, 4), round(act.depth, 3), round(act.spanned, 3),
           round(act.duration, 3),
           rc.n, rc.median, rc.p90, rs.n, rs.median, rs.p90,
           bks.chatted, round(bks.chatted_rebooked::numeric / nullif(bks.chatted, 0), 4),
           bks.n - bks.chatted,
           round((bks.rebooked - bks.chatted_rebooked)::numeric / nullif(bks.n - bks.chatted, 0), 4),
           re.attempts, round(re.rate, 4), bks.repeats, round(bks.repeat_rate, 4)
      FROM act, msg, bks, re,
           (SELECT * FROM resp WHERE resp.side = 'customer') rc,
           (SELECT * FROM resp WHERE resp.side = 'stylist') rs
    $q$, v_months, v_days, v_resp, v_bookings, v_attempts,
         -- within one month a chat has one row: nothing to group
         CASE WHEN date_trunc('month', from_day) = date_trunc('month', to_day)
              THEN 'SELECT cmm.chat_id, cmm.first_day, cmm.month + ' || v_last_bit || ' - 1 AS last_day
                      FROM cmm WHERE cmm.bits <> 0'
              ELSE 'SELECT cmm.chat_id, min(cmm.first_day) AS first_day,
                           max(cmm.month + ' || v_last_bit || ' - 1) AS last_day
                      FROM cmm WHERE cmm.bits <> 0 GROUP BY cmm.chat_id' END,
         v_marks,
         -- one month: its rows in chat order
         CASE WHEN date_trunc('month', from_day) = date_trunc('month', to_day)
              THEN 'cm.month = date_trunc(''month'', $1::timestamp)::date'
              ELSE 'cm.month BETWEEN date_trunc(''month'', $1::timestamp)::date AND $2' END)
    USING from_day, to_day, stylist_id,
          from_day::timestamp AT TIME ZONE 'UTC', (to_day + 1)::timestamp AT TIME ZONE 'UTC';
END
$$;

COMMENT ON FUNCTION chat._kpis(uuid, date, date) IS
'The KPI figures of the days from_day to to_day (UTC), platform-wide (stylist_id NULL) or for one stylist, from the rollups. Internal: chat.kpis() and chat.stylist_kpis() check who asks.';
REVOKE ALL ON FUNCTION chat._kpis(uuid, date, date) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._check_period(from_day date, to_day date)
RETURNS void
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat._require_arg($1, 'from');
    PERFORM chat._require_arg($2, 'to');
    IF NOT isfinite($1) OR NOT isfinite($2) OR $1 > $2 OR $2 - $1 >= 36525 THEN
        RAISE EXCEPTION 'invalid period from % to %', $1, $2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A period is two finite dates, from no later than to, at most 100 years apart.';
    END IF;
END
$$;

COMMENT ON FUNCTION chat._check_period(date, date) IS
'Raises 22004 for a missing date and 22023 for a period that is not two finite dates in order, at most 100 years apart. Internal.';
REVOKE ALL ON FUNCTION chat._check_period(date, date) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.kpis("from" date, "to" date)
RETURNS SETOF chat.kpi_figures
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat._refuse_on_citus('kpis');
    PERFORM chat._require_admin();
    PERFORM chat._check_period($1, $2);
    RETURN QUERY SELECT * FROM chat._kpis(NULL, $1, $2);
END
$$;

COMMENT ON FUNCTION chat.kpis(date, date) IS
'For admins: one row of the platform''s relationship KPIs for the days "from" to "to" (UTC, both included); README defines every figure.';
REVOKE ALL ON FUNCTION chat.kpis(date, date) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.kpis(date, date) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.stylist_kpis(stylist_id uuid, "from" date, "to" date)
RETURNS SETOF chat.kpi_figures
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_stylist uuid := chat._require_arg($1, 'stylist_id');
BEGIN
    PERFORM chat._refuse_on_citus('stylist_kpis');
    -- a stylist sees their own figures; an admin anyone's.  Anyone else
    -- learns nothing, not even whether the profile is a stylist
    IF v_actor IS DISTINCT FROM p_stylist AND chat._profile_role(v_actor) IS DISTINCT FROM 'admin' THEN
        RAISE EXCEPTION 'only the stylist and admins may read a stylist''s figures'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF chat._profile_role(p_stylist) IS DISTINCT FROM 'stylist' THEN
        RAISE EXCEPTION 'profile % is not a stylist', p_stylist
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM chat._check_period($2, $3);
    RETURN QUERY SELECT * FROM chat._kpis(p_stylist, $2, $3);
END
$$;

COMMENT ON FUNCTION chat.stylist_kpis(uuid, date, date) IS
'For admins, and a stylist for themself: one row of the relationship KPIs of the stylist''s chats and bookings for the days "from" to "to" (UTC, both included); README defines every figure.';
REVOKE ALL ON FUNCTION chat.stylist_kpis(uuid, date, date) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.stylist_kpis(uuid, date, date) TO chat_service, chat_user;
