/*
 * Offline notifications: whom the application's notification sender (its
 * push, e-mail and SMS) should tell of what, durably and exactly.
 *
 * Nothing of it runs on the send path, nor on the relay's.  The relay
 * worker, which sees every message once, hands each message it relayed to
 * the bookkeeping worker (src/bookkeeper.c), which calls
 * chat._note_messages() a tenth of a second later at most; it records, per
 * recipient and chat, a 'messages' notification due after
 * stylist_chat.notification_delay and an unread 'reminder' due after
 * stylist_chat.unread_reminder_delay; later messages coalesce into the one
 * waiting.  Whether it is still needed is decided when it comes due, by
 * chat.claim_notifications(): messages that reached a session of the
 * recipient (delivered through chat.undelivered(), chat.catch_up() or
 * chat.ack_delivered()), or that the recipient read, or deleted, hidden or
 * cleared ones, are not notified; neither is a muted or blocked chat.
 * Quiet hours put it off until they end.
 *
 * Neither side waits for the other: the worker skips a notification a
 * sender has locked and records a second one, which the next claim merges;
 * senders skip rows locked by the worker or by other senders.  A claim is a
 * lease: complete_notification() removes it, fail_notification() offers it
 * again after a back-off, and a sender that dies offers it again when the
 * lease runs out (at least once, with an attempt count; given up after 10
 * attempts).
 */

/*
 * The bookkeeping of a batch on a Citus cluster (chat._note_messages()
 * calls it there): chat by chat, each statement naming the chat, so that
 * Citus sends it whole to the chat's node; what the one statement does on
 * one server, for the notifications: per recipient and kind, the chat's
 * messages of the batch above its noted seq added to the notification
 * waiting if the worker can lock it now, else a new one; then the chat's
 * noted seq.  The KPIs are not kept there (README, "Growing past one
 * server").  Plans chosen per call (not the caller's generic ones), which
 * Citus needs to route by the chat's value.
 */
CREATE OR REPLACE FUNCTION chat._note_messages_by_chat(chat_ids uuid[], seqs bigint[], sender_ids uuid[],
                                                       customer_ids uuid[], stylist_ids uuid[],
                                                       ats timestamptz[])
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = auto
AS $$
DECLARE
    v_chat uuid;
    v_noted bigint;
    v_last bigint;
    v_delay interval;
    v_reminder interval;
    v_notify boolean := coalesce(current_setting('stylist_chat.notifications', true), 'on') <> 'off';
    v_id bigint;
    k record;
BEGIN
    IF v_notify THEN
        v_delay := coalesce(current_setting('stylist_chat.notification_delay', true), '30s')::interval;
        v_reminder := nullif(coalesce(current_setting('stylist_chat.unread_reminder_delay', true),
                                      '4h')::interval, interval '0');
    END IF;
    -- in chat_id order, as the relay worker writes its watermarks
    FOR v_chat IN SELECT DISTINCT u.c FROM unnest(chat_ids) AS u(c) ORDER BY u.c LOOP
        -- what is noted already is left out (see chat._note_messages())
        SELECT coalesce(w.noted_seq, w.relayed_seq) INTO v_noted
          FROM chat.relay_watermark w WHERE w.chat_id = v_chat;
        v_noted := coalesce(v_noted, -9223372036854775808);
        SELECT max(u.s) INTO v_last
          FROM ROWS FROM (unnest(chat_ids), unnest(seqs)) AS u (c, s)
         WHERE u.c = v_chat AND u.s > v_noted;
        CONTINUE WHEN v_last IS NULL;
        IF v_notify THEN
            FOR k IN
                SELECT CASE WHEN u.sender_id = u.customer_id THEN u.stylist_id ELSE u.customer_id END
                           AS recipient_id,
                       x.kind, min(u.seq) AS first_seq, max(u.seq) AS last_seq,
                       min(u.at) AS first_at, max(u.at) AS last_at, min(u.at) + x.delay AS due_at
                  FROM ROWS FROM (unnest(chat_ids), unnest(seqs), unnest(sender_ids),
                                  unnest(customer_ids), unnest(stylist_ids), unnest(ats))
                       AS u (chat_id, seq, sender_id, customer_id, stylist_id, at)
                 CROSS JOIN (VALUES ('messages', v_delay), ('reminder', v_reminder)) AS x (kind, delay)
                 WHERE u.chat_id = v_chat AND u.seq > v_noted
                   AND u.sender_id IS NOT NULL      -- booking cards notify nobody
                   AND x.delay IS NOT NULL
                 GROUP BY 1, x.kind, x.delay
                 ORDER BY 1, x.kind
            LOOP
                SELECT n.id INTO v_id
                  FROM chat.notifications n
                 WHERE n.chat_id = v_chat AND n.recipient_id = k.recipient_id AND n.kind = k.kind
                   AND n.status = 'waiting'
                 ORDER BY n.id DESC
                 LIMIT 1
                   FOR UPDATE SKIP LOCKED;
                IF FOUND THEN
                    UPDATE chat.notifications n
                       SET last_seq = greatest(n.last_seq, k.last_seq),
                           last_at = greatest(n.last_at, k.last_at)
                     WHERE n.chat_id = v_chat AND n.id = v_id;
                ELSE
                    INSERT INTO chat.notifications (recipient_id, chat_id, kind, first_seq, last_seq,
                                                    first_at, last_at, available_at)
                    VALUES (k.recipient_id, v_chat, k.kind, k.first_seq, k.last_seq,
                            k.first_at, k.last_at, k.due_at);
                END IF;
            END LOOP;
        END IF;
        INSERT INTO chat.relay_watermark AS w (chat_id, relayed_seq, noted_seq)
        VALUES (v_chat, v_last, v_last)
        ON CONFLICT (chat_id) DO UPDATE SET noted_seq = greatest(coalesce(w.noted_seq, 0), excluded.noted_seq);
    END LOOP;
END
$$;

COMMENT ON FUNCTION chat._note_messages_by_chat(uuid[], bigint[], uuid[], uuid[], uuid[], timestamptz[]) IS
'On a Citus cluster, the bookkeeping of relayed messages chat by chat: their notifications and noted seqs (not their KPIs). Internal: chat._note_messages() calls it there.';
REVOKE ALL ON FUNCTION chat._note_messages_by_chat(uuid[], bigint[], uuid[], uuid[], uuid[], timestamptz[]) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._note_messages(chat_ids uuid[], seqs bigint[], sender_ids uuid[],
                                               customer_ids uuid[], stylist_ids uuid[],
                                               ats timestamptz[])
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
-- a batch is a message or a few at low load: one generic plan a statement,
-- rather than planning the statements anew for each batch
SET plan_cache_mode = force_generic_plan
-- the worker never waits long for anyone (see the KPIs below)
SET lock_timeout = '200ms'
AS $$
DECLARE
    v_delay interval;
    v_reminder interval;
BEGIN
    IF chat._distributed() THEN
        PERFORM chat._note_messages_by_chat(chat_ids, seqs, sender_ids, customer_ids, stylist_ids, ats);
        RETURN;
    END IF;
    -- what is noted already is left out: after a recovery the bookkeeper
    -- may be handed a message it has noted from the history (each chat's
    -- noted seq by its key: a generic plan must not read every watermark)
    SELECT array_agg(u.chat_id ORDER BY u.ord), array_agg(u.seq ORDER BY u.ord),
           array_agg(u.sender_id ORDER BY u.ord), array_agg(u.customer_id ORDER BY u.ord),
           array_agg(u.stylist_id ORDER BY u.ord), array_agg(u.at ORDER BY u.ord)
      INTO chat_ids, seqs, sender_ids, customer_ids, stylist_ids, ats
      FROM ROWS FROM (unnest(chat_ids), unnest(seqs), unnest(sender_ids),
                      unnest(customer_ids), unnest(stylist_ids), unnest(ats))
           WITH ORDINALITY AS u (chat_id, seq, sender_id, customer_id, stylist_id, at, ord)
     WHERE u.seq > coalesce((SELECT coalesce(w.noted_seq, w.relayed_seq) FROM chat.relay_watermark w
                              WHERE w.chat_id = u.chat_id), -9223372036854775808);
    IF chat_ids IS NULL THEN
        RETURN;
    END IF;

    IF coalesce(current_setting('stylist_chat.notifications', true), 'on') <> 'off' THEN
        v_delay := coalesce(current_setting('stylist_chat.notification_delay', true), '30s')::interval;
        v_reminder := nullif(coalesce(current_setting('stylist_chat.unread_reminder_delay', true),
                                      '4h')::interval, interval '0');

        -- per recipient, chat and kind: the batch's messages, added to the
        -- notification waiting if the worker can lock it now, else a new one
        WITH m AS (
            SELECT u.chat_id, u.seq, u.at,
                   CASE WHEN u.sender_id = u.customer_id THEN u.stylist_id
                        ELSE u.customer_id END AS recipient_id
              FROM ROWS FROM (unnest(chat_ids), unnest(seqs), unnest(sender_ids),
                              unnest(customer_ids), unnest(stylist_ids), unnest(ats))
                   AS u (chat_id, seq, sender_id, customer_id, stylist_id, at)
             WHERE u.sender_id IS NOT NULL      -- booking cards notify nobody
        ), b AS (
            SELECT m.recipient_id, m.chat_id, k.kind,
                   min(m.seq) AS first_seq, max(m.seq) AS last_seq,
                   min(m.at) AS first_at, max(m.at) AS last_at, min(m.at) + k.delay AS due_at
              FROM m CROSS JOIN (VALUES ('messages', v_delay), ('reminder', v_reminder)) AS k (kind, delay)
             WHERE k.delay IS NOT NULL
             GROUP BY m.recipient_id, m.chat_id, k.kind, k.delay
        ), w AS (
            SELECT n.id, n.recipient_id, n.chat_id, n.kind
              FROM chat.notifications n
              JOIN b ON b.recipient_id = n.recipient_id AND b.chat_id = n.chat_id AND b.kind = n.kind
             WHERE n.status = 'waiting'
               FOR UPDATE OF n SKIP LOCKED
        ), one AS (
            SELECT DISTINCT ON (w.recipient_id, w.chat_id, w.kind) w.*
              FROM w ORDER BY w.recipient_id, w.chat_id, w.kind, w.id DESC
        ), added AS (
            UPDATE chat.notifications n
               SET last_seq = greatest(n.last_seq, b.last_seq),
                   last_at = greatest(n.last_at, b.last_at)
              FROM one
              JOIN b ON b.recipient_id = one.recipient_id AND b.chat_id = one.chat_id
                    AND b.kind = one.kind
             WHERE n.id = one.id
        )
        INSERT INTO chat.notifications (recipient_id, chat_id, kind, first_seq, last_seq,
                                        first_at, last_at, available_at)
        SELECT b.recipient_id, b.chat_id, b.kind, b.first_seq, b.last_seq,
               b.first_at, b.last_at, b.due_at
          FROM b
         WHERE NOT EXISTS (SELECT FROM one
                            WHERE one.recipient_id = b.recipient_id AND one.chat_id = b.chat_id
                              AND one.kind = b.kind);
    END IF;

    IF coalesce(current_setting('stylist_chat.kpis', true), 'on') <> 'off' THEN
        /*
         * The KPIs of a batch that cannot be kept now are kept later: its
         * messages are read back from their chat's history with the
         * chat's next message (or by chat.rebuild_kpis()).  So rather
         * than stall delivery, skip the batch when chat.rebuild_kpis()
         * holds the rollups, or when an upsert_booking() of the same
         * pair holds a row for longer than lock_timeout; and rather than
         * lose the batch's notifications, skip it on any other error.
         */
        BEGIN
            LOCK TABLE chat.kpi_chats IN ROW EXCLUSIVE MODE NOWAIT;
            PERFORM chat._note_kpis(chat_ids, seqs, sender_ids, customer_ids, stylist_ids, ats);
        EXCEPTION
            WHEN lock_not_available THEN
                NULL;
            WHEN OTHERS THEN
                RAISE WARNING 'stylist_chat relay: the KPI bookkeeping of % message(s) failed: %',
                              cardinality(chat_ids), SQLERRM
                    USING HINT = 'They are counted with their chat''s next message, or by chat.rebuild_kpis().';
        END;
    END IF;

    -- noted, with the settings on or off: after a restart the worker notes
    -- again only what it relayed and had not noted yet
    -- (in chat_id order, as the relay worker writes its watermarks)
    INSERT INTO chat.relay_watermark AS w (chat_id, relayed_seq, noted_seq)
    SELECT u.chat_id, max(u.seq), max(u.seq)
      FROM ROWS FROM (unnest(chat_ids), unnest(seqs)) AS u (chat_id, seq)
     GROUP BY u.chat_id
     ORDER BY u.chat_id
    ON CONFLICT (chat_id) DO UPDATE SET noted_seq = greatest(coalesce(w.noted_seq, 0), excluded.noted_seq);
END
$$;

COMMENT ON FUNCTION chat._note_messages(uuid[], bigint[], uuid[], uuid[], uuid[], timestamptz[]) IS
'The bookkeeping of relayed messages, called by the bookkeeping worker (with the chat, seq, sender (NULL for a booking card), customer, stylist and time of each, in seq order per chat); what is noted already is left out: records offline notifications (stylist_chat.notifications), keeps the KPI rollups (stylist_chat.kpis), and moves the chats'' noted seq (chat.relay_watermark). Internal.';
REVOKE ALL ON FUNCTION chat._note_messages(uuid[], bigint[], uuid[], uuid[], uuid[], timestamptz[]) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._note_recover()
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a record;
BEGIN
    -- what the worker relayed and had not noted when it stopped
    SELECT array_agg(m.chat_id ORDER BY m.chat_id, m.seq) AS chat_ids,
           array_agg(m.seq ORDER BY m.chat_id, m.seq) AS seqs,
           array_agg(m.sender_id ORDER BY m.chat_id, m.seq) AS sender_ids,
           array_agg(c.customer_id ORDER BY m.chat_id, m.seq) AS customer_ids,
           array_agg(c.stylist_id ORDER BY m.chat_id, m.seq) AS stylist_ids,
           array_agg(m.created_at ORDER BY m.chat_id, m.seq) AS ats
      INTO a
      FROM chat.relay_watermark w
      JOIN chat.chats c ON c.chat_id = w.chat_id
      JOIN chat.chat_messages m ON m.chat_id = w.chat_id AND m.seq > w.noted_seq AND m.seq <= w.relayed_seq
     WHERE w.noted_seq < w.relayed_seq;        -- NULL: nothing to note
    IF a.chat_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM chat._note_messages(a.chat_ids, a.seqs, a.sender_ids, a.customer_ids, a.stylist_ids, a.ats);
    RETURN cardinality(a.chat_ids);
END
$$;

COMMENT ON FUNCTION chat._note_recover() IS
'Notes (chat._note_messages()) the messages the relay worker relayed and that were not noted yet, read from the history: called by the bookkeeping worker when it or the relay worker starts or recovers. Returns how many. Internal.';
REVOKE ALL ON FUNCTION chat._note_recover() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._quiet_until(profile_id uuid, at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- the end of the quiet hours the profile is in at that time, or NULL
    SELECT CASE
             WHEN (p.quiet_from < p.quiet_until
                   AND l.t >= p.quiet_from AND l.t < p.quiet_until)
               OR (p.quiet_from > p.quiet_until
                   AND (l.t >= p.quiet_from OR l.t < p.quiet_until))
             THEN ((l.d + CASE WHEN l.t >= p.quiet_until THEN 1 ELSE 0 END) + p.quiet_until)
                  AT TIME ZONE p.time_zone
           END
      FROM chat.notification_preferences p
     CROSS JOIN LATERAL (SELECT ($2 AT TIME ZONE p.time_zone)::time AS t,
                                ($2 AT TIME ZONE p.time_zone)::date AS d) l
     WHERE p.profile_id = $1 AND p.quiet_from IS NOT NULL
$$;

COMMENT ON FUNCTION chat._quiet_until(uuid, timestamptz) IS
'When the quiet hours the profile is in at that time end (read in its time zone), or NULL when it is not in quiet hours then.';
REVOKE ALL ON FUNCTION chat._quiet_until(uuid, timestamptz) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.claim_notifications(max_rows integer DEFAULT 100,
                                                    lease interval DEFAULT '1 minute')
RETURNS TABLE (notification_id bigint, kind text, recipient_id uuid, chat_id uuid,
               sender_id uuid, sender_name text, message_count integer,
               first_seq bigint, last_seq bigint, last_at timestamptz,
               show_preview boolean, preview text, attempt integer, lease_until timestamptz)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    p_max integer := chat._check_max_rows(chat._require_arg($1, 'max_rows'));
    p_lease interval := chat._require_arg($2, 'lease');
    v_delay interval := coalesce(current_setting('stylist_chat.notification_delay', true), '30s')::interval;
    v_reminder interval := coalesce(nullif(coalesce(current_setting('stylist_chat.unread_reminder_delay', true),
                                                    '4h')::interval, interval '0'), interval '4 hours');
    v_claimed integer := 0;
    v_round integer := 0;
    v_seen integer;
    r record;
    c record;
    x record;
    v_sender uuid;
    v_seen_seq bigint;
    v_quiet_end timestamptz;
    v_due timestamptz;
    v_previews boolean;
    v_now timestamptz := now();
    v_distributed boolean := chat._distributed();
    v_candidates refcursor;
    v_candidate record;
    v_locked integer;
    v_held bigint[] := '{}';
BEGIN
    PERFORM chat._require_writable('claim_notifications');
    IF p_lease < interval '1 second' OR p_lease > interval '1 hour' THEN
        RAISE EXCEPTION 'lease must be between 1 second and 1 hour'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Lease a notification for about as long as sending it may take.';
    END IF;

    -- rounds of candidates, oldest first, until enough are claimed: most
    -- that come due are dropped (delivered in time).  On one server the
    -- candidates are the rows no other session holds, locked as they are
    -- read; on a Citus cluster, where no statement over every shard takes
    -- locks, the candidates come unlocked from every shard, and each is
    -- then locked on its chat's node, or passed over for the rest of the
    -- call when another session holds it
    LOOP
        v_seen := 0;
        v_locked := 0;
        IF v_distributed THEN
            OPEN v_candidates FOR
                SELECT n.chat_id, n.id FROM chat.notifications n
                 WHERE n.status <> 'failed' AND n.available_at <= v_now
                   AND n.id <> ALL (v_held)
                 ORDER BY n.available_at
                 LIMIT p_max - v_claimed + 16;
        ELSE
            OPEN v_candidates FOR
                SELECT n.chat_id, n.id FROM chat.notifications n
                 WHERE n.status <> 'failed' AND n.available_at <= v_now
                 ORDER BY n.available_at
                 LIMIT p_max - v_claimed + 16
                   FOR UPDATE SKIP LOCKED;
        END IF;
        LOOP
            FETCH v_candidates INTO v_candidate;
            EXIT WHEN NOT FOUND;
            v_seen := v_seen + 1;
            -- (on one server, a row this call holds already; gone if merged
            -- into one taken earlier in this loop)
            SELECT n.* INTO r FROM chat.notifications n
             WHERE n.chat_id = v_candidate.chat_id AND n.id = v_candidate.id
               AND n.status <> 'failed' AND n.available_at <= v_now
               FOR UPDATE SKIP LOCKED;
            IF NOT FOUND THEN
                v_held := v_held || v_candidate.id;
                CONTINUE;
            END IF;
            v_locked := v_locked + 1;

            IF r.status = 'leased' AND r.attempts >= 10 THEN
                UPDATE chat.notifications n SET status = 'failed' WHERE n.chat_id = r.chat_id AND n.id = r.id;
                CONTINUE;
            END IF;

            -- another waiting for the same recipient, chat and kind (the
            -- worker recorded it while a sender held this one) joins it
            IF r.status = 'waiting' THEN
                WITH gone AS (
                    DELETE FROM chat.notifications o
                     WHERE o.chat_id = r.chat_id
                       AND o.id IN (SELECT o2.id FROM chat.notifications o2
                                     WHERE o2.recipient_id = r.recipient_id
                                       AND o2.chat_id = r.chat_id AND o2.kind = r.kind
                                       AND o2.status = 'waiting' AND o2.id <> r.id
                                       FOR UPDATE SKIP LOCKED)
                    RETURNING o.first_seq, o.last_seq, o.first_at, o.last_at
                )
                SELECT min(gone.first_seq) AS first_seq, max(gone.last_seq) AS last_seq,
                       min(gone.first_at) AS first_at, max(gone.last_at) AS last_at
                  INTO x FROM gone;
                IF x.first_seq IS NOT NULL THEN
                    r.first_seq := least(r.first_seq, x.first_seq);
                    r.last_seq := greatest(r.last_seq, x.last_seq);
                    r.first_at := least(r.first_at, x.first_at);
                    r.last_at := greatest(r.last_at, x.last_at);
                END IF;
            END IF;

            SELECT ch.customer_id, ch.stylist_id,
                   CASE WHEN ch.customer_id = r.recipient_id
                        THEN ARRAY[ch.customer_delivered_seq, ch.customer_read_seq, ch.customer_cleared_seq]
                        ELSE ARRAY[ch.stylist_delivered_seq, ch.stylist_read_seq, ch.stylist_cleared_seq]
                   END AS seen,
                   CASE WHEN ch.customer_id = r.recipient_id THEN ch.customer_muted_until
                        ELSE ch.stylist_muted_until END AS muted_until,
                   ch.customer_blocked_at IS NOT NULL OR ch.stylist_blocked_at IS NOT NULL AS blocked,
                   CASE WHEN ch.customer_id = r.recipient_id THEN ch.customer_unread
                        ELSE ch.stylist_unread END AS unread
              INTO c
              FROM chat.chats ch
             WHERE ch.chat_id = r.chat_id
               AND r.recipient_id IN (ch.customer_id, ch.stylist_id);
            IF NOT FOUND OR c.blocked OR c.muted_until > now() THEN
                DELETE FROM chat.notifications n WHERE n.chat_id = r.chat_id AND n.id = r.id;
                CONTINUE;
            END IF;
            v_sender := CASE WHEN c.customer_id = r.recipient_id THEN c.stylist_id ELSE c.customer_id END;
            -- what the recipient has: delivered (messages only), read, cleared
            v_seen_seq := CASE WHEN r.kind = 'messages'
                               THEN greatest(c.seen[1], c.seen[2], c.seen[3])
                               ELSE greatest(c.seen[2], c.seen[3]) END;

            -- the other participant's messages it still covers
            SELECT count(*)::integer AS n, min(m.seq) AS first_seq, min(m.created_at) AS first_at,
                   (array_agg(CASE WHEN m.body <> '' THEN m.body
                                   ELSE 'sent ' || m.attachment_count ||
                                        CASE WHEN m.attachment_count = 1 THEN ' image' ELSE ' images' END
                              END ORDER BY m.seq DESC))[1] AS last_body
              INTO x
              FROM chat.chat_messages m
             WHERE m.chat_id = r.chat_id
               AND m.seq > greatest(v_seen_seq, r.first_seq - 1) AND m.seq <= r.last_seq
               AND m.sender_id = v_sender
               AND m.deleted_at IS NULL AND m.hidden_at IS NULL;
            IF x.n = 0 THEN
                DELETE FROM chat.notifications n WHERE n.chat_id = r.chat_id AND n.id = r.id;
                CONTINUE;
            END IF;

            -- the first messages got through: the rest waits its own delay
            v_due := x.first_at + CASE r.kind WHEN 'messages' THEN v_delay ELSE v_reminder END;
            IF x.first_seq > r.first_seq AND v_due > now() THEN
                UPDATE chat.notifications n
                   SET first_seq = x.first_seq, first_at = x.first_at, last_seq = r.last_seq,
                       last_at = r.last_at, available_at = v_due
                 WHERE n.chat_id = r.chat_id AND n.id = r.id;
                CONTINUE;
            END IF;

            -- quiet hours: when they end
            -- (a time zone the server no longer knows, after a tzdata
            -- update, means no quiet hours rather than no notifications
            -- for anyone)
            BEGIN
                v_quiet_end := chat._quiet_until(r.recipient_id, now());
            EXCEPTION WHEN invalid_parameter_value THEN
                v_quiet_end := NULL;
            END;
            IF v_quiet_end IS NOT NULL THEN
                UPDATE chat.notifications n
                   SET first_seq = x.first_seq, first_at = x.first_at, last_seq = r.last_seq,
                       last_at = r.last_at, available_at = v_quiet_end
                 WHERE n.chat_id = r.chat_id AND n.id = r.id;
                CONTINUE;
            END IF;

            UPDATE chat.notifications n
               SET status = 'leased', first_seq = x.first_seq, first_at = x.first_at,
                   last_seq = r.last_seq, last_at = r.last_at,
                   available_at = now() + p_lease, attempts = n.attempts + 1
             WHERE n.chat_id = r.chat_id AND n.id = r.id;
            SELECT p.show_previews INTO v_previews
              FROM chat.notification_preferences p WHERE p.profile_id = r.recipient_id;
            v_previews := coalesce(v_previews, false);

            notification_id := r.id;
            kind := r.kind;
            recipient_id := r.recipient_id;
            chat_id := r.chat_id;
            sender_id := v_sender;
            sender_name := (SELECT p.display_name FROM chat.profiles p WHERE p.id = v_sender);
            -- a reminder tells how many messages of the chat are unread
            message_count := CASE WHEN r.kind = 'reminder' THEN greatest(c.unread, x.n) ELSE x.n END;
            first_seq := x.first_seq;
            last_seq := r.last_seq;
            last_at := r.last_at;
            show_preview := v_previews;
            preview := CASE WHEN v_previews THEN
                           CASE WHEN char_length(x.last_body) > 120
                                THEN left(x.last_body, 119) || '…' ELSE x.last_body END
                       END;
            attempt := r.attempts + 1;
            lease_until := now() + p_lease;
            RETURN NEXT;
            v_claimed := v_claimed + 1;
            EXIT WHEN v_claimed >= p_max;
        END LOOP;
        CLOSE v_candidates;
        -- a round that locked nothing does not count: its candidates are
        -- passed over from now on, so the rounds end
        IF v_locked > 0 THEN
            v_round := v_round + 1;
        END IF;
        EXIT WHEN v_claimed >= p_max OR v_seen = 0 OR v_round >= 20;
    END LOOP;
END
$$;

COMMENT ON FUNCTION chat.claim_notifications(integer, interval) IS
'For the application''s notification sender: take up to max_rows notifications that are due, each leased to the caller for lease (1 second to 1 hour), oldest first. Each says whom to tell (recipient_id) of how many messages of whom in which chat, with a preview of the last one only if the recipient allows previews. Skips what other senders hold. Call chat.complete_notification() once sent; a lease that runs out offers the notification again (attempt counts up).';
REVOKE ALL ON FUNCTION chat.claim_notifications(integer, interval) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.claim_notifications(integer, interval) TO chat_service;

CREATE OR REPLACE FUNCTION chat.complete_notification(notification_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    p_id bigint := chat._require_arg($1, 'notification_id');
    v_chat uuid;
BEGIN
    PERFORM chat._require_writable('complete_notification');
    -- its chat first: the id names none, and on a Citus cluster the
    -- delete then goes to that chat's node alone
    SELECT n.chat_id INTO v_chat FROM chat.notifications n WHERE n.id = p_id AND n.status = 'leased';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM chat.notifications n WHERE n.chat_id = v_chat AND n.id = p_id AND n.status = 'leased';
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION chat.complete_notification(bigint) IS
'For the notification sender: the notification was sent; it is removed. False when it was not leased (completed already, by this or another sender).';
REVOKE ALL ON FUNCTION chat.complete_notification(bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.complete_notification(bigint) TO chat_service;

CREATE OR REPLACE FUNCTION chat.fail_notification(notification_id bigint, error text)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    p_id bigint := chat._require_arg($1, 'notification_id');
    p_error text := left(chat._require_arg($2, 'error'), 500);
    v_n record;
    v_status text;
    v_at timestamptz;
BEGIN
    PERFORM chat._require_writable('fail_notification');
    -- its chat and attempts first: the id names no chat, and on a Citus
    -- cluster the update then goes to that chat's node alone, with values
    -- (Citus computes no time from a row's columns on the nodes).  A lease
    -- taken again meanwhile (attempts moved on) is not this one
    SELECT n.chat_id, n.attempts INTO v_n
      FROM chat.notifications n WHERE n.id = p_id AND n.status = 'leased';
    IF FOUND THEN
        -- offered again after 30 s, 1 min, 2 min, ... at most an hour;
        -- given up after the 10th attempt
        v_status := CASE WHEN v_n.attempts >= 10 THEN 'failed' ELSE 'leased' END;
        v_at := now() + least(interval '30 seconds' * power(2, v_n.attempts - 1), interval '1 hour');
        UPDATE chat.notifications n
           SET last_error = p_error, status = v_status, available_at = v_at
         WHERE n.chat_id = v_n.chat_id AND n.id = p_id AND n.status = 'leased'
           AND n.attempts = v_n.attempts;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'notification % is not leased', p_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'It was completed, given up, or never existed.';
    END IF;
    RETURN CASE WHEN v_status = 'leased' THEN v_at END;
END
$$;

COMMENT ON FUNCTION chat.fail_notification(bigint, text) IS
'For the notification sender: sending failed (error: what the provider said, kept up to 500 characters). The notification is offered again after a back-off (30 s, doubling, at most an hour), whose time is returned; after the 10th attempt it is given up (NULL). 55000 when it is not leased.';
REVOKE ALL ON FUNCTION chat.fail_notification(bigint, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.fail_notification(bigint, text) TO chat_service;

CREATE OR REPLACE FUNCTION chat.notification_queue()
RETURNS TABLE (status text, kind text, notifications bigint, due bigint,
               oldest_available_at timestamptz)
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT n.status, n.kind, count(*), count(*) FILTER (WHERE n.available_at <= now()),
           min(n.available_at)
      FROM chat.notifications n
     GROUP BY n.status, n.kind
     ORDER BY n.status, n.kind
$$;

COMMENT ON FUNCTION chat.notification_queue() IS
'For monitoring the notification sender: how many notifications wait, are leased or were given up, per kind, how many of them are due now, and the oldest time one is available.';
REVOKE ALL ON FUNCTION chat.notification_queue() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.notification_queue() TO chat_service;

CREATE OR REPLACE FUNCTION chat.set_notification_preferences(show_previews boolean,
                                                             time_zone text DEFAULT 'UTC',
                                                             quiet_from time DEFAULT NULL,
                                                             quiet_until time DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_previews boolean := chat._require_arg($1, 'show_previews');
    p_zone text := chat._require_arg($2, 'time_zone');
BEGIN
    PERFORM chat._require_writable('set_notification_preferences');
    IF NOT EXISTS (SELECT FROM pg_timezone_names z WHERE z.name = p_zone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', left(p_zone, 100)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name of pg_timezone_names, such as ''Europe/Berlin''.';
    END IF;
    IF ($3 IS NULL) <> ($4 IS NULL) OR $3 = $4 THEN
        RAISE EXCEPTION 'quiet hours need a start and a different end'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass both quiet_from and quiet_until (e.g. ''22:00'' and ''07:00''), or neither.';
    END IF;
    INSERT INTO chat.notification_preferences AS p
           (profile_id, show_previews, time_zone, quiet_from, quiet_until, updated_at)
    VALUES (v_actor, p_previews, p_zone, $3, $4, now())
    ON CONFLICT (profile_id) DO UPDATE
       SET show_previews = excluded.show_previews, time_zone = excluded.time_zone,
           quiet_from = excluded.quiet_from, quiet_until = excluded.quiet_until,
           updated_at = excluded.updated_at;
END
$$;

COMMENT ON FUNCTION chat.set_notification_preferences(boolean, text, time, time) IS
'The acting profile''s notification preferences: whether a notification may show message text (off by default: a lock screen is public), the time zone (a name of pg_timezone_names) and quiet hours in it (from, until; across midnight when from > until; both NULL: none), during which notifications wait until they end.';
REVOKE ALL ON FUNCTION chat.set_notification_preferences(boolean, text, time, time) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.set_notification_preferences(boolean, text, time, time) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.notification_preferences()
RETURNS TABLE (show_previews boolean, time_zone text, quiet_from time, quiet_until time)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
BEGIN
    RETURN QUERY
    SELECT coalesce(p.show_previews, false), coalesce(p.time_zone, 'UTC'), p.quiet_from, p.quiet_until
      FROM (SELECT 1) one
      LEFT JOIN chat.notification_preferences p ON p.profile_id = v_actor;
END
$$;

COMMENT ON FUNCTION chat.notification_preferences() IS
'The acting profile''s notification preferences (the defaults when it set none: no previews, UTC, no quiet hours).';
REVOKE ALL ON FUNCTION chat.notification_preferences() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.notification_preferences() TO chat_service, chat_user;
