/*
 * Acknowledged offline catch-up and delivery receipts.
 *
 * Each participant of a chat has a delivered mark (chats.customer_delivered_seq,
 * chats.stylist_delivered_seq): every message of the other participant up
 * to it has reached one of the participant's sessions.  The mark is per
 * person, not per session, and never moves backwards.
 *
 * chat.undelivered() (1.0) moves the mark when its transaction commits,
 * whether or not the rows then reach the client.  chat.catch_up() moves it
 * only to what the client says it holds:
 *
 *   1. The client calls catch_up(received, max_rows), where received is a
 *      JSON array of {"chat_id": ..., "seq": ...}: per chat, the highest
 *      seq it holds and has not yet had acknowledged (NULL the first time).
 *   2. The server, in one transaction: locks those chats (chat_id order,
 *      the chat row first, as every writer does; at most lock_timeout 2 s
 *      behind a sender), checks them (all the actor's, seqs within 0 to the
 *      chat's last seq; otherwise nothing moves), moves each delivered mark
 *      up to that seq, and then returns the other participants' messages
 *      above the marks, oldest first across chats, at most max_rows.  It
 *      does not move the marks for what it returns.
 *   3. The client stores the rows, and the highest seq per chat among them
 *      becomes part of the next call's received.  It calls again until no
 *      row comes back; that last call acknowledges the last batch.
 *
 * A lost connection at any point leaves the marks at what some committed
 * call acknowledged, and that is at most what the client held when it made
 * the call: the client makes the call again with everything it holds and
 * has not seen acknowledged, which is idempotent, and gets only rows above
 * what it holds.  So a client that follows this never holds a message twice
 * and never misses one.  The rows returned are, per chat, the next seqs
 * above the mark (a chat's messages commit in seq order, and created_at
 * follows seq within a chat), so "the highest seq held" stands for "every
 * seq up to it".  The fetch takes no lock: two sessions of one person may
 * be given the same rows, and what one acknowledges is not offered to the
 * other any more (the mark is the person's).
 *
 * Refusals move nothing: a chat in received that is not the actor's (or
 * does not exist) gives the one 42501 of every function, checked before
 * any seq is compared with the chat's last seq, whose error would tell it;
 * a malformed element, a seq below 0 or beyond the chat's last seq 22023;
 * over 1000 positions 54000.
 *
 * The mark stops at what was acknowledged, even when the actor's own
 * messages follow it (undelivered() moves past them): so a chat whose
 * messages above the mark are all the actor's own stays a candidate, and
 * each call looks past that run (a range scan of the primary key) until
 * the other participant writes and the client acknowledges it.
 *
 * chat.ack_delivered(chat_id, seq) is the same acknowledgement for one chat,
 * for a live client that got a message through its LISTEN channel and
 * fetched it with messages_since().
 *
 * Whenever a mark moves forward over at least one message of the other
 * participant (catch_up, ack_delivered and undelivered alike) a "delivered"
 * event is relayed to both participants' channels, with the new mark as seq
 * and the recipient as sender_id: the sender's grey double tick.  A move
 * over the actor's own messages only (acknowledging one's own message) moves
 * the mark without an event.
 */

/*
 * Reading only the chats that may have news.  undelivered() and
 * catch_up() look for the messages waiting for the actor; a person with
 * ten thousand chats would have all of them read at every call.  So each
 * person has a mark (chat.caught_up): a minute M such that none of their
 * chats whose activity_minute is below M has a message of the other
 * participant above their delivered mark.  Both calls read only the chats
 * from M on (an index range of chats_customer_activity_idx or
 * chats_stylist_activity_idx).
 *
 * Why that holds.  A message is written with its chat's last_message_at at
 * least now(), the start of the writer's transaction, so a chat that gets
 * news later has an activity_minute at least the minute that transaction
 * started; a delivered mark never moves back.  So M may move up to the
 * minute of a time T when a snapshot taken after T was read finds nothing
 * waiting from the old M on, provided that every transaction that could
 * still commit a message unseen by that snapshot started at T or later.
 * T is the earliest start of the transactions running in this database
 * when the call began (pg_stat_activity), or the call's own if earlier; a
 * transaction that started before T had committed when T was read, and
 * the snapshot sees it.  One minute is taken off, for the instant between
 * a transaction taking its start time and reporting it.  The argument
 * needs a snapshot per statement: the mark moves only in READ COMMITTED,
 * and not in a read-only transaction.  When a backend of the database does
 * not report its transactions (track_activities off), T is unknown and the
 * mark stays.  A clock set back by more than a minute could hide a
 * message from these two calls (not from history, messages_since or the
 * live channel); the mark of a person can be reset by deleting their row
 * of chat.caught_up.
 *
 * When it moves: after an undelivered() call that max_rows did not cut
 * off, and after a catch_up() call that returned nothing, if a check in a
 * new snapshot finds no message waiting (a chat that undelivered() skipped
 * because another session held it locked still has one: the mark stays).
 * A transaction open anywhere in the database holds the mark back to its
 * start: the calls then read the chats active since, as they read all of
 * them before.
 */

CREATE OR REPLACE FUNCTION chat._activity_horizon()
RETURNS timestamptz
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN bool_or(a.state = 'disabled'
                             OR (a.xact_start IS NULL
                                 AND (a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL)))
                THEN NULL
                ELSE least(min(a.xact_start), transaction_timestamp()) END
      FROM pg_stat_activity a
     WHERE a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
$$;

COMMENT ON FUNCTION chat._activity_horizon() IS
'The earliest start of the transactions running in this database, or of the current one if earlier: no message the current snapshot does not see can be written with an earlier time. NULL when a backend does not report its transactions (track_activities off). Internal.';
REVOKE ALL ON FUNCTION chat._activity_horizon() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._move_caught_up(actor uuid, horizon timestamptz, from_minute bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_minute bigint := chat._activity_minute(horizon) - 1;
BEGIN
    IF v_minute IS NULL OR v_minute <= from_minute
       OR current_setting('transaction_isolation') <> 'read committed'
       OR current_setting('transaction_read_only') = 'on' THEN
        RETURN;
    END IF;
    -- in a snapshot of its own, taken after the horizon was read: nothing
    -- waiting for the actor in the chats from the current mark on (a
    -- query, not IF EXISTS (...): Citus sends this one to every shard)
    PERFORM FROM chat.chats c
     WHERE ((c.customer_id = actor AND c.activity_minute >= from_minute
             AND c.last_seq > c.customer_delivered_seq)
         OR (c.stylist_id = actor AND c.activity_minute >= from_minute
             AND c.last_seq > c.stylist_delivered_seq))
       AND EXISTS (SELECT FROM chat.chat_messages x
                    WHERE x.chat_id = c.chat_id
                      AND x.seq > CASE WHEN c.customer_id = actor
                                       THEN greatest(c.customer_delivered_seq, c.customer_cleared_seq)
                                       ELSE greatest(c.stylist_delivered_seq, c.stylist_cleared_seq) END
                      AND x.sender_id IS DISTINCT FROM actor)
     LIMIT 1;
    IF FOUND THEN
        RETURN;
    END IF;
    INSERT INTO chat.caught_up AS u (profile_id, before_minute)
    VALUES (actor, v_minute)
    ON CONFLICT (profile_id) DO UPDATE SET before_minute = excluded.before_minute
     WHERE u.before_minute < excluded.before_minute;
END
$$;

COMMENT ON FUNCTION chat._move_caught_up(uuid, timestamptz, bigint) IS
'Moves the actor''s chat.caught_up mark up to the minute before horizon (from chat._activity_horizon(), read before the caller''s snapshot) when no chat of theirs active from from_minute (the current mark) on has a message waiting for them. Only in READ COMMITTED and read-write transactions. Internal.';
REVOKE ALL ON FUNCTION chat._move_caught_up(uuid, timestamptz, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._parse_received(received jsonb)
RETURNS TABLE (chat_id uuid, seq bigint)
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    e jsonb;
    i integer := 0;
    unknown text;
    v_chats uuid[] := '{}';
    v_seqs bigint[] := '{}';
BEGIN
    IF received IS NULL OR received = 'null'::jsonb THEN
        RETURN;
    END IF;
    IF jsonb_typeof(received) <> 'array' THEN
        RAISE EXCEPTION 'received must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass [{"chat_id": "...", "seq": 12}, ...]: per chat, the highest seq you hold; or NULL.';
    END IF;
    IF jsonb_array_length(received) > 1000 THEN
        RAISE EXCEPTION 'received holds % positions, at most 1000 are allowed', jsonb_array_length(received)
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Acknowledge the rest in a further call, or with chat.ack_delivered().';
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(received) LOOP
        i := i + 1;
        IF jsonb_typeof(e) <> 'object' THEN
            RAISE EXCEPTION 'received element %: must be a JSON object', i
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Each element is {"chat_id": "...", "seq": 12}.';
        END IF;
        SELECT string_agg(key, ', ' ORDER BY key) INTO unknown
          FROM jsonb_object_keys(e) AS key
         WHERE key NOT IN ('chat_id', 'seq');
        IF unknown IS NOT NULL THEN
            RAISE EXCEPTION 'received element %: unknown key %', i, unknown
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The keys are chat_id and seq.';
        END IF;
        IF jsonb_typeof(e->'chat_id') IS DISTINCT FROM 'string'
           OR (e->>'chat_id') !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
            RAISE EXCEPTION 'received element %: chat_id must be a UUID string', i
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT e ? 'seq' THEN
            RAISE EXCEPTION 'received element %: seq is missing', i
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Each element is {"chat_id": "...", "seq": 12}.';
        END IF;
        IF jsonb_typeof(e->'seq') IS DISTINCT FROM 'number'
           OR (e->>'seq') !~ '^[0-9]{1,18}$' THEN
            RAISE EXCEPTION 'received element %: seq must be a whole number from 0 up, not %', i,
                            e->'seq'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_chats := v_chats || (e->>'chat_id')::uuid;
        v_seqs := v_seqs || (e->>'seq')::bigint;
    END LOOP;
    -- a chat named twice counts with its highest seq
    RETURN QUERY
    SELECT r.c, max(r.s) FROM unnest(v_chats, v_seqs) AS r(c, s) GROUP BY r.c;
END
$$;

COMMENT ON FUNCTION chat._parse_received(jsonb) IS
'The positions a client passes to chat.catch_up(): a JSON array of at most 1000 {"chat_id", "seq"} objects (seq a whole number from 0 up), one row per chat with its highest seq; 22023 naming the first bad element, 54000 over 1000. Internal.';
REVOKE ALL ON FUNCTION chat._parse_received(jsonb) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._move_delivered_mark(chat_id uuid, seq bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_chat record;
BEGIN
    -- the caller holds the chat row locked, and has checked the actor
    SELECT c.customer_id, c.last_seq,
           CASE WHEN c.customer_id = v_actor THEN c.customer_delivered_seq
                ELSE c.stylist_delivered_seq END AS mark
      INTO v_chat
      FROM chat.chats c
     WHERE c.chat_id = $1 AND v_actor IN (c.customer_id, c.stylist_id);
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied($1);
    END IF;
    IF $2 > v_chat.last_seq THEN
        RAISE EXCEPTION 'seq % is beyond the last message of chat % (%)', $2, $1, v_chat.last_seq
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Acknowledge only seqs you have received.';
    END IF;
    IF $2 <= v_chat.mark THEN
        RETURN v_chat.mark;     -- never backwards; acknowledging again is a no-op
    END IF;
    IF v_chat.customer_id = v_actor THEN
        UPDATE chat.chats c SET customer_delivered_seq = $2 WHERE c.chat_id = $1;
    ELSE
        UPDATE chat.chats c SET stylist_delivered_seq = $2 WHERE c.chat_id = $1;
    END IF;
    -- a receipt only when a message of the other participant is delivered
    IF EXISTS (SELECT FROM chat.chat_messages m
                WHERE m.chat_id = $1 AND m.seq > v_chat.mark AND m.seq <= $2
                  AND m.sender_id IS DISTINCT FROM v_actor) THEN
        PERFORM chat._relay_change('delivered', $1, $2);
    END IF;
    RETURN $2;
END
$$;

COMMENT ON FUNCTION chat._move_delivered_mark(uuid, bigint) IS
'Moves the actor''s delivered mark of a chat it has locked up to seq (never backwards; 22023 beyond the last seq) and relays a delivered event when that delivers a message of the other participant; returns the mark. Internal: used by catch_up() and ack_delivered().';
REVOKE ALL ON FUNCTION chat._move_delivered_mark(uuid, bigint) FROM PUBLIC, chat_service, chat_user;

/*
 * The next messages sent to the actor across their chats, on a Citus
 * cluster: what the one statement of chat.catch_up() and of
 * chat.undelivered() does on one server, in one statement per chat, each
 * sent whole to the chat's node.  The chats with something not delivered
 * come from every shard at once; then per chat (in chat_id order) its next
 * messages of the other participant; the oldest max_rows of them across
 * chats; with deliver (chat.undelivered()) each chat is first locked or,
 * when another session holds it, left for the next call, and its delivered
 * mark moves as the one statement moves it, with a delivered event where
 * a message was fetched; then the rows, per chat, in the order of the one
 * statement.  The chat row's lock (undelivered) keeps a chat's messages
 * and marks as they were read while the call runs: its senders wait for
 * it.
 */
CREATE OR REPLACE FUNCTION chat._next_messages(actor_id uuid, from_minute bigint, max_rows integer,
                                               deliver boolean)
RETURNS TABLE (chat_id uuid, seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb, kind text, card jsonb, reply_to jsonb, reactions jsonb,
               my_reactions text[])
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := $1;
    v_chats uuid[];
    v_marks bigint[];
    v_chat uuid;
    v_mark bigint;
    v_taken uuid[] := '{}';
    v_cand_chats uuid[] := '{}';
    v_cand_seqs bigint[] := '{}';
    v_cand_ats timestamptz[] := '{}';
    v_pick_chats uuid[];
    v_pick_seqs bigint[];
    v_upto bigint;
    v_row record;
BEGIN
    -- every shard: the actor's chats with something not delivered, and
    -- where delivery stands (nothing the actor cleared: clear_history())
    SELECT array_agg(c.chat_id ORDER BY c.chat_id),
           array_agg(CASE WHEN c.customer_id = v_actor
                          THEN greatest(c.customer_delivered_seq, c.customer_cleared_seq)
                          ELSE greatest(c.stylist_delivered_seq, c.stylist_cleared_seq) END
                     ORDER BY c.chat_id)
      INTO v_chats, v_marks
      FROM chat.chats c
     WHERE (c.customer_id = v_actor AND c.activity_minute >= $2
            AND c.last_seq > c.customer_delivered_seq)
        OR (c.stylist_id = v_actor AND c.activity_minute >= $2
            AND c.last_seq > c.stylist_delivered_seq);

    FOR i IN 1 .. coalesce(cardinality(v_chats), 0) LOOP
        v_chat := v_chats[i];
        v_mark := v_marks[i];
        IF deliver THEN
            -- held by another session: left for the next call
            SELECT CASE WHEN c.customer_id = v_actor
                        THEN greatest(c.customer_delivered_seq, c.customer_cleared_seq)
                        ELSE greatest(c.stylist_delivered_seq, c.stylist_cleared_seq) END
              INTO v_mark
              FROM chat.chats c
             WHERE c.chat_id = v_chat
               FOR NO KEY UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;
            v_taken := v_taken || v_chat;
        END IF;
        SELECT v_cand_chats || coalesce(array_agg(x.chat_id ORDER BY x.seq), '{}'),
               v_cand_seqs || coalesce(array_agg(x.seq ORDER BY x.seq), '{}'),
               v_cand_ats || coalesce(array_agg(x.created_at ORDER BY x.seq), '{}')
          INTO v_cand_chats, v_cand_seqs, v_cand_ats
          FROM (SELECT x.chat_id, x.seq, x.created_at
                  FROM chat.chat_messages x
                 WHERE x.chat_id = v_chat AND x.seq > v_mark
                   AND x.sender_id IS DISTINCT FROM v_actor   -- booking cards too
                 ORDER BY x.seq
                 LIMIT $3) x;
    END LOOP;

    -- the oldest max_rows across chats (no table: this node alone)
    SELECT array_agg(k.c ORDER BY k.at, k.c, k.s), array_agg(k.s ORDER BY k.at, k.c, k.s)
      INTO v_pick_chats, v_pick_seqs
      FROM (SELECT k.c, k.s, k.at
              FROM unnest(v_cand_chats, v_cand_seqs, v_cand_ats) AS k(c, s, at)
             ORDER BY k.at, k.c, k.s
             LIMIT $3) k;

    IF deliver THEN
        FOREACH v_chat IN ARRAY v_taken LOOP
            -- not cut off: up to the chat's last message; else up to the
            -- last row fetched of it (none: the mark stays)
            IF coalesce(cardinality(v_pick_chats), 0) < $3 THEN
                SELECT max(x.seq) INTO v_upto FROM chat.chat_messages x WHERE x.chat_id = v_chat;
            ELSE
                SELECT max(k.s) INTO v_upto
                  FROM unnest(v_pick_chats, v_pick_seqs) AS k(c, s) WHERE k.c = v_chat;
            END IF;
            CONTINUE WHEN v_upto IS NULL;
            UPDATE chat.chats c
               SET customer_delivered_seq = CASE WHEN c.customer_id = v_actor
                        THEN greatest(c.customer_delivered_seq, v_upto) ELSE c.customer_delivered_seq END,
                   stylist_delivered_seq = CASE WHEN c.stylist_id = v_actor
                        THEN greatest(c.stylist_delivered_seq, v_upto) ELSE c.stylist_delivered_seq END
             WHERE c.chat_id = v_chat
            RETURNING c.customer_id, c.stylist_id,
                      CASE WHEN c.customer_id = v_actor THEN c.customer_delivered_seq
                           ELSE c.stylist_delivered_seq END AS mark
              INTO v_row;
            IF v_chat = ANY (v_pick_chats) THEN
                PERFORM chat._relay_event('delivered', v_chat, v_row.customer_id, v_row.stylist_id,
                                          v_actor, v_row.mark, now());
            END IF;
        END LOOP;
    END IF;

    RETURN QUERY
    SELECT r.chat_id, r.seq, r.sender_id, r.body, r.booking_id, r.client_msg_id, r.created_at,
           r.edited_at, r.deleted_at, r.hidden_at, r.attachments,
           CASE WHEN r.hidden_at IS NULL THEN chat._booking_json(r.booking_id) END,
           r.kind, r.card, r.reply_to, r.reactions, r.my_reactions
      FROM (SELECT DISTINCT k.c FROM unnest(v_pick_chats) AS k(c)) AS ch
     CROSS JOIN LATERAL (SELECT min(k.s) AS lo, max(k.s) AS hi, array_agg(k.s) AS seqs
                           FROM unnest(v_pick_chats, v_pick_seqs) AS k(c, s)
                          WHERE k.c = ch.c) AS p
     CROSS JOIN LATERAL chat._chat_rows(ch.c, p.lo, p.hi, p.seqs, v_actor) AS r
     ORDER BY r.created_at, r.chat_id, r.seq;
END
$$;

COMMENT ON FUNCTION chat._next_messages(uuid, bigint, integer, boolean) IS
'On a Citus cluster, the next messages sent to the actor across their chats, oldest first, at most max_rows, in one statement per chat; with deliver, moving the delivered marks (chats held by another session left for the next call) and relaying delivered events. What chat.catch_up() and chat.undelivered() do in one statement on one server. Internal.';
REVOKE ALL ON FUNCTION chat._next_messages(uuid, bigint, integer, boolean) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.catch_up(received jsonb DEFAULT NULL, max_rows integer DEFAULT 500)
RETURNS TABLE (chat_id uuid, seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb, kind text, card jsonb, reply_to jsonb, reactions jsonb,
               my_reactions text[])
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_max integer := chat._check_max_rows($2);
    -- before any snapshot of this call (see chat._move_caught_up())
    v_horizon timestamptz := chat._activity_horizon();
    v_from bigint;
    v_rows bigint;
    v_chats uuid[];
    v_seqs bigint[];
    v_mine uuid[];
    v_missing uuid;
BEGIN
    PERFORM chat._require_writable('catch_up');
    SELECT u.before_minute INTO v_from FROM chat.caught_up u WHERE u.profile_id = v_actor;
    v_from := coalesce(v_from, -9223372036854775808);
    /*
     * First the acknowledgement: every chat named is the actor's (or
     * nothing moves, 42501 naming the first that is not, without waiting
     * for any lock), then each is locked, in chat_id order so that two
     * calls never deadlock, then each mark moves up.  The chats are
     * checked by one statement (on a Citus cluster, of the shards that
     * hold them), locked and moved by one statement per chat (each on the
     * chat's node there).
     */
    SELECT array_agg(r.chat_id ORDER BY r.chat_id), array_agg(r.seq ORDER BY r.chat_id)
      INTO v_chats, v_seqs
      FROM chat._parse_received($1) r;
    v_mine := ARRAY(SELECT c.chat_id FROM chat.chats c
                     WHERE c.chat_id = ANY (v_chats) AND v_actor IN (c.customer_id, c.stylist_id));
    SELECT r.c INTO v_missing FROM unnest(v_chats) AS r(c) WHERE r.c <> ALL (v_mine) ORDER BY r.c LIMIT 1;
    IF FOUND THEN
        PERFORM chat._chat_access_denied(v_missing);
    END IF;
    FOR i IN 1 .. coalesce(cardinality(v_chats), 0) LOOP
        PERFORM chat._lock_chat(v_chats[i]);
    END LOOP;
    FOR i IN 1 .. coalesce(cardinality(v_chats), 0) LOOP
        PERFORM chat._move_delivered_mark(v_chats[i], v_seqs[i]);
    END LOOP;

    /*
     * Then the next batch, in a snapshot that sees the marks just moved:
     * per chat the next messages of the other participant above the mark.
     * Nothing is locked and no mark moves.  Within a chat created_at
     * follows seq, so the oldest rows across chats are a seq-prefix of
     * each chat above its mark.  On a Citus cluster, one statement per
     * chat (chat._next_messages()).
     */
    IF chat._distributed() THEN
        RETURN QUERY SELECT * FROM chat._next_messages(v_actor, v_from, p_max, false);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows = 0 THEN
            PERFORM chat._move_caught_up(v_actor, v_horizon, v_from);
        END IF;
        RETURN;
    END IF;
    RETURN QUERY
    WITH pending AS (
        SELECT c.chat_id,
               -- nothing the actor cleared (clear_history())
               CASE WHEN c.customer_id = v_actor
                    THEN greatest(c.customer_delivered_seq, c.customer_cleared_seq)
                    ELSE greatest(c.stylist_delivered_seq, c.stylist_cleared_seq) END AS delivered
          FROM chat.chats c
         WHERE (c.customer_id = v_actor AND c.activity_minute >= v_from
                AND c.last_seq > c.customer_delivered_seq)
            OR (c.stylist_id = v_actor AND c.activity_minute >= v_from
                AND c.last_seq > c.stylist_delivered_seq)
    ), picked AS (
        SELECT m.chat_id, m.seq, m.created_at
          FROM pending p
          CROSS JOIN LATERAL (
                SELECT x.chat_id, x.seq, x.created_at
                  FROM chat.chat_messages x
                 WHERE x.chat_id = p.chat_id AND x.seq > p.delivered
                   AND x.sender_id IS DISTINCT FROM v_actor   -- booking cards too
                 ORDER BY x.seq
                 LIMIT p_max) m
         ORDER BY m.created_at, m.chat_id, m.seq
         LIMIT p_max
    )
    SELECT m.chat_id, m.seq, m.sender_id, m.body, m.booking_id, m.client_msg_id,
           m.created_at, m.edited_at, m.deleted_at, m.hidden_at, m.attachments, m.booking,
           m.kind, m.card, m.reply_to, m.reactions,
           CASE WHEN m.has_reactions
                THEN (SELECT coalesce(array_agg(x.emoji ORDER BY x.created_at, x.emoji), '{}')
                        FROM chat.reactions x
                       WHERE x.chat_id = m.chat_id AND x.seq = m.seq AND x.profile_id = v_actor)
                ELSE '{}'::text[] END
      FROM picked k
      JOIN chat._message_rows m ON m.chat_id = k.chat_id AND m.seq = k.seq
     ORDER BY k.created_at, k.chat_id, k.seq;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows = 0 THEN
        -- nothing waiting: from now on only the chats active since count
        PERFORM chat._move_caught_up(v_actor, v_horizon, v_from);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.catch_up(jsonb, integer) IS
'Acknowledged catch-up: first moves the actor''s delivered marks up to received (a JSON array of {"chat_id", "seq"}: per chat the highest seq the client holds; NULL for none), then returns the messages sent to the actor above the marks, oldest first across all chats, at most max_rows (1 to 1000), without marking them. Call again with the highest seq per chat of what came back until nothing comes back. Every chat named must be the actor''s (42501) and each seq within 0 to the chat''s last seq (22023); then nothing moves.';
REVOKE ALL ON FUNCTION chat.catch_up(jsonb, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.catch_up(jsonb, integer) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.ack_delivered(chat_id uuid, seq bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v_actor uuid := chat.require_actor();     -- 28000 before anything else
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
BEGIN
    PERFORM chat._require_writable('ack_delivered');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('ack_delivered', $1, jsonb_build_array($2))::bigint;
    END IF;
    IF p_seq < 0 THEN
        RAISE EXCEPTION 'seq must not be negative, not %', p_seq
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the highest seq of the chat you have received.';
    END IF;
    PERFORM chat._lock_chat(p_chat);
    RETURN chat._move_delivered_mark(p_chat, p_seq);
END
$$;

COMMENT ON FUNCTION chat.ack_delivered(uuid, bigint) IS
'The actor''s session has received the chat''s messages up to seq: moves the actor''s delivered mark there (never backwards; 22023 beyond the last seq) and returns it. A delivered event tells both participants when a message of the other is delivered by it. For live clients that got messages through their LISTEN channel.';
REVOKE ALL ON FUNCTION chat.ack_delivered(uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.ack_delivered(uuid, bigint) TO chat_service, chat_user;
