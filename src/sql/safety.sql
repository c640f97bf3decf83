/*
 * Safety: a participant blocks a chat.  The state is two columns of the
 * chat's row (when the customer, when the stylist blocked it), so that
 * chat.send_message() checks it in the UPDATE it runs anyway: while either
 * is set nothing is sent (55000, the same for both sides), typing is not
 * relayed, and the history stays readable; edits and deletes of one's own
 * messages still work.  Blocks are not relayed: the other side learns of
 * one only by the error of a send.  Admins see them in chat.admin_blocks.
 */

CREATE OR REPLACE FUNCTION chat.block(chat_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record := chat._lock_chat($1);
BEGIN
    -- blocking twice is a no-op: the first time stays
    UPDATE chat.chats c
       SET customer_blocked_at = CASE WHEN c.customer_id = v_actor
                                      THEN coalesce(c.customer_blocked_at, now())
                                      ELSE c.customer_blocked_at END,
           stylist_blocked_at = CASE WHEN c.stylist_id = v_actor
                                     THEN coalesce(c.stylist_blocked_at, now())
                                     ELSE c.stylist_blocked_at END
     WHERE c.chat_id = $1
       AND CASE WHEN c.customer_id = v_actor THEN c.customer_blocked_at
                ELSE c.stylist_blocked_at END IS NULL;
END
$$;

COMMENT ON FUNCTION chat.block(uuid) IS
'The actor blocks a chat: while it is blocked by either participant nobody can send in it and typing is not relayed; the history stays readable. Not relayed to the other side. Blocking twice is a no-op.';
REVOKE ALL ON FUNCTION chat.block(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.block(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.unblock(chat_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record := chat._lock_chat($1);
BEGIN
    -- only the actor's own block goes; unblocking an unblocked chat is a no-op
    UPDATE chat.chats c
       SET customer_blocked_at = CASE WHEN c.customer_id = v_actor
                                      THEN NULL ELSE c.customer_blocked_at END,
           stylist_blocked_at = CASE WHEN c.stylist_id = v_actor
                                     THEN NULL ELSE c.stylist_blocked_at END
     WHERE c.chat_id = $1
       AND CASE WHEN c.customer_id = v_actor THEN c.customer_blocked_at
                ELSE c.stylist_blocked_at END IS NOT NULL;
END
$$;

COMMENT ON FUNCTION chat.unblock(uuid) IS
'The actor lifts their own block of a chat (not the other participant''s). Not relayed. Unblocking a chat the actor does not block is a no-op.';
REVOKE ALL ON FUNCTION chat.unblock(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.unblock(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._admin_blocks()
RETURNS TABLE (chat_id uuid, blocker_id uuid, blocked_id uuid, blocked_at timestamptz)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF chat._actor_is_admin() THEN
        RETURN QUERY
        SELECT c.chat_id, c.customer_id, c.stylist_id, c.customer_blocked_at
          FROM chat.chats c WHERE c.customer_blocked_at IS NOT NULL
        UNION ALL
        SELECT c.chat_id, c.stylist_id, c.customer_id, c.stylist_blocked_at
          FROM chat.chats c WHERE c.stylist_blocked_at IS NOT NULL;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._admin_blocks() IS
'The rows of view chat.admin_blocks: every block when the acting profile is an admin, none otherwise.';
REVOKE ALL ON FUNCTION chat._admin_blocks() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._admin_blocks() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.admin_blocks WITH (security_barrier = true) AS
SELECT b.chat_id, b.blocker_id, b.blocked_id, b.blocked_at
  FROM chat._admin_blocks() b;

COMMENT ON VIEW chat.admin_blocks IS
'Every block (which chat, who blocked whom, since when) when the acting profile is an admin; nothing otherwise.';
REVOKE ALL ON chat.admin_blocks FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.admin_blocks TO chat_service, chat_user;
