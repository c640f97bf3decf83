/*
 * Internal helpers shared by the API: argument checks, "the actor's chat or
 * 42501", profile roles, previews, and the message row every reader
 * returns.  None is granted to anybody: SECURITY DEFINER functions call
 * them as the extension owner.
 */

CREATE OR REPLACE FUNCTION chat._require_arg(value anyelement, name text)
RETURNS anyelement
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be null', name
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN value;
END
$$;

COMMENT ON FUNCTION chat._require_arg(anyelement, text) IS
'Returns its argument, or raises SQLSTATE 22004 naming it when it is NULL. Internal.';
REVOKE ALL ON FUNCTION chat._require_arg(anyelement, text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._check_max_rows(max_rows integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
BEGIN
    IF chat._require_arg(max_rows, 'max_rows') NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', max_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN max_rows;
END
$$;

COMMENT ON FUNCTION chat._check_max_rows(integer) IS
'Returns max_rows, or raises 22004 when it is NULL and 22023 when it is not between 1 and 1000. Internal.';
REVOKE ALL ON FUNCTION chat._check_max_rows(integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._check_batch_size(batch_size integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
BEGIN
    IF chat._require_arg(batch_size, 'batch_size') NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 100000, not %', batch_size
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A batch is a transaction: its chats wait for it to commit.';
    END IF;
    RETURN batch_size;
END
$$;

COMMENT ON FUNCTION chat._check_batch_size(integer) IS
'The size of a batch of work done in one transaction (consolidate_legacy, apply_retention): 1 to 100000. Internal.';
REVOKE ALL ON FUNCTION chat._check_batch_size(integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._check_text(value text, name text, max_chars integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    v text := btrim(chat._require_arg(value, name));
BEGIN
    IF v = '' THEN
        RAISE EXCEPTION '% must not be empty', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(v) > max_chars THEN
        RAISE EXCEPTION '% is too long (% characters)', name, char_length(v)
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = format('At most %s characters are allowed.', max_chars);
    END IF;
    IF v ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION '% must not contain control characters', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v;
END
$$;

COMMENT ON FUNCTION chat._check_text(text, text, integer) IS
'A one-line name, trimmed, checked to be non-empty, at most max_chars long and free of control characters. Internal.';
REVOKE ALL ON FUNCTION chat._check_text(text, text, integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._check_body(body text, attachment_count integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
BEGIN
    IF body IS NULL AND attachment_count > 0 THEN
        RETURN '';
    END IF;
    IF body IS NULL THEN
        RAISE EXCEPTION 'body must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Only a message with attachments may have an empty body.';
    END IF;
    IF char_length(body) > 4000 THEN
        RAISE EXCEPTION 'message body is too long (% characters)', char_length(body)
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = 'A message holds at most 4000 characters.';
    END IF;
    IF attachment_count = 0 AND btrim(body, E' \t\n\r') = '' THEN
        RAISE EXCEPTION 'message body must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Only a message with attachments may have an empty body.';
    END IF;
    RETURN body;
END
$$;

COMMENT ON FUNCTION chat._check_body(text, integer) IS
'Checks a message body (at most 4000 characters; empty only with attachments) and returns it. Internal.';
REVOKE ALL ON FUNCTION chat._check_body(text, integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._check_attachments(attachments jsonb)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    n integer;
    e jsonb;
    i integer := 0;
    unknown text;
    k text;
    v numeric;
    v_max numeric;
BEGIN
    IF attachments IS NULL OR attachments = 'null'::jsonb THEN
        RETURN 0;
    END IF;
    IF jsonb_typeof(attachments) <> 'array' THEN
        RAISE EXCEPTION 'attachments must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass [{"storage_key": "...", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}].';
    END IF;
    n := jsonb_array_length(attachments);
    IF n > 10 THEN
        RAISE EXCEPTION 'a message has at most 10 attachments, not %', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(attachments) LOOP
        i := i + 1;
        IF jsonb_typeof(e) <> 'object' THEN
            RAISE EXCEPTION 'attachment %: must be a JSON object', i
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT string_agg(key, ', ' ORDER BY key) INTO unknown
          FROM jsonb_object_keys(e) AS key
         WHERE key NOT IN ('storage_key', 'content_type', 'byte_size', 'width', 'height');
        IF unknown IS NOT NULL THEN
            RAISE EXCEPTION 'attachment %: unknown key %', i, unknown
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The keys are storage_key, content_type, byte_size, width and height.';
        END IF;
        IF jsonb_typeof(e->'storage_key') IS DISTINCT FROM 'string'
           OR char_length(e->>'storage_key') NOT BETWEEN 1 AND 1024
           OR (e->>'storage_key') ~ '[[:cntrl:]]' THEN
            RAISE EXCEPTION 'attachment %: storage_key must be a string of 1 to 1024 characters without control characters', i
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF jsonb_typeof(e->'content_type') IS DISTINCT FROM 'string'
           OR (e->>'content_type') !~ '^image/[a-z0-9][a-z0-9.+-]{0,126}$' THEN
            RAISE EXCEPTION 'attachment %: content_type must be an image type such as image/jpeg', i
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Only images may be attached; write the type in lower case.';
        END IF;
        FOREACH k IN ARRAY ARRAY['byte_size', 'width', 'height'] LOOP
            IF jsonb_typeof(e->k) IS DISTINCT FROM 'number' THEN
                RAISE EXCEPTION 'attachment %: % must be a number', i, k
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v := (e->>k)::numeric;
            v_max := CASE k WHEN 'byte_size' THEN 104857600 ELSE 100000 END;
            IF v <> trunc(v) OR v < 1 OR v > v_max THEN
                RAISE EXCEPTION 'attachment %: % must be a whole number from 1 to %', i, k, v_max
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION chat._check_attachments(jsonb) IS
'Checks an attachments array (at most 10 images with storage_key, content_type, byte_size, width, height) and returns its length. Internal.';
REVOKE ALL ON FUNCTION chat._check_attachments(jsonb) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._chat_access_denied(chat_id uuid)
RETURNS void
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
BEGIN
    -- one answer for "no such chat" and "not yours": ids cannot be probed
    RAISE EXCEPTION 'chat % does not exist or you are not one of its participants', $1
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Open a chat with chat.chat_with() or chat.get_or_create_chat().';
END
$$;

COMMENT ON FUNCTION chat._chat_access_denied(uuid) IS
'Raises the one error (42501) given for a chat that does not exist or that the actor is not in. Internal.';
REVOKE ALL ON FUNCTION chat._chat_access_denied(uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._participant_chat(chat_id uuid, OUT customer_id uuid, OUT stylist_id uuid)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
BEGIN
    SELECT c.customer_id, c.stylist_id INTO customer_id, stylist_id
      FROM chat.chats c
     WHERE c.chat_id = chat._require_arg($1, 'chat_id')
       AND v_actor IN (c.customer_id, c.stylist_id);
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied($1);
    END IF;
END
$$;

COMMENT ON FUNCTION chat._participant_chat(uuid) IS
'The pair of a chat the actor takes part in; 28000 without an actor, 42501 for a chat that does not exist or is not the actor''s. Internal.';
REVOKE ALL ON FUNCTION chat._participant_chat(uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._lock_chat(chat_id uuid, OUT customer_id uuid, OUT stylist_id uuid)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
BEGIN
    -- the chat row first, then anything in it: the order every writer uses
    SELECT c.customer_id, c.stylist_id INTO customer_id, stylist_id
      FROM chat.chats c
     WHERE c.chat_id = chat._require_arg($1, 'chat_id')
       AND v_actor IN (c.customer_id, c.stylist_id)
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied($1);
    END IF;
END
$$;

COMMENT ON FUNCTION chat._lock_chat(uuid) IS
'Locks a chat the actor takes part in for a change and returns its pair; 28000 without an actor, 42501 for a chat that does not exist or is not the actor''s. Internal.';
REVOKE ALL ON FUNCTION chat._lock_chat(uuid) FROM PUBLIC, chat_service, chat_user;

-- Every reader of a participant's messages keeps to seq > this
-- (chat.clear_history() in src/sql/inbox_controls.sql).
CREATE OR REPLACE FUNCTION chat._cleared_seq(chat_id uuid, actor_id uuid)
RETURNS bigint
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    SELECT CASE WHEN c.customer_id = $2 THEN c.customer_cleared_seq
                WHEN c.stylist_id = $2 THEN c.stylist_cleared_seq END
      FROM chat.chats c
     WHERE c.chat_id = $1
$$;

COMMENT ON FUNCTION chat._cleared_seq(uuid, uuid) IS
'The seq up to which a participant cleared the history of a chat (0 when never): they see only the messages after it. NULL for anyone else, which filters out every message. Internal: callers check access first.';
REVOKE ALL ON FUNCTION chat._cleared_seq(uuid, uuid) FROM PUBLIC, chat_service, chat_user;

-- An erasure and the opening of a chat with the person meet here: on a
-- Citus cluster a new chat's foreign keys are checked against the chat's
-- node's copy of the profiles, and a row lock of a reference table locks
-- the whole table on every node (src/sql/chats.sql, src/sql/privacy.sql)
CREATE OR REPLACE FUNCTION chat._profile_lock_key(profile_id uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.hashtextextended('stylist_chat profile ' || $1::text, 0)
$$;

COMMENT ON FUNCTION chat._profile_lock_key(uuid) IS
'The key of the transaction-level advisory lock of a profile that chat.erase_profile() holds exclusively and the opening of a new chat with the profile takes shared, on the server where the API runs (a Citus cluster''s coordinator). Internal.';
REVOKE ALL ON FUNCTION chat._profile_lock_key(uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._profile_role(profile_id uuid)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT role FROM chat.profiles WHERE id = $1
$$;

COMMENT ON FUNCTION chat._profile_role(uuid) IS
'The role of a profile, or NULL if there is no such profile. Internal.';
REVOKE ALL ON FUNCTION chat._profile_role(uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._actor_is_admin()
RETURNS boolean
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT role = 'admin' FROM chat.profiles
                      WHERE id = chat.current_actor()), false)
$$;

COMMENT ON FUNCTION chat._actor_is_admin() IS
'Whether the acting profile is an admin. Used by the admin views.';
REVOKE ALL ON FUNCTION chat._actor_is_admin() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._require_admin()
RETURNS uuid
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
BEGIN
    IF chat._profile_role(v_actor) IS DISTINCT FROM 'admin' THEN
        RAISE EXCEPTION 'only an admin may do this'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN v_actor;
END
$$;

COMMENT ON FUNCTION chat._require_admin() IS
'The acting profile if it is an admin; 28000 without an actor, 42501 for anyone else. Internal.';
REVOKE ALL ON FUNCTION chat._require_admin() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._preview(body text, deleted_at timestamptz, attachment_count integer,
                              hidden_at timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN deleted_at IS NOT NULL THEN '[deleted]'
        WHEN hidden_at IS NOT NULL THEN '[hidden]'
        WHEN line = '' AND attachment_count = 1 THEN '[photo]'
        WHEN line = '' AND attachment_count > 1 THEN '[' || attachment_count || ' photos]'
        WHEN char_length(line) > 80 THEN left(line, 79) || '…'
        ELSE line
    END
      FROM (SELECT btrim(regexp_replace(body, '\s+', ' ', 'g')) AS line) AS l
$$;

COMMENT ON FUNCTION chat._preview(text, timestamptz, integer, timestamptz) IS
'A one-line preview of a message for the inbox. Internal.';
REVOKE ALL ON FUNCTION chat._preview(text, timestamptz, integer, timestamptz) FROM PUBLIC, chat_service, chat_user;

-- PL/pgSQL, not SQL: Citus plans no query of an SQL function's parameters
CREATE OR REPLACE FUNCTION chat._reactions(chat_id uuid, seq bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(r.emoji, r.n), '{}'::jsonb)
              FROM (SELECT x.emoji, count(*) AS n
                      FROM chat.reactions x
                     WHERE x.chat_id = $1 AND x.seq = $2
                     GROUP BY x.emoji) r);
END
$$;

COMMENT ON FUNCTION chat._reactions(uuid, bigint) IS
'The reactions to a message as JSON {emoji: count}. Internal.';
REVOKE ALL ON FUNCTION chat._reactions(uuid, bigint) FROM PUBLIC, chat_service, chat_user;

-- The shapes of a message row's image and of the message it quotes: one
-- place for the readers that build them in their own subqueries (the view
-- below, chat._chat_rows(), search), which on a Citus cluster run where
-- the chat's shard is.  Their columns as arguments, no table read.
CREATE OR REPLACE FUNCTION chat._attachment_json(storage_key text, content_type text, byte_size bigint,
                                                 width integer, height integer)
RETURNS jsonb
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('storage_key', $1, 'content_type', $2, 'byte_size', $3,
                              'width', $4, 'height', $5)
$$;

COMMENT ON FUNCTION chat._attachment_json(text, text, bigint, integer, integer) IS
'An attachment of a message row as JSON {storage_key, content_type, byte_size, width, height}. Internal.';
REVOKE ALL ON FUNCTION chat._attachment_json(text, text, bigint, integer, integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._reply_json(seq bigint, sender_id uuid, body text, deleted_at timestamptz,
                                            attachment_count integer, hidden_at timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('seq', $1, 'sender_id', $2, 'preview', chat._preview($3, $4, $5, $6))
$$;

COMMENT ON FUNCTION chat._reply_json(bigint, uuid, text, timestamptz, integer, timestamptz) IS
'The message a reply quotes as JSON {seq, sender_id, preview}; the preview is "[deleted]" or "[hidden]" when it was deleted or hidden. Internal.';
REVOKE ALL ON FUNCTION chat._reply_json(bigint, uuid, text, timestamptz, integer, timestamptz) FROM PUBLIC, chat_service, chat_user;

-- The booking a message names, as JSON, read by a statement of its own:
-- on a Citus cluster, a statement of a call that runs whole on the chat's
-- node (chat._chat_page()) may not read the bookings, a reference table,
-- together with the chat's tables, so the readers of one chat
-- (chat._chat_rows()) leave the booking to their callers, which add it
-- with this.  The view below keeps it as a subquery: its statements are
-- sent by the coordinator to the chat's node, where a function may not
-- read a table of the cluster.
CREATE OR REPLACE FUNCTION chat._booking_json(booking_id uuid)
RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('id', b.id, 'service', b.service,
                              'starts_at', b.starts_at, 'status', b.status)
      FROM chat.bookings b
     WHERE b.id = $1
$$;

COMMENT ON FUNCTION chat._booking_json(uuid) IS
'The booking a message names as JSON {id, service, starts_at, status}; NULL when there is none. Internal.';
REVOKE ALL ON FUNCTION chat._booking_json(uuid) FROM PUBLIC, chat_service, chat_user;

-- The message row every reader of messages returns (history,
-- messages_since, undelivered, the views): a hidden message shows neither
-- text, attachments, card nor reactions; a deleted one no reactions; a
-- reply carries the quoted message's seq, sender and preview.  Admins'
-- readers take the *_as_written columns.  Only the columns a query names
-- are computed.  The actor's own reactions are the readers' to add (where
-- has_reactions), with the actor they hold in a variable: a view knows no
-- actor, and on a Citus cluster the node that runs it does not either.
--
-- Subqueries, not the helper functions above: on a Citus cluster a
-- statement over chat_messages runs where the chat's shard is, and the
-- subqueries, on tables co-located with it, run there with it; a function
-- called there would query the distributed tables from inside a shard's
-- query, which Citus refuses.
CREATE OR REPLACE VIEW chat._message_rows AS
SELECT m.chat_id, m.seq, m.sender_id,
       CASE WHEN m.hidden_at IS NULL THEN m.body END AS body,
       m.booking_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at, m.hidden_at,
       CASE WHEN m.attachment_count = 0 OR m.hidden_at IS NOT NULL THEN '[]'::jsonb
            ELSE (SELECT coalesce(jsonb_agg(chat._attachment_json(a.storage_key, a.content_type, a.byte_size,
                                                            a.width, a.height)
                                  ORDER BY a.position), '[]'::jsonb)
                    FROM chat.media a
                   WHERE a.chat_id = m.chat_id AND a.seq = m.seq) END AS attachments,
       CASE WHEN m.hidden_at IS NULL AND m.booking_id IS NOT NULL
            THEN (SELECT jsonb_build_object('id', b.id, 'service', b.service,
                                            'starts_at', b.starts_at, 'status', b.status)
                    FROM chat.bookings b
                   WHERE b.id = m.booking_id) END AS booking,
       m.body AS body_as_written,
       CASE WHEN m.attachment_count = 0 THEN '[]'::jsonb
            ELSE (SELECT coalesce(jsonb_agg(chat._attachment_json(a.storage_key, a.content_type, a.byte_size,
                                                            a.width, a.height)
                                  ORDER BY a.position), '[]'::jsonb)
                    FROM chat.media a
                   WHERE a.chat_id = m.chat_id AND a.seq = m.seq) END AS attachments_as_written,
       m.hidden_reason,
       m.kind,
       CASE WHEN m.hidden_at IS NULL THEN m.card END AS card,
       CASE WHEN m.reply_to_seq IS NOT NULL AND m.hidden_at IS NULL
            THEN (SELECT chat._reply_json(r.seq, r.sender_id, r.body, r.deleted_at,
                                            r.attachment_count, r.hidden_at)
                    FROM chat.chat_messages r
                   WHERE r.chat_id = m.chat_id AND r.seq = m.reply_to_seq) END AS reply_to,
       CASE WHEN m.reaction_count > 0 AND m.deleted_at IS NULL AND m.hidden_at IS NULL
            THEN (SELECT coalesce(jsonb_object_agg(x.emoji, x.n), '{}'::jsonb)
                    FROM (SELECT x.emoji, count(*) AS n
                            FROM chat.reactions x
                           WHERE x.chat_id = m.chat_id AND x.seq = m.seq
                           GROUP BY x.emoji) x)
            ELSE '{}'::jsonb END AS reactions,
       m.reaction_count > 0 AND m.deleted_at IS NULL AND m.hidden_at IS NULL AS has_reactions,
       m.attachment_count, m.reply_to_seq
  FROM chat.chat_messages m;

COMMENT ON VIEW chat._message_rows IS
'Messages as the API returns them: text, attachments, card and reactions masked when hidden, attachments, booking, quoted message and reactions as JSON, the actor''s own reactions, and the originals for admins. Internal.';
REVOKE ALL ON chat._message_rows FROM PUBLIC, chat_service, chat_user;
