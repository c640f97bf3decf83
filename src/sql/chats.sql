/*
 * Opening chats (one per customer-stylist pair, race-free), a chat's
 * header and bookings, and the inbox.
 */

CREATE OR REPLACE FUNCTION chat._open_chat(customer_id uuid, stylist_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_chat_id uuid := chat.pair_chat_id($1, $2);
BEGIN
    IF chat._profile_role($1) IS DISTINCT FROM 'customer' THEN
        RAISE EXCEPTION 'profile % is not a customer', $1
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A chat joins a customer and a stylist.';
    END IF;
    IF chat._profile_role($2) IS DISTINCT FROM 'stylist' THEN
        RAISE EXCEPTION 'profile % is not a stylist', $2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A chat joins a customer and a stylist.';
    END IF;
    -- no conflict target: every unique index arbitrates, so racing
    -- callers wait for the first and then do nothing, without error
    INSERT INTO chat.chats (chat_id, customer_id, stylist_id)
    VALUES (v_chat_id, $1, $2)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        -- a new chat waits for an erasure of either person under way, as
        -- its foreign keys make it wait on one server (the erasure holds
        -- the profile's row); on a Citus cluster they are checked against
        -- the chat's node's copy of the profiles, which the erasure does
        -- not lock: both take the profile's advisory lock here
        PERFORM pg_advisory_xact_lock_shared(chat._profile_lock_key(least($1, $2))),
                pg_advisory_xact_lock_shared(chat._profile_lock_key(greatest($1, $2)));
        PERFORM chat._relay_change('chat_created', v_chat_id, NULL);
    END IF;
    RETURN v_chat_id;
END
$$;

COMMENT ON FUNCTION chat._open_chat(uuid, uuid) IS
'The chat of a customer and a stylist, created if missing, race-free. Internal: callers check the actor.';
REVOKE ALL ON FUNCTION chat._open_chat(uuid, uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.get_or_create_chat(customer_id uuid, stylist_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_customer uuid := chat._require_arg($1, 'customer_id');
    p_stylist uuid := chat._require_arg($2, 'stylist_id');
BEGIN
    PERFORM chat._require_writable('get_or_create_chat');
    IF v_actor NOT IN (p_customer, p_stylist) THEN
        RAISE EXCEPTION 'only the customer or the stylist may open their chat'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Act as one of the two, or use chat.chat_with(other_id).';
    END IF;
    RETURN chat._open_chat(p_customer, p_stylist);
END
$$;

COMMENT ON FUNCTION chat.get_or_create_chat(uuid, uuid) IS
'The chat of a customer and a stylist, created on first use; the actor must be one of them. Race-free.';
REVOKE ALL ON FUNCTION chat.get_or_create_chat(uuid, uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.get_or_create_chat(uuid, uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.chat_with(other_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_other uuid := chat._require_arg($1, 'other_id');
BEGIN
    PERFORM chat._require_writable('chat_with');
    CASE chat._profile_role(v_actor)
        WHEN 'customer' THEN
            RETURN chat._open_chat(v_actor, p_other);
        WHEN 'stylist' THEN
            RETURN chat._open_chat(p_other, v_actor);
        ELSE
            RAISE EXCEPTION 'admins do not take part in chats'
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Admins read chats through chat.admin_chats and chat.admin_messages.';
    END CASE;
END
$$;

COMMENT ON FUNCTION chat.chat_with(uuid) IS
'The chat of the actor with another profile (a stylist for a customer, a customer for a stylist), created on first use.';
REVOKE ALL ON FUNCTION chat.chat_with(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.chat_with(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.chat_for_booking(booking_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_booking uuid := chat._require_arg($1, 'booking_id');
    v_customer uuid;
    v_stylist uuid;
BEGIN
    PERFORM chat._require_writable('chat_for_booking');
    SELECT b.customer_id, b.stylist_id INTO v_customer, v_stylist
      FROM chat.bookings b WHERE b.id = p_booking;
    IF NOT FOUND OR v_actor NOT IN (v_customer, v_stylist) THEN
        RAISE EXCEPTION 'booking % does not exist or you are not part of it', p_booking
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN chat._open_chat(v_customer, v_stylist);
END
$$;

COMMENT ON FUNCTION chat.chat_for_booking(uuid) IS
'The chat of the customer and stylist of a booking: the same chat for every booking of the pair.';
REVOKE ALL ON FUNCTION chat.chat_for_booking(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.chat_for_booking(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.get_chat(chat_id uuid)
RETURNS TABLE (customer_id uuid, customer_name text,
               stylist_id uuid, stylist_name text, created_at timestamptz,
               last_seq bigint, last_message_at timestamptz,
               last_read_seq bigint, unread_count integer, other_read_seq bigint,
               is_archived boolean, muted_until timestamptz, cleared_seq bigint,
               other_delivered_seq bigint)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
BEGIN
    RETURN QUERY
    SELECT c.customer_id, pc.display_name, c.stylist_id, ps.display_name,
           c.created_at, c.last_seq, c.last_message_at,
           CASE WHEN c.customer_id = v_actor THEN c.customer_read_seq ELSE c.stylist_read_seq END,
           CASE WHEN c.customer_id = v_actor THEN c.customer_unread ELSE c.stylist_unread END,
           CASE WHEN c.customer_id = v_actor THEN c.stylist_read_seq ELSE c.customer_read_seq END,
           -- the actor's inbox controls (src/sql/inbox_controls.sql)
           coalesce(CASE WHEN c.customer_id = v_actor THEN c.customer_archived_seq
                         ELSE c.stylist_archived_seq END = c.last_seq, false),
           CASE WHEN c.customer_id = v_actor
                THEN CASE WHEN c.customer_muted_until > now() THEN c.customer_muted_until END
                ELSE CASE WHEN c.stylist_muted_until > now() THEN c.stylist_muted_until END END,
           CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq ELSE c.stylist_cleared_seq END,
           CASE WHEN c.customer_id = v_actor THEN c.stylist_delivered_seq ELSE c.customer_delivered_seq END
      FROM chat.chats c
      JOIN chat.profiles pc ON pc.id = c.customer_id
      JOIN chat.profiles ps ON ps.id = c.stylist_id
     WHERE c.chat_id = p_chat
       AND v_actor IN (c.customer_id, c.stylist_id);
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.get_chat(uuid) IS
'The header of a chat for the actor: both participants, last seq, the actor''s read state and unread count, how far the other has read, the actor''s inbox controls: is_archived, muted_until (NULL when not muted) and cleared_seq (messages up to it are cleared for the actor), and how far the other has received (other_delivered_seq: the double tick).';
REVOKE ALL ON FUNCTION chat.get_chat(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.get_chat(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.chat_bookings(chat_id uuid)
RETURNS TABLE (booking_id uuid, service text, starts_at timestamptz, status text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_pair record := chat._participant_chat($1);
BEGIN
    RETURN QUERY
    SELECT b.id, b.service, b.starts_at, b.status
      FROM chat.bookings b
     WHERE b.customer_id = v_pair.customer_id AND b.stylist_id = v_pair.stylist_id
     ORDER BY b.starts_at DESC, b.id;
END
$$;

COMMENT ON FUNCTION chat.chat_bookings(uuid) IS
'Every booking of the chat''s customer and stylist, newest first.';
REVOKE ALL ON FUNCTION chat.chat_bookings(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.chat_bookings(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.inbox(max_rows integer DEFAULT NULL,
                           before_activity timestamptz DEFAULT NULL,
                           before_chat_id uuid DEFAULT NULL,
                           archived boolean DEFAULT false)
RETURNS TABLE (chat_id uuid, other_id uuid, other_name text, last_message_at timestamptz,
               preview text, unread_count integer, bookings_count bigint,
               activity_at timestamptz, is_archived boolean, muted_until timestamptz)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_max integer := $1;
    p_before_at timestamptz := $2;
    p_before_chat uuid := $3;
    p_archived boolean := chat._require_arg($4, 'archived');
    v_bound bigint;
    v_cut bigint;
BEGIN
    IF p_max IS NOT NULL AND p_max NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', p_max
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL for all chats.';
    END IF;
    IF (p_before_at IS NULL) <> (p_before_chat IS NULL) THEN
        RAISE EXCEPTION 'before_activity and before_chat_id go together'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the activity_at and chat_id of the last row of the previous page.';
    END IF;

    /*
     * The actor's chats are ordered by their last activity, and only the
     * page asked for is then dressed with names, previews and booking
     * counts.  Ties in activity are broken by chat_id, so that the page
     * after (before_activity, before_chat_id) is well defined.  A chat is
     * archived for the actor while its last_seq is still the one it had
     * when archived: the default inbox leaves those out, archived => true
     * lists only them.
     *
     * What a page costs does not grow with the number of chats: the
     * index on (participant, activity_minute) gives the chats in minutes
     * of activity, newest first, from the minute of before_activity on.
     * The first query finds the minute of the max_rows-th chat (v_cut);
     * the second reads the chats from that minute up, which are the page
     * and the rest of that last minute, and sorts them by the exact time.
     * (An index on the exact time would make every send's update of the
     * chat row a non-HOT one.)
     */
    v_bound := coalesce(chat._activity_minute(p_before_at), 9223372036854775807);
    v_cut := -9223372036854775808;      -- all of them, without max_rows
    IF p_max IS NOT NULL THEN
        SELECT min(t.m) INTO v_cut
          FROM ((SELECT x.activity_minute AS m
                   FROM chat.chats x
                  WHERE x.customer_id = v_actor AND x.activity_minute <= v_bound
                    AND coalesce(x.customer_archived_seq = x.last_seq, false) = p_archived
                    AND (p_before_at IS NULL
                         OR coalesce(x.last_message_at, x.created_at) < p_before_at
                         OR (coalesce(x.last_message_at, x.created_at) = p_before_at
                             AND x.chat_id > p_before_chat))
                  ORDER BY x.activity_minute DESC
                  LIMIT p_max)
                UNION ALL
                (SELECT x.activity_minute
                   FROM chat.chats x
                  WHERE x.stylist_id = v_actor AND x.activity_minute <= v_bound
                    AND coalesce(x.stylist_archived_seq = x.last_seq, false) = p_archived
                    AND (p_before_at IS NULL
                         OR coalesce(x.last_message_at, x.created_at) < p_before_at
                         OR (coalesce(x.last_message_at, x.created_at) = p_before_at
                             AND x.chat_id > p_before_chat))
                  ORDER BY x.activity_minute DESC
                  LIMIT p_max)
                 ORDER BY 1 DESC
                 LIMIT p_max) t;
    END IF;

    RETURN QUERY
    WITH page AS (
        SELECT c.*
          FROM (SELECT x.chat_id, x.customer_id, x.stylist_id, x.stylist_id AS other,
                       x.last_seq, x.last_message_at, x.customer_unread AS unread,
                       coalesce(x.last_message_at, x.created_at) AS activity,
                       x.customer_muted_until AS muted_until, x.customer_cleared_seq AS cleared
                  FROM chat.chats x
                 WHERE x.customer_id = v_actor AND x.activity_minute BETWEEN v_cut AND v_bound
                   AND coalesce(x.customer_archived_seq = x.last_seq, false) = p_archived
                UNION ALL
                SELECT x.chat_id, x.customer_id, x.stylist_id, x.customer_id,
                       x.last_seq, x.last_message_at, x.stylist_unread,
                       coalesce(x.last_message_at, x.created_at),
                       x.stylist_muted_until, x.stylist_cleared_seq
                  FROM chat.chats x
                 WHERE x.stylist_id = v_actor AND x.activity_minute BETWEEN v_cut AND v_bound
                   AND coalesce(x.stylist_archived_seq = x.last_seq, false) = p_archived) c
         WHERE p_before_at IS NULL
            OR c.activity < p_before_at
            OR (c.activity = p_before_at AND c.chat_id > p_before_chat)
         ORDER BY c.activity DESC, c.chat_id
         LIMIT p_max
    )
    SELECT c.chat_id, o.id, o.display_name, c.last_message_at,
           chat._preview(m.body, m.deleted_at, m.attachment_count, m.hidden_at),
           c.unread,
           (SELECT count(*) FROM chat.bookings b
             WHERE b.customer_id = c.customer_id AND b.stylist_id = c.stylist_id),
           c.activity, p_archived,
           CASE WHEN c.muted_until > now() THEN c.muted_until END
      FROM page c
      JOIN chat.profiles o ON o.id = c.other
      -- no preview of a message the actor cleared
      LEFT JOIN chat.chat_messages m ON m.chat_id = c.chat_id AND m.seq = c.last_seq
                                    AND m.seq > c.cleared
     ORDER BY c.activity DESC, c.chat_id;
END
$$;

COMMENT ON FUNCTION chat.inbox(integer, timestamptz, uuid, boolean) IS
'The actor''s chats, most recent activity first: the other participant, a preview of the last message (none once the actor cleared it), the unread count, the pair''s number of bookings, activity_at, whether the chat is archived and until when it is muted (NULL: not muted). Without the chats the actor archived, or with archived => true only those. With max_rows (1 to 1000), one page; the next page starts after the last row''s (activity_at, chat_id), passed as before_activity and before_chat_id.';
REVOKE ALL ON FUNCTION chat.inbox(integer, timestamptz, uuid, boolean) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.inbox(integer, timestamptz, uuid, boolean) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.admin_inbox(max_rows integer DEFAULT 50,
                                 before_activity timestamptz DEFAULT NULL,
                                 before_chat_id uuid DEFAULT NULL)
RETURNS TABLE (chat_id uuid, customer_id uuid, customer_name text, stylist_id uuid,
               stylist_name text, created_at timestamptz, last_seq bigint,
               last_message_at timestamptz, activity_at timestamptz,
               customer_unread integer, stylist_unread integer)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_max integer := chat._require_arg($1, 'max_rows');
    p_before_at timestamptz := $2;
    p_before_chat uuid := $3;
    v_bound bigint;
    v_cut bigint;
BEGIN
    IF p_max NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', p_max
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Page through the chats: the next page starts after the last row''s (activity_at, chat_id).';
    END IF;
    IF (p_before_at IS NULL) <> (p_before_chat IS NULL) THEN
        RAISE EXCEPTION 'before_activity and before_chat_id go together'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the activity_at and chat_id of the last row of the previous page.';
    END IF;

    -- as inbox() pages one person's chats, over all of them: the minute of
    -- the max_rows-th chat from chats_activity_idx (on the minute negated),
    -- then the chats from that minute up, sorted by the exact time (no
    -- message text: an admin reads that through admin_history(), which
    -- records the read)
    v_bound := coalesce(chat._activity_minute(p_before_at), 9223372036854775807);
    SELECT min(t.m) INTO v_cut
      FROM (SELECT x.activity_minute AS m
              FROM chat.chats x
             WHERE - x.activity_minute >= - v_bound
               AND (p_before_at IS NULL
                    OR coalesce(x.last_message_at, x.created_at) < p_before_at
                    OR (coalesce(x.last_message_at, x.created_at) = p_before_at
                        AND x.chat_id > p_before_chat))
             ORDER BY - x.activity_minute
             LIMIT p_max) t;

    RETURN QUERY
    WITH page AS (
        SELECT x.chat_id, x.customer_id, x.stylist_id, x.created_at, x.last_seq,
               x.last_message_at, coalesce(x.last_message_at, x.created_at) AS activity,
               x.customer_unread, x.stylist_unread
          FROM chat.chats x
         WHERE - x.activity_minute BETWEEN - v_bound AND - v_cut
           AND (p_before_at IS NULL
                OR coalesce(x.last_message_at, x.created_at) < p_before_at
                OR (coalesce(x.last_message_at, x.created_at) = p_before_at
                    AND x.chat_id > p_before_chat))
         ORDER BY 7 DESC, x.chat_id
         LIMIT p_max
    )
    SELECT c.chat_id, c.customer_id, pc.display_name, c.stylist_id, ps.display_name,
           c.created_at, c.last_seq, c.last_message_at, c.activity,
           c.customer_unread, c.stylist_unread
      FROM page c
      JOIN chat.profiles pc ON pc.id = c.customer_id
      JOIN chat.profiles ps ON ps.id = c.stylist_id
     ORDER BY c.activity DESC, c.chat_id;
END
$$;

COMMENT ON FUNCTION chat.admin_inbox(integer, timestamptz, uuid) IS
'For an admin (42501 for anyone else): every chat of the platform, most recent activity first, a page of max_rows (1 to 1000) at a time: both participants and their names, the last seq and message time, activity_at and both unread counts; no message text (admin_history() reads that, audited). The next page starts after the last row''s (activity_at, chat_id), passed as before_activity and before_chat_id. A page costs the same with 10 chats or a million.';
REVOKE ALL ON FUNCTION chat.admin_inbox(integer, timestamptz, uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.admin_inbox(integer, timestamptz, uuid) TO chat_service, chat_user;
