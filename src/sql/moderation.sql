/*
 * Moderation: admins read chats with a trail and hide messages.  The
 * audit log is append-only for everyone but the extension owner; an
 * admin's read is recorded before the text is returned, in a transaction
 * of its own (C, src/audit_writer.c).
 */

CREATE OR REPLACE FUNCTION chat._by_extension_owner()
RETURNS boolean
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_extension e
                    WHERE e.extname = 'stylist_chat'
                      AND e.extowner = (SELECT r.oid FROM pg_catalog.pg_roles r
                                         WHERE r.rolname = current_user))
$$;

COMMENT ON FUNCTION chat._by_extension_owner() IS
'Whether the current user is the extension''s owner: the one role that may rewrite its records (audit log, consents, holds). Internal.';
REVOKE ALL ON FUNCTION chat._by_extension_owner() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._audit_append_only()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
BEGIN
    IF NOT chat._by_extension_owner() THEN
        RAISE EXCEPTION 'the audit log is append-only'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('%s of chat.%s is allowed to the extension owner only.', TG_OP, TG_TABLE_NAME);
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

COMMENT ON FUNCTION chat._audit_append_only() IS
'Refuses UPDATE, DELETE and TRUNCATE of chat.audit_entries (and chat.privacy_requests) to every role but the extension owner, superusers included. Internal.';
REVOKE ALL ON FUNCTION chat._audit_append_only() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE TRIGGER audit_entries_append_only
    BEFORE UPDATE OR DELETE ON chat.audit_entries
    FOR EACH ROW EXECUTE FUNCTION chat._audit_append_only();
CREATE OR REPLACE TRIGGER audit_entries_no_truncate
    BEFORE TRUNCATE ON chat.audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION chat._audit_append_only();

CREATE OR REPLACE FUNCTION chat._audit_durably(chat_id uuid, actor_id uuid, action text,
                                               seq bigint, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_audit_durably'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat._audit_durably(uuid, uuid, text, bigint, text) IS
'Appends an entry to the audit log and commits it in a transaction of its own (a short-lived background worker) before returning; raises 55000 when it cannot. Internal.';
REVOKE ALL ON FUNCTION chat._audit_durably(uuid, uuid, text, bigint, text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._audit_reason(reason text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
BEGIN
    IF char_length($1) > 500 THEN
        RAISE EXCEPTION 'reason is too long (% characters)', char_length($1)
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = 'At most 500 characters are allowed.';
    END IF;
    RETURN nullif(btrim($1), '');
END
$$;

COMMENT ON FUNCTION chat._audit_reason(text) IS
'A reason for the audit log: at most 500 characters, NULL when blank. Internal.';
REVOKE ALL ON FUNCTION chat._audit_reason(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.admin_history(chat_id uuid, reason text DEFAULT NULL,
                                   before_seq bigint DEFAULT NULL, max_rows integer DEFAULT 50)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, hidden_reason text,
               attachments jsonb, booking jsonb)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_reason text := chat._audit_reason($2);
    p_before bigint := coalesce($3, 9223372036854775807);
    p_max integer := chat._check_max_rows($4);
BEGIN
    IF NOT EXISTS (SELECT FROM chat.chats c WHERE c.chat_id = p_chat) THEN
        RAISE EXCEPTION 'chat % does not exist', p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- committed in a transaction of its own before anything is read: no
    -- rollback of the reader's, savepoint or cursor can take it back
    PERFORM chat._audit_durably(p_chat, v_admin, 'read_history', NULL, p_reason);

    -- every subquery names the chat: on a Citus cluster the statement
    -- goes whole to the chat's node (through chat._message_rows, whose
    -- subqueries name the row's chat_id, it went to every shard)
    RETURN QUERY
    SELECT m.seq, m.sender_id,
           -- as written: before moderation hid it, before the filter masked it
           coalesce((SELECT f.original_body FROM chat.filtered_messages f
                      WHERE f.chat_id = p_chat AND f.seq = m.seq), m.body),
           m.booking_id, m.client_msg_id,
           m.created_at, m.edited_at, m.deleted_at, m.hidden_at, m.hidden_reason,
           CASE WHEN m.attachment_count = 0 THEN '[]'::jsonb
                ELSE (SELECT coalesce(jsonb_agg(chat._attachment_json(a.storage_key, a.content_type, a.byte_size,
                                                                a.width, a.height)
                                      ORDER BY a.position), '[]'::jsonb)
                        FROM chat.media a
                       WHERE a.chat_id = p_chat AND a.seq = m.seq) END,
           CASE WHEN m.hidden_at IS NULL AND m.booking_id IS NOT NULL
                THEN (SELECT jsonb_build_object('id', b.id, 'service', b.service,
                                                'starts_at', b.starts_at, 'status', b.status)
                        FROM chat.bookings b
                       WHERE b.id = m.booking_id) END
      FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq < p_before
     ORDER BY m.seq DESC
     LIMIT p_max;
END
$$;

COMMENT ON FUNCTION chat.admin_history(uuid, text, bigint, integer) IS
'An admin reads a chat''s messages, newest first, hidden ones as they were. Every call is first recorded in chat.audit_log with the reason, committed on its own: a rollback does not remove it.';
REVOKE ALL ON FUNCTION chat.admin_history(uuid, text, bigint, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.admin_history(uuid, text, bigint, integer) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.hide_message(chat_id uuid, seq bigint, reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
    p_reason text := chat._audit_reason(chat._require_arg($3, 'reason'));
    v_hidden_at timestamptz;
BEGIN
    PERFORM chat._require_writable('hide_message');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('hide_message', $1, jsonb_build_array($2, $3));
        RETURN;
    END IF;
    IF p_reason IS NULL THEN
        RAISE EXCEPTION 'reason must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say why the message is hidden: it goes into the audit log.';
    END IF;
    -- the chat's lock first, as every writer takes it
    PERFORM FROM chat.chats c WHERE c.chat_id = p_chat FOR NO KEY UPDATE;
    SELECT m.hidden_at INTO v_hidden_at FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq = p_seq FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist in chat %', p_seq, p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_hidden_at IS NOT NULL THEN
        RETURN;     -- hidden already
    END IF;
    UPDATE chat.chat_messages m
       SET hidden_at = now(), hidden_by = v_admin, hidden_reason = p_reason
     WHERE m.chat_id = p_chat AND m.seq = p_seq;
    INSERT INTO chat.audit_entries (chat_id, actor_id, action, seq, reason)
    VALUES (p_chat, v_admin, 'hide_message', p_seq, p_reason);
    PERFORM chat._relay_change('hidden', p_chat, p_seq);
END
$$;

COMMENT ON FUNCTION chat.hide_message(uuid, bigint, text) IS
'An admin hides a message: participants then see it without body or attachments; the original stays for admins; recorded in chat.audit_log and relayed as a "hidden" event. Hiding twice is a no-op.';
REVOKE ALL ON FUNCTION chat.hide_message(uuid, bigint, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.hide_message(uuid, bigint, text) TO chat_service, chat_user;
