/*
 * Privacy and data rights: a person's data exported (chat.export_profile()
 * for admins, chat.export_my_data() for the person) and erased
 * (chat.erase_profile(), for admins), and legal holds that keep a chat in
 * a dispute whole (chat.set_legal_hold(), chat.release_legal_hold()).
 *
 * Export.  One JSON document, returned as its lines in order (SETOF text:
 * joined with newlines they are the document), so that a long history is
 * never one value in memory: the sections of the profile's own data
 * first, a line each, then one line a message, as a query streams them
 * into the function's result, which spills to disk past work_mem.  What
 * the person can see: their chats and every message of them, the other
 * participant's hidden messages without text (their own with it), the
 * messages they cleared marked so; the bookings of their pairs; the
 * portfolio consents they gave or that are about their portfolio; the
 * reports they filed; their notifications and preferences; and the audit
 * entries about them (admin reads of their chats, moderation, searches
 * that found their messages, and every export and erasure of their
 * data).  An admin's export is recorded before anything is read, in a
 * transaction of its own (src/audit_writer.c), like an admin's read.
 * The document is one statement, of one instant.
 *
 * Erasure.  The person's messages become tombstones (no body, no images;
 * their seq, time and place in threads stay, so that the other
 * participant's history and replies stay coherent); the storage keys of
 * their images are returned so that the application deletes the bytes;
 * their reactions, pin notes and report notes go; their portfolio
 * consents are revoked; their name becomes 'Erased profile'; their tokens
 * stop working at once (chat.token_revocations) and none is issued again;
 * their notifications and preferences go; their staged legacy messages
 * lose body and images.  The other participant's messages stay.  A chat
 * on legal hold keeps all of it (the result says which): run
 * erase_profile() again once the hold is released.  The erasure is
 * recorded in chat.privacy_requests with its reason and counts, never the
 * content.  Running it again erases what is left and changes nothing
 * else.
 *
 * Locks.  Erasure, a hold and retention take the rows of the chats they
 * act on (FOR NO KEY UPDATE, in chat order): a hold placed while a
 * participant is being erased comes before or after it, never half-way.
 *
 * An erasure takes the person's chats one by one, every statement on one
 * chat or on a reference table: the chats are listed, then locked one by
 * one in chat order; on a Citus cluster each statement is sent whole to
 * the chat's node.
 */

-- the privacy requests are append-only, as the audit log
CREATE OR REPLACE TRIGGER privacy_requests_append_only
    BEFORE UPDATE OR DELETE ON chat.privacy_requests
    FOR EACH ROW EXECUTE FUNCTION chat._audit_append_only();
CREATE OR REPLACE TRIGGER privacy_requests_no_truncate
    BEFORE TRUNCATE ON chat.privacy_requests
    FOR EACH STATEMENT EXECUTE FUNCTION chat._audit_append_only();

CREATE OR REPLACE FUNCTION chat._legal_holds_append_only()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.released_at IS NOT NULL
           OR (NEW.chat_id, NEW.id, NEW.reason, NEW.placed_at, NEW.placed_by)
              IS DISTINCT FROM (OLD.chat_id, OLD.id, OLD.reason, OLD.placed_at, OLD.placed_by) THEN
            RAISE EXCEPTION 'legal holds are a record: a hold is only ever released, once'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF NOT chat._by_extension_owner() THEN
        RAISE EXCEPTION 'legal holds are a record: they are not deleted'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('%s of chat.legal_holds is allowed to the extension owner only.', TG_OP);
    END IF;
    RETURN OLD;
END
$$;

COMMENT ON FUNCTION chat._legal_holds_append_only() IS
'Keeps chat.legal_holds as a record: an UPDATE may only release a hold in force; DELETE and TRUNCATE are for the extension owner only, superusers included. Internal.';
REVOKE ALL ON FUNCTION chat._legal_holds_append_only() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE TRIGGER legal_holds_append_only
    BEFORE UPDATE OR DELETE ON chat.legal_holds
    FOR EACH ROW EXECUTE FUNCTION chat._legal_holds_append_only();
CREATE OR REPLACE TRIGGER legal_holds_no_truncate
    BEFORE TRUNCATE ON chat.legal_holds
    FOR EACH STATEMENT EXECUTE FUNCTION chat._legal_holds_append_only();

-- PL/pgSQL, not SQL: Citus plans no statement of an SQL function that
-- takes parameters (STRICT, the SQL form was never inlined either)
CREATE OR REPLACE FUNCTION chat._held(chat_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN EXISTS (SELECT FROM chat.legal_holds h WHERE h.chat_id = $1 AND h.released_at IS NULL);
END
$$;

COMMENT ON FUNCTION chat._held(uuid) IS
'Whether a legal hold of the chat is in force. Internal.';
REVOKE ALL ON FUNCTION chat._held(uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.set_legal_hold(chat_id uuid, reason text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_reason text := chat._check_text($2, 'reason', 500);
    v_id bigint;
BEGIN
    PERFORM chat._require_writable('set_legal_hold');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('set_legal_hold', $1, jsonb_build_array($2))::bigint;
    END IF;
    -- the chat's row first: an erasure or a retention run under way ends
    -- before the hold is placed, and none starts until it is
    PERFORM FROM chat.chats c WHERE c.chat_id = p_chat FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'chat % does not exist', p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT h.id INTO v_id FROM chat.legal_holds h WHERE h.chat_id = p_chat AND h.released_at IS NULL;
    IF FOUND THEN
        RETURN v_id;        -- held already: that hold, as it was placed
    END IF;
    INSERT INTO chat.legal_holds (chat_id, reason, placed_by)
    VALUES (p_chat, p_reason, v_admin)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION chat.set_legal_hold(uuid, text) IS
'For admins: places a legal hold on a chat (a dispute): until it is released, erasure of a participant and retention leave the chat''s content. Returns the hold''s id; a chat held already keeps its hold, whose id is returned.';
REVOKE ALL ON FUNCTION chat.set_legal_hold(uuid, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.set_legal_hold(uuid, text) TO chat_service;

CREATE OR REPLACE FUNCTION chat.release_legal_hold(chat_id uuid, reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_reason text := chat._audit_reason($2);
    v_pair record;
    v_erased_id uuid;
    v_erased text;
BEGIN
    PERFORM chat._require_writable('release_legal_hold');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('release_legal_hold', $1, jsonb_build_array($2))::boolean;
    END IF;
    SELECT c.customer_id, c.stylist_id INTO v_pair FROM chat.chats c WHERE c.chat_id = p_chat FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'chat % does not exist', p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE chat.legal_holds h
       SET released_at = greatest(now(), h.placed_at), released_by = v_admin, release_reason = p_reason
     WHERE h.chat_id = p_chat AND h.released_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- a participant erased while the chat was held still has content here
    -- (the profile read apart from the chat's messages: on a Citus cluster
    -- the call runs on the chat's node, where Citus plans no statement
    -- that joins the two)
    FOR v_erased_id IN SELECT p.id FROM chat.profiles p
                        WHERE p.id IN (v_pair.customer_id, v_pair.stylist_id) AND p.erased_at IS NOT NULL
                        ORDER BY p.id LOOP
        IF EXISTS (SELECT FROM chat.chat_messages m
                    WHERE m.chat_id = p_chat AND m.sender_id = v_erased_id
                      AND (m.body IS NOT NULL OR m.attachment_count > 0)) THEN
            v_erased := concat_ws(', ', v_erased, v_erased_id);
        END IF;
    END LOOP;
    IF v_erased IS NOT NULL THEN
        RAISE NOTICE 'profile % was erased while chat % was held: its messages here are not erased yet', v_erased, p_chat
            USING HINT = 'Run chat.erase_profile() for it again.';
    END IF;
    RETURN true;
END
$$;

COMMENT ON FUNCTION chat.release_legal_hold(uuid, text) IS
'For admins: releases the legal hold of a chat; false when none was in force. A participant erased meanwhile still has messages in it: a NOTICE says so, and chat.erase_profile() run again erases them.';
REVOKE ALL ON FUNCTION chat.release_legal_hold(uuid, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.release_legal_hold(uuid, text) TO chat_service;

CREATE OR REPLACE FUNCTION chat.admin_legal_holds(include_released boolean DEFAULT false)
RETURNS TABLE (chat_id uuid, hold_id bigint, reason text, placed_at timestamptz, placed_by uuid,
               released_at timestamptz, released_by uuid, release_reason text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat._require_admin();
    RETURN QUERY
    SELECT h.chat_id, h.id, h.reason, h.placed_at, h.placed_by, h.released_at, h.released_by,
           h.release_reason
      FROM chat.legal_holds h
     WHERE h.released_at IS NULL OR chat._require_arg($1, 'include_released')
     ORDER BY h.placed_at DESC, h.id DESC;
END
$$;

COMMENT ON FUNCTION chat.admin_legal_holds(boolean) IS
'For admins: the legal holds in force, newest first (with include_released, the released ones too).';
REVOKE ALL ON FUNCTION chat.admin_legal_holds(boolean) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.admin_legal_holds(boolean) TO chat_service;

CREATE OR REPLACE FUNCTION chat.privacy_log(for_profile uuid DEFAULT NULL)
RETURNS TABLE (profile_id uuid, id bigint, at timestamptz, actor_id uuid, action text, reason text,
               summary jsonb)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat._require_admin();
    RETURN QUERY
    SELECT r.profile_id, r.id, r.at, r.actor_id, r.action, r.reason, r.summary
      FROM chat.privacy_requests r
     WHERE $1 IS NULL OR r.profile_id = $1
     ORDER BY r.id;
END
$$;

COMMENT ON FUNCTION chat.privacy_log(uuid) IS
'For admins: the exports and erasures of people''s data (of one profile, or all), oldest first: who, when, why, and counts.';
REVOKE ALL ON FUNCTION chat.privacy_log(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.privacy_log(uuid) TO chat_service;

-- PL/pgSQL, not SQL: Citus plans no statement of an SQL function that
-- takes parameters
CREATE OR REPLACE FUNCTION chat._export(profile_id uuid)
RETURNS SETOF text
LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
-- one line a message: no JIT for a plan that runs once
SET jit = off
AS $$
BEGIN
    -- one statement: the document is of one instant
    RETURN QUERY
    WITH my AS (
        SELECT coalesce(array_agg(c.chat_id ORDER BY c.chat_id), '{}') AS chats
          FROM chat.chats c WHERE $1 IN (c.customer_id, c.stylist_id)
    ), lines (part, chat_id, seq, line) AS (
    SELECT 0, NULL::uuid, 0::bigint,
           '{"format": "stylist_chat export", "version": 1, "exported_at": '
      || to_json(now())::text || ','
    UNION ALL
    SELECT 1, NULL::uuid, 0::bigint,
           '"profile": ' || (SELECT json_build_object('id', x.id, 'role', x.role, 'display_name', x.display_name,
                                                           'created_at', x.created_at, 'updated_at', x.updated_at,
                                                           'erased_at', x.erased_at)
                                    FROM chat.profiles x WHERE x.id = $1)::text || ','
    UNION ALL
    SELECT 2, NULL::uuid, 0::bigint,
           '"notification_preferences": '
      || coalesce((SELECT json_build_object('show_previews', x.show_previews, 'time_zone', x.time_zone,
                                                      'quiet_from', x.quiet_from, 'quiet_until', x.quiet_until,
                                                      'updated_at', x.updated_at)
                               FROM chat.notification_preferences x WHERE x.profile_id = $1)::text, 'null') || ','
    UNION ALL
    SELECT 3, NULL::uuid, 0::bigint,
           '"bookings": '
      || coalesce((SELECT json_agg(json_build_object('id', b.id, 'customer_id', b.customer_id,
                                                               'stylist_id', b.stylist_id, 'service', b.service,
                                                               'starts_at', b.starts_at, 'status', b.status,
                                                               'created_at', b.created_at, 'updated_at', b.updated_at)
                                             ORDER BY b.starts_at, b.id)
                               FROM chat.bookings b WHERE $1 IN (b.customer_id, b.stylist_id))::text, '[]') || ','
    UNION ALL
    SELECT 4, NULL::uuid, 0::bigint,
           '"chats": '
      || coalesce((SELECT json_agg(json_build_object(
                                 'chat_id', c.chat_id,
                                 'as', CASE WHEN c.customer_id = $1 THEN 'customer' ELSE 'stylist' END,
                                 'other_id', CASE WHEN c.customer_id = $1 THEN c.stylist_id ELSE c.customer_id END,
                                 'other_name', o.display_name, 'created_at', c.created_at,
                                 'last_seq', c.last_seq, 'last_message_at', c.last_message_at,
                                 'read_seq', CASE WHEN c.customer_id = $1 THEN c.customer_read_seq ELSE c.stylist_read_seq END,
                                 'delivered_seq', CASE WHEN c.customer_id = $1 THEN c.customer_delivered_seq ELSE c.stylist_delivered_seq END,
                                 'cleared_seq', CASE WHEN c.customer_id = $1 THEN c.customer_cleared_seq ELSE c.stylist_cleared_seq END,
                                 'archived', coalesce(CASE WHEN c.customer_id = $1 THEN c.customer_archived_seq
                                                           ELSE c.stylist_archived_seq END = c.last_seq, false),
                                 'muted_until', CASE WHEN c.customer_id = $1 THEN c.customer_muted_until ELSE c.stylist_muted_until END,
                                 'blocked_at', CASE WHEN c.customer_id = $1 THEN c.customer_blocked_at ELSE c.stylist_blocked_at END)
                                 ORDER BY c.chat_id)
                               FROM chat.chats c
                               JOIN chat.profiles o ON o.id = CASE WHEN c.customer_id = $1 THEN c.stylist_id ELSE c.customer_id END
                              WHERE c.chat_id = ANY ((SELECT m.chats FROM my m)::uuid[]))::text, '[]') || ','
    UNION ALL
    SELECT 5, NULL::uuid, 0::bigint,
           '"pins": '
      || coalesce((SELECT json_agg(json_build_object('chat_id', x.chat_id, 'seq', x.seq,
                                                               'pinned_by', x.pinned_by, 'note', x.note,
                                                               'pinned_at', x.pinned_at, 'expires_at', x.expires_at)
                                             ORDER BY x.chat_id, x.seq)
                               FROM chat.pins x WHERE x.chat_id = ANY ((SELECT m.chats FROM my m)::uuid[]))::text, '[]') || ','
    UNION ALL
    SELECT 6, NULL::uuid, 0::bigint,
           '"reactions": '
      || coalesce((SELECT json_agg(json_build_object('chat_id', x.chat_id, 'seq', x.seq, 'emoji', x.emoji,
                                                               'created_at', x.created_at)
                                             ORDER BY x.chat_id, x.seq, x.emoji)
                               FROM chat.reactions x WHERE x.chat_id = ANY ((SELECT m.chats FROM my m)::uuid[]) AND x.profile_id = $1)::text, '[]') || ','
    UNION ALL
    SELECT 7, NULL::uuid, 0::bigint,
           '"portfolio_consents": '
      || coalesce((SELECT json_agg(json_build_object('id', x.id, 'chat_id', x.chat_id, 'stylist_id', x.stylist_id,
                                                               'seq', x.seq, 'position', x.position,
                                                               'storage_key', x.storage_key, 'granted_at', x.granted_at,
                                                               'granted_by', x.granted_by, 'revoked_at', x.revoked_at,
                                                               'revoked_by', x.revoked_by)
                                             ORDER BY x.chat_id, x.granted_at, x.id)
                               FROM chat.portfolio_consents x
                              WHERE x.chat_id = ANY ((SELECT m.chats FROM my m)::uuid[]) AND $1 IN (x.granted_by, x.stylist_id))::text, '[]') || ','
    UNION ALL
    -- consents, reports and the audit in the order they were made, which
    -- their ids do not tell on a Citus cluster (each node its own range)
    SELECT 8, NULL::uuid, 0::bigint,
           '"reports": '
      || coalesce((SELECT json_agg(json_build_object('id', x.id, 'chat_id', x.chat_id, 'seq', x.seq,
                                                               'reason', x.reason, 'note', x.note, 'status', x.status,
                                                               'created_at', x.created_at, 'resolved_at', x.resolved_at)
                                             ORDER BY x.created_at, x.id)
                               FROM chat.reports x WHERE x.chat_id = ANY ((SELECT m.chats FROM my m)::uuid[]) AND x.reporter_id = $1)::text, '[]') || ','
    UNION ALL
    SELECT 9, NULL::uuid, 0::bigint,
           '"notifications": '
      || coalesce((SELECT json_agg(json_build_object('chat_id', x.chat_id, 'kind', x.kind,
                                                               'first_seq', x.first_seq, 'last_seq', x.last_seq,
                                                               'status', x.status, 'available_at', x.available_at)
                                             ORDER BY x.id)
                               FROM chat.notifications x WHERE x.recipient_id = $1)::text, '[]') || ','
    UNION ALL
    SELECT 10, NULL::uuid, 0::bigint,
           '"audit": '
      || coalesce((SELECT json_agg(json_build_object('id', x.id, 'at', x.at, 'actor_id', x.actor_id,
                                                               'action', x.action, 'chat_id', x.chat_id, 'seq', x.seq,
                                                               'reason', x.reason)
                                             ORDER BY x.at, x.id)
                               FROM chat.audit_entries x WHERE x.chat_id = ANY ((SELECT m.chats FROM my m)::uuid[]) OR x.actor_id = $1)::text, '[]') || ','
    UNION ALL
    SELECT 11, NULL::uuid, 0::bigint,
           '"privacy_requests": '
      || coalesce((SELECT json_agg(json_build_object('id', x.id, 'at', x.at, 'actor_id', x.actor_id,
                                                               'action', x.action, 'reason', x.reason,
                                                               'summary', x.summary)
                                             ORDER BY x.id)
                               FROM chat.privacy_requests x WHERE x.profile_id = $1)::text, '[]') || ','
    UNION ALL
    SELECT 12, NULL::uuid, 0::bigint,
           '"held_messages": '
      || coalesce((SELECT json_agg(json_build_object('chat_id', x.chat_id, 'held_id', x.id, 'body', x.body,
                                                               'attachments', x.attachments, 'rules', x.rules,
                                                               'held_at', x.held_at, 'status', x.status,
                                                               'decided_at', x.decided_at, 'reason', x.reason,
                                                               'seq', x.seq)
                                             ORDER BY x.chat_id, x.id)
                               FROM chat.held_messages x WHERE x.chat_id = ANY ((SELECT m.chats FROM my m)::uuid[]) AND x.sender_id = $1)::text, '[]') || ','
    UNION ALL
    SELECT 13, NULL::uuid, 0::bigint,
           '"messages": ['
    UNION ALL
    -- every message of the person's chats, in chat and seq order, a line each
    SELECT 14, m.chat_id, m.seq,
           json_build_object(
                  'chat_id', m.chat_id, 'seq', m.seq, 'sender_id', m.sender_id, 'mine', m.sender_id = $1,
                  'kind', m.kind,
                  -- as the person sees it: the other's hidden messages without text
                  'body', CASE WHEN m.hidden_at IS NULL OR m.sender_id = $1 THEN m.body END,
                  -- their own text as they wrote it, where the filter masked it
                  'as_written', CASE WHEN m.sender_id = $1
                                     THEN (SELECT f.original_body FROM chat.filtered_messages f
                                            WHERE f.chat_id = m.chat_id AND f.seq = m.seq) END,
                  'card', CASE WHEN m.hidden_at IS NULL THEN m.card END,
                  'booking_id', m.booking_id, 'reply_to_seq', m.reply_to_seq,
                  'created_at', m.created_at, 'edited_at', m.edited_at, 'deleted_at', m.deleted_at,
                  'hidden', m.hidden_at IS NOT NULL, 'cleared', m.seq <= c.cleared,
                  'attachments', CASE WHEN m.attachment_count > 0 AND (m.hidden_at IS NULL OR m.sender_id = $1)
                                      THEN (SELECT json_agg(json_build_object('position', a.position,
                                                                              'storage_key', a.storage_key,
                                                                              'content_type', a.content_type,
                                                                              'byte_size', a.byte_size,
                                                                              'width', a.width, 'height', a.height)
                                                            ORDER BY a.position)
                                              FROM chat.media a WHERE a.chat_id = m.chat_id AND a.seq = m.seq)
                                      ELSE '[]'::json END)::text
      FROM (SELECT x.chat_id,
                   CASE WHEN x.customer_id = $1 THEN x.customer_cleared_seq ELSE x.stylist_cleared_seq END AS cleared
              FROM chat.chats x WHERE $1 IN (x.customer_id, x.stylist_id)) c
      JOIN chat.chat_messages m ON m.chat_id = c.chat_id
    UNION ALL
    SELECT 15, NULL::uuid, 0::bigint, ']}'
    )
    -- a comma before every message but the first (here, not in the
    -- messages' own query, which on a Citus cluster runs on the nodes)
    SELECT CASE WHEN l.part = 14 AND row_number() OVER (PARTITION BY l.part ORDER BY l.chat_id, l.seq) > 1
                THEN ',' ELSE '' END || l.line
      FROM lines l ORDER BY l.part, l.chat_id, l.seq;
END
$$;

COMMENT ON FUNCTION chat._export(uuid) IS
'A profile''s data as the lines of one JSON document, messages a line each. Internal: see export_profile() and export_my_data().';
REVOKE ALL ON FUNCTION chat._export(uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.export_profile(profile_id uuid, reason text DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_admin uuid := chat._require_admin();
    p_profile uuid := chat._require_arg($1, 'profile_id');
    p_reason text := chat._audit_reason($2);
BEGIN
    IF chat._profile_role(p_profile) IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', p_profile
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- recorded and committed before anything is read: no rollback of the
    -- caller's takes it back
    PERFORM chat._audit_durably(p_profile, v_admin, 'export_profile', NULL, p_reason);
    RETURN QUERY SELECT * FROM chat._export(p_profile);
END
$$;

COMMENT ON FUNCTION chat.export_profile(uuid, text) IS
'For admins (a data subject''s access request): the profile''s data as the lines of one JSON document (joined with newlines): profile, preferences, bookings, chats, pins, reactions, portfolio consents, reports filed, notifications, audit entries and privacy requests about them, then every message of their chats, one a line, with attachment metadata and storage keys. Recorded in chat.privacy_requests, committed before anything is read.';
REVOKE ALL ON FUNCTION chat.export_profile(uuid, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.export_profile(uuid, text) TO chat_service;

CREATE OR REPLACE FUNCTION chat.export_my_data()
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
BEGIN
    PERFORM chat._require_writable('export_my_data');
    INSERT INTO chat.privacy_requests (profile_id, actor_id, action)
    VALUES (v_actor, v_actor, 'export');
    RETURN QUERY SELECT * FROM chat._export(v_actor);
END
$$;

COMMENT ON FUNCTION chat.export_my_data() IS
'The actor''s own data, as chat.export_profile() gives it, recorded in chat.privacy_requests.';
REVOKE ALL ON FUNCTION chat.export_my_data() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.export_my_data() TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.erase_profile(profile_id uuid, reason text)
RETURNS TABLE (item text, chat_id uuid, seq bigint, storage_key text, detail text)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p uuid := chat._require_arg($1, 'profile_id');
    p_reason text := chat._check_text($2, 'reason', 500);
    v_chats uuid[];
    v_free uuid[];
    v_held bigint;
    v_messages bigint;
    v_images bigint;
    v_staged bigint;
    v_reactions bigint;
    v_consents bigint;
    v_chat uuid;
    v_seqs bigint[];
    v_keys jsonb;
    v_held_ids bigint[];
    v_n bigint;
    v_now timestamptz := now();     -- a value: Citus runs the statements on the chats' nodes
    v_mode text;                    -- Citus's multi_shard_modify_mode before the call
BEGIN
    PERFORM chat._require_writable('erase_profile');
    -- the profile's row, then its chats in one order (see the header);
    -- a chat opened with the person meanwhile waits for the erasure
    -- (chat._open_chat())
    PERFORM pg_advisory_xact_lock(chat._profile_lock_key(p));
    PERFORM FROM chat.profiles x WHERE x.id = p FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile % does not exist', p
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chat._distributed() THEN
        -- one connection a node until the end of the call: Citus changes a
        -- reference table with foreign keys to it (profiles, below) only
        -- after statements that used no more
        v_mode := current_setting('citus.multi_shard_modify_mode');
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    -- the chats (on a Citus cluster, from every shard), then each locked,
    -- in order (there, on its node: Citus locks the rows of one node at a
    -- time); on one server no chat of the profile's appears meanwhile:
    -- its row is locked
    SELECT coalesce(array_agg(c.chat_id ORDER BY c.chat_id), '{}') INTO v_chats
      FROM chat.chats c WHERE p IN (c.customer_id, c.stylist_id);
    FOREACH v_chat IN ARRAY v_chats LOOP
        PERFORM FROM chat.chats c WHERE c.chat_id = v_chat FOR NO KEY UPDATE;
    END LOOP;
    -- the chats on legal hold keep everything
    SELECT coalesce(array_agg(x.chat_id), '{}') INTO v_free
      FROM unnest(v_chats) x(chat_id) WHERE NOT chat._held(x.chat_id);

    RETURN QUERY
    SELECT 'held'::text, h.chat_id, NULL::bigint, NULL::text,
           format('on legal hold since %s (%s): the messages here are kept until it is released', h.placed_at, h.reason)
      FROM chat.legal_holds h
     WHERE h.chat_id = ANY (v_chats) AND h.released_at IS NULL
     ORDER BY h.chat_id;
    GET DIAGNOSTICS v_held = ROW_COUNT;

    -- chat by chat, every statement on one chat (on a Citus cluster, on
    -- its node): the messages become tombstones (chat._to_tombstones()),
    -- with the keys of their images for the application to delete the
    -- bytes; their reactions go, and the counts of the messages they were
    -- on; their messages held by the filter are emptied (rejected if they
    -- waited); the notes of their pins and reports go
    v_messages := 0;
    v_images := 0;
    v_reactions := 0;
    FOREACH v_chat IN ARRAY v_free LOOP
        SELECT coalesce(array_agg(m.seq), '{}') INTO v_seqs
          FROM chat.chat_messages m WHERE m.chat_id = v_chat AND m.sender_id = p;
        SELECT t.redacted, t.images INTO v_seqs, v_keys
          FROM chat._to_tombstones(v_chat, v_seqs, 'erased') t;
        RETURN QUERY
        SELECT 'image'::text, v_chat, (i->>'seq')::bigint, i->>'storage_key', NULL::text
          FROM jsonb_array_elements(v_keys) i;
        PERFORM chat._relay_change('deleted', v_chat, s) FROM unnest(v_seqs) s;
        v_messages := v_messages + cardinality(v_seqs);
        v_images := v_images + jsonb_array_length(v_keys);

        WITH gone AS (
            DELETE FROM chat.reactions r
             WHERE r.chat_id = v_chat AND r.profile_id = p
            RETURNING r.seq
        ), counted AS (
            UPDATE chat.chat_messages m
               SET reaction_count = m.reaction_count - g.n
              FROM (SELECT g.seq, count(*) AS n FROM gone g GROUP BY g.seq) g
             WHERE m.chat_id = v_chat AND m.seq = g.seq
        )
        SELECT v_reactions + count(*) INTO v_reactions FROM gone;

        SELECT array_agg(h.id) INTO v_held_ids
          FROM (SELECT h.id FROM chat.held_messages h
                 WHERE h.chat_id = v_chat AND h.sender_id = p
                   AND (h.body IS NOT NULL OR h.filtered_body IS NOT NULL OR h.attachments IS NOT NULL)
                   FOR UPDATE) h;
        IF v_held_ids IS NOT NULL THEN
            PERFORM chat._empty_held_messages(array_fill(v_chat, ARRAY[cardinality(v_held_ids)]), v_held_ids,
                                              v_admin, 'its sender''s data was erased', 'erased');
        END IF;

        UPDATE chat.pins x SET note = NULL
         WHERE x.chat_id = v_chat AND x.pinned_by = p AND x.note IS NOT NULL;
        UPDATE chat.reports x SET note = NULL
         WHERE x.chat_id = v_chat AND x.reporter_id = p AND x.note IS NOT NULL;
    END LOOP;

    -- consents they gave, and those of their portfolio, end (kept as the
    -- record of them), in every chat of theirs
    v_consents := 0;
    FOREACH v_chat IN ARRAY v_chats LOOP
        UPDATE chat.portfolio_consents x
           SET revoked_at = greatest(v_now, x.granted_at), revoked_by = v_admin
         WHERE x.chat_id = v_chat AND p IN (x.granted_by, x.stylist_id) AND x.revoked_at IS NULL;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_consents := v_consents + v_n;
    END LOOP;
    DELETE FROM chat.notifications x WHERE x.recipient_id = p;
    DELETE FROM chat.notification_preferences x WHERE x.profile_id = p;
    DELETE FROM chat.caught_up x WHERE x.profile_id = p;

    -- their messages still staged for a migration
    RETURN QUERY
    WITH old AS (
        SELECT s.staged_id, s.attachments FROM chat.legacy_messages s
         WHERE s.sender_id = p AND (s.body IS NOT NULL OR s.attachments IS NOT NULL)
           FOR UPDATE
    ), gone AS (
        UPDATE chat.legacy_messages s SET body = NULL, attachments = NULL
          FROM old o WHERE s.staged_id = o.staged_id
        RETURNING o.staged_id, o.attachments
    )
    SELECT 'staged_image'::text, NULL::uuid, g.staged_id, a.e->>'storage_key', NULL::text
      FROM gone g
      CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(g.attachments) WHEN 'array'
                                                   THEN g.attachments ELSE '[]' END) AS a(e)
     WHERE jsonb_typeof(a.e->'storage_key') = 'string'
     ORDER BY g.staged_id;
    GET DIAGNOSTICS v_staged = ROW_COUNT;

    -- their tokens stop working now, and none is issued again
    INSERT INTO chat.token_revocations AS t (profile_id, revoked_at)
    VALUES (p, clock_timestamp())
    ON CONFLICT (profile_id) DO UPDATE SET revoked_at = greatest(t.revoked_at, excluded.revoked_at);
    UPDATE chat.profiles x
       SET display_name = 'Erased profile', erased_at = coalesce(x.erased_at, v_now), updated_at = v_now
     WHERE x.id = p;

    INSERT INTO chat.privacy_requests (profile_id, actor_id, action, reason, summary)
    VALUES (p, v_admin, 'erase', p_reason,
            jsonb_build_object('messages', v_messages, 'images', v_images, 'reactions', v_reactions,
                               'consents_revoked', v_consents, 'staged_images', v_staged,
                               'held_chats', v_held));
    IF v_mode IS NOT NULL THEN
        PERFORM set_config('citus.multi_shard_modify_mode', v_mode, true);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.erase_profile(uuid, text) IS
'For admins: erases a person''s data (README, "Privacy and data rights"): their messages become tombstones, their reactions, pin and report notes go, their consents end, their name becomes ''Erased profile'', their tokens stop working, their notifications go. Returns a row per image erased (item ''image'' or ''staged_image'', with the storage_key for the application to delete the bytes) and per chat left whole by a legal hold (''held''). Recorded in chat.privacy_requests with the reason and counts. Idempotent: run again after a hold is released.';
REVOKE ALL ON FUNCTION chat.erase_profile(uuid, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.erase_profile(uuid, text) TO chat_service;
