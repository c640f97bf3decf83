/*
 * Profiles and bookings, kept by the application backend (chat_service).
 */

CREATE OR REPLACE FUNCTION chat.upsert_profile(id uuid, role text, display_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    p_id uuid := chat._require_arg($1, 'id');
    p_role text := chat._require_arg($2, 'role');
    p_name text := chat._check_text($3, 'display_name', 200);
    v_old_role text;
    v_erased timestamptz;
BEGIN
    PERFORM chat._require_writable('upsert_profile');
    IF p_id = '00000000-0000-0000-0000-000000000000' THEN
        -- events without a sender (booking cards) carry it
        RAISE EXCEPTION 'the nil UUID is not a profile id'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_role NOT IN ('customer', 'stylist', 'admin') THEN
        RAISE EXCEPTION 'invalid profile role "%"', p_role
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The role is one of customer, stylist, admin.';
    END IF;

    SELECT p.role, p.erased_at INTO v_old_role, v_erased FROM chat.profiles p WHERE p.id = p_id FOR UPDATE;
    IF v_erased IS NOT NULL THEN
        RAISE EXCEPTION 'profile % was erased', p_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('chat.erase_profile() erased it at %s; its name stays anonymous.', v_erased),
                  HINT = 'A person who comes back gets a new profile.';
    END IF;
    IF FOUND AND v_old_role <> p_role
       AND (EXISTS (SELECT FROM chat.chats c WHERE p_id IN (c.customer_id, c.stylist_id))
            OR EXISTS (SELECT FROM chat.bookings b WHERE p_id IN (b.customer_id, b.stylist_id))) THEN
        RAISE EXCEPTION 'cannot change the role of profile % from % to %', p_id, v_old_role, p_role
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'The profile takes part in chats or bookings as a ' || v_old_role || '.',
                  HINT = 'A person who is both a customer and a stylist has one profile for each.';
    END IF;

    INSERT INTO chat.profiles AS p (id, role, display_name, updated_at)
    VALUES (p_id, p_role, p_name, now())
    ON CONFLICT (id) DO UPDATE
        SET role = excluded.role,
            display_name = excluded.display_name,
            updated_at = excluded.updated_at
        WHERE (p.role, p.display_name) IS DISTINCT FROM (excluded.role, excluded.display_name);
END
$$;

COMMENT ON FUNCTION chat.upsert_profile(uuid, text, text) IS
'Create or update a profile (role customer, stylist or admin); an erased profile cannot be changed (55000). For chat_service members.';
REVOKE ALL ON FUNCTION chat.upsert_profile(uuid, text, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.upsert_profile(uuid, text, text) TO chat_service;

CREATE OR REPLACE FUNCTION chat._post_booking_card(chat_id uuid, booking_id uuid, event text,
                                                  service text, starts_at timestamptz, status text,
                                                  previous_starts_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
#variable_conflict use_column
DECLARE
    v_sent record;
BEGIN
    /*
     * Like a send (see chat._send_message_sql(), and why three statements),
     * but from nobody: both participants have one more unread message and
     * neither read mark moves.  The caller holds the chat's row locked.
     */
    UPDATE chat.chats c
       SET last_seq = c.last_seq + 1,
           last_message_at = greatest(now(), c.last_message_at),
           customer_unread = c.customer_unread + 1,
           stylist_unread = c.stylist_unread + 1
     WHERE c.chat_id = $1
    RETURNING c.chat_id, c.last_seq, c.last_message_at, c.customer_id, c.stylist_id
      INTO v_sent;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, booking_id, created_at, kind, card)
    VALUES (v_sent.chat_id, v_sent.last_seq, NULL,
            CASE $3 WHEN 'booked' THEN 'Booked'
                    WHEN 'confirmed' THEN 'Booking confirmed'
                    WHEN 'rescheduled' THEN 'Booking rescheduled'
                    WHEN 'cancelled' THEN 'Booking cancelled'
                    WHEN 'completed' THEN 'Booking completed'
                    WHEN 'no_show' THEN 'Missed booking'
                    WHEN 'pending' THEN 'Booking pending' END || ': ' || $4,
            $2, v_sent.last_message_at, 'booking',
            jsonb_strip_nulls(jsonb_build_object(
                'event', $3, 'booking_id', $2, 'service', $4, 'starts_at', $5,
                'status', $6, 'previous_starts_at', $7)));
    IF NOT FOUND THEN
        -- only a rule on the table (its owner's doing) can swallow it
        RAISE EXCEPTION 'the message was not stored: a rule on chat.chat_messages took its place'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'chat.chat_messages takes no rule that replaces its inserts; drop the rule.';
    END IF;
    RETURN chat._relay_event('message', v_sent.chat_id, v_sent.customer_id, v_sent.stylist_id,
                             NULL, v_sent.last_seq, v_sent.last_message_at);
END
$$;

COMMENT ON FUNCTION chat._post_booking_card(uuid, uuid, text, text, timestamptz, text, timestamptz) IS
'Adds a booking card (a message of kind booking, without sender, unread for both participants) to a chat the caller holds locked, relays it, and returns its seq. Internal: used by upsert_booking().';
REVOKE ALL ON FUNCTION chat._post_booking_card(uuid, uuid, text, text, timestamptz, text, timestamptz) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.upsert_booking(id uuid, customer_id uuid, stylist_id uuid,
                                    service text, starts_at timestamptz, status text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    p_id uuid := chat._require_arg($1, 'id');
    p_customer uuid := chat._require_arg($2, 'customer_id');
    p_stylist uuid := chat._require_arg($3, 'stylist_id');
    p_service text := chat._check_text($4, 'service', 200);
    p_starts_at timestamptz := chat._require_arg($5, 'starts_at');
    p_status text := chat._require_arg($6, 'status');
    v_cards boolean := coalesce(current_setting('stylist_chat.booking_cards', true), 'on')::boolean;
    v_chat uuid;
    v_old record;
    v_existed boolean;
BEGIN
    PERFORM chat._require_writable('upsert_booking');
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

    IF v_cards THEN
        -- the chat row first, as every writer of a chat; opened if the pair
        -- has none yet (an error below undoes that with everything else)
        v_chat := chat._open_chat(p_customer, p_stylist);
        PERFORM FROM chat.chats c WHERE c.chat_id = v_chat FOR NO KEY UPDATE;
    END IF;
    -- not FOR UPDATE: a send that names the booking takes FOR KEY SHARE
    -- of it while it holds its chat locked
    SELECT b.customer_id, b.stylist_id, b.starts_at, b.status INTO v_old
      FROM chat.bookings b WHERE b.id = p_id FOR NO KEY UPDATE;
    v_existed := FOUND;
    IF v_existed AND (v_old.customer_id, v_old.stylist_id) <> (p_customer, p_stylist) THEN
        RAISE EXCEPTION 'booking % belongs to another customer and stylist', p_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The customer and the stylist of a booking never change; make a new booking.';
    END IF;

    INSERT INTO chat.bookings AS b (id, customer_id, stylist_id, service, starts_at, status, updated_at)
    VALUES (p_id, p_customer, p_stylist, p_service, p_starts_at, p_status, now())
    ON CONFLICT (id) DO UPDATE
        SET service = excluded.service,
            starts_at = excluded.starts_at,
            status = excluded.status,
            updated_at = excluded.updated_at;
    IF coalesce(current_setting('stylist_chat.kpis', true), 'on') <> 'off' THEN
        PERFORM chat._note_booking_kpis(p_customer, p_stylist);
    END IF;

    IF NOT v_cards THEN
        RETURN;
    END IF;
    -- a card for each change the people in the chat care about: a new
    -- booking, a new time, a new status; the same state again adds none
    IF NOT v_existed THEN
        PERFORM chat._post_booking_card(v_chat, p_id,
                    'booked',
                    p_service, p_starts_at, p_status, NULL);
        RETURN;
    END IF;
    IF p_starts_at <> v_old.starts_at THEN
        PERFORM chat._post_booking_card(v_chat, p_id, 'rescheduled', p_service, p_starts_at,
                                        p_status, v_old.starts_at);
    END IF;
    IF p_status <> v_old.status THEN
        PERFORM chat._post_booking_card(v_chat, p_id, p_status, p_service, p_starts_at,
                                        p_status, NULL);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.upsert_booking(uuid, uuid, uuid, text, timestamptz, text) IS
'Create or update a booking (status pending, confirmed, completed, cancelled or no_show), for context. Each new booking, new time and new status posts a booking card in the pair''s chat (opened if need be) unless stylist_chat.booking_cards is off; the same state again posts nothing. For chat_service members.';
REVOKE ALL ON FUNCTION chat.upsert_booking(uuid, uuid, uuid, text, timestamptz, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.upsert_booking(uuid, uuid, uuid, text, timestamptz, text) TO chat_service;
