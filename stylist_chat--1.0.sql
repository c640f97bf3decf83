/* stylist_chat--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION stylist_chat" to load this file. \quit

/*
 * The model in brief.
 *
 * One chat per (customer, stylist) pair, whose id is a pure function of the
 * pair (chat.pair_chat_id).  Messages are numbered per chat by a gapless
 * seq: a sender takes the chat row's lock by incrementing chats.last_seq,
 * which also serialises the chat's commits in seq order.  The read state of
 * both participants lives in the chat row too (read-up-to seq and an unread
 * counter kept exact by every write), so an unread count is one row read.
 *
 * Nobody but the extension owner touches the tables.  People act through
 * SECURITY DEFINER functions that ask chat.require_actor() who is acting (a
 * value kept in the C module's backend memory, never in a setting) and read
 * through security-barrier views filtered by the same actor.
 */

--
-- Roles
--
DO $$
BEGIN
    -- the application backend: says who acts, mints tokens
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'chat_service') THEN
        CREATE ROLE chat_service NOLOGIN;
    END IF;
    -- an end-user connection: authenticates with a token, then uses the API
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'chat_user') THEN
        CREATE ROLE chat_user NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA chat TO PUBLIC;

--
-- Identity (C, src/actor.c and src/chat_id.c)
--
CREATE FUNCTION chat.act_as(profile_id uuid, for_session boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_act_as'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat.act_as(uuid, boolean) IS
'Act as a profile until the transaction ends, or for the session when for_session is true. Superusers and members of chat_service only.';

CREATE FUNCTION chat.current_actor()
RETURNS uuid
AS 'MODULE_PATHNAME', 'chat_current_actor'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat.current_actor() IS
'The acting profile, or NULL when nobody is acting.';

CREATE FUNCTION chat.require_actor()
RETURNS uuid
AS 'MODULE_PATHNAME', 'chat_require_actor'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat.require_actor() IS
'The acting profile; raises SQLSTATE 28000 when nobody is acting. Internal.';

CREATE FUNCTION chat.reset_actor()
RETURNS void
AS 'MODULE_PATHNAME', 'chat_reset_actor'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat.reset_actor() IS
'Stop acting as any profile, for the transaction and the session.';

CREATE FUNCTION chat.pair_chat_id(customer_id uuid, stylist_id uuid)
RETURNS uuid
AS 'MODULE_PATHNAME', 'chat_pair_chat_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat.pair_chat_id(uuid, uuid) IS
'The id of the chat of a customer and a stylist: a name-based (version 5) UUID of the pair.';

--
-- Relay (C, src/relay_events.c, src/relay_shmem.c, src/channel.c)
--
CREATE FUNCTION chat._relay_shared_status(OUT preloaded boolean, OUT running boolean,
                                          OUT pid integer, OUT started_at timestamptz,
                                          OUT events_relayed bigint, OUT last_relay_at timestamptz,
                                          OUT queued bigint, OUT dropped bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'chat_relay_shared_status'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._relay_shared_status() IS
'The relay worker''s shared state: whether the library is preloaded, whether the worker runs, its figures and the queue. Internal: see chat.relay_status().';

CREATE FUNCTION chat._relay_event(kind text, chat_id uuid, customer_id uuid, stylist_id uuid,
                                  actor_id uuid, seq bigint, at timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'chat_relay_event'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat._relay_event(text, uuid, uuid, uuid, uuid, bigint, timestamptz) IS
'Records a chat event of this transaction, relayed to listeners if and when the transaction commits, and returns its seq (so that a statement can record the event of the row it writes). Internal.';

CREATE FUNCTION chat._relay_now(kind text, chat_id uuid, customer_id uuid, stylist_id uuid,
                                actor_id uuid, seq bigint, at timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_relay_now'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat._relay_now(text, uuid, uuid, uuid, uuid, bigint, timestamptz) IS
'Queues an ephemeral chat event (typing) at once, whatever becomes of the transaction. Internal.';

CREATE FUNCTION chat._channel_name(key bytea, profile_id uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'chat_channel_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._channel_name(bytea, uuid) IS
'The LISTEN channel of a profile: chat_ and 40 hex digits of HMAC-SHA256 of the id under the key. Internal.';

CREATE FUNCTION chat._random_key()
RETURNS bytea
AS 'MODULE_PATHNAME', 'chat_random_key'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._random_key() IS
'32 bytes from the server''s strong random source. Internal.';

--
-- Tokens (C, src/token.c)
--
CREATE FUNCTION chat._sign_token(key bytea, profile_id uuid, expires_at timestamptz)
RETURNS text
AS 'MODULE_PATHNAME', 'chat_sign_token'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._sign_token(bytea, uuid, timestamptz) IS
'A token for a profile until expires_at, signed with HMAC-SHA256 under key. Internal.';

CREATE FUNCTION chat._verify_token(token text, key bytea, previous_key bytea)
RETURNS uuid
AS 'MODULE_PATHNAME', 'chat_verify_token'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION chat._verify_token(text, bytea, bytea) IS
'The profile of a token signed under key or previous_key and not expired; NULL for anything else. Internal.';

--
-- Tables
--
CREATE TABLE chat.profiles (
    id              uuid PRIMARY KEY,
    role            text NOT NULL
                    CONSTRAINT profiles_role_check
                    CHECK (role IN ('customer', 'stylist', 'admin')),
    display_name    text NOT NULL
                    CONSTRAINT profiles_display_name_check
                    CHECK (char_length(display_name) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- the target of the role-checking foreign keys below
    CONSTRAINT profiles_id_role_key UNIQUE (id, role)
);

COMMENT ON TABLE chat.profiles IS
'The people: customers, stylists and admins. Kept by the application through chat.upsert_profile().';

CREATE TABLE chat.bookings (
    id              uuid PRIMARY KEY,
    customer_id     uuid NOT NULL,
    customer_role   text NOT NULL DEFAULT 'customer'
                    CHECK (customer_role = 'customer'),
    stylist_id      uuid NOT NULL,
    stylist_role    text NOT NULL DEFAULT 'stylist'
                    CHECK (stylist_role = 'stylist'),
    service         text NOT NULL
                    CHECK (char_length(service) BETWEEN 1 AND 200),
    starts_at       timestamptz NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('pending', 'confirmed', 'completed', 'cancelled', 'no_show')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (customer_id, customer_role) REFERENCES chat.profiles (id, role),
    FOREIGN KEY (stylist_id, stylist_role) REFERENCES chat.profiles (id, role)
);

CREATE INDEX bookings_pair_idx ON chat.bookings (customer_id, stylist_id, starts_at DESC);
CREATE INDEX bookings_stylist_idx ON chat.bookings (stylist_id);

COMMENT ON TABLE chat.bookings IS
'Bookings, for context only: a chat never needs one. Kept by the application through chat.upsert_booking().';

CREATE TABLE chat.chats (
    chat_id             uuid PRIMARY KEY,
    customer_id         uuid NOT NULL,
    customer_role       text NOT NULL DEFAULT 'customer',
    stylist_id          uuid NOT NULL,
    stylist_role        text NOT NULL DEFAULT 'stylist',
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_seq            bigint NOT NULL DEFAULT 0,
    last_message_at     timestamptz,
    -- read state of each participant: read up to this seq, and how many
    -- messages of the other participant after it are not deleted
    customer_read_seq   bigint NOT NULL DEFAULT 0,
    customer_unread     integer NOT NULL DEFAULT 0,
    stylist_read_seq    bigint NOT NULL DEFAULT 0,
    stylist_unread      integer NOT NULL DEFAULT 0,
    -- offline delivery: each participant has fetched the other's messages
    -- up to this seq through chat.undelivered()
    customer_delivered_seq bigint NOT NULL DEFAULT 0,
    stylist_delivered_seq  bigint NOT NULL DEFAULT 0,
    CONSTRAINT chats_pair_key UNIQUE (customer_id, stylist_id),
    CONSTRAINT chats_chat_id_check CHECK (chat_id = chat.pair_chat_id(customer_id, stylist_id)),
    -- one constraint rather than seven: every message updates this row, and
    -- each CHECK constraint is prepared anew for every statement
    CONSTRAINT chats_state_check
        CHECK (customer_role = 'customer' AND stylist_role = 'stylist'
               AND last_seq >= 0
               AND customer_read_seq BETWEEN 0 AND last_seq
               AND stylist_read_seq BETWEEN 0 AND last_seq
               AND customer_unread >= 0 AND stylist_unread >= 0),
    FOREIGN KEY (customer_id, customer_role) REFERENCES chat.profiles (id, role),
    FOREIGN KEY (stylist_id, stylist_role) REFERENCES chat.profiles (id, role)
) WITH (fillfactor = 80);	-- room for HOT updates: every message updates its chat row

CREATE INDEX chats_stylist_idx ON chat.chats (stylist_id);

COMMENT ON TABLE chat.chats IS
'One chat per customer-stylist pair, for the whole relationship; also the read state of both participants.';

CREATE TABLE chat.chat_messages (
    -- no foreign key: send_message() inserts a message only while it holds
    -- its chat's row locked, and a foreign key check would lock it again
    chat_id             uuid NOT NULL,
    seq                 bigint NOT NULL,
    -- a participant of the chat: send_message() checks it (no foreign key,
    -- so that a send locks one row, its chat's)
    sender_id           uuid NOT NULL,
    -- NULL only for a deleted message (a tombstone)
    body                text,
    booking_id          uuid REFERENCES chat.bookings (id),
    client_msg_id       uuid,
    attachment_count    smallint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    edited_at           timestamptz,
    deleted_at          timestamptz,
    -- moderation: participants see a hidden message without body or
    -- attachments; the original stays for the audit and for admins
    hidden_at           timestamptz,
    hidden_by           uuid,
    hidden_reason       text,
    PRIMARY KEY (chat_id, seq),
    -- one constraint for the same reason as chats_state_check; a tombstone
    -- has no body and no attachments
    CONSTRAINT chat_messages_check
        CHECK (seq > 0
               AND coalesce(char_length(body), 0) <= 4000
               AND attachment_count BETWEEN 0 AND 10
               AND (deleted_at IS NULL) = (body IS NOT NULL)
               AND (deleted_at IS NULL OR attachment_count = 0))
);

CREATE UNIQUE INDEX chat_messages_client_msg_id_key
    ON chat.chat_messages (chat_id, client_msg_id) WHERE client_msg_id IS NOT NULL;

COMMENT ON TABLE chat.chat_messages IS
'Every message of every chat, numbered per chat by a gapless seq; deleted messages stay as tombstones.';

CREATE TABLE chat.media (
    chat_id         uuid NOT NULL,
    seq             bigint NOT NULL,
    position        smallint NOT NULL CHECK (position BETWEEN 1 AND 10),
    storage_key     text NOT NULL
                    CHECK (char_length(storage_key) BETWEEN 1 AND 1024 AND storage_key !~ '[[:cntrl:]]'),
    content_type    text NOT NULL
                    CHECK (content_type ~ '^image/[a-z0-9][a-z0-9.+-]{0,126}$'),
    byte_size       bigint NOT NULL CHECK (byte_size BETWEEN 1 AND 104857600),
    width           integer NOT NULL CHECK (width BETWEEN 1 AND 100000),
    height          integer NOT NULL CHECK (height BETWEEN 1 AND 100000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, seq, position),
    FOREIGN KEY (chat_id, seq) REFERENCES chat.chat_messages (chat_id, seq) ON DELETE CASCADE
);

COMMENT ON TABLE chat.media IS
'Image attachments of messages: metadata and the key of the bytes in the application''s object store.';

CREATE TABLE chat.relay_watermark (
    chat_id         uuid PRIMARY KEY REFERENCES chat.chats (chat_id),
    relayed_seq     bigint NOT NULL CHECK (relayed_seq >= 0)
) WITH (fillfactor = 50);

COMMENT ON TABLE chat.relay_watermark IS
'Per chat, the seq up to which the relay worker has notified messages; it trails the worker by about a second. Recovery relays what is above it.';

CREATE TABLE chat.secrets (
    name            text PRIMARY KEY,
    key             bytea NOT NULL CHECK (octet_length(key) >= 32),
    created_at      timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE chat.secrets IS
'Server-side keys, readable by the extension owner only: ''channel'' makes the private LISTEN channel names, ''signing'' (and, after a rotation, ''signing_previous'') signs identity tokens.';

INSERT INTO chat.secrets (name, key)
VALUES ('channel', chat._random_key()),
       ('signing', chat._random_key());

CREATE TABLE chat.audit_entries (
    chat_id         uuid NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_id        uuid NOT NULL,
    action          text NOT NULL CHECK (action IN ('read_history', 'hide_message')),
    seq             bigint,
    reason          text CHECK (char_length(reason) <= 500),
    PRIMARY KEY (chat_id, id)
);

COMMENT ON TABLE chat.audit_entries IS
'What admins did with chats: read a history (admin_history) or hid a message (hide_message), with the reason. Append-only for every role but the extension owner; read through chat.audit_log.';

CREATE FUNCTION chat._audit_append_only()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e
                    WHERE e.extname = 'stylist_chat'
                      AND e.extowner = (SELECT r.oid FROM pg_catalog.pg_roles r
                                         WHERE r.rolname = current_user)) THEN
        RAISE EXCEPTION 'the audit log is append-only'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('%s of chat.audit_entries is allowed to the extension owner only.', TG_OP);
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

COMMENT ON FUNCTION chat._audit_append_only() IS
'Refuses UPDATE, DELETE and TRUNCATE of chat.audit_entries to every role but the extension owner, superusers included. Internal.';

CREATE TRIGGER audit_entries_append_only
    BEFORE UPDATE OR DELETE ON chat.audit_entries
    FOR EACH ROW EXECUTE FUNCTION chat._audit_append_only();
CREATE TRIGGER audit_entries_no_truncate
    BEFORE TRUNCATE ON chat.audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION chat._audit_append_only();

-- pg_dump keeps the contents of these tables.  Not chat.secrets: a dump
-- carries no key, and a restored database makes its own at CREATE EXTENSION
-- (channel names then change; clients always ask chat.listen_channel()).
SELECT pg_catalog.pg_extension_config_dump('chat.profiles', '');
SELECT pg_catalog.pg_extension_config_dump('chat.bookings', '');
SELECT pg_catalog.pg_extension_config_dump('chat.chats', '');
SELECT pg_catalog.pg_extension_config_dump('chat.chat_messages', '');
SELECT pg_catalog.pg_extension_config_dump('chat.media', '');
SELECT pg_catalog.pg_extension_config_dump('chat.relay_watermark', '');
SELECT pg_catalog.pg_extension_config_dump('chat.audit_entries', '');
SELECT pg_catalog.pg_extension_config_dump('chat.audit_entries_id_seq', '');

--
-- Internal helpers (not granted to anyone)
--
CREATE FUNCTION chat._chat_access_denied(chat_id uuid)
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

CREATE FUNCTION chat._participant_chat(chat_id uuid, OUT customer_id uuid, OUT stylist_id uuid)
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

CREATE FUNCTION chat._require_arg(value anyelement, name text)
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

CREATE FUNCTION chat._check_text(value text, name text, max_chars integer)
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

CREATE FUNCTION chat._check_body(body text, attachment_count integer)
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

CREATE FUNCTION chat._check_attachments(attachments jsonb)
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

CREATE FUNCTION chat._profile_role(profile_id uuid)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT role FROM chat.profiles WHERE id = $1
$$;

COMMENT ON FUNCTION chat._profile_role(uuid) IS
'The role of a profile, or NULL if there is no such profile. Internal.';

CREATE FUNCTION chat._actor_is_admin()
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

CREATE FUNCTION chat._preview(body text, deleted_at timestamptz, attachment_count integer,
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

CREATE FUNCTION chat._open_chat(customer_id uuid, stylist_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_chat_id uuid := chat.pair_chat_id($1, $2);
BEGIN
    IF chat._profile_role($1) IS DISTINCT FROM 'customer' THEN
        RAISE EXCEPTION 'profile % is not a customer', $1
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A chat joins a customer and a stylist.';
    END IF;
    IF chat._profile_role($2) IS DISTINCT FROM 'stylist' THEN
        RAISE EXCEPTION 'profile % is not a stylist', $2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A chat joins a customer and a stylist.';
    END IF;
    -- no conflict target: every unique index arbitrates, so racing
    -- callers wait for the first and then do nothing, without error
    INSERT INTO chat.chats (chat_id, customer_id, stylist_id)
    VALUES (v_chat_id, $1, $2)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        PERFORM chat._relay_change('chat_created', v_chat_id, NULL);
    END IF;
    RETURN v_chat_id;
END
$$;

COMMENT ON FUNCTION chat._open_chat(uuid, uuid) IS
'The chat of a customer and a stylist, created if missing, race-free. Internal: callers check the actor.';

--
-- Administration: profiles and bookings, for the application backend
--
CREATE FUNCTION chat.upsert_profile(id uuid, role text, display_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p_id uuid := chat._require_arg($1, 'id');
    p_role text := chat._require_arg($2, 'role');
    p_name text := chat._check_text($3, 'display_name', 200);
    v_old_role text;
BEGIN
    IF p_role NOT IN ('customer', 'stylist', 'admin') THEN
        RAISE EXCEPTION 'invalid profile role "%"', p_role
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The role is one of customer, stylist, admin.';
    END IF;

    SELECT p.role INTO v_old_role FROM chat.profiles p WHERE p.id = p_id FOR UPDATE;
    IF FOUND AND v_old_role <> p_role
       AND (EXISTS (SELECT FROM chat.chats c WHERE p_id IN (c.customer_id, c.stylist_id))
            OR EXISTS (SELECT FROM chat.bookings b WHERE p_id IN (b.customer_id, b.stylist_id))) THEN
        RAISE EXCEPTION 'cannot change the role of profile % from % to %', p_id, v_old_role, p_role
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'The profile takes part in chats or bookings as a ' || v_old_role || '.',
                  HINT = 'A person who is both a customer and a stylist has one profile for each.';
    END IF;

    INSERT INTO chat.profiles AS p (id, role, display_name)
    VALUES (p_id, p_role, p_name)
    ON CONFLICT (id) DO UPDATE
        SET role = excluded.role,
            display_name = excluded.display_name,
            updated_at = now()
        WHERE (p.role, p.display_name) IS DISTINCT FROM (excluded.role, excluded.display_name);
END
$$;

COMMENT ON FUNCTION chat.upsert_profile(uuid, text, text) IS
'Create or update a profile (role customer, stylist or admin). For chat_service members.';

CREATE FUNCTION chat.upsert_booking(id uuid, customer_id uuid, stylist_id uuid,
                                    service text, starts_at timestamptz, status text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p_id uuid := chat._require_arg($1, 'id');
    p_customer uuid := chat._require_arg($2, 'customer_id');
    p_stylist uuid := chat._require_arg($3, 'stylist_id');
    p_service text := chat._check_text($4, 'service', 200);
    p_starts_at timestamptz := chat._require_arg($5, 'starts_at');
    p_status text := chat._require_arg($6, 'status');
    v_old record;
BEGIN
    IF p_status NOT IN ('pending', 'confirmed', 'completed', 'cancelled', 'no_show') THEN
        RAISE EXCEPTION 'invalid booking status "%"', p_status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The status is one of pending, confirmed, completed, cancelled, no_show.';
    END IF;
    IF NOT isfinite(p_starts_at) THEN
        RAISE EXCEPTION 'starts_at must be a finite time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chat._profile_role(p_customer) IS DISTINCT FROM 'customer' THEN
        RAISE EXCEPTION 'profile % is not a customer', p_customer
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chat._profile_role(p_stylist) IS DISTINCT FROM 'stylist' THEN
        RAISE EXCEPTION 'profile % is not a stylist', p_stylist
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT b.customer_id, b.stylist_id INTO v_old
      FROM chat.bookings b WHERE b.id = p_id FOR UPDATE;
    IF FOUND AND (v_old.customer_id, v_old.stylist_id) <> (p_customer, p_stylist) THEN
        RAISE EXCEPTION 'booking % belongs to another customer and stylist', p_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The customer and the stylist of a booking never change; make a new booking.';
    END IF;

    INSERT INTO chat.bookings AS b (id, customer_id, stylist_id, service, starts_at, status)
    VALUES (p_id, p_customer, p_stylist, p_service, p_starts_at, p_status)
    ON CONFLICT (id) DO UPDATE
        SET service = excluded.service,
            starts_at = excluded.starts_at,
            status = excluded.status,
            updated_at = now();
END
$$;

COMMENT ON FUNCTION chat.upsert_booking(uuid, uuid, uuid, text, timestamptz, text) IS
'Create or update a booking (status pending, confirmed, completed, cancelled or no_show), for context. For chat_service members.';

--
-- Opening chats
--
CREATE FUNCTION chat.get_or_create_chat(customer_id uuid, stylist_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_customer uuid := chat._require_arg($1, 'customer_id');
    p_stylist uuid := chat._require_arg($2, 'stylist_id');
BEGIN
    IF v_actor NOT IN (p_customer, p_stylist) THEN
        RAISE EXCEPTION 'only the customer or the stylist may open their chat'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Act as one of the two, or use chat.chat_with(other_id).';
    END IF;
    RETURN chat._open_chat(p_customer, p_stylist);
END
$$;

COMMENT ON FUNCTION chat.get_or_create_chat(uuid, uuid) IS
'The chat of a customer and a stylist, created on first use; the actor must be one of them. Race-free.';

CREATE FUNCTION chat.chat_with(other_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_other uuid := chat._require_arg($1, 'other_id');
BEGIN
    CASE chat._profile_role(v_actor)
        WHEN 'customer' THEN
            RETURN chat._open_chat(v_actor, p_other);
        WHEN 'stylist' THEN
            RETURN chat._open_chat(p_other, v_actor);
        ELSE
            RAISE EXCEPTION 'admins do not take part in chats'
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Admins read chats through chat.admin_chats and chat.admin_messages.';
    END CASE;
END
$$;

COMMENT ON FUNCTION chat.chat_with(uuid) IS
'The chat of the actor with another profile (a stylist for a customer, a customer for a stylist), created on first use.';

CREATE FUNCTION chat.chat_for_booking(booking_id uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    p_booking uuid := chat._require_arg($1, 'booking_id');
    v_customer uuid;
    v_stylist uuid;
BEGIN
    SELECT b.customer_id, b.stylist_id INTO v_customer, v_stylist
      FROM chat.bookings b WHERE b.id = p_booking;
    IF NOT FOUND OR v_actor NOT IN (v_customer, v_stylist) THEN
        RAISE EXCEPTION 'booking % does not exist or you are not part of it', p_booking
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN chat._open_chat(v_customer, v_stylist);
END
$$;

COMMENT ON FUNCTION chat.chat_for_booking(uuid) IS
'The chat of the customer and stylist of a booking: the same chat for every booking of the pair.';

--
-- Reading
--
CREATE FUNCTION chat.get_chat(chat_id uuid)
RETURNS TABLE (customer_id uuid, customer_name text,
               stylist_id uuid, stylist_name text, created_at timestamptz,
               last_seq bigint, last_message_at timestamptz,
               last_read_seq bigint, unread_count integer, other_read_seq bigint)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
BEGIN
    RETURN QUERY
    SELECT c.customer_id, pc.display_name, c.stylist_id, ps.display_name,
           c.created_at, c.last_seq, c.last_message_at,
           CASE WHEN c.customer_id = v_actor THEN c.customer_read_seq ELSE c.stylist_read_seq END,
           CASE WHEN c.customer_id = v_actor THEN c.customer_unread ELSE c.stylist_unread END,
           CASE WHEN c.customer_id = v_actor THEN c.stylist_read_seq ELSE c.customer_read_seq END
      FROM chat.chats c
      JOIN chat.profiles pc ON pc.id = c.customer_id
      JOIN chat.profiles ps ON ps.id = c.stylist_id
     WHERE c.chat_id = p_chat
       AND v_actor IN (c.customer_id, c.stylist_id);
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.get_chat(uuid) IS
'The header of a chat for the actor: both participants, last seq, the actor''s read state and unread count, and how far the other has read.';

CREATE FUNCTION chat._attachments(chat_id uuid, seq bigint)
RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'storage_key', a.storage_key, 'content_type', a.content_type,
                        'byte_size', a.byte_size, 'width', a.width, 'height', a.height)
                    ORDER BY a.position), '[]'::jsonb)
      FROM chat.media a
     WHERE a.chat_id = $1 AND a.seq = $2
$$;

COMMENT ON FUNCTION chat._attachments(uuid, bigint) IS
'The attachments of a message as a JSON array, in order. Internal.';

CREATE FUNCTION chat._booking_ref(booking_id uuid)
RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('id', b.id, 'service', b.service,
                              'starts_at', b.starts_at, 'status', b.status)
      FROM chat.bookings b
     WHERE b.id = $1
$$;

COMMENT ON FUNCTION chat._booking_ref(uuid) IS
'A booking as JSON {id, service, starts_at, status}. Internal.';

CREATE FUNCTION chat._messages(chat_id uuid, after_seq bigint, before_seq bigint,
                               max_rows integer, newest_first boolean)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
AS $$
#variable_conflict use_column
DECLARE
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_max integer := chat._require_arg($4, 'max_rows');
BEGIN
    IF p_max NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', p_max
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM chat._participant_chat(p_chat);

    -- two queries rather than one with a direction switch: each is a plain
    -- range scan of the primary key
    IF newest_first THEN
        RETURN QUERY
        SELECT m.seq, m.sender_id, CASE WHEN m.hidden_at IS NULL THEN m.body END,
               m.booking_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at,
               m.hidden_at,
               CASE WHEN m.attachment_count = 0 OR m.hidden_at IS NOT NULL THEN '[]'::jsonb
                    ELSE chat._attachments(m.chat_id, m.seq) END,
               chat._booking_ref(m.booking_id)
          FROM chat.chat_messages m
         WHERE m.chat_id = p_chat
           AND m.seq < before_seq
         ORDER BY m.seq DESC
         LIMIT p_max;
    ELSE
        RETURN QUERY
        SELECT m.seq, m.sender_id, CASE WHEN m.hidden_at IS NULL THEN m.body END,
               m.booking_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at,
               m.hidden_at,
               CASE WHEN m.attachment_count = 0 OR m.hidden_at IS NOT NULL THEN '[]'::jsonb
                    ELSE chat._attachments(m.chat_id, m.seq) END,
               chat._booking_ref(m.booking_id)
          FROM chat.chat_messages m
         WHERE m.chat_id = p_chat
           AND m.seq > after_seq
         ORDER BY m.seq
         LIMIT p_max;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._messages(uuid, bigint, bigint, integer, boolean) IS
'A page of a chat''s messages with attachments and booking, for a participant. Internal: used by history() and messages_since().';

CREATE FUNCTION chat.history(chat_id uuid, before_seq bigint DEFAULT NULL, max_rows integer DEFAULT 50)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat.require_actor();
    IF $2 IS NOT NULL AND $2 < 1 THEN
        RAISE EXCEPTION 'before_seq must be positive, not %', $2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the smallest seq of the previous page, or NULL for the newest messages.';
    END IF;
    RETURN QUERY
    SELECT * FROM chat._messages($1, NULL, coalesce($2, 9223372036854775807), $3, true);
END
$$;

COMMENT ON FUNCTION chat.history(uuid, bigint, integer) IS
'Messages of a chat, newest first, before before_seq (NULL: from the newest), at most max_rows (1 to 1000); each with its attachments and booking.';

CREATE FUNCTION chat.messages_since(chat_id uuid, after_seq bigint, max_rows integer DEFAULT 1000)
RETURNS TABLE (seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat.require_actor();
    IF chat._require_arg($2, 'after_seq') < 0 THEN
        RAISE EXCEPTION 'after_seq must not be negative, not %', $2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the last seq you hold, or 0 for everything.';
    END IF;
    RETURN QUERY
    SELECT * FROM chat._messages($1, $2, NULL, $3, false);
END
$$;

COMMENT ON FUNCTION chat.messages_since(uuid, bigint, integer) IS
'Messages of a chat after after_seq, oldest first, at most max_rows (1 to 1000): call again from the last seq until fewer come back.';

CREATE FUNCTION chat.inbox(max_rows integer DEFAULT NULL,
                           before_activity timestamptz DEFAULT NULL,
                           before_chat_id uuid DEFAULT NULL)
RETURNS TABLE (chat_id uuid, other_id uuid, other_name text, last_message_at timestamptz,
               preview text, unread_count integer, bookings_count bigint,
               activity_at timestamptz)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_max integer := $1;
    p_before_at timestamptz := $2;
    p_before_chat uuid := $3;
BEGIN
    IF p_max IS NOT NULL AND p_max NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', p_max
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL for all chats.';
    END IF;
    IF (p_before_at IS NULL) <> (p_before_chat IS NULL) THEN
        RAISE EXCEPTION 'before_activity and before_chat_id go together'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the activity_at and chat_id of the last row of the previous page.';
    END IF;

    /*
     * The actor's chats are ordered by their last activity, and only the
     * page asked for is then dressed with names, previews and booking
     * counts.  Ties in activity are broken by chat_id, so that the page
     * after (before_activity, before_chat_id) is well defined.
     */
    RETURN QUERY
    WITH page AS (
        SELECT c.*
          FROM (SELECT x.chat_id, x.customer_id, x.stylist_id, x.stylist_id AS other,
                       x.last_seq, x.last_message_at, x.customer_unread AS unread,
                       coalesce(x.last_message_at, x.created_at) AS activity
                  FROM chat.chats x WHERE x.customer_id = v_actor
                UNION ALL
                SELECT x.chat_id, x.customer_id, x.stylist_id, x.customer_id,
                       x.last_seq, x.last_message_at, x.stylist_unread,
                       coalesce(x.last_message_at, x.created_at)
                  FROM chat.chats x WHERE x.stylist_id = v_actor) c
         WHERE p_before_at IS NULL
            OR c.activity < p_before_at
            OR (c.activity = p_before_at AND c.chat_id > p_before_chat)
         ORDER BY c.activity DESC, c.chat_id
         LIMIT p_max
    )
    SELECT c.chat_id, o.id, o.display_name, c.last_message_at,
           chat._preview(m.body, m.deleted_at, m.attachment_count, m.hidden_at),
           c.unread,
           (SELECT count(*) FROM chat.bookings b
             WHERE b.customer_id = c.customer_id AND b.stylist_id = c.stylist_id),
           c.activity
      FROM page c
      JOIN chat.profiles o ON o.id = c.other
      LEFT JOIN chat.chat_messages m ON m.chat_id = c.chat_id AND m.seq = c.last_seq
     ORDER BY c.activity DESC, c.chat_id;
END
$$;

COMMENT ON FUNCTION chat.inbox(integer, timestamptz, uuid) IS
'The actor''s chats, most recent activity first: the other participant, a preview of the last message, the unread count, the pair''s number of bookings, and activity_at. With max_rows (1 to 1000), one page; the next page starts after the last row''s (activity_at, chat_id), passed as before_activity and before_chat_id.';

CREATE FUNCTION chat.chat_bookings(chat_id uuid)
RETURNS TABLE (booking_id uuid, service text, starts_at timestamptz, status text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_pair record := chat._participant_chat($1);
BEGIN
    RETURN QUERY
    SELECT b.id, b.service, b.starts_at, b.status
      FROM chat.bookings b
     WHERE b.customer_id = v_pair.customer_id AND b.stylist_id = v_pair.stylist_id
     ORDER BY b.starts_at DESC, b.id;
END
$$;

COMMENT ON FUNCTION chat.chat_bookings(uuid) IS
'Every booking of the chat''s customer and stylist, newest first.';

--
-- Writing
--
CREATE FUNCTION chat.send_message(chat_id uuid, body text, booking_id uuid DEFAULT NULL,
                                  client_msg_id uuid DEFAULT NULL, attachments jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := $1;
    p_body text := $2;
    p_booking uuid := $3;
    p_client_msg_id uuid := $4;
    v_count integer := 0;
    v_seq bigint;
    v_customer uuid;
    v_stylist uuid;
    v_first record;
BEGIN
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
            IF v_first.sender_id <> v_actor THEN
                RAISE EXCEPTION 'client_msg_id % is already used in this chat by the other participant', p_client_msg_id
                    USING ERRCODE = 'unique_violation',
                          HINT = 'Make a new random UUID for every new message.';
            END IF;
            RETURN v_first.seq;
        END IF;
    END IF;

    IF p_booking IS NOT NULL THEN
        -- the booking must be one of the pair's (a chat's pair never changes)
        SELECT * INTO v_customer, v_stylist FROM chat._participant_chat(p_chat);
        IF NOT EXISTS (SELECT FROM chat.bookings b
                        WHERE b.id = p_booking
                          AND b.customer_id = v_customer AND b.stylist_id = v_stylist) THEN
            RAISE EXCEPTION 'booking % is not a booking of this chat''s customer and stylist', p_booking
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'chat.chat_bookings(chat_id) lists the bookings of a chat.';
        END IF;
    END IF;

    /*
     * One statement, the hot path: take the next seq by updating the chat
     * row (its lock serialises the chat's senders until commit; sending
     * marks everything so far read for the sender, and counts one more
     * unread for the other), store the message, and record its event for
     * the relay.  created_at is never earlier than the previous message's,
     * so that within a chat it follows seq.
     */
    WITH c AS (
        UPDATE chat.chats c
           SET last_seq = c.last_seq + 1,
               last_message_at = greatest(now(), c.last_message_at),
               customer_read_seq = CASE WHEN c.customer_id = v_actor THEN c.last_seq + 1 ELSE c.customer_read_seq END,
               customer_unread = CASE WHEN c.customer_id = v_actor THEN 0 ELSE c.customer_unread + 1 END,
               stylist_read_seq = CASE WHEN c.stylist_id = v_actor THEN c.last_seq + 1 ELSE c.stylist_read_seq END,
               stylist_unread = CASE WHEN c.stylist_id = v_actor THEN 0 ELSE c.stylist_unread + 1 END
         WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)
        RETURNING c.chat_id, c.last_seq, c.last_message_at, c.customer_id, c.stylist_id
    ), m AS (
        INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, booking_id,
                                        client_msg_id, attachment_count, created_at)
        SELECT c.chat_id, c.last_seq, v_actor, p_body, p_booking, p_client_msg_id, v_count,
               c.last_message_at
          FROM c
        RETURNING chat_messages.seq
    )
    SELECT chat._relay_event('message', c.chat_id, c.customer_id, c.stylist_id,
                             v_actor, c.last_seq, c.last_message_at)
      INTO v_seq
      FROM c JOIN m ON m.seq = c.last_seq;
    IF v_seq IS NULL THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;

    IF v_count > 0 THEN
        INSERT INTO chat.media (chat_id, seq, position, storage_key, content_type,
                                byte_size, width, height)
        SELECT p_chat, v_seq, a.ord, a.e->>'storage_key', a.e->>'content_type',
               (a.e->>'byte_size')::numeric::bigint, (a.e->>'width')::numeric::integer,
               (a.e->>'height')::numeric::integer
          FROM jsonb_array_elements($5) WITH ORDINALITY AS a(e, ord);
    END IF;

    RETURN v_seq;
END
$$;

COMMENT ON FUNCTION chat.send_message(uuid, text, uuid, uuid, jsonb) IS
'Send a message as the actor and return its seq. A retry with the same client_msg_id returns the first seq and stores nothing. attachments: a JSON array of {storage_key, content_type, byte_size, width, height}.';

CREATE FUNCTION chat._own_message(chat_id uuid, seq bigint, verb text)
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
    -- lock the chat first, then the message: the order every writer uses
    PERFORM FROM chat.chats c
     WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;
    SELECT * INTO v_msg FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq = p_seq
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist in chat %', p_seq, p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_msg.sender_id <> v_actor THEN
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

CREATE FUNCTION chat._relay_change(kind text, chat_id uuid, seq bigint)
RETURNS bigint
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
    SELECT chat._relay_event($1, c.chat_id, c.customer_id, c.stylist_id,
                             chat.require_actor(), $3, now())
      FROM chat.chats c WHERE c.chat_id = $2
$$;

COMMENT ON FUNCTION chat._relay_change(text, uuid, bigint) IS
'Records an event of the actor on a chat (edited, deleted, read, chat_created) for the relay. Internal.';

CREATE FUNCTION chat.edit_message(chat_id uuid, seq bigint, body text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_msg chat.chat_messages := chat._own_message($1, $2, 'edit');
    p_body text;
BEGIN
    IF v_msg.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'message % of chat % is deleted', v_msg.seq, v_msg.chat_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A deleted message cannot be edited.';
    END IF;
    p_body := chat._check_body(chat._require_arg($3, 'body'), v_msg.attachment_count);
    UPDATE chat.chat_messages m
       SET body = p_body, edited_at = now()
     WHERE m.chat_id = v_msg.chat_id AND m.seq = v_msg.seq;
    PERFORM chat._relay_change('edited', v_msg.chat_id, v_msg.seq);
END
$$;

COMMENT ON FUNCTION chat.edit_message(uuid, bigint, text) IS
'Change the body of one of the actor''s own messages; it is marked edited.';

CREATE FUNCTION chat.delete_message(chat_id uuid, seq bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_msg chat.chat_messages := chat._own_message($1, $2, 'delete');
BEGIN
    IF v_msg.deleted_at IS NOT NULL THEN
        RETURN;     -- deleting twice is a no-op
    END IF;
    UPDATE chat.chat_messages m
       SET body = NULL, attachment_count = 0, deleted_at = now()
     WHERE m.chat_id = v_msg.chat_id AND m.seq = v_msg.seq;
    DELETE FROM chat.media a WHERE a.chat_id = v_msg.chat_id AND a.seq = v_msg.seq;
    -- the other participant had it unread if they had not read up to it
    UPDATE chat.chats c
       SET customer_unread = CASE WHEN c.customer_id <> v_msg.sender_id
                                   AND c.customer_read_seq < v_msg.seq
                                  THEN c.customer_unread - 1 ELSE c.customer_unread END,
           stylist_unread = CASE WHEN c.stylist_id <> v_msg.sender_id
                                  AND c.stylist_read_seq < v_msg.seq
                                 THEN c.stylist_unread - 1 ELSE c.stylist_unread END
     WHERE c.chat_id = v_msg.chat_id;
    PERFORM chat._relay_change('deleted', v_msg.chat_id, v_msg.seq);
END
$$;

COMMENT ON FUNCTION chat.delete_message(uuid, bigint) IS
'Delete one of the actor''s own messages: it keeps its seq as a tombstone, without body or attachments. Deleting twice is a no-op.';

CREATE FUNCTION chat.mark_read(chat_id uuid, up_to_seq bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_up_to bigint := $2;
    v_chat record;
    v_read bigint;
    v_unread integer;
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
    IF p_up_to < 0 OR p_up_to > v_chat.last_seq THEN
        RAISE EXCEPTION 'up_to_seq % is out of range', p_up_to
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The chat''s messages are numbered 1 to %s.', v_chat.last_seq),
                  HINT = 'Pass NULL to mark everything read.';
    END IF;
    v_read := coalesce(p_up_to, v_chat.last_seq);
    IF v_read <= v_chat.read_seq THEN
        RETURN v_chat.read_seq;     -- never backwards
    END IF;
    IF v_read = v_chat.last_seq THEN
        v_unread := 0;
    ELSE
        -- only the window after the new read mark is counted
        SELECT count(*) INTO v_unread
          FROM chat.chat_messages m
         WHERE m.chat_id = p_chat AND m.seq > v_read
           AND m.sender_id <> v_actor AND m.deleted_at IS NULL;
    END IF;
    IF v_chat.customer_id = v_actor THEN
        UPDATE chat.chats c SET customer_read_seq = v_read, customer_unread = v_unread
         WHERE c.chat_id = p_chat;
    ELSE
        UPDATE chat.chats c SET stylist_read_seq = v_read, stylist_unread = v_unread
         WHERE c.chat_id = p_chat;
    END IF;
    PERFORM chat._relay_change('read', p_chat, v_read);
    RETURN v_read;
END
$$;

COMMENT ON FUNCTION chat.mark_read(uuid, bigint) IS
'Mark the chat read by the actor up to up_to_seq (NULL: everything so far) and return the read mark, which never moves backwards.';

--
-- Real-time delivery and offline catch-up
--
CREATE FUNCTION chat.relay_status(OUT preloaded boolean, OUT running boolean,
                                  OUT pid integer, OUT started_at timestamptz,
                                  OUT events_relayed bigint, OUT last_relay_at timestamptz,
                                  OUT queued bigint, OUT dropped bigint, OUT backlog bigint)
RETURNS record
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.preloaded, s.running, s.pid, s.started_at, s.events_relayed,
           s.last_relay_at, s.queued, s.dropped,
           (SELECT coalesce(sum(c.last_seq - coalesce(w.relayed_seq, 0)), 0)::bigint
              FROM chat.chats c
              LEFT JOIN chat.relay_watermark w ON w.chat_id = c.chat_id
             WHERE c.last_seq > coalesce(w.relayed_seq, 0))
      FROM chat._relay_shared_status() s
$$;

COMMENT ON FUNCTION chat.relay_status() IS
'The relay worker: preloaded (is the library in shared_preload_libraries), running, pid, started_at, events_relayed, last_relay_at, queued (events waiting in the queue), dropped (events lost to a full queue, then recovered from the tables), backlog (messages above the written watermark, which trails the worker by about a second; it counts all chats and costs a scan of chat.chats).';

CREATE FUNCTION chat.listen_channel()
RETURNS text
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT chat._channel_name((SELECT key FROM chat.secrets WHERE name = 'channel'),
                              chat.require_actor())
$$;

COMMENT ON FUNCTION chat.listen_channel() IS
'The actor''s private LISTEN channel: every event of the actor''s chats (and of all chats, for an admin) is notified there. Unguessable without the server-side key.';

CREATE FUNCTION chat.listen()
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_channel text := chat.listen_channel();
BEGIN
    EXECUTE format('LISTEN %I', v_channel);
    RETURN v_channel;
END
$$;

COMMENT ON FUNCTION chat.listen() IS
'LISTEN on the actor''s channel for the rest of the session (from the commit of the calling transaction) and return its name.';

CREATE FUNCTION chat.typing(chat_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_pair record := chat._participant_chat($1);
BEGIN
    PERFORM chat._relay_now('typing', $1, v_pair.customer_id, v_pair.stylist_id,
                            chat.require_actor(), NULL, clock_timestamp());
END
$$;

COMMENT ON FUNCTION chat.typing(uuid) IS
'Tell the other participant the actor is typing: an ephemeral event, never stored, at most one per actor and chat per second.';

CREATE FUNCTION chat.undelivered(max_rows integer DEFAULT 500)
RETURNS TABLE (chat_id uuid, seq bigint, sender_id uuid, body text, booking_id uuid,
               client_msg_id uuid, created_at timestamptz, edited_at timestamptz,
               deleted_at timestamptz, hidden_at timestamptz, attachments jsonb,
               booking jsonb)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_max integer := chat._require_arg($1, 'max_rows');
BEGIN
    IF p_max NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', p_max
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    /*
     * One statement, one snapshot.  The actor's chats with something new
     * are locked, so two sessions of one person never fetch the same
     * message twice.  Within a chat created_at follows seq, so the oldest
     * rows across chats are a seq-prefix of each chat.  The delivery mark
     * moves to the last row fetched, or, when nothing was cut off, to the
     * last message this snapshot sees (skipping the actor's own).
     */
    RETURN QUERY
    WITH pending AS (
        SELECT c.chat_id,
               CASE WHEN c.customer_id = v_actor
                    THEN c.customer_delivered_seq ELSE c.stylist_delivered_seq END AS delivered
          FROM chat.chats c
         WHERE (c.customer_id = v_actor AND c.last_seq > c.customer_delivered_seq)
            OR (c.stylist_id = v_actor AND c.last_seq > c.stylist_delivered_seq)
           FOR NO KEY UPDATE
    ), picked AS (
        SELECT m.chat_id, m.seq, m.created_at
          FROM pending p
          CROSS JOIN LATERAL (
                SELECT x.chat_id, x.seq, x.created_at
                  FROM chat.chat_messages x
                 WHERE x.chat_id = p.chat_id AND x.seq > p.delivered
                   AND x.sender_id <> v_actor
                 ORDER BY x.seq
                 LIMIT p_max) m
         ORDER BY m.created_at, m.chat_id, m.seq
         LIMIT p_max
    ), marks AS (
        SELECT p.chat_id,
               CASE WHEN (SELECT count(*) FROM picked) < p_max
                    THEN (SELECT max(x.seq) FROM chat.chat_messages x WHERE x.chat_id = p.chat_id)
                    ELSE (SELECT max(k.seq) FROM picked k WHERE k.chat_id = p.chat_id)
               END AS upto
          FROM pending p
    ), moved AS (
        UPDATE chat.chats c
           SET customer_delivered_seq = CASE WHEN c.customer_id = v_actor
                    THEN greatest(c.customer_delivered_seq, mk.upto) ELSE c.customer_delivered_seq END,
               stylist_delivered_seq = CASE WHEN c.stylist_id = v_actor
                    THEN greatest(c.stylist_delivered_seq, mk.upto) ELSE c.stylist_delivered_seq END
          FROM marks mk
         WHERE c.chat_id = mk.chat_id AND mk.upto IS NOT NULL
    )
    SELECT m.chat_id, m.seq, m.sender_id, CASE WHEN m.hidden_at IS NULL THEN m.body END,
           m.booking_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at, m.hidden_at,
           CASE WHEN m.attachment_count = 0 OR m.hidden_at IS NOT NULL THEN '[]'::jsonb
                ELSE chat._attachments(m.chat_id, m.seq) END,
           chat._booking_ref(m.booking_id)
      FROM picked k
      JOIN chat.chat_messages m ON m.chat_id = k.chat_id AND m.seq = k.seq
     ORDER BY k.created_at, k.chat_id, k.seq;
END
$$;

COMMENT ON FUNCTION chat.undelivered(integer) IS
'Messages sent to the actor that no session of theirs has fetched yet, oldest first across all chats, at most max_rows (1 to 1000); fetching marks them delivered. Call until it returns nothing.';

--
-- Identity for connections that are not trusted
--
CREATE FUNCTION chat.issue_token(profile_id uuid, ttl interval DEFAULT '1 hour')
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p_profile uuid := chat._require_arg($1, 'profile_id');
    p_ttl interval := chat._require_arg($2, 'ttl');
BEGIN
    IF p_ttl <= interval '0' OR p_ttl > interval '30 days' THEN
        RAISE EXCEPTION 'ttl must be positive and at most 30 days, not %', p_ttl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chat._profile_role(p_profile) IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', p_profile
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Create it first with chat.upsert_profile().';
    END IF;
    RETURN chat._sign_token((SELECT key FROM chat.secrets WHERE name = 'signing'),
                            p_profile, now() + p_ttl);
END
$$;

COMMENT ON FUNCTION chat.issue_token(uuid, interval) IS
'A signed token that lets an end-user connection act as the profile until now() + ttl (at most 30 days). For chat_service members.';

CREATE FUNCTION chat.authenticate(token text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_profile uuid;
BEGIN
    SELECT chat._verify_token($1,
                              (SELECT s.key FROM chat.secrets s WHERE s.name = 'signing'),
                              (SELECT s.key FROM chat.secrets s WHERE s.name = 'signing_previous'))
      INTO v_profile;
    -- one answer for every kind of bad token: nothing says which part failed
    IF v_profile IS NULL OR chat._profile_role(v_profile) IS NULL THEN
        RAISE EXCEPTION 'invalid token'
            USING ERRCODE = 'invalid_authorization_specification',
                  HINT = 'Ask the application for a new token.';
    END IF;
    PERFORM chat.act_as(v_profile, true);
    RETURN v_profile;
END
$$;

COMMENT ON FUNCTION chat.authenticate(text) IS
'Check a token from chat.issue_token() and act as its profile for the rest of the session. Any bad token gives SQLSTATE 28000. For chat_user members.';

CREATE FUNCTION chat.rotate_signing_key()
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_current bytea;
BEGIN
    SELECT s.key INTO v_current FROM chat.secrets s WHERE s.name = 'signing' FOR UPDATE;
    INSERT INTO chat.secrets AS s (name, key) VALUES ('signing_previous', v_current)
    ON CONFLICT (name) DO UPDATE SET key = excluded.key, created_at = now();
    UPDATE chat.secrets s SET key = chat._random_key(), created_at = now()
     WHERE s.name = 'signing';
END
$$;

COMMENT ON FUNCTION chat.rotate_signing_key() IS
'Sign new tokens with a new key; tokens of the previous key keep working until they expire, older ones stop. Channel names do not change. For chat_service members.';

--
-- Moderation: admins read with a trail, and hide messages
--
CREATE FUNCTION chat._require_admin()
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

CREATE FUNCTION chat._audit_reason(reason text)
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

CREATE FUNCTION chat.admin_history(chat_id uuid, reason text DEFAULT NULL,
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
    p_max integer := chat._require_arg($4, 'max_rows');
BEGIN
    IF p_max NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', p_max
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_before < 1 THEN
        RAISE EXCEPTION 'before_seq must be positive, not %', p_before
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM chat.chats c WHERE c.chat_id = p_chat) THEN
        RAISE EXCEPTION 'chat % does not exist', p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO chat.audit_entries (chat_id, actor_id, action, reason)
    VALUES (p_chat, v_admin, 'read_history', p_reason);

    RETURN QUERY
    SELECT m.seq, m.sender_id, m.body, m.booking_id, m.client_msg_id,
           m.created_at, m.edited_at, m.deleted_at, m.hidden_at, m.hidden_reason,
           CASE WHEN m.attachment_count = 0 THEN '[]'::jsonb
                ELSE chat._attachments(m.chat_id, m.seq) END,
           chat._booking_ref(m.booking_id)
      FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq < p_before
     ORDER BY m.seq DESC
     LIMIT p_max;
END
$$;

COMMENT ON FUNCTION chat.admin_history(uuid, text, bigint, integer) IS
'An admin reads a chat''s messages, newest first, hidden ones as they were; every call is recorded in chat.audit_log with the reason.';

CREATE FUNCTION chat.hide_message(chat_id uuid, seq bigint, reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
    p_reason text := chat._audit_reason(chat._require_arg($3, 'reason'));
    v_hidden_at timestamptz;
BEGIN
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

--
-- Views: what a participant and an admin may read
--
CREATE VIEW chat.my_chats WITH (security_barrier = true) AS
SELECT c.chat_id, c.customer_id, c.stylist_id, c.created_at, c.last_seq, c.last_message_at,
       CASE WHEN c.customer_id = chat.current_actor()
            THEN c.customer_read_seq ELSE c.stylist_read_seq END AS last_read_seq,
       CASE WHEN c.customer_id = chat.current_actor()
            THEN c.customer_unread ELSE c.stylist_unread END AS unread_count
  FROM chat.chats c
 WHERE c.customer_id = chat.current_actor() OR c.stylist_id = chat.current_actor();

COMMENT ON VIEW chat.my_chats IS
'The chats the acting profile takes part in, with its read state.';

CREATE VIEW chat.my_messages WITH (security_barrier = true) AS
SELECT m.chat_id, m.seq, m.sender_id, CASE WHEN m.hidden_at IS NULL THEN m.body END AS body,
       m.booking_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at, m.hidden_at
  FROM chat.chat_messages m
 WHERE m.chat_id IN (SELECT c.chat_id FROM chat.chats c
                      WHERE c.customer_id = chat.current_actor()
                         OR c.stylist_id = chat.current_actor());

COMMENT ON VIEW chat.my_messages IS
'The messages of the chats the acting profile takes part in.';

CREATE VIEW chat.my_media WITH (security_barrier = true) AS
SELECT a.chat_id, a.seq, a.position, a.storage_key, a.content_type, a.byte_size,
       a.width, a.height, a.created_at
  FROM chat.media a
 WHERE a.chat_id IN (SELECT c.chat_id FROM chat.chats c
                      WHERE c.customer_id = chat.current_actor()
                         OR c.stylist_id = chat.current_actor())
   AND NOT EXISTS (SELECT FROM chat.chat_messages m
                    WHERE m.chat_id = a.chat_id AND m.seq = a.seq AND m.hidden_at IS NOT NULL);

COMMENT ON VIEW chat.my_media IS
'The attachments of the chats the acting profile takes part in.';

CREATE VIEW chat.admin_chats WITH (security_barrier = true) AS
SELECT c.chat_id, c.customer_id, c.stylist_id, c.created_at, c.last_seq, c.last_message_at,
       c.customer_read_seq, c.customer_unread, c.stylist_read_seq, c.stylist_unread
  FROM chat.chats c
 WHERE chat._actor_is_admin();

COMMENT ON VIEW chat.admin_chats IS
'Every chat when the acting profile is an admin; nothing otherwise.';

CREATE VIEW chat.admin_messages WITH (security_barrier = true) AS
SELECT m.chat_id, m.seq, m.sender_id, m.body, m.booking_id, m.client_msg_id,
       m.created_at, m.edited_at, m.deleted_at, m.hidden_at, m.hidden_by, m.hidden_reason
  FROM chat.chat_messages m
 WHERE chat._actor_is_admin();

CREATE VIEW chat.audit_log WITH (security_barrier = true) AS
SELECT e.id, e.at, e.actor_id, e.action, e.chat_id, e.seq, e.reason
  FROM chat.audit_entries e
 WHERE chat._actor_is_admin();

COMMENT ON VIEW chat.audit_log IS
'The moderation trail (who, which chat, when, why) when the acting profile is an admin; nothing otherwise. Append-only.';

COMMENT ON VIEW chat.admin_messages IS
'Every message when the acting profile is an admin; nothing otherwise.';

--
-- Privileges: PUBLIC may only look into the schema; the application
-- backend's role chat_service gets the API and the views.
--
REVOKE ALL ON ALL TABLES IN SCHEMA chat FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA chat FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    chat.relay_status(),
    chat.listen_channel(),
    chat.listen(),
    chat.typing(uuid),
    chat.undelivered(integer),
    chat.act_as(uuid, boolean),
    chat.current_actor(),
    chat.reset_actor(),
    chat.pair_chat_id(uuid, uuid),
    chat._actor_is_admin(),
    chat.upsert_profile(uuid, text, text),
    chat.upsert_booking(uuid, uuid, uuid, text, timestamptz, text),
    chat.get_or_create_chat(uuid, uuid),
    chat.chat_with(uuid),
    chat.chat_for_booking(uuid),
    chat.get_chat(uuid),
    chat.history(uuid, bigint, integer),
    chat.messages_since(uuid, bigint, integer),
    chat.inbox(integer, timestamptz, uuid),
    chat.chat_bookings(uuid),
    chat.send_message(uuid, text, uuid, uuid, jsonb),
    chat.edit_message(uuid, bigint, text),
    chat.delete_message(uuid, bigint),
    chat.mark_read(uuid, bigint)
TO chat_service;

GRANT SELECT ON chat.my_chats, chat.my_messages, chat.my_media,
                chat.admin_chats, chat.admin_messages
TO chat_service;

GRANT EXECUTE ON FUNCTION
    chat.issue_token(uuid, interval),
    chat.rotate_signing_key(),
    chat.admin_history(uuid, text, bigint, integer),
    chat.hide_message(uuid, bigint, text)
TO chat_service;

GRANT SELECT ON chat.audit_log TO chat_service, chat_user;

-- an end-user connection: authenticate, then the actor-checked API
GRANT EXECUTE ON FUNCTION
    chat.authenticate(text),
    chat.current_actor(),
    chat._actor_is_admin(),
    chat.get_or_create_chat(uuid, uuid),
    chat.chat_with(uuid),
    chat.chat_for_booking(uuid),
    chat.get_chat(uuid),
    chat.history(uuid, bigint, integer),
    chat.messages_since(uuid, bigint, integer),
    chat.inbox(integer, timestamptz, uuid),
    chat.chat_bookings(uuid),
    chat.send_message(uuid, text, uuid, uuid, jsonb),
    chat.edit_message(uuid, bigint, text),
    chat.delete_message(uuid, bigint),
    chat.mark_read(uuid, bigint),
    chat.listen_channel(),
    chat.listen(),
    chat.typing(uuid),
    chat.undelivered(integer),
    chat.admin_history(uuid, text, bigint, integer),
    chat.hide_message(uuid, bigint, text)
TO chat_user;

GRANT SELECT ON chat.my_chats, chat.my_messages, chat.my_media,
                chat.admin_chats, chat.admin_messages
TO chat_user;
