/*
 * Writing: send, edit and delete messages.  Every writer locks the chat row
 * first, then what is in it; no call waits longer than lock_timeout (2 s)
 * for a lock somebody else holds.
 */

/*
 * chat.send_message() is C (src/send_path.c): a text message that no
 * filter rule matches is written there through the table access method.
 * Everything else, and every error of the arguments, comes here, to the
 * same send written out in PL/pgSQL.
 */
/*
 * What a send writes, in the chat: the retry of a client_msg_id found, the
 * booking and the quoted message checked, a held message stored for an
 * admin, or the message with its images and what the filter found in it.
 * The actor is an argument: the caller (chat._send_message_sql()) asked
 * for it.  Every statement names the chat: on a Citus cluster the call is
 * sent whole to the chat's node (chat.distribute_tables() makes it a
 * distributed function, co-located with chat.chats, delegated even inside
 * a transaction), one round trip for the send, and runs there as the
 * coordinator's connection, the extension's owner: nobody else may call
 * it.  stored is true for a new message, whose event the caller records
 * where the relay is.  seq is NULL when the message was held.
 */
CREATE OR REPLACE FUNCTION chat._store_message(in_chat uuid, in_actor uuid, body text, booking_id uuid,
                                               client_msg_id uuid, attachments jsonb,
                                               reply_to_seq bigint, attachment_count integer,
                                               written text, rules text[], flag boolean, hold boolean,
                                               held_id bigint, report_id bigint,
                                               OUT seq bigint, OUT customer_id uuid, OUT stylist_id uuid,
                                               OUT created_at timestamptz, OUT stored boolean)
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
    p_body text := $3;
    p_booking uuid := $4;
    p_client_msg_id uuid := $5;
    p_reply bigint := $7;
    v_count integer := $8;
    v_hold boolean := $12;
    v_sent record;
    v_first record;
    v_customer uuid;
    v_stylist uuid;
    v_blocked boolean;
    v_held_by uuid;
BEGIN
    stored := false;
    -- an admin's approval of a held message sends it now
    -- (chat.approve_held_message()): not held again
    IF v_hold AND EXISTS (SELECT FROM chat.held_messages h
                           WHERE h.chat_id = p_chat AND h.sender_id = v_actor
                             AND h.status = 'approved' AND h.seq IS NULL) THEN
        v_hold := false;
    END IF;

    IF p_client_msg_id IS NOT NULL THEN
        -- take the chat's lock first, so that a concurrent retry of the same
        -- message waits here and then finds the first one
        PERFORM FROM chat.chats c
         WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)
           FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            PERFORM chat._chat_access_denied(p_chat);
        END IF;
        SELECT m.seq, m.sender_id INTO v_first
          FROM chat.chat_messages m
         WHERE m.chat_id = p_chat AND m.client_msg_id = p_client_msg_id;
        IF FOUND THEN
            IF v_first.sender_id IS DISTINCT FROM v_actor THEN
                RAISE EXCEPTION 'client_msg_id % is already used in this chat by the other participant', p_client_msg_id
                    USING ERRCODE = 'unique_violation',
                          HINT = 'Make a new random UUID for every new message.';
            END IF;
            seq := v_first.seq;
            RETURN;
        END IF;
        IF written IS NOT NULL THEN
            -- a retry of a message held for a moderator: still held
            SELECT h.sender_id INTO v_held_by FROM chat.held_messages h
             WHERE h.chat_id = p_chat AND h.client_msg_id = p_client_msg_id AND h.seq IS NULL
               AND h.status <> 'approved';
            IF FOUND THEN
                IF v_held_by IS DISTINCT FROM v_actor THEN
                    RAISE EXCEPTION 'client_msg_id % is already used in this chat by the other participant', p_client_msg_id
                        USING ERRCODE = 'unique_violation',
                              HINT = 'Make a new random UUID for every new message.';
                END IF;
                RETURN;
            END IF;
        END IF;
    END IF;

    IF p_booking IS NOT NULL OR p_reply IS NOT NULL THEN
        -- the actor's chat first: whether a booking or a message exists is
        -- nobody else's business
        SELECT c.customer_id, c.stylist_id INTO v_customer, v_stylist
          FROM chat.chats c
         WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id);
        IF NOT FOUND THEN
            PERFORM chat._chat_access_denied(p_chat);
        END IF;
    END IF;

    IF p_booking IS NOT NULL THEN
        -- the booking must be one of the pair's (a chat's pair never changes)
        IF NOT EXISTS (SELECT FROM chat.bookings b
                        WHERE b.id = p_booking
                          AND b.customer_id = v_customer AND b.stylist_id = v_stylist) THEN
            RAISE EXCEPTION 'booking % is not a booking of this chat''s customer and stylist', p_booking
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'chat.chat_bookings(chat_id) lists the bookings of a chat.';
        END IF;
    END IF;

    IF p_reply IS NOT NULL THEN
        IF NOT EXISTS (SELECT FROM chat.chat_messages m
                        WHERE m.chat_id = p_chat AND m.seq = p_reply) THEN
            RAISE EXCEPTION 'reply_to_seq %: no such message in this chat', p_reply
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A reply quotes an earlier message of the same chat.';
        END IF;
    END IF;

    IF v_hold THEN
        -- a hold rule matched: it waits for an admin, not a message yet
        SELECT c.customer_blocked_at IS NOT NULL OR c.stylist_blocked_at IS NOT NULL INTO v_blocked
          FROM chat.chats c
         WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id);
        IF NOT FOUND THEN
            PERFORM chat._chat_access_denied(p_chat);
        ELSIF v_blocked THEN
            RAISE EXCEPTION 'this chat is blocked'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Nothing can be sent in a blocked chat; its history stays readable.';
        END IF;
        INSERT INTO chat.held_messages (id, chat_id, sender_id, body, filtered_body, booking_id, client_msg_id,
                                        attachments, reply_to_seq, rules) OVERRIDING SYSTEM VALUE
        VALUES ($13, p_chat, v_actor, written, p_body, p_booking, p_client_msg_id,
                CASE WHEN v_count > 0 THEN $6 END, p_reply, rules);
        RETURN;
    END IF;

    /*
     * Take the next seq by updating the chat row (its lock serialises the
     * chat's senders until commit; sending marks everything so far read for
     * the sender, and counts one more unread for the other), then store the
     * message.  created_at is never earlier than the previous message's, so
     * that within a chat it follows seq.
     */
    UPDATE chat.chats c
       SET last_seq = c.last_seq + 1,
           last_message_at = greatest(now(), c.last_message_at),
           customer_read_seq = CASE WHEN c.customer_id = v_actor THEN c.last_seq + 1 ELSE c.customer_read_seq END,
           customer_unread = CASE WHEN c.customer_id = v_actor THEN 0 ELSE c.customer_unread + 1 END,
           stylist_read_seq = CASE WHEN c.stylist_id = v_actor THEN c.last_seq + 1 ELSE c.stylist_read_seq END,
           stylist_unread = CASE WHEN c.stylist_id = v_actor THEN 0 ELSE c.stylist_unread + 1 END
     WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)
       AND c.customer_blocked_at IS NULL AND c.stylist_blocked_at IS NULL
    RETURNING c.chat_id, c.last_seq, c.last_message_at, c.customer_id, c.stylist_id
      INTO v_sent;
    IF NOT FOUND THEN
        -- nothing updated: a blocked chat of the actor's, or none at all.
        -- Either side's block gives the same error, which says no more.
        PERFORM FROM chat.chats c
         WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)
           AND (c.customer_blocked_at IS NOT NULL OR c.stylist_blocked_at IS NOT NULL);
        IF FOUND THEN
            RAISE EXCEPTION 'this chat is blocked'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Nothing can be sent in a blocked chat; its history stays readable.';
        END IF;
        PERFORM chat._chat_access_denied(p_chat);
    END IF;
    INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, booking_id,
                                    client_msg_id, attachment_count, created_at, reply_to_seq)
    VALUES (v_sent.chat_id, v_sent.last_seq, v_actor, p_body, p_booking, p_client_msg_id, v_count,
            v_sent.last_message_at, p_reply);
    IF NOT FOUND THEN
        -- only a rule on the table (its owner's doing) can swallow it
        RAISE EXCEPTION 'the message was not stored: a rule on chat.chat_messages took its place'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'chat.chat_messages takes no rule that replaces its inserts; drop the rule.';
    END IF;

    IF v_count > 0 THEN
        INSERT INTO chat.media (chat_id, seq, position, storage_key, content_type,
                                byte_size, width, height)
        SELECT p_chat, v_sent.last_seq, a.ord, a.e->>'storage_key', a.e->>'content_type',
               (a.e->>'byte_size')::numeric::bigint, (a.e->>'width')::numeric::integer,
               (a.e->>'height')::numeric::integer
          FROM jsonb_array_elements($6) WITH ORDINALITY AS a(e, ord);
    END IF;
    IF cardinality(rules) > 0 THEN
        PERFORM chat._filter_record(p_chat, v_sent.last_seq, written, rules, flag, $14);
    END IF;

    seq := v_sent.last_seq;
    customer_id := v_sent.customer_id;
    stylist_id := v_sent.stylist_id;
    created_at := v_sent.last_message_at;
    stored := true;
END
$$;

COMMENT ON FUNCTION chat._store_message(uuid, uuid, text, uuid, uuid, jsonb, bigint, integer, text, text[], boolean, boolean, bigint, bigint) IS
'What chat.send_message() writes in the chat, as the actor it is given: the message (stored), its retry (its first seq), or a held message (seq NULL). On a Citus cluster, sent whole to the chat''s node. Internal: chat._send_message_sql() checks the arguments, runs the filter and records the event.';
REVOKE ALL ON FUNCTION chat._store_message(uuid, uuid, text, uuid, uuid, jsonb, bigint, integer, text, text[], boolean, boolean, bigint, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._send_message_sql(chat_id uuid, body text, booking_id uuid,
                                                  client_msg_id uuid, attachments jsonb,
                                                  reply_to_seq bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := $1;
    p_body text := $2;
    v_count integer := 0;
    v_sent record;
    v_written text;
    v_rules text[];
    v_flag boolean;
    v_hold boolean;
    v_match boolean;
    v_held_id bigint;
    v_report_id bigint;
BEGIN
    PERFORM chat._require_writable('send_message');
    -- the common case, a plain text message, is checked here without
    -- calling out: this is the hot path
    IF p_chat IS NULL THEN
        PERFORM chat._require_arg(p_chat, 'chat_id');
    END IF;
    IF $5 IS NOT NULL THEN
        v_count := chat._check_attachments($5);
    END IF;
    IF p_body IS NULL OR v_count > 0 OR char_length(p_body) NOT BETWEEN 1 AND 4000
       OR btrim(p_body, E' \t\n\r') = '' THEN
        p_body := chat._check_body(p_body, v_count);
    END IF;

    -- the filter of contact details (src/sql/filter.sql): one question
    -- (does any rule match?), and the rules only for a message that one
    -- matches (chat._filter_matches(), written out: the hot path calls no
    -- function for it).  The rules are the coordinator's, on a Citus
    -- cluster: the filter runs here
    SELECT coalesce(p_body ~ s.ci_pattern, false) OR coalesce(p_body ~ s.cs_pattern, false)
      INTO v_match FROM chat.filter_state s;
    IF v_match THEN
        v_written := p_body;
        SELECT f.filtered, f.rules, f.flag, f.hold INTO p_body, v_rules, v_flag, v_hold
          FROM chat._filter(v_written) f;
        -- the ids of what a rule makes, from this node's sequences: on a
        -- Citus cluster the chat's node has its own copies of them
        IF v_hold THEN
            v_held_id := nextval(pg_get_serial_sequence('chat.held_messages', 'id'));
        END IF;
        IF v_flag THEN
            v_report_id := nextval(pg_get_serial_sequence('chat.reports', 'id'));
        END IF;
    END IF;

    -- everything in the chat by one call: on a Citus cluster, one round
    -- trip to the chat's node
    SELECT * INTO v_sent
      FROM chat._store_message(p_chat, v_actor, p_body, $3, $4, $5, $6, v_count,
                               v_written, v_rules, v_flag, coalesce(v_hold, false),
                               v_held_id, v_report_id) s;
    IF v_sent.stored THEN
        -- recorded here, where the relay is
        PERFORM chat._relay_event('message', p_chat, v_sent.customer_id, v_sent.stylist_id,
                                  v_actor, v_sent.seq, v_sent.created_at);
    END IF;
    RETURN v_sent.seq;
END
$$;

COMMENT ON FUNCTION chat._send_message_sql(uuid, text, uuid, uuid, jsonb, bigint) IS
'chat.send_message() in PL/pgSQL: for attachments, a booking, a reply, a message a filter rule matches, and the errors of the arguments (src/send_path.c sends the rest). Internal.';
REVOKE ALL ON FUNCTION chat._send_message_sql(uuid, text, uuid, uuid, jsonb, bigint) FROM PUBLIC, chat_service, chat_user;

-- Not SECURITY DEFINER: it writes through the table access method, which
-- asks for no privilege, as the tables' owner where the executor would
-- check one (constraints, index expressions, foreign keys), and calls
-- chat._send_message_sql(), which is.  No SET clause either (it costs a
-- GUC save and restore at every call): it waits at most 2 s for a lock by
-- itself, as the SQL writers do with SET lock_timeout.
CREATE OR REPLACE FUNCTION chat.send_message(chat_id uuid, body text, booking_id uuid DEFAULT NULL,
                                  client_msg_id uuid DEFAULT NULL, attachments jsonb DEFAULT NULL,
                                  reply_to_seq bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'chat_send_message';

COMMENT ON FUNCTION chat.send_message(uuid, text, uuid, uuid, jsonb, bigint) IS
'Send a message as the actor and return its seq; 55000 while either participant blocks the chat. A retry with the same client_msg_id returns the first seq and stores nothing. attachments: a JSON array of {storage_key, content_type, byte_size, width, height}. reply_to_seq: an earlier message of the chat that this one quotes. NULL when a hold rule of the filter holds it for an admin (chat.pending_messages()).';
REVOKE ALL ON FUNCTION chat.send_message(uuid, text, uuid, uuid, jsonb, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.send_message(uuid, text, uuid, uuid, jsonb, bigint) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._own_message(chat_id uuid, seq bigint, verb text)
RETURNS chat.chat_messages
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
    v_msg chat.chat_messages;
BEGIN
    PERFORM chat._lock_chat(p_chat);
    SELECT * INTO v_msg FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq = p_seq
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist in chat %', p_seq, p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_msg.sender_id IS DISTINCT FROM v_actor THEN     -- a booking card has none
        RAISE EXCEPTION 'only the sender may % a message', verb
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_msg.hidden_at IS NOT NULL THEN
        RAISE EXCEPTION 'message % of chat % was hidden by a moderator', v_msg.seq, v_msg.chat_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A hidden message cannot be edited or deleted: it is kept for the audit.';
    END IF;
    RETURN v_msg;
END
$$;

COMMENT ON FUNCTION chat._own_message(uuid, bigint, text) IS
'Locks a message of the actor''s own for a change, with the errors for someone else''s or a missing one. Internal.';
REVOKE ALL ON FUNCTION chat._own_message(uuid, bigint, text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._screen(body text)
RETURNS jsonb
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    f record;
BEGIN
    IF NOT coalesce(chat._filter_matches(body), false) THEN
        RETURN '{}';
    END IF;
    SELECT * INTO f FROM chat._filter(body) x;
    RETURN jsonb_build_object('filtered', f.filtered, 'rules', to_jsonb(f.rules),
                              'flag', f.flag, 'hold', f.hold);
END
$$;

COMMENT ON FUNCTION chat._screen(text) IS
'A message body through the filter''s rules, as JSON: {} when no rule matches, else {filtered, rules, flag, hold} (chat._filter()). Internal: what an edit is screened with, on the coordinator of a Citus cluster, whose rules they are.';
REVOKE ALL ON FUNCTION chat._screen(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._edit_message(chat_id uuid, seq bigint, body text, screened jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
#variable_conflict use_column
DECLARE
    v_msg chat.chat_messages := chat._own_message($1, $2, 'edit');
    p_body text;
    v_screen jsonb;
    v_written text;
    v_rules text[];
    v_flag boolean;
    v_hold boolean;
BEGIN
    IF v_msg.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'message % of chat % is deleted', v_msg.seq, v_msg.chat_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A deleted message cannot be edited.';
    END IF;
    p_body := chat._check_body(chat._require_arg($3, 'body'), v_msg.attachment_count);
    v_screen := coalesce($4, chat._screen(p_body));
    IF v_screen ? 'rules' THEN
        v_written := p_body;
        p_body := v_screen->>'filtered';
        v_rules := ARRAY(SELECT jsonb_array_elements_text(v_screen->'rules'));
        v_flag := (v_screen->>'flag')::boolean;
        v_hold := (v_screen->>'hold')::boolean;
        IF v_hold THEN
            -- a message already delivered cannot wait for a moderator
            RAISE EXCEPTION 'this edit is not allowed: it has what the platform''s rules hold for a moderator'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Rules: %s.', array_to_string(v_rules, ', ')),
                      HINT = 'Send it as a new message: a moderator will look at it.';
        END IF;
    END IF;
    UPDATE chat.chat_messages m
       SET body = p_body, edited_at = now()
     WHERE m.chat_id = v_msg.chat_id AND m.seq = v_msg.seq;
    -- what the filter found in the text as it is now, if anything
    IF cardinality(v_rules) > 0 THEN
        PERFORM chat._filter_record(v_msg.chat_id, v_msg.seq, v_written, v_rules, v_flag);
    ELSE
        DELETE FROM chat.filtered_messages f WHERE f.chat_id = v_msg.chat_id AND f.seq = v_msg.seq;
    END IF;
    PERFORM chat._relay_change('edited', v_msg.chat_id, v_msg.seq);
END
$$;

COMMENT ON FUNCTION chat._edit_message(uuid, bigint, text, jsonb) IS
'What chat.edit_message() does, with the body screened as given (chat._screen(); NULL: screened here). Internal.';
REVOKE ALL ON FUNCTION chat._edit_message(uuid, bigint, text, jsonb) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.edit_message(chat_id uuid, seq bigint, body text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v_actor uuid := chat.require_actor();     -- 28000 before anything else
BEGIN
    PERFORM chat._require_writable('edit_message');
    IF chat._to_chat_node() THEN
        -- Citus: the whole call on the chat's node, the text screened here,
        -- where the filter's rules are (a body the node refuses, too long
        -- or empty without attachments, is refused there before its
        -- screening counts; one too long is not screened)
        PERFORM chat._on_chat('edit_message', $1,
                              jsonb_build_array($2, $3,
                                                CASE WHEN coalesce(char_length($3), 0) <= 4000
                                                     THEN chat._screen(coalesce($3, '')) ELSE '{}' END));
        RETURN;
    END IF;
    PERFORM chat._edit_message($1, $2, $3, NULL);
END
$$;

COMMENT ON FUNCTION chat.edit_message(uuid, bigint, text) IS
'Change the body of one of the actor''s own messages; it is marked edited.';
REVOKE ALL ON FUNCTION chat.edit_message(uuid, bigint, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.edit_message(uuid, bigint, text) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._to_tombstones(chat_id uuid, seqs bigint[], image_reason text,
                                               OUT redacted bigint[], OUT images jsonb)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := now();     -- a value: Citus runs the statements on the chat's node
    v_customer_unread bigint;
    v_stylist_unread bigint;
BEGIN
    -- (the caller holds the chat's row) the messages of seqs that still
    -- have a body or images lose them, keeping their place; their images
    -- are queued for the application's deleter, the filter's copy of their
    -- text goes, and what the other participant had not read of them is
    -- no longer unread.  One statement a step, each on the chat alone: on
    -- a Citus cluster each is sent whole to the chat's node (a chain of
    -- data-modifying WITH queries was planned in steps whose intermediate
    -- results went to every node)
    SELECT coalesce(array_agg(m.seq ORDER BY m.seq), '{}'),
           count(*) FILTER (WHERE m.deleted_at IS NULL AND m.sender_id <> c.customer_id
                              AND m.seq > c.customer_read_seq),
           count(*) FILTER (WHERE m.deleted_at IS NULL AND m.sender_id <> c.stylist_id
                              AND m.seq > c.stylist_read_seq)
      INTO redacted, v_customer_unread, v_stylist_unread
      FROM chat.chat_messages m
      JOIN chat.chats c ON c.chat_id = $1
     WHERE m.chat_id = $1 AND m.seq = ANY ($2)
       AND (m.body IS NOT NULL OR m.attachment_count > 0);
    IF cardinality(redacted) = 0 THEN
        images := '[]';
        RETURN;
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('seq', a.seq, 'position', a.position,
                                                 'storage_key', a.storage_key)
                              ORDER BY a.seq, a.position), '[]')
      INTO images
      FROM chat.media a
     WHERE a.chat_id = $1 AND a.seq = ANY (redacted);
    -- from the list, not INSERT ... SELECT FROM chat.media: Citus would
    -- run that on the shard, which may not take the id's nextval there
    INSERT INTO chat.orphaned_images (chat_id, seq, position, storage_key, reason)
    SELECT $1, i.seq, i.position, i.storage_key, $3
      FROM jsonb_to_recordset(images) AS i(seq bigint, position smallint, storage_key text);
    DELETE FROM chat.media a WHERE a.chat_id = $1 AND a.seq = ANY (redacted);
    DELETE FROM chat.filtered_messages f WHERE f.chat_id = $1 AND f.seq = ANY (redacted);
    UPDATE chat.chat_messages m
       SET body = NULL, attachment_count = 0, deleted_at = coalesce(m.deleted_at, v_now)
     WHERE m.chat_id = $1 AND m.seq = ANY (redacted);
    IF v_customer_unread > 0 OR v_stylist_unread > 0 THEN
        UPDATE chat.chats c
           SET customer_unread = c.customer_unread - v_customer_unread,
               stylist_unread = c.stylist_unread - v_stylist_unread
         WHERE c.chat_id = $1;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._to_tombstones(uuid, bigint[], text) IS
'Makes tombstones of the messages of a chat (seqs) that still have a body or images: deleted by their sender, erased with their sender''s data, redacted by retention (image_reason). Returns the seqs it redacted and the images it queued, as JSON [{seq, position, storage_key}]. The caller holds the chat''s row. Internal.';
REVOKE ALL ON FUNCTION chat._to_tombstones(uuid, bigint[], text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.delete_message(chat_id uuid, seq bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();     -- 28000 before anything else
    v_msg chat.chat_messages;
BEGIN
    PERFORM chat._require_writable('delete_message');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('delete_message', $1, jsonb_build_array($2));
        RETURN;
    END IF;
    v_msg := chat._own_message($1, $2, 'delete');
    IF v_msg.deleted_at IS NOT NULL THEN
        RETURN;     -- deleting twice is a no-op
    END IF;
    -- its images: the application deletes the bytes (take_orphaned_images())
    PERFORM chat._to_tombstones(v_msg.chat_id, ARRAY[v_msg.seq], 'deleted');
    PERFORM chat._relay_change('deleted', v_msg.chat_id, v_msg.seq);
END
$$;

COMMENT ON FUNCTION chat.delete_message(uuid, bigint) IS
'Delete one of the actor''s own messages: it keeps its seq as a tombstone, without body or attachments (their storage keys are queued for chat.take_orphaned_images()). Deleting twice is a no-op.';
REVOKE ALL ON FUNCTION chat.delete_message(uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.delete_message(uuid, bigint) TO chat_service, chat_user;
