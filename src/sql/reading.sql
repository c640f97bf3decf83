/*
 * Reading a chat: pages of history, catch-up after a seq, and the read
 * mark with its unread counter.
 */

/*
 * The rows of chat._message_rows of some messages of one chat, with the
 * actor's own reactions: what the view computes by subqueries on the
 * message's chat is computed here on the chat itself, from the table, so
 * that on a Citus cluster the statement, whose every table names the chat,
 * is sent whole to the chat's node (one round trip), where subqueries on
 * the row's chat_id would be sent to every shard, and runs inside a call
 * delegated to that node (chat._chat_page()), where a statement may not
 * read a reference table with the chat's (the view's booking).  The view's definition, for one
 * chat: test/pgtap/message_rows.sql compares them.  The messages are those
 * from seq lo to hi, all of them (a page of history: one range of the
 * primary key), or only those of seqs among them.  Without the booking a
 * message names: the callers add it (chat._booking_json() says why).
 */
CREATE OR REPLACE FUNCTION chat._chat_rows(in_chat uuid, lo bigint, hi bigint, seqs bigint[], actor_id uuid)
RETURNS TABLE (chat_id uuid, seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               kind text, card jsonb, reply_to jsonb, reactions jsonb,
               my_reactions text[])
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
AS $$
#variable_conflict use_column
DECLARE
    p_chat uuid := $1;
    v_actor uuid := $5;
BEGIN
    RETURN QUERY
    SELECT m.chat_id, m.seq, m.sender_id, CASE WHEN m.hidden_at IS NULL THEN m.body END,
           m.booking_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at, m.hidden_at,
           CASE WHEN m.attachment_count = 0 OR m.hidden_at IS NOT NULL THEN '[]'::jsonb
                ELSE (SELECT coalesce(jsonb_agg(chat._attachment_json(a.storage_key, a.content_type, a.byte_size,
                                                                a.width, a.height)
                                      ORDER BY a.position), '[]'::jsonb)
                        FROM chat.media a
                       WHERE a.chat_id = p_chat AND a.seq = m.seq) END,
           m.kind, CASE WHEN m.hidden_at IS NULL THEN m.card END,
           CASE WHEN m.reply_to_seq IS NOT NULL AND m.hidden_at IS NULL
                THEN (SELECT chat._reply_json(r.seq, r.sender_id, r.body, r.deleted_at,
                                                r.attachment_count, r.hidden_at)
                        FROM chat.chat_messages r
                       WHERE r.chat_id = p_chat AND r.seq = m.reply_to_seq) END,
           CASE WHEN m.reaction_count > 0 AND m.deleted_at IS NULL AND m.hidden_at IS NULL
                THEN (SELECT coalesce(jsonb_object_agg(x.emoji, x.n), '{}'::jsonb)
                        FROM (SELECT x.emoji, count(*) AS n
                                FROM chat.reactions x
                               WHERE x.chat_id = p_chat AND x.seq = m.seq
                               GROUP BY x.emoji) x)
                ELSE '{}'::jsonb END,
           CASE WHEN m.reaction_count > 0 AND m.deleted_at IS NULL AND m.hidden_at IS NULL
                THEN (SELECT coalesce(array_agg(x.emoji ORDER BY x.created_at, x.emoji), '{}')
                        FROM chat.reactions x
                       WHERE x.chat_id = p_chat AND x.seq = m.seq AND x.profile_id = v_actor)
                ELSE '{}'::text[] END
      FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq BETWEEN $2 AND $3
       AND ($4 IS NULL OR m.seq = ANY ($4));
END
$$;

COMMENT ON FUNCTION chat._chat_rows(uuid, bigint, bigint, bigint[], uuid) IS
'The messages of one chat from seq lo to hi (with seqs, only those of them), as chat._message_rows has them but for the booking, with the actor''s own reactions; in no order. Internal: the readers of messages (history(), messages_since(), catch-up on a Citus cluster) check access first.';
REVOKE ALL ON FUNCTION chat._chat_rows(uuid, bigint, bigint, bigint[], uuid) FROM PUBLIC, chat_service, chat_user;

/*
 * A page of one chat for an actor the caller names: the access check, the
 * actor's cleared mark, the page's bounds and its rows, every statement on
 * the chat.  On a Citus cluster the call is sent whole to the chat's node
 * (chat.distribute_tables() makes it a distributed function, co-located
 * with chat.chats), one round trip for the page, and runs there as the
 * coordinator's connection, the extension's owner: nobody else may call
 * it.
 */
CREATE OR REPLACE FUNCTION chat._chat_page(in_chat uuid, in_actor uuid, after_seq bigint,
                                           before_seq bigint, max_rows integer, newest_first boolean)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb, kind text, card jsonb, reply_to jsonb, reactions jsonb,
               my_reactions text[])
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
-- pinned here too: on a Citus cluster it runs on the chat's node, in
-- Citus's connection, whose search_path is the owner's there
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p_chat uuid := $1;
    v_actor uuid := $2;
    p_max integer := $5;
    v_cleared bigint;
    v_lo bigint;
    v_hi bigint;
BEGIN
    -- the actor's cleared mark (clear_history()) is NULL for anyone else
    SELECT CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq
                ELSE c.stylist_cleared_seq END INTO v_cleared
      FROM chat.chats c
     WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id);
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;

    -- the page's first and last seq, by a range scan of the primary key
    -- in either direction (every message between them is on the page);
    -- then its rows, by one range scan
    IF newest_first THEN
        SELECT min(m.seq), max(m.seq) INTO v_lo, v_hi
          FROM (SELECT m.seq FROM chat.chat_messages m
                 WHERE m.chat_id = p_chat AND m.seq < before_seq AND m.seq > v_cleared
                 ORDER BY m.seq DESC LIMIT p_max) m;
    ELSE
        SELECT min(m.seq), max(m.seq) INTO v_lo, v_hi
          FROM (SELECT m.seq FROM chat.chat_messages m
                 WHERE m.chat_id = p_chat AND m.seq > after_seq AND m.seq > v_cleared
                 ORDER BY m.seq LIMIT p_max) m;
    END IF;
    IF v_lo IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    SELECT r.seq, r.sender_id, r.body, r.booking_id, r.client_msg_id, r.created_at,
           r.edited_at, r.deleted_at, r.hidden_at, r.attachments,
           CASE WHEN r.hidden_at IS NULL THEN chat._booking_json(r.booking_id) END,
           r.kind, r.card, r.reply_to, r.reactions, r.my_reactions
      FROM chat._chat_rows(p_chat, v_lo, v_hi, NULL, v_actor) r
     ORDER BY CASE WHEN newest_first THEN - r.seq ELSE r.seq END;
END
$$;

COMMENT ON FUNCTION chat._chat_page(uuid, uuid, bigint, bigint, integer, boolean) IS
'A page of a chat''s messages for the actor it is given (42501 unless a participant): newest first before before_seq, or oldest first after after_seq. On a Citus cluster, sent whole to the chat''s node. Internal: chat._messages() checks the arguments.';
REVOKE ALL ON FUNCTION chat._chat_page(uuid, uuid, bigint, bigint, integer, boolean) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._messages(chat_id uuid, after_seq bigint, before_seq bigint,
                               max_rows integer, newest_first boolean)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb, kind text, card jsonb, reply_to jsonb, reactions jsonb,
               my_reactions text[])
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
AS $$
DECLARE
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_max integer := chat._check_max_rows($4);
    v_actor uuid := chat.require_actor();
BEGIN
    -- one call on the chat: on a Citus cluster, one round trip
    RETURN QUERY
    SELECT * FROM chat._chat_page(p_chat, v_actor, $2, $3, p_max, $5);
END
$$;

COMMENT ON FUNCTION chat._messages(uuid, bigint, bigint, integer, boolean) IS
'A page of a chat''s messages with attachments and booking, for a participant. Internal: used by history() and messages_since().';
REVOKE ALL ON FUNCTION chat._messages(uuid, bigint, bigint, integer, boolean) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.history(chat_id uuid, before_seq bigint DEFAULT NULL, max_rows integer DEFAULT 50)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb, kind text, card jsonb, reply_to jsonb, reactions jsonb,
               my_reactions text[])
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat.require_actor();
    RETURN QUERY
    SELECT * FROM chat._messages($1, NULL, coalesce($2, 9223372036854775807), $3, true);
END
$$;

COMMENT ON FUNCTION chat.history(uuid, bigint, integer) IS
'Messages of a chat, newest first, before before_seq (NULL: from the newest), at most max_rows (1 to 1000); each with its attachments and booking.';
REVOKE ALL ON FUNCTION chat.history(uuid, bigint, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.history(uuid, bigint, integer) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.messages_since(chat_id uuid, after_seq bigint, max_rows integer DEFAULT 1000)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb, kind text, card jsonb, reply_to jsonb, reactions jsonb,
               my_reactions text[])
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat.require_actor();
    IF chat._require_arg($2, 'after_seq') < 0 THEN
        RAISE EXCEPTION 'after_seq must not be negative, not %', $2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the last seq you hold, or 0 for everything.';
    END IF;
    RETURN QUERY
    SELECT * FROM chat._messages($1, $2, NULL, $3, false);
END
$$;

COMMENT ON FUNCTION chat.messages_since(uuid, bigint, integer) IS
'Messages of a chat after after_seq, oldest first, at most max_rows (1 to 1000): call again from the last seq until fewer come back.';
REVOKE ALL ON FUNCTION chat.messages_since(uuid, bigint, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.messages_since(uuid, bigint, integer) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._set_read_mark(chat_id uuid, actor_id uuid, is_customer boolean,
                                               read_seq bigint, last_seq bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_unread integer := 0;
BEGIN
    -- the unread counter counts the messages after the mark that are not
    -- the actor's (the other participant's and booking cards) and not
    -- deleted: only that window is counted
    IF read_seq < last_seq THEN
        SELECT count(*) INTO v_unread
          FROM chat.chat_messages m
         WHERE m.chat_id = $1 AND m.seq > $4
           AND m.sender_id IS DISTINCT FROM $2 AND m.deleted_at IS NULL;
    END IF;
    IF is_customer THEN
        UPDATE chat.chats c SET customer_read_seq = $4, customer_unread = v_unread
         WHERE c.chat_id = $1;
    ELSE
        UPDATE chat.chats c SET stylist_read_seq = $4, stylist_unread = v_unread
         WHERE c.chat_id = $1;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._set_read_mark(uuid, uuid, boolean, bigint, bigint) IS
'Sets the actor''s read mark of a chat it has locked to read_seq and recounts the actor''s unread counter exactly. Internal: the callers record the read event.';
REVOKE ALL ON FUNCTION chat._set_read_mark(uuid, uuid, boolean, bigint, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._move_read_mark(chat_id uuid, actor_id uuid, is_customer boolean,
                                                read_seq bigint, last_seq bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
BEGIN
    PERFORM chat._set_read_mark($1, $2, $3, $4, $5);
    PERFORM chat._relay_change('read', $1, $4);
    RETURN $4;
END
$$;

COMMENT ON FUNCTION chat._move_read_mark(uuid, uuid, boolean, bigint, bigint) IS
'Moves the actor''s read mark of a chat it has locked to read_seq, recounts the actor''s unread counter exactly, and relays a read event; returns the mark. Internal: used by mark_unread() and clear_history().';
REVOKE ALL ON FUNCTION chat._move_read_mark(uuid, uuid, boolean, bigint, bigint) FROM PUBLIC, chat_service, chat_user;

/*
 * What mark_read() does in the chat, for the actor it is given: the chat
 * locked, up_to_seq checked, the mark moved forward (never back) with the
 * unread counter recounted.  Every statement on the chat: on a Citus
 * cluster the call runs whole on the chat's node (a distributed function,
 * chat.distribute_tables()), as the coordinator's connection, the
 * extension's owner, who alone may call it.  moved says whether the
 * caller records a read event, with the pair it returns.
 */
CREATE OR REPLACE FUNCTION chat._mark_read_on_chat(in_chat uuid, in_actor uuid, up_to_seq bigint,
                                                   OUT read_seq bigint, OUT moved boolean,
                                                   OUT customer_id uuid, OUT stylist_id uuid)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
-- pinned here too: on a Citus cluster it runs on the chat's node, in
-- Citus's connection, whose search_path is the owner's there
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    p_chat uuid := $1;
    v_actor uuid := $2;
    p_up_to bigint := $3;
    v_chat record;
BEGIN
    SELECT c.customer_id, c.stylist_id, c.last_seq,
           CASE WHEN c.customer_id = v_actor THEN c.customer_read_seq ELSE c.stylist_read_seq END AS read_seq
      INTO v_chat
      FROM chat.chats c
     WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;
    IF p_up_to < 0 OR p_up_to > v_chat.last_seq THEN
        RAISE EXCEPTION 'up_to_seq % is out of range', p_up_to
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The chat''s messages are numbered 1 to %s.', v_chat.last_seq),
                  HINT = 'Pass NULL to mark everything read.';
    END IF;
    customer_id := v_chat.customer_id;
    stylist_id := v_chat.stylist_id;
    read_seq := coalesce(p_up_to, v_chat.last_seq);
    moved := read_seq > v_chat.read_seq;
    IF NOT moved THEN
        read_seq := v_chat.read_seq;     -- never backwards
        RETURN;
    END IF;
    PERFORM chat._set_read_mark(p_chat, v_actor, v_chat.customer_id = v_actor, read_seq, v_chat.last_seq);
END
$$;

COMMENT ON FUNCTION chat._mark_read_on_chat(uuid, uuid, bigint) IS
'What chat.mark_read() does in the chat for the actor it is given: returns the read mark, whether it moved, and the pair. On a Citus cluster, sent whole to the chat''s node. Internal: mark_read() records the event.';
REVOKE ALL ON FUNCTION chat._mark_read_on_chat(uuid, uuid, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.mark_read(chat_id uuid, up_to_seq bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_up_to bigint := $2;
    v_mark record;
BEGIN
    PERFORM chat._require_writable('mark_read');
    -- one call on the chat: on a Citus cluster, one round trip; the event
    -- recorded here, where the relay is
    SELECT * INTO v_mark FROM chat._mark_read_on_chat(p_chat, v_actor, p_up_to) r;
    IF v_mark.moved THEN
        PERFORM chat._relay_event('read', p_chat, v_mark.customer_id, v_mark.stylist_id,
                                  v_actor, v_mark.read_seq, now());
    END IF;
    RETURN v_mark.read_seq;
END
$$;

COMMENT ON FUNCTION chat.mark_read(uuid, bigint) IS
'Mark the chat read by the actor up to up_to_seq (NULL: everything so far) and return the read mark, which never moves backwards.';
REVOKE ALL ON FUNCTION chat.mark_read(uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.mark_read(uuid, bigint) TO chat_service, chat_user;
