/*
 * Gallery and portfolio consent.
 *
 * chat.gallery() lists the images of a chat, newest first, without the
 * messages around them: the customer's preferences over time.  Images of
 * deleted messages are gone (delete_message removes them); those of hidden
 * messages are never listed.
 *
 * The customer of a chat may let its stylist show an image of the chat in
 * the stylist's public portfolio: any image of the chat, whoever sent it
 * (a photo of the finished cut is the stylist's, but shows the customer).
 * Consent is one row of chat.portfolio_consents per grant; revoking sets
 * revoked_at and revoked_by on it.  Rows are never deleted or changed
 * otherwise (a trigger sees to it), so that who consented to what, and
 * when, stays as evidence.
 *
 * A consent is in force while it is not revoked and its image is there to
 * show: an image whose message is deleted (its media rows go) or hidden
 * leaves the portfolio at once, without touching the consent.  A deleted
 * image never comes back (seqs are not reused); a consent of it stays
 * unrevoked, and the customer may still revoke it.  Clearing one's history
 * does not touch consent.  Grant and revoke are relayed as "consent"
 * events (seq: the image's message).
 *
 * The public portfolio, chat.portfolio(stylist_id), is for chat_service
 * (the application's backend renders the public page) and never names the
 * customer or the chat; the stylist reads their own, with where each image
 * comes from, through chat.my_portfolio().
 */

CREATE OR REPLACE FUNCTION chat.gallery(chat_id uuid, before_seq bigint DEFAULT NULL,
                                        max_rows integer DEFAULT 50, before_position integer DEFAULT NULL)
RETURNS TABLE (seq bigint, "position" integer, storage_key text, content_type text,
               byte_size bigint, width integer, height integer, sender_id uuid,
               created_at timestamptz, booking_id uuid, portfolio_consent boolean)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_max integer := $3;
    p_before bigint := coalesce($2, 9223372036854775807);
    -- (seq, position) < (before_seq, 0): every image of a message before it
    p_before_pos integer := coalesce($4, 0);
BEGIN
    IF p_max IS NULL OR p_max NOT BETWEEN 1 AND 1000
       OR ($4 IS NOT NULL AND ($2 IS NULL OR $4 NOT BETWEEN 1 AND 10)) THEN
        -- access first: someone else's chat gets the one 42501, whatever else
        PERFORM chat._participant_chat(p_chat);
        PERFORM chat._check_max_rows(p_max);
        RAISE EXCEPTION 'before_position must be between 1 and 10 and come with before_seq'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the seq and position of the last image of the previous page.';
    END IF;

    -- one statement on the chat (on a Citus cluster, one round trip to its
    -- node, every table named with the chat itself): the actor's row of
    -- the chat, none unless a participant, and for it (a lateral subquery,
    -- read only when the row is there) one range scan of media's primary
    -- key, newest first, after what the actor cleared (clear_history());
    -- a page may end inside a message: the next starts at (before_seq,
    -- before_position).  Access is checked apart only when that finds
    -- nothing, for its 42501
    RETURN QUERY
    SELECT g.seq, g.position, g.storage_key, g.content_type, g.byte_size, g.width, g.height,
           g.sender_id, g.created_at, g.booking_id, g.portfolio_consent
      FROM (SELECT CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq
                        ELSE c.stylist_cleared_seq END AS cleared_seq
              FROM chat.chats c
             WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id)) r
     CROSS JOIN LATERAL (
           SELECT a.seq, a.position::integer AS position, a.storage_key, a.content_type, a.byte_size,
                  a.width, a.height, m.sender_id, m.created_at, m.booking_id,
                  EXISTS (SELECT FROM chat.portfolio_consents k
                           WHERE k.chat_id = p_chat AND k.seq = a.seq AND k.position = a.position
                             AND k.revoked_at IS NULL) AS portfolio_consent
             FROM chat.media a
             JOIN chat.chat_messages m ON m.chat_id = p_chat AND m.seq = a.seq
            WHERE a.chat_id = p_chat
              AND (a.seq, a.position) < (p_before, p_before_pos)
              AND a.seq > r.cleared_seq
              AND m.deleted_at IS NULL AND m.hidden_at IS NULL
            ORDER BY a.seq DESC, a.position DESC
            LIMIT p_max) g
     ORDER BY g.seq DESC, g.position DESC;
    IF NOT FOUND THEN
        PERFORM chat._participant_chat(p_chat);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.gallery(uuid, bigint, integer, integer) IS
'The images of a chat, newest first, before (before_seq, before_position) (NULL: from the newest), at most max_rows (1 to 1000); each with its message''s seq, sender, time and booking and whether portfolio consent is in force. Images of hidden messages, and of messages the actor cleared, are not listed.';
REVOKE ALL ON FUNCTION chat.gallery(uuid, bigint, integer, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.gallery(uuid, bigint, integer, integer) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._lock_chat_as_customer(chat_id uuid, seq bigint, "position" integer,
                                                       verb text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
    v_pair record;
BEGIN
    PERFORM chat._require_arg($1, 'chat_id');
    PERFORM chat._require_arg($2, 'seq');
    PERFORM chat._require_arg($3, 'position');
    v_pair := chat._lock_chat($1);
    IF v_pair.customer_id <> v_actor THEN
        RAISE EXCEPTION 'only the customer of the chat may % portfolio consent', verb
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Consent to show an image publicly is the customer''s to give and to take back.';
    END IF;
    IF $3 NOT BETWEEN 1 AND 10 THEN
        RAISE EXCEPTION 'position must be between 1 and 10, not %', $3
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The position of an image within its message, as chat.gallery() lists it.';
    END IF;
    RETURN v_pair.stylist_id;
END
$$;

COMMENT ON FUNCTION chat._lock_chat_as_customer(uuid, bigint, integer, text) IS
'Locks a chat of which the actor is the customer, checks an image''s seq and position, and returns the chat''s stylist; 28000, 22004, 42501 (not a participant, or the stylist), 22023. Internal.';
REVOKE ALL ON FUNCTION chat._lock_chat_as_customer(uuid, bigint, integer, text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.grant_portfolio_consent(chat_id uuid, seq bigint, "position" integer)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();     -- 28000 before anything else
    v_stylist uuid;
    v_msg record;
    v_key text;
BEGIN
    PERFORM chat._require_writable('grant_portfolio_consent');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('grant_portfolio_consent', $1, jsonb_build_array($2, $3));
        RETURN;
    END IF;
    v_stylist := chat._lock_chat_as_customer($1, $2, $3, 'grant');
    SELECT m.deleted_at, m.hidden_at INTO v_msg
      FROM chat.chat_messages m
     WHERE m.chat_id = $1 AND m.seq = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist in chat %', $2, $1
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_msg.deleted_at IS NOT NULL OR v_msg.hidden_at IS NOT NULL THEN
        RAISE EXCEPTION 'message % of chat % is %', $2, $1,
                        CASE WHEN v_msg.deleted_at IS NOT NULL THEN 'deleted' ELSE 'hidden' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The images of a deleted or hidden message cannot go into a portfolio.';
    END IF;
    SELECT a.storage_key INTO v_key
      FROM chat.media a
     WHERE a.chat_id = $1 AND a.seq = $2 AND a.position = $3;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % of chat % has no image at position %', $2, $1, $3
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'chat.gallery() lists the images of a chat with their seq and position.';
    END IF;

    -- under the chat's lock: granting what is in force already is a no-op
    INSERT INTO chat.portfolio_consents AS k (chat_id, stylist_id, seq, position, storage_key, granted_by)
    VALUES ($1, v_stylist, $2, $3, v_key, chat.current_actor())
    ON CONFLICT (chat_id, seq, position) WHERE revoked_at IS NULL DO NOTHING;
    IF FOUND THEN
        PERFORM chat._relay_change('consent', $1, $2);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.grant_portfolio_consent(uuid, bigint, integer) IS
'The customer of the chat lets its stylist show an image of the chat (any image, whoever sent it) in the stylist''s public portfolio, until revoked. Granting again is a no-op. The stylist gets 42501; an image of a deleted or hidden message 55000; no such image 22023. Kept as evidence; relayed as a consent event.';
REVOKE ALL ON FUNCTION chat.grant_portfolio_consent(uuid, bigint, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.grant_portfolio_consent(uuid, bigint, integer) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.revoke_portfolio_consent(chat_id uuid, seq bigint, "position" integer)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();     -- 28000 before anything else
    v_stylist uuid;
BEGIN
    PERFORM chat._require_writable('revoke_portfolio_consent');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('revoke_portfolio_consent', $1, jsonb_build_array($2, $3));
        RETURN;
    END IF;
    v_stylist := chat._lock_chat_as_customer($1, $2, $3, 'revoke');
    -- also of an image that is gone or hidden: the consent itself ends.
    -- Never dated before its grant: this transaction may have started
    -- before the granting one committed, while it waited for the lock
    UPDATE chat.portfolio_consents k
       SET revoked_at = greatest(now(), k.granted_at), revoked_by = chat.current_actor()
     WHERE k.chat_id = $1 AND k.seq = $2 AND k.position = $3 AND k.revoked_at IS NULL;
    IF FOUND THEN
        PERFORM chat._relay_change('consent', $1, $2);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.revoke_portfolio_consent(uuid, bigint, integer) IS
'The customer of the chat takes back portfolio consent for an image: it leaves the portfolio at once. Revoking what is not granted is a no-op. The grant and its revocation stay as evidence; relayed as a consent event.';
REVOKE ALL ON FUNCTION chat.revoke_portfolio_consent(uuid, bigint, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.revoke_portfolio_consent(uuid, bigint, integer) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._portfolio(stylist_id uuid, before_consent_id bigint, max_rows integer)
RETURNS TABLE (consent_id bigint, granted_at timestamptz, storage_key text, content_type text,
               byte_size bigint, width integer, height integer,
               chat_id uuid, seq bigint, "position" integer)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
AS $$
#variable_conflict use_column
DECLARE
    p_max integer := chat._check_max_rows($3);
BEGIN
    IF $2 IS NOT NULL AND $2 < 1 THEN
        RAISE EXCEPTION 'before_consent_id must be positive, not %', $2
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the consent_id of the last image of the previous page, or NULL for the newest.';
    END IF;
    RETURN QUERY
    SELECT k.id, k.granted_at, a.storage_key, a.content_type, a.byte_size, a.width, a.height,
           k.chat_id, k.seq, k.position::integer
      FROM chat.portfolio_consents k
      JOIN chat.media a ON a.chat_id = k.chat_id AND a.seq = k.seq AND a.position = k.position
      JOIN chat.chat_messages m ON m.chat_id = k.chat_id AND m.seq = k.seq
     WHERE k.stylist_id = $1 AND k.revoked_at IS NULL
       AND k.id < coalesce($2, 9223372036854775807)
       AND m.deleted_at IS NULL AND m.hidden_at IS NULL
     ORDER BY k.id DESC
     LIMIT p_max;
END
$$;

COMMENT ON FUNCTION chat._portfolio(uuid, bigint, integer) IS
'A page of a stylist''s images with consent in force, newest consent first, with the chat and message they come from. Internal: see portfolio() and my_portfolio().';
REVOKE ALL ON FUNCTION chat._portfolio(uuid, bigint, integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.portfolio(stylist_id uuid, before_consent_id bigint DEFAULT NULL,
                                          max_rows integer DEFAULT 50)
RETURNS TABLE (consent_id bigint, granted_at timestamptz, storage_key text, content_type text,
               byte_size bigint, width integer, height integer)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p_stylist uuid := chat._require_arg($1, 'stylist_id');
BEGIN
    IF chat._profile_role(p_stylist) IS DISTINCT FROM 'stylist' THEN
        RAISE EXCEPTION 'profile % is not a stylist', p_stylist
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- what a public page may show: the image, and when consent was given;
    -- never the customer, the chat or the message
    RETURN QUERY
    SELECT p.consent_id, p.granted_at, p.storage_key, p.content_type, p.byte_size, p.width, p.height
      FROM chat._portfolio(p_stylist, $2, $3) p;
END
$$;

COMMENT ON FUNCTION chat.portfolio(uuid, bigint, integer) IS
'A stylist''s public portfolio: the images their customers consented to show, newest consent first, before before_consent_id, at most max_rows (1 to 1000); without the customer, chat or message they come from. With or without an actor. For chat_service members.';
REVOKE ALL ON FUNCTION chat.portfolio(uuid, bigint, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.portfolio(uuid, bigint, integer) TO chat_service;

CREATE OR REPLACE FUNCTION chat.my_portfolio(before_consent_id bigint DEFAULT NULL,
                                             max_rows integer DEFAULT 50)
RETURNS TABLE (consent_id bigint, granted_at timestamptz, storage_key text, content_type text,
               byte_size bigint, width integer, height integer,
               chat_id uuid, seq bigint, "position" integer)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actor uuid := chat.require_actor();
BEGIN
    IF chat._profile_role(v_actor) IS DISTINCT FROM 'stylist' THEN
        RAISE EXCEPTION 'only a stylist has a portfolio'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A customer sees which of their images are in a portfolio in chat.gallery().';
    END IF;
    RETURN QUERY SELECT * FROM chat._portfolio(v_actor, $1, $2);
END
$$;

COMMENT ON FUNCTION chat.my_portfolio(bigint, integer) IS
'The acting stylist''s portfolio, as portfolio() lists it, with the chat, seq and position each image comes from. Others get 42501.';
REVOKE ALL ON FUNCTION chat.my_portfolio(bigint, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.my_portfolio(bigint, integer) TO chat_service, chat_user;

/*
 * The evidence is append-only: a consent row is inserted, then at most
 * once revoked.  Nothing else changes it, the extension owner included
 * (whose functions write it); only the extension owner may delete rows
 * (a court order, say), superusers refused as for the audit log.
 */
CREATE OR REPLACE FUNCTION chat._consents_append_only()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.revoked_at IS NOT NULL
           OR (NEW.chat_id, NEW.id, NEW.stylist_id, NEW.seq, NEW.position, NEW.storage_key,
               NEW.granted_at, NEW.granted_by)
              IS DISTINCT FROM
              (OLD.chat_id, OLD.id, OLD.stylist_id, OLD.seq, OLD.position, OLD.storage_key,
               OLD.granted_at, OLD.granted_by) THEN
            RAISE EXCEPTION 'portfolio consents are evidence: a consent is only ever revoked, once'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF NOT chat._by_extension_owner() THEN
        RAISE EXCEPTION 'portfolio consents are evidence: they are not deleted'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('%s of chat.portfolio_consents is allowed to the extension owner only.', TG_OP);
    END IF;
    RETURN OLD;
END
$$;

COMMENT ON FUNCTION chat._consents_append_only() IS
'Keeps chat.portfolio_consents as evidence: an UPDATE may only revoke a consent in force; DELETE and TRUNCATE are for the extension owner only, superusers included. Internal.';
REVOKE ALL ON FUNCTION chat._consents_append_only() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE TRIGGER portfolio_consents_append_only
    BEFORE UPDATE OR DELETE ON chat.portfolio_consents
    FOR EACH ROW EXECUTE FUNCTION chat._consents_append_only();
CREATE OR REPLACE TRIGGER portfolio_consents_no_truncate
    BEFORE TRUNCATE ON chat.portfolio_consents
    FOR EACH STATEMENT EXECUTE FUNCTION chat._consents_append_only();
