/*
 * What a participant and an admin may read as relations.
 *
 * Each view is a function scan: a SECURITY DEFINER function picks the
 * actor's rows, and the view selects from it.  A security_barrier view over
 * the tables would not do: PostgreSQL deems the comparison operators of
 * uuid, bigint and text leakproof, so the planner may run the caller's own
 * conditions on the tables' rows below the view's actor filter, where
 * EXPLAIN (ANALYZE) counts them, and answer questions about rows the caller
 * may not see.  Conditions on a function's result run on that result only.
 * The functions are granted with the views (a view's functions run with
 * the caller's rights) and give the same rows as the views.
 *
 * A view costs the actor's whole scope per query (all their messages, for
 * my_messages): for pages of one chat, use history() and messages_since().
 */

CREATE OR REPLACE FUNCTION chat._my_chats()
RETURNS TABLE (chat_id uuid, customer_id uuid, stylist_id uuid, created_at timestamptz,
               last_seq bigint, last_message_at timestamptz, last_read_seq bigint,
               unread_count integer)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.current_actor();
BEGIN
    RETURN QUERY
    SELECT c.chat_id, c.customer_id, c.stylist_id, c.created_at, c.last_seq, c.last_message_at,
           c.customer_read_seq, c.customer_unread
      FROM chat.chats c WHERE c.customer_id = v_actor
    UNION ALL
    SELECT c.chat_id, c.customer_id, c.stylist_id, c.created_at, c.last_seq, c.last_message_at,
           c.stylist_read_seq, c.stylist_unread
      FROM chat.chats c WHERE c.stylist_id = v_actor;
END
$$;

COMMENT ON FUNCTION chat._my_chats() IS
'The rows of view chat.my_chats: the chats of the acting profile, with its read state.';
REVOKE ALL ON FUNCTION chat._my_chats() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._my_chats() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.my_chats WITH (security_barrier = true) AS
SELECT c.chat_id, c.customer_id, c.stylist_id, c.created_at, c.last_seq, c.last_message_at,
       c.last_read_seq, c.unread_count
  FROM chat._my_chats() c;

COMMENT ON VIEW chat.my_chats IS
'The chats the acting profile takes part in, with its read state.';
REVOKE ALL ON chat.my_chats FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.my_chats TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._my_messages()
RETURNS TABLE (chat_id uuid, seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.current_actor();
BEGIN
    RETURN QUERY
    SELECT m.chat_id, m.seq, m.sender_id, m.body, m.booking_id, m.client_msg_id,
           m.created_at, m.edited_at, m.deleted_at, m.hidden_at
      FROM chat.chats c
      JOIN chat._message_rows m ON m.chat_id = c.chat_id
     WHERE v_actor IN (c.customer_id, c.stylist_id)
       AND m.seq > CASE WHEN c.customer_id = v_actor      -- clear_history()
                        THEN c.customer_cleared_seq ELSE c.stylist_cleared_seq END;
END
$$;

COMMENT ON FUNCTION chat._my_messages() IS
'The rows of view chat.my_messages: the messages of the acting profile''s chats, hidden ones without text, but not those it cleared (clear_history()).';
REVOKE ALL ON FUNCTION chat._my_messages() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._my_messages() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.my_messages WITH (security_barrier = true) AS
SELECT m.chat_id, m.seq, m.sender_id, m.body, m.booking_id, m.client_msg_id,
       m.created_at, m.edited_at, m.deleted_at, m.hidden_at
  FROM chat._my_messages() m;

COMMENT ON VIEW chat.my_messages IS
'The messages of the chats the acting profile takes part in.';
REVOKE ALL ON chat.my_messages FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.my_messages TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._my_media()
RETURNS TABLE (chat_id uuid, seq bigint, "position" smallint, storage_key text,
               content_type text, byte_size bigint, width integer, height integer,
               created_at timestamptz)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.current_actor();
BEGIN
    RETURN QUERY
    SELECT a.chat_id, a.seq, a.position, a.storage_key, a.content_type, a.byte_size,
           a.width, a.height, a.created_at
      FROM chat.chats c
      JOIN chat.media a ON a.chat_id = c.chat_id
     WHERE v_actor IN (c.customer_id, c.stylist_id)
       AND a.seq > CASE WHEN c.customer_id = v_actor      -- clear_history()
                        THEN c.customer_cleared_seq ELSE c.stylist_cleared_seq END
       AND NOT EXISTS (SELECT FROM chat.chat_messages m
                        WHERE m.chat_id = a.chat_id AND m.seq = a.seq
                          AND m.hidden_at IS NOT NULL);
END
$$;

COMMENT ON FUNCTION chat._my_media() IS
'The rows of view chat.my_media: the attachments of the acting profile''s chats, but not of hidden messages nor of those it cleared (clear_history()).';
REVOKE ALL ON FUNCTION chat._my_media() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._my_media() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.my_media WITH (security_barrier = true) AS
SELECT a.chat_id, a.seq, a.position, a.storage_key, a.content_type, a.byte_size,
       a.width, a.height, a.created_at
  FROM chat._my_media() a;

COMMENT ON VIEW chat.my_media IS
'The attachments of the chats the acting profile takes part in.';
REVOKE ALL ON chat.my_media FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.my_media TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._admin_chats()
RETURNS TABLE (chat_id uuid, customer_id uuid, stylist_id uuid, created_at timestamptz,
               last_seq bigint, last_message_at timestamptz,
               customer_read_seq bigint, customer_unread integer,
               stylist_read_seq bigint, stylist_unread integer)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF chat._actor_is_admin() THEN
        RETURN QUERY
        SELECT c.chat_id, c.customer_id, c.stylist_id, c.created_at, c.last_seq,
               c.last_message_at, c.customer_read_seq, c.customer_unread,
               c.stylist_read_seq, c.stylist_unread
          FROM chat.chats c;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._admin_chats() IS
'The rows of view chat.admin_chats: every chat when the acting profile is an admin, none otherwise.';
REVOKE ALL ON FUNCTION chat._admin_chats() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._admin_chats() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.admin_chats WITH (security_barrier = true) AS
SELECT c.chat_id, c.customer_id, c.stylist_id, c.created_at, c.last_seq, c.last_message_at,
       c.customer_read_seq, c.customer_unread, c.stylist_read_seq, c.stylist_unread
  FROM chat._admin_chats() c;

COMMENT ON VIEW chat.admin_chats IS
'Every chat when the acting profile is an admin; nothing otherwise.';
REVOKE ALL ON chat.admin_chats FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.admin_chats TO chat_service, chat_user;

-- no message text here: an admin reads text through chat.admin_history(),
-- which records the read in the audit log first
CREATE OR REPLACE FUNCTION chat._admin_messages()
RETURNS TABLE (chat_id uuid, seq bigint, sender_id uuid, booking_id uuid,
               client_msg_id uuid, attachment_count smallint, created_at timestamptz,
               edited_at timestamptz, deleted_at timestamptz, hidden_at timestamptz,
               hidden_by uuid, hidden_reason text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF chat._actor_is_admin() THEN
        RETURN QUERY
        SELECT m.chat_id, m.seq, m.sender_id, m.booking_id, m.client_msg_id,
               m.attachment_count, m.created_at, m.edited_at, m.deleted_at,
               m.hidden_at, m.hidden_by, m.hidden_reason
          FROM chat.chat_messages m;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._admin_messages() IS
'The rows of view chat.admin_messages: every message without its text when the acting profile is an admin, none otherwise.';
REVOKE ALL ON FUNCTION chat._admin_messages() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._admin_messages() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.admin_messages WITH (security_barrier = true) AS
SELECT m.chat_id, m.seq, m.sender_id, m.booking_id, m.client_msg_id, m.attachment_count,
       m.created_at, m.edited_at, m.deleted_at, m.hidden_at, m.hidden_by, m.hidden_reason
  FROM chat._admin_messages() m;

COMMENT ON VIEW chat.admin_messages IS
'Every message, without its text, when the acting profile is an admin; nothing otherwise. Admins read text through chat.admin_history(), which records it.';
REVOKE ALL ON chat.admin_messages FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.admin_messages TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._audit_log()
RETURNS TABLE (id bigint, at timestamptz, actor_id uuid, action text, chat_id uuid,
               seq bigint, reason text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF chat._actor_is_admin() THEN
        RETURN QUERY
        SELECT e.id, e.at, e.actor_id, e.action, e.chat_id, e.seq, e.reason
          FROM chat.audit_entries e;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._audit_log() IS
'The rows of view chat.audit_log: the moderation trail when the acting profile is an admin, none otherwise.';
REVOKE ALL ON FUNCTION chat._audit_log() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._audit_log() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.audit_log WITH (security_barrier = true) AS
SELECT e.id, e.at, e.actor_id, e.action, e.chat_id, e.seq, e.reason
  FROM chat._audit_log() e;

COMMENT ON VIEW chat.audit_log IS
'The moderation trail (who, which chat, when, why) when the acting profile is an admin; nothing otherwise. Append-only.';
REVOKE ALL ON chat.audit_log FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.audit_log TO chat_service, chat_user;
