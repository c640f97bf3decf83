/*
 * Inbox controls of each participant, for their own side of a chat only:
 * marking a chat unread again from a message on.
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
    SELECT c.customer_id, c.last_seq,
           CASE WHEN c.customer_id = v_actor THEN c.customer_read_seq ELSE c.stylist_read_seq END AS read_seq
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
    v_read := p_from - 1;
    IF v_read >= v_chat.read_seq THEN
        RETURN v_chat.read_seq;     -- unread from there already: never forwards
    END IF;
    RETURN chat._move_read_mark(p_chat, v_actor, v_chat.customer_id = v_actor, v_read,
                                v_chat.last_seq);
END
$$;

COMMENT ON FUNCTION chat.mark_unread(uuid, bigint) IS
'Mark the chat unread by the actor from from_seq on: the read mark goes back to from_seq - 1 (never forwards) and is returned; the unread count is recounted. Relayed as a read event with the new mark.';
REVOKE ALL ON FUNCTION chat.mark_unread(uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.mark_unread(uuid, bigint) TO chat_service, chat_user;
