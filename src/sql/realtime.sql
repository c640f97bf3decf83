/*
 * Real-time delivery and offline catch-up: the C side of the relay (events
 * of a transaction, queued at commit; the worker's shared state; channel
 * names), the worker's status, private channels, typing, and undelivered().
 */

CREATE OR REPLACE FUNCTION chat._relay_shared_status(OUT preloaded boolean, OUT running boolean,
                                          OUT pid integer, OUT started_at timestamptz,
                                          OUT events_relayed bigint, OUT last_relay_at timestamptz,
                                          OUT queued bigint, OUT dropped bigint,
                                          OUT failed_cycles bigint, OUT last_error text,
                                          OUT last_error_at timestamptz, OUT bookkeeper_pid integer,
                                          OUT notes_waiting bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'chat_relay_shared_status'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._relay_shared_status() IS
'The relay worker''s shared state: whether the library is preloaded, whether the worker runs, its figures, the queue, its last error, and the bookkeeper''s pid and ring. Internal: see chat.relay_status().';
REVOKE ALL ON FUNCTION chat._relay_shared_status() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._relay_event(kind text, chat_id uuid, customer_id uuid, stylist_id uuid,
                                  actor_id uuid, seq bigint, at timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'chat_relay_event'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat._relay_event(text, uuid, uuid, uuid, uuid, bigint, timestamptz) IS
'Records a chat event of this transaction, relayed to listeners if and when the transaction commits, and returns its seq (so that a statement can record the event of the row it writes). Internal.';
REVOKE ALL ON FUNCTION chat._relay_event(text, uuid, uuid, uuid, uuid, bigint, timestamptz) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._relay_now(kind text, chat_id uuid, customer_id uuid, stylist_id uuid,
                                actor_id uuid, seq bigint, at timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_relay_now'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat._relay_now(text, uuid, uuid, uuid, uuid, bigint, timestamptz) IS
'Queues an ephemeral chat event (typing) at once, whatever becomes of the transaction. Internal.';
REVOKE ALL ON FUNCTION chat._relay_now(text, uuid, uuid, uuid, uuid, bigint, timestamptz) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._relay_change(kind text, chat_id uuid, seq bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_chat record;
BEGIN
    -- the participants read first, the event recorded by a statement of
    -- its own: on a Citus cluster a statement that reads chat.chats runs
    -- where the chat's shard is, and an event recorded there would not
    -- reach this node's relay
    SELECT c.customer_id, c.stylist_id INTO v_chat FROM chat.chats c WHERE c.chat_id = $2;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN chat._relay_event($1, $2, v_chat.customer_id, v_chat.stylist_id,
                             chat.current_actor(), $3, now());
END
$$;

COMMENT ON FUNCTION chat._relay_change(text, uuid, bigint) IS
'Records an event of the actor on a chat (edited, deleted, read, chat_created, ...) for the relay; without an actor (a chat opened for a booking card) the event has no sender. Internal.';
REVOKE ALL ON FUNCTION chat._relay_change(text, uuid, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._relay_database()
RETURNS text
AS 'MODULE_PATHNAME', 'chat_relay_database'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION chat._relay_database() IS
'The database the relay worker serves (setting stylist_chat.database), or NULL when the library is not preloaded. Internal: see chat.relay_status().';
REVOKE ALL ON FUNCTION chat._relay_database() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.relay_status(OUT preloaded boolean, OUT running boolean,
                                             OUT pid integer, OUT started_at timestamptz,
                                             OUT events_relayed bigint, OUT last_relay_at timestamptz,
                                             OUT queued bigint, OUT dropped bigint, OUT backlog bigint,
                                             OUT relayed_database text, OUT relays_this_database boolean,
                                             OUT notify_queue_usage double precision,
                                             OUT failed_cycles bigint, OUT last_error text,
                                             OUT last_error_at timestamptz, OUT bookkeeper_pid integer,
                                             OUT notes_waiting bigint, OUT standby boolean)
RETURNS record
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_citus_worker boolean := false;
BEGIN
    SELECT s.preloaded, s.running, s.pid, s.started_at, s.events_relayed,
           s.last_relay_at, s.queued, s.dropped, s.failed_cycles, s.last_error, s.last_error_at,
           s.bookkeeper_pid, s.notes_waiting
      INTO preloaded, running, pid, started_at, events_relayed, last_relay_at, queued, dropped,
           failed_cycles, last_error, last_error_at, bookkeeper_pid, notes_waiting
      FROM chat._relay_shared_status() s;
    notify_queue_usage := pg_notification_queue_usage();
    SELECT coalesce(sum(c.last_seq - coalesce(w.relayed_seq, 0)), 0)::bigint INTO backlog
      FROM chat.chats c
      LEFT JOIN chat.relay_watermark w ON w.chat_id = c.chat_id
     WHERE c.last_seq > coalesce(w.relayed_seq, 0);
    relayed_database := chat._relay_database();
    relays_this_database := relayed_database IS NOT DISTINCT FROM current_database();
    standby := pg_is_in_recovery();
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL THEN
        EXECUTE 'SELECT groupid <> 0 FROM pg_catalog.pg_dist_local_group' INTO v_citus_worker;
    END IF;
    IF standby THEN
        RAISE NOTICE 'this server is a standby: nothing is relayed here'
            USING DETAIL = 'The relay worker starts when the server is promoted, and relays every message above the watermarks it finds (those the old primary relayed may come again: clients know them by chat and seq).',
                  HINT = 'Listen on the primary.';
    ELSIF v_citus_worker THEN
        RAISE NOTICE 'this node is a worker of a Citus cluster: nothing is relayed here'
            USING DETAIL = 'Every call of the API runs on the coordinator, whose relay worker relays the events of every node''s chats.',
                  HINT = 'Listen on the coordinator.';
    ELSIF NOT preloaded THEN
        RAISE NOTICE 'nothing is relayed: stylist_chat is not in shared_preload_libraries'
            USING HINT = 'Add it, set stylist_chat.database and restart the server.';
    ELSIF NOT relays_this_database THEN
        RAISE NOTICE 'this database is not relayed: the relay worker serves database "%"', relayed_database
            USING DETAIL = 'The worker''s figures are those of that database; the backlog is this database''s messages, which nobody relays.',
                  HINT = 'Set stylist_chat.database to this database and restart the server to relay it.';
    END IF;
    IF notify_queue_usage >= 0.5 THEN
        RAISE NOTICE 'the server''s notification queue is % %% full', round(notify_queue_usage * 100)
            USING DETAIL = 'A session that LISTENs and does not read (or stays in a transaction) holds back the queue for everyone; when it is full the relay''s NOTIFYs fail, and the events wait in the tables until it drains.',
                  HINT = 'Find the session in pg_stat_activity (the server log names its pid) and end it.';
    END IF;
END
$$;

COMMENT ON FUNCTION chat.relay_status() IS
'The relay worker: preloaded (is the library in shared_preload_libraries), running, pid, started_at, events_relayed, last_relay_at, queued (events waiting in the queue), dropped (events lost to a full queue, then recovered from the tables), backlog (this database''s messages above the written watermark, which trails the worker by about a second; it scans chat.chats), relayed_database (the one database the worker serves), relays_this_database, notify_queue_usage (how full the server''s notification queue is, 0 to 1: a listener that does not read holds it back), failed_cycles, last_error and last_error_at (the worker''s cycles that ended in an error, such as a NOTIFY refused by a full queue, and the last one), bookkeeper_pid (the bookkeeping worker, which keeps notifications and KPIs of what is relayed; NULL when it does not run), notes_waiting (relayed messages waiting for it) and standby (this server is a standby in recovery, where no worker runs until it is promoted). A NOTICE says when this server is a standby or a worker of a Citus cluster (the coordinator relays), when this database is not relayed, and when the notification queue is half full or more.';
REVOKE ALL ON FUNCTION chat.relay_status() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.relay_status() TO chat_service;

CREATE OR REPLACE FUNCTION chat.listen_channel()
RETURNS text
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT chat._channel_name((SELECT key FROM chat.secrets WHERE name = 'channel'),
                              chat.require_actor())
$$;

COMMENT ON FUNCTION chat.listen_channel() IS
'The actor''s private LISTEN channel: every event of the actor''s chats (and of all chats, for an admin) is notified there. Unguessable without the server-side key.';
REVOKE ALL ON FUNCTION chat.listen_channel() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.listen_channel() TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.listen()
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_channel text := chat.listen_channel();
BEGIN
    EXECUTE format('LISTEN %I', v_channel);
    RETURN v_channel;
END
$$;

COMMENT ON FUNCTION chat.listen() IS
'LISTEN on the actor''s channel for the rest of the session (from the commit of the calling transaction) and return its name.';
REVOKE ALL ON FUNCTION chat.listen() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.listen() TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.typing(chat_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_chat record;
BEGIN
    SELECT c.customer_id, c.stylist_id,
           c.customer_blocked_at IS NOT NULL OR c.stylist_blocked_at IS NOT NULL AS blocked
      INTO v_chat
      FROM chat.chats c
     WHERE c.chat_id = chat._require_arg($1, 'chat_id')
       AND v_actor IN (c.customer_id, c.stylist_id);
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied($1);
    END IF;
    IF v_chat.blocked THEN
        RETURN;     -- a blocked chat relays no typing, silently
    END IF;
    PERFORM chat._relay_now('typing', $1, v_chat.customer_id, v_chat.stylist_id,
                            v_actor, NULL, clock_timestamp());
END
$$;

COMMENT ON FUNCTION chat.typing(uuid) IS
'Tell the other participant the actor is typing: an ephemeral event, never stored, at most one per actor and chat per second. Silently dropped while the chat is blocked.';
REVOKE ALL ON FUNCTION chat.typing(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.typing(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.undelivered(max_rows integer DEFAULT 500)
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
    p_max integer := chat._check_max_rows($1);
    -- before any snapshot of this call (see chat._move_caught_up())
    v_horizon timestamptz := chat._activity_horizon();
    v_from bigint;
    v_rows bigint;
BEGIN
    PERFORM chat._require_writable('undelivered');
    -- only the chats active since the actor was last caught up
    SELECT u.before_minute INTO v_from FROM chat.caught_up u WHERE u.profile_id = v_actor;
    v_from := coalesce(v_from, -9223372036854775808);
    /*
     * One statement, one snapshot.  The actor's chats with something new
     * are locked, so two sessions of one person never fetch the same
     * message twice; a chat that another session holds locked (a sender
     * about to commit, or somebody's open transaction) is skipped, not
     * waited for: its messages come with the next call.  Within a chat created_at follows seq, so the oldest
     * rows across chats are a seq-prefix of each chat.  The delivery mark
     * moves to the last row fetched, or, when nothing was cut off, to the
     * last message this snapshot sees (skipping the actor's own).  On a
     * Citus cluster, one statement per chat (chat._next_messages()).
     */
    IF chat._distributed() THEN
        RETURN QUERY SELECT * FROM chat._next_messages(v_actor, v_from, p_max, true);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows < p_max THEN
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
           FOR NO KEY UPDATE SKIP LOCKED
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
    ), marks AS (
        SELECT p.chat_id,
               CASE WHEN (SELECT count(*) FROM picked) < p_max
                    THEN (SELECT max(x.seq) FROM chat.chat_messages x WHERE x.chat_id = p.chat_id)
                    ELSE (SELECT max(k.seq) FROM picked k WHERE k.chat_id = p.chat_id)
               END AS upto,
               EXISTS (SELECT FROM picked k WHERE k.chat_id = p.chat_id) AS delivers
          FROM pending p
    ), moved AS (
        -- a data-modifying WITH runs to completion, its RETURNING included:
        -- a delivered event for each chat where a message was fetched
        UPDATE chat.chats c
           SET customer_delivered_seq = CASE WHEN c.customer_id = v_actor
                    THEN greatest(c.customer_delivered_seq, mk.upto) ELSE c.customer_delivered_seq END,
               stylist_delivered_seq = CASE WHEN c.stylist_id = v_actor
                    THEN greatest(c.stylist_delivered_seq, mk.upto) ELSE c.stylist_delivered_seq END
          FROM marks mk
         WHERE c.chat_id = mk.chat_id AND mk.upto IS NOT NULL
        RETURNING CASE WHEN mk.delivers THEN
                  chat._relay_event('delivered', c.chat_id, c.customer_id, c.stylist_id, v_actor,
                                    CASE WHEN c.customer_id = v_actor THEN c.customer_delivered_seq
                                         ELSE c.stylist_delivered_seq END, now()) END
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
    IF v_rows < p_max THEN
        -- not cut off: caught up, unless a chat was skipped
        PERFORM chat._move_caught_up(v_actor, v_horizon, v_from);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.undelivered(integer) IS
'Messages sent to the actor that no session of theirs has fetched yet, oldest first across all chats, at most max_rows (1 to 1000); fetching marks them delivered (and relays a delivered event), without an acknowledgement: see chat.catch_up(). A chat another session holds locked at that moment is left for the next call. Call until it returns nothing.';
REVOKE ALL ON FUNCTION chat.undelivered(integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.undelivered(integer) TO chat_service, chat_user;
