/*
 * Safety: a participant blocks a chat.  The state is two columns of the
 * chat's row (when the customer, when the stylist blocked it), so that
 * chat.send_message() checks it in the UPDATE it runs anyway: while either
 * is set nothing is sent (55000, the same for both sides), typing is not
 * relayed, and the history stays readable; edits and deletes of one's own
 * messages still work.  Blocks are not relayed: the other side learns of
 * one only by the error of a send.  Admins see them in chat.admin_blocks.
 * And reports: a participant reports a message or a chat (chat.report()),
 * an admin resolves it (chat.resolve_report(), in the audit log).
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
    v_pair record;
    v_now timestamptz := now();     -- a value: Citus runs the statement on the chat's node
BEGIN
    PERFORM chat._require_writable('block');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('block', $1, '[]');
        RETURN;
    END IF;
    v_pair := chat._lock_chat($1);
    -- blocking twice is a no-op: the first time stays
    UPDATE chat.chats c
       SET customer_blocked_at = CASE WHEN c.customer_id = v_actor
                                      THEN coalesce(c.customer_blocked_at, v_now)
                                      ELSE c.customer_blocked_at END,
           stylist_blocked_at = CASE WHEN c.stylist_id = v_actor
                                     THEN coalesce(c.stylist_blocked_at, v_now)
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
    v_pair record;
BEGIN
    PERFORM chat._require_writable('unblock');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('unblock', $1, '[]');
        RETURN;
    END IF;
    v_pair := chat._lock_chat($1);
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

/*
 * Reports: a participant reports a message of a chat, or the whole chat,
 * for an admin to look at.  Reporting is the participant's own act (not in
 * the audit log, not relayed); an admin's resolution is recorded in the
 * audit log, and hiding the message goes through chat.hide_message().
 */

CREATE OR REPLACE FUNCTION chat.report(chat_id uuid, reason text, seq bigint DEFAULT NULL,
                                       note text DEFAULT NULL)
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
    p_reason text := chat._require_arg($2, 'reason');
    p_seq bigint := $3;
    p_note text := nullif(btrim($4), '');
    v_sender uuid;
    v_id bigint;
BEGIN
    PERFORM chat._require_writable('report');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('report', p_chat, jsonb_build_array($2, $3, $4))::bigint;
    END IF;
    PERFORM chat._lock_chat(p_chat);
    IF p_reason NOT IN ('spam', 'harassment', 'inappropriate', 'off_platform', 'other') THEN
        RAISE EXCEPTION 'unknown reason "%"', p_reason
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The reasons are spam, harassment, inappropriate, off_platform and other.';
    END IF;
    IF char_length(p_note) > 1000 THEN
        RAISE EXCEPTION 'note is too long (% characters)', char_length(p_note)
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = 'At most 1000 characters are allowed.';
    END IF;
    IF p_seq IS NOT NULL THEN
        SELECT m.sender_id INTO v_sender FROM chat.chat_messages m
         WHERE m.chat_id = p_chat AND m.seq = p_seq;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'message % does not exist in chat %', p_seq, p_chat
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF v_sender = v_actor THEN
            RAISE EXCEPTION 'one''s own message cannot be reported'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Delete it with chat.delete_message().';
        END IF;
    END IF;
    -- the chat's lock serialises reports of it: the same one twice finds
    -- the first while it is open
    SELECT r.id INTO v_id FROM chat.reports r
     WHERE r.chat_id = p_chat AND r.reporter_id = v_actor
       AND coalesce(r.seq, 0) = coalesce(p_seq, 0) AND r.status = 'open';
    IF FOUND THEN
        RETURN v_id;
    END IF;
    INSERT INTO chat.reports (chat_id, reporter_id, seq, reason, note)
    VALUES (p_chat, v_actor, p_seq, p_reason, p_note)
    RETURNING reports.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION chat.report(uuid, text, bigint, text) IS
'A participant reports a message of the chat (seq) or the whole chat (seq NULL) to the admins, and gets the report''s id. reason: spam, harassment, inappropriate, off_platform or other; note at most 1000 characters. Reporting the same again while it is open returns the open report. Not relayed.';
REVOKE ALL ON FUNCTION chat.report(uuid, text, bigint, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.report(uuid, text, bigint, text) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.resolve_report(report_id bigint, action text, note text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_id bigint := chat._require_arg($1, 'report_id');
    p_action text := chat._require_arg($2, 'action');
    p_note text := chat._audit_reason($3);
    v_report chat.reports;
    v_status text;
BEGIN
    PERFORM chat._require_writable('resolve_report');
    IF p_action NOT IN ('dismiss', 'hide_message') THEN
        RAISE EXCEPTION 'unknown action "%"', p_action
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The actions are dismiss and hide_message.';
    END IF;
    SELECT * INTO v_report FROM chat.reports r WHERE r.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'report % does not exist', p_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the chat's lock first, as every writer takes it, then the report
    PERFORM FROM chat.chats c WHERE c.chat_id = v_report.chat_id FOR NO KEY UPDATE;
    SELECT * INTO v_report FROM chat.reports r
     WHERE r.chat_id = v_report.chat_id AND r.id = p_id FOR UPDATE;
    IF v_report.status <> 'open' THEN
        RAISE EXCEPTION 'report % is already resolved (%)', p_id, v_report.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_action = 'hide_message' THEN
        IF v_report.seq IS NULL THEN
            RAISE EXCEPTION 'report % is of the whole chat, not of a message', p_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Dismiss it, or hide the messages with chat.hide_message().';
        END IF;
        PERFORM chat.hide_message(v_report.chat_id, v_report.seq,
                                  coalesce(p_note, format('report %s: %s', p_id, v_report.reason)));
    END IF;
    v_status := CASE p_action WHEN 'dismiss' THEN 'dismissed' ELSE 'actioned' END;
    UPDATE chat.reports r
       SET status = v_status, resolved_at = now(), resolved_by = v_admin, resolution_note = p_note
     WHERE r.chat_id = v_report.chat_id AND r.id = p_id;
    INSERT INTO chat.audit_entries (chat_id, actor_id, action, seq, reason)
    VALUES (v_report.chat_id, v_admin, 'resolve_report', v_report.seq,
            left(format('report %s %s', p_id, v_status) || coalesce(': ' || p_note, ''), 500));
END
$$;

COMMENT ON FUNCTION chat.resolve_report(bigint, text, text) IS
'An admin resolves an open report: action dismiss, or hide_message (hides the reported message as chat.hide_message() does, the note as its reason). Recorded in chat.audit_log (resolve_report). Others get 42501.';
REVOKE ALL ON FUNCTION chat.resolve_report(bigint, text, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.resolve_report(bigint, text, text) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._admin_reports()
RETURNS TABLE (id bigint, chat_id uuid, reporter_id uuid, seq bigint, reason text, note text,
               status text, created_at timestamptz, resolved_at timestamptz, resolved_by uuid,
               resolution_note text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF chat._actor_is_admin() THEN
        RETURN QUERY
        SELECT r.id, r.chat_id, r.reporter_id, r.seq, r.reason, r.note, r.status, r.created_at,
               r.resolved_at, r.resolved_by, r.resolution_note
          FROM chat.reports r;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._admin_reports() IS
'The rows of view chat.admin_reports: every report when the acting profile is an admin, none otherwise.';
REVOKE ALL ON FUNCTION chat._admin_reports() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._admin_reports() TO chat_service, chat_user;

CREATE OR REPLACE VIEW chat.admin_reports WITH (security_barrier = true) AS
SELECT r.id, r.chat_id, r.reporter_id, r.seq, r.reason, r.note, r.status, r.created_at,
       r.resolved_at, r.resolved_by, r.resolution_note
  FROM chat._admin_reports() r;

COMMENT ON VIEW chat.admin_reports IS
'Every report (open, dismissed or actioned) when the acting profile is an admin; nothing otherwise.';
REVOKE ALL ON chat.admin_reports FROM PUBLIC, chat_service, chat_user;
GRANT SELECT ON chat.admin_reports TO chat_service, chat_user;
