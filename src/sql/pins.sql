/*
 * Pinned messages: either participant pins a message of the chat, with an
 * optional one-line note ("colour formula") and expiry, and both see the
 * pins of the chat.  A deleted or hidden message cannot be pinned and leaves
 * the list; so does a pin past its expiry.  Such pins stay in chat.pins
 * until the next chat.pin() of the chat clears them, so that deleting or
 * hiding a message does not have to know about pins.  At most 50 pins a
 * chat (54000).  Relayed as "pinned" and "unpinned" events.
 */

CREATE OR REPLACE FUNCTION chat.pin(chat_id uuid, seq bigint, note text DEFAULT NULL,
                                    expires_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
    p_note text := CASE WHEN $3 IS NOT NULL THEN chat._check_text($3, 'note', 200) END;
    p_expires timestamptz := $4;
    v_msg record;
    v_pins integer;
    v_cleared bigint;
BEGIN
    PERFORM chat._require_writable('pin');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('pin', $1, jsonb_build_array($2, $3, $4));
        RETURN;
    END IF;
    PERFORM chat._lock_chat(p_chat);
    v_cleared := chat._cleared_seq(p_chat, v_actor);
    IF p_expires IS NOT NULL AND p_expires <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to keep the pin until it is unpinned.';
    END IF;
    SELECT m.deleted_at, m.hidden_at INTO v_msg
      FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq = p_seq
       AND m.seq > v_cleared;    -- not what the actor cleared
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist in chat %', p_seq, p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_msg.deleted_at IS NOT NULL OR v_msg.hidden_at IS NOT NULL THEN
        RAISE EXCEPTION 'message % of chat % is %', p_seq, p_chat,
                        CASE WHEN v_msg.deleted_at IS NOT NULL THEN 'deleted' ELSE 'hidden' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A deleted or hidden message cannot be pinned.';
    END IF;

    -- under the chat's lock: clear the pins nobody sees any more, then count
    DELETE FROM chat.pins p
     USING chat.chat_messages m
     WHERE p.chat_id = p_chat AND m.chat_id = p.chat_id AND m.seq = p.seq
       AND (p.expires_at <= now() OR m.deleted_at IS NOT NULL OR m.hidden_at IS NOT NULL);
    SELECT count(*) INTO v_pins FROM chat.pins p
     WHERE p.chat_id = p_chat AND p.seq <> p_seq;
    IF v_pins >= 50 THEN
        RAISE EXCEPTION 'chat % has 50 pinned messages already', p_chat
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = 'A chat has at most 50 pinned messages.',
                  HINT = 'Unpin one with chat.unpin() first.';
    END IF;

    -- pinning again changes the note and the expiry
    INSERT INTO chat.pins AS p (chat_id, seq, pinned_by, note, expires_at)
    VALUES (p_chat, p_seq, v_actor, p_note, p_expires)
    ON CONFLICT (chat_id, seq) DO UPDATE
       SET note = excluded.note, expires_at = excluded.expires_at;
    PERFORM chat._relay_change('pinned', p_chat, p_seq);
END
$$;

COMMENT ON FUNCTION chat.pin(uuid, bigint, text, timestamptz) IS
'Pin a message of the chat for both participants, with an optional one-line note (at most 200 characters) and expiry (in the future). Pinning again changes the note and expiry. At most 50 pins a chat (54000); a deleted or hidden message cannot be pinned (55000).';
REVOKE ALL ON FUNCTION chat.pin(uuid, bigint, text, timestamptz) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.pin(uuid, bigint, text, timestamptz) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.unpin(chat_id uuid, seq bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();     -- 28000 before anything else
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
BEGIN
    PERFORM chat._require_writable('unpin');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('unpin', $1, jsonb_build_array($2));
        RETURN;
    END IF;
    PERFORM chat._lock_chat(p_chat);
    DELETE FROM chat.pins p WHERE p.chat_id = p_chat AND p.seq = p_seq;
    IF FOUND THEN
        PERFORM chat._relay_change('unpinned', p_chat, p_seq);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.unpin(uuid, bigint) IS
'Unpin a message of the chat, for both participants. Unpinning a message that is not pinned is a no-op.';
REVOKE ALL ON FUNCTION chat.unpin(uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.unpin(uuid, bigint) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.pinned(chat_id uuid)
RETURNS TABLE (seq bigint, note text, pinned_by uuid, pinned_at timestamptz,
               expires_at timestamptz, sender_id uuid, created_at timestamptz,
               preview text, booking_id uuid)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();     -- 28000 before anything else
    p_chat uuid := chat._require_arg($1, 'chat_id');
BEGIN
    -- one statement on the chat (on a Citus cluster, one round trip to its
    -- node): the actor's row of the chat, none unless a participant, and
    -- for it the pins after what they cleared (a lateral subquery, which
    -- its ORDER BY keeps from being merged into the join: read only when
    -- the row is there); access is checked apart only when that finds
    -- nothing, for its 42501
    RETURN QUERY
    SELECT p.seq, p.note, p.pinned_by, p.pinned_at, p.expires_at, p.sender_id, p.created_at,
           p.preview, p.booking_id
      FROM (SELECT CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq
                        ELSE c.stylist_cleared_seq END AS cleared_seq
              FROM chat.chats c
             WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)) r
     CROSS JOIN LATERAL (
           SELECT p.seq, p.note, p.pinned_by, p.pinned_at, p.expires_at, m.sender_id, m.created_at,
                  chat._preview(m.body, m.deleted_at, m.attachment_count, m.hidden_at) AS preview,
                  m.booking_id
             FROM chat.pins p
             JOIN chat.chat_messages m ON m.chat_id = p_chat AND m.seq = p.seq
            WHERE p.chat_id = p_chat
              AND p.seq > r.cleared_seq     -- not what the actor cleared
              AND (p.expires_at IS NULL OR p.expires_at > now())
              AND m.deleted_at IS NULL AND m.hidden_at IS NULL
            ORDER BY p.pinned_at DESC, p.seq DESC) p
     ORDER BY p.pinned_at DESC, p.seq DESC;
    IF NOT FOUND THEN
        PERFORM chat._participant_chat(p_chat);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.pinned(uuid) IS
'The pinned messages of a chat, most recently pinned first, with note, expiry and a one-line preview; without expired pins, deleted or hidden messages, and messages the actor cleared.';
REVOKE ALL ON FUNCTION chat.pinned(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.pinned(uuid) TO chat_service, chat_user;
