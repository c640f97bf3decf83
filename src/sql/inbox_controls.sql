/*
 * Inbox controls of each participant, for their own side of a chat only:
 * marking a chat unread again from a message on, archiving, muting, and
 * clearing the history.  The state is columns of the chat's row, one of
 * each per participant (customer_*, stylist_*):
 *
 *   *_archived_seq  the chat's last_seq when archived, NULL when not.  The
 *                   chat is archived while last_seq is still that, so any
 *                   new message (the actor's own too) brings it back to the
 *                   inbox, and send_message(), the hot path, never touches
 *                   these columns.  Edits, deletes and reads do not.
 *   *_muted_until   muted until then ('infinity': until unmuted), NULL when
 *                   not.  Events still flow; notification senders read it.
 *   *_cleared_seq   the participant no longer sees the messages up to this
 *                   seq (chat._cleared_seq() gives it to every reader);
 *                   the other participant still does.  Not reversible.
 *
 * Only the actor's own view changes, so none of these is relayed to the
 * other side (clearing moves the actor's read mark, which is, as a read).
 */

CREATE OR REPLACE FUNCTION chat.mark_unread(chat_id uuid, from_seq bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_from bigint := $2;
    v_chat record;
    v_read bigint;
BEGIN
    PERFORM chat._require_writable('mark_unread');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('mark_unread', $1, jsonb_build_array($2))::bigint;
    END IF;
    SELECT c.customer_id, c.last_seq,
           CASE WHEN c.customer_id = v_actor THEN c.customer_read_seq ELSE c.stylist_read_seq END AS read_seq,
           CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq ELSE c.stylist_cleared_seq END AS cleared_seq
      INTO v_chat
      FROM chat.chats c
     WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;
    IF chat._require_arg(p_from, 'from_seq') NOT BETWEEN 1 AND v_chat.last_seq THEN
        RAISE EXCEPTION 'from_seq % is out of range', p_from
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The chat''s messages are numbered 1 to %s.', v_chat.last_seq),
                  HINT = 'Pass the seq of the first message to show as unread.';
    END IF;
    -- what the actor cleared stays read: the count is of what they see
    v_read := greatest(p_from - 1, v_chat.cleared_seq);
    IF v_read >= v_chat.read_seq THEN
        RETURN v_chat.read_seq;     -- unread from there already: never forwards
    END IF;
    RETURN chat._move_read_mark(p_chat, v_actor, v_chat.customer_id = v_actor, v_read,
                                v_chat.last_seq);
END
$$;

COMMENT ON FUNCTION chat.mark_unread(uuid, bigint) IS
'Mark the chat unread by the actor from from_seq on: the read mark goes back to from_seq - 1 (never forwards, nor before the history the actor cleared) and is returned; the unread count is recounted. Relayed as a read event with the new mark.';
REVOKE ALL ON FUNCTION chat.mark_unread(uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.mark_unread(uuid, bigint) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.archive(chat_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record;
BEGIN
    PERFORM chat._require_writable('archive');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('archive', $1, '[]');
        RETURN;
    END IF;
    v_pair := chat._lock_chat($1);
    -- archived at the chat's last seq: the next message, whoever sends it,
    -- brings the chat back.  Archiving again moves that to the last seq.
    UPDATE chat.chats c
       SET customer_archived_seq = CASE WHEN c.customer_id = v_actor
                                        THEN c.last_seq ELSE c.customer_archived_seq END,
           stylist_archived_seq = CASE WHEN c.stylist_id = v_actor
                                       THEN c.last_seq ELSE c.stylist_archived_seq END
     WHERE c.chat_id = $1;
END
$$;

COMMENT ON FUNCTION chat.archive(uuid) IS
'The actor archives a chat: it leaves their inbox (chat.inbox(archived => true) lists it) until a new message arrives in it, sent by either participant. The other side sees no change; not relayed. Archiving twice is a no-op.';
REVOKE ALL ON FUNCTION chat.archive(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.archive(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.unarchive(chat_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record;
BEGIN
    PERFORM chat._require_writable('unarchive');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('unarchive', $1, '[]');
        RETURN;
    END IF;
    v_pair := chat._lock_chat($1);
    UPDATE chat.chats c
       SET customer_archived_seq = CASE WHEN c.customer_id = v_actor
                                        THEN NULL ELSE c.customer_archived_seq END,
           stylist_archived_seq = CASE WHEN c.stylist_id = v_actor
                                       THEN NULL ELSE c.stylist_archived_seq END
     WHERE c.chat_id = $1
       AND CASE WHEN c.customer_id = v_actor THEN c.customer_archived_seq
                ELSE c.stylist_archived_seq END IS NOT NULL;
END
$$;

COMMENT ON FUNCTION chat.unarchive(uuid) IS
'The actor brings an archived chat back to their inbox. Not relayed. Unarchiving a chat that is not archived is a no-op.';
REVOKE ALL ON FUNCTION chat.unarchive(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.unarchive(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.mute(chat_id uuid, until timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record;
    p_until timestamptz := coalesce($2, 'infinity');
BEGIN
    PERFORM chat._require_writable('mute');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('mute', $1, jsonb_build_array($2));
        RETURN;
    END IF;
    v_pair := chat._lock_chat($1);
    IF p_until <= now() THEN
        RAISE EXCEPTION 'until must be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to mute the chat until it is unmuted.';
    END IF;
    -- muting again replaces the time
    UPDATE chat.chats c
       SET customer_muted_until = CASE WHEN c.customer_id = v_actor
                                       THEN p_until ELSE c.customer_muted_until END,
           stylist_muted_until = CASE WHEN c.stylist_id = v_actor
                                      THEN p_until ELSE c.stylist_muted_until END
     WHERE c.chat_id = $1;
END
$$;

COMMENT ON FUNCTION chat.mute(uuid, timestamptz) IS
'The actor mutes a chat until a time in the future, or with NULL until unmuted (muted_until is then infinity): events still flow, and get_chat() and inbox() show muted_until for whoever sends notifications. Muting again replaces the time. Not relayed.';
REVOKE ALL ON FUNCTION chat.mute(uuid, timestamptz) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.mute(uuid, timestamptz) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.unmute(chat_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record;
BEGIN
    PERFORM chat._require_writable('unmute');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('unmute', $1, '[]');
        RETURN;
    END IF;
    v_pair := chat._lock_chat($1);
    UPDATE chat.chats c
       SET customer_muted_until = CASE WHEN c.customer_id = v_actor
                                       THEN NULL ELSE c.customer_muted_until END,
           stylist_muted_until = CASE WHEN c.stylist_id = v_actor
                                      THEN NULL ELSE c.stylist_muted_until END
     WHERE c.chat_id = $1
       AND CASE WHEN c.customer_id = v_actor THEN c.customer_muted_until
                ELSE c.stylist_muted_until END IS NOT NULL;
END
$$;

COMMENT ON FUNCTION chat.unmute(uuid) IS
'The actor unmutes a chat. Not relayed. Unmuting a chat that is not muted is a no-op.';
REVOKE ALL ON FUNCTION chat.unmute(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.unmute(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.clear_history(chat_id uuid)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record;
    v_customer boolean;
    v_chat record;
BEGIN
    PERFORM chat._require_writable('clear_history');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('clear_history', $1, '[]')::bigint;
    END IF;
    v_pair := chat._lock_chat($1);
    v_customer := v_pair.customer_id = v_actor;
    SELECT c.last_seq,
           CASE WHEN v_customer THEN c.customer_read_seq ELSE c.stylist_read_seq END AS read_seq,
           CASE WHEN v_customer THEN c.customer_cleared_seq ELSE c.stylist_cleared_seq END AS cleared_seq
      INTO v_chat
      FROM chat.chats c WHERE c.chat_id = $1;
    IF v_chat.cleared_seq >= v_chat.last_seq THEN
        RETURN v_chat.cleared_seq;          -- nothing new to clear
    END IF;

    -- what is cleared is read and delivered: nothing of it is counted as
    -- unread nor fetched by undelivered() any more
    UPDATE chat.chats c
       SET customer_cleared_seq = CASE WHEN v_customer THEN c.last_seq ELSE c.customer_cleared_seq END,
           customer_delivered_seq = CASE WHEN v_customer THEN greatest(c.customer_delivered_seq, c.last_seq)
                                         ELSE c.customer_delivered_seq END,
           stylist_cleared_seq = CASE WHEN v_customer THEN c.stylist_cleared_seq ELSE c.last_seq END,
           stylist_delivered_seq = CASE WHEN v_customer THEN c.stylist_delivered_seq
                                        ELSE greatest(c.stylist_delivered_seq, c.last_seq) END
     WHERE c.chat_id = $1;
    IF v_chat.read_seq < v_chat.last_seq THEN
        PERFORM chat._move_read_mark($1, v_actor, v_customer, v_chat.last_seq, v_chat.last_seq);
    END IF;
    RETURN v_chat.last_seq;
END
$$;

COMMENT ON FUNCTION chat.clear_history(uuid) IS
'The actor clears the history of a chat for themselves: history, messages_since, undelivered, pinned, the inbox preview and the views show them only the messages after the returned seq; the other participant still sees everything. Not reversible. The actor''s read mark moves to the end (relayed as a read event when it moves); nothing else is relayed.';
REVOKE ALL ON FUNCTION chat.clear_history(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.clear_history(uuid) TO chat_service, chat_user;
