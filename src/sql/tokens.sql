/*
 * Identity for connections that are not trusted: signed tokens.
 *
 * The application backend (chat_service) mints a token for a profile; an
 * end-user connection (chat_user) presents it to chat.authenticate().  A
 * token is good until it expires, until its signing key is rotated out
 * (two rotations), or until the profile's tokens are revoked; an actor
 * set with it ends at the same moment (checked in src/actor.c).  A login
 * token is good once: whoever reads it afterwards from a query log or
 * from pg_stat_activity holds nothing.
 */

CREATE OR REPLACE FUNCTION chat._issue_token(profile_id uuid, ttl interval, max_ttl interval,
                                             single_use boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    p_profile uuid := chat._require_arg($1, 'profile_id');
    p_ttl interval := chat._require_arg($2, 'ttl');
    v_now timestamptz := clock_timestamp();
BEGIN
    IF p_ttl <= interval '0' OR p_ttl > max_ttl THEN
        RAISE EXCEPTION 'ttl must be positive and at most %, not %', max_ttl, p_ttl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chat._profile_role(p_profile) IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', p_profile
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Create it first with chat.upsert_profile().';
    END IF;
    IF EXISTS (SELECT FROM chat.profiles p WHERE p.id = p_profile AND p.erased_at IS NOT NULL) THEN
        RAISE EXCEPTION 'profile % was erased', p_profile
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'An erased profile gets no token.';
    END IF;
    RETURN chat._sign_token_v2((SELECT s.key FROM chat.secrets s WHERE s.name = 'signing'),
                               p_profile, v_now, v_now + p_ttl,
                               pg_catalog.gen_random_uuid(), single_use);
END
$$;

COMMENT ON FUNCTION chat._issue_token(uuid, interval, interval, boolean) IS
'Mints a token for a profile, good for ttl (at most max_ttl), once or until it expires. Internal: see issue_token() and issue_login_token().';
REVOKE ALL ON FUNCTION chat._issue_token(uuid, interval, interval, boolean) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.issue_token(profile_id uuid, ttl interval DEFAULT '1 hour')
RETURNS text
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT chat._issue_token($1, $2, interval '30 days', false)
$$;

COMMENT ON FUNCTION chat.issue_token(uuid, interval) IS
'A signed token that lets a connection act as the profile until now() + ttl (at most 30 days), as often as it is presented: for a gateway that keeps it and authenticates each transaction with it. Give raw SQL clients a login token (issue_login_token) instead. For chat_service members.';
REVOKE ALL ON FUNCTION chat.issue_token(uuid, interval) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.issue_token(uuid, interval) TO chat_service;

CREATE OR REPLACE FUNCTION chat.issue_login_token(profile_id uuid, ttl interval DEFAULT '5 minutes')
RETURNS text
LANGUAGE sql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT chat._issue_token($1, $2, interval '1 hour', true)
$$;

COMMENT ON FUNCTION chat.issue_login_token(uuid, interval) IS
'A signed token that chat.authenticate() accepts once, within ttl (at most 1 hour): a replay, from a log or another session''s pg_stat_activity, is refused. For chat_service members.';
REVOKE ALL ON FUNCTION chat.issue_login_token(uuid, interval) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.issue_login_token(uuid, interval) TO chat_service;

CREATE OR REPLACE FUNCTION chat.authenticate(token text, for_session boolean DEFAULT false)
RETURNS uuid
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v record;
BEGIN
    SELECT * INTO v
      FROM chat._check_token($1,
                             (SELECT s.key FROM chat.secrets s WHERE s.name = 'signing'),
                             (SELECT s.key FROM chat.secrets s WHERE s.name = 'signing_previous'));
    -- one answer for every kind of bad token: nothing says which part failed
    IF v.profile_id IS NULL
       OR chat._profile_role(v.profile_id) IS NULL
       OR EXISTS (SELECT FROM chat.token_revocations r
                   WHERE r.profile_id = v.profile_id
                     AND (v.issued_at IS NULL OR r.revoked_at >= v.issued_at)) THEN
        v.profile_id := NULL;
    ELSIF v.single_use THEN
        PERFORM chat._require_writable('authenticate');
        -- spent once and for all when this transaction commits; expired
        -- entries make room as new ones come (those another login holds
        -- are left to the next: nobody waits on another's open transaction)
        DELETE FROM chat.used_tokens u
         WHERE u.token_id IN (SELECT x.token_id FROM chat.used_tokens x
                               WHERE x.expires_at < now() LIMIT 10
                                 FOR UPDATE SKIP LOCKED);
        INSERT INTO chat.used_tokens (token_id, expires_at)
        VALUES (v.token_id, v.expires_at)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            v.profile_id := NULL;
        END IF;
    END IF;
    IF v.profile_id IS NULL THEN
        RAISE EXCEPTION 'invalid token'
            USING ERRCODE = 'invalid_authorization_specification',
                  HINT = 'Ask the application for a new token.';
    END IF;
    PERFORM chat._act_as_token(v.profile_id, v.issued_at, v.expires_at, v.key_fingerprint,
                               chat._require_arg($2, 'for_session'));
    RETURN v.profile_id;
END
$$;

COMMENT ON FUNCTION chat.authenticate(text, boolean) IS
'Check a token from chat.issue_token() or chat.issue_login_token() and act as its profile until the transaction ends (or for the session, with for_session, where a superuser has enabled stylist_chat.session_identity for the login), and never beyond the token''s expiry, key or revocation. A login token is spent. Any bad token gives SQLSTATE 28000. For chat_user members.';
REVOKE ALL ON FUNCTION chat.authenticate(text, boolean) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.authenticate(text, boolean) TO chat_user;

CREATE OR REPLACE FUNCTION chat.revoke_tokens(profile_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    p_profile uuid := chat._require_arg($1, 'profile_id');
BEGIN
    PERFORM chat._require_writable('revoke_tokens');
    IF chat._profile_role(p_profile) IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', p_profile
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO chat.token_revocations AS r (profile_id, revoked_at)
    VALUES (p_profile, clock_timestamp())
    ON CONFLICT ON CONSTRAINT token_revocations_pkey DO UPDATE SET revoked_at = excluded.revoked_at;
END
$$;

COMMENT ON FUNCTION chat.revoke_tokens(uuid) IS
'Revoke every token of a profile issued until now (a stolen phone): sessions authenticated with them lose their actor at their next call. Tokens issued afterwards work. For chat_service members.';
REVOKE ALL ON FUNCTION chat.revoke_tokens(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.revoke_tokens(uuid) TO chat_service;

CREATE OR REPLACE FUNCTION chat.rotate_signing_key()
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
    v_current bytea;
    v_new bytea;
BEGIN
    PERFORM chat._require_writable('rotate_signing_key');
    SELECT s.key INTO v_current FROM chat.secrets s WHERE s.name = 'signing' FOR UPDATE;
    INSERT INTO chat.secrets AS s (name, key, created_at) VALUES ('signing_previous', v_current, now())
    ON CONFLICT (name) DO UPDATE SET key = excluded.key, created_at = excluded.created_at;
    v_new := chat._random_key();    -- a value: Citus sends the statement to every node
    UPDATE chat.secrets s SET key = v_new, created_at = now()
     WHERE s.name = 'signing';
END
$$;

COMMENT ON FUNCTION chat.rotate_signing_key() IS
'Sign new tokens with a new key; tokens of the previous key keep working until they expire, older ones stop, and so do the sessions authenticated with them. Channel names do not change. For chat_service members.';
REVOKE ALL ON FUNCTION chat.rotate_signing_key() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.rotate_signing_key() TO chat_service;
