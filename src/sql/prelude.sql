/*
 * Before anything is created: the schema must be the installer's own and
 * empty, and the roles must exist.
 *
 * CREATE EXTENSION installs into schema chat whether it made the schema or
 * found it.  A schema made beforehand by another role would let that role
 * plant objects (a closer overload of an internal function, say) that the
 * SECURITY DEFINER functions below would then run as the extension owner.
 * So the install refuses a schema chat that belongs to anyone else, that
 * anyone else may create objects in, or that holds anything at all.
 */
DO $$
DECLARE
    v_schema oid;
    v_owner name;
    v_objects text;
BEGIN
    SELECT n.oid, pg_catalog.pg_get_userbyid(n.nspowner) INTO v_schema, v_owner
      FROM pg_catalog.pg_namespace n WHERE n.nspname = 'chat';
    IF v_owner IS DISTINCT FROM current_user THEN
        RAISE EXCEPTION 'schema chat belongs to role %, not to %', v_owner, current_user
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The owner of schema chat could create objects that the extension''s functions would run with the extension owner''s rights.',
                  HINT = 'Drop or rename the existing schema chat (or make the installing superuser its owner and check what it holds), then run CREATE EXTENSION stylist_chat again.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_namespace n,
                      LATERAL pg_catalog.aclexplode(n.nspacl) a
                WHERE n.oid = v_schema AND a.privilege_type = 'CREATE'
                  AND a.grantee <> n.nspowner) THEN
        RAISE EXCEPTION 'other roles may create objects in schema chat'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Objects they create could be run with the extension owner''s rights.',
                  HINT = 'REVOKE CREATE ON SCHEMA chat FROM the other roles, then run CREATE EXTENSION stylist_chat again.';
    END IF;
    SELECT string_agg(o, ', ' ORDER BY o) INTO v_objects
      FROM (SELECT 'relation ' || relname AS o FROM pg_catalog.pg_class WHERE relnamespace = v_schema
            UNION ALL
            SELECT 'function ' || proname FROM pg_catalog.pg_proc WHERE pronamespace = v_schema
            UNION ALL
            SELECT 'type ' || typname FROM pg_catalog.pg_type WHERE typnamespace = v_schema
            UNION ALL
            SELECT 'operator ' || oprname FROM pg_catalog.pg_operator WHERE oprnamespace = v_schema
            UNION ALL
            SELECT 'collation ' || collname FROM pg_catalog.pg_collation WHERE collnamespace = v_schema
            UNION ALL
            SELECT 'conversion ' || conname FROM pg_catalog.pg_conversion WHERE connamespace = v_schema
            UNION ALL
            SELECT 'operator family ' || opfname FROM pg_catalog.pg_opfamily WHERE opfnamespace = v_schema
            UNION ALL
            SELECT 'text search configuration ' || cfgname FROM pg_catalog.pg_ts_config WHERE cfgnamespace = v_schema
            UNION ALL
            SELECT 'text search dictionary ' || dictname FROM pg_catalog.pg_ts_dict WHERE dictnamespace = v_schema
            UNION ALL
            SELECT 'default privileges' FROM pg_catalog.pg_default_acl WHERE defaclnamespace = v_schema) x;
    IF v_objects IS NOT NULL THEN
        RAISE EXCEPTION 'schema chat is not empty'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'It holds: ' || v_objects || '.',
                  HINT = 'Install into a fresh schema: drop or rename the existing schema chat, then run CREATE EXTENSION stylist_chat again.';
    END IF;
END
$$;

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

-- the relay worker serves one database: say so where it is not this one
DO $$
DECLARE
    v_relayed text := pg_catalog.current_setting('stylist_chat.database', true);
BEGIN
    IF v_relayed IS NULL THEN
        RAISE WARNING 'stylist_chat is not in shared_preload_libraries: the chat events of this database will wait, not be relayed'
            USING HINT = 'Add stylist_chat to shared_preload_libraries, set stylist_chat.database = ''' || current_database() || ''' and restart the server.';
    ELSIF v_relayed <> current_database() THEN
        RAISE WARNING 'the relay worker serves database "%", not "%": the chat events of this database will not be relayed', v_relayed, current_database()
            USING HINT = 'Set stylist_chat.database = ''' || current_database() || ''' and restart the server, or install the extension in database "' || v_relayed || '".';
    END IF;
END
$$;
