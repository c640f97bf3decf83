/*
 * Before an update changes anything (the first part of every upgrade
 * script): an install into a schema chat that someone else could write to
 * (see src/sql/prelude.sql) is not upgraded, for objects they planted
 * would run with the extension owner's rights.
 */

DO $$
DECLARE
    v_foreign text;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_namespace n
                WHERE n.nspname = 'chat'
                  AND (n.nspowner <> (SELECT e.extowner FROM pg_catalog.pg_extension e
                                       WHERE e.extname = 'stylist_chat')
                       OR EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a
                                   WHERE a.privilege_type = 'CREATE'
                                     AND a.grantee <> n.nspowner))) THEN
        RAISE EXCEPTION 'schema chat may be written to by roles other than the extension owner'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Make the extension owner the owner of schema chat and REVOKE CREATE ON SCHEMA chat FROM the others, check what they created there, then update again.';
    END IF;
    SELECT string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, 0), ', ') INTO v_foreign
      FROM (SELECT 'pg_class'::regclass AS classid, oid AS objid FROM pg_catalog.pg_class
             WHERE relnamespace = 'chat'::regnamespace AND relkind IN ('r', 'v', 'm', 'f', 'p', 'S')
            UNION ALL
            SELECT 'pg_proc'::regclass, oid FROM pg_catalog.pg_proc
             WHERE pronamespace = 'chat'::regnamespace
            UNION ALL
            SELECT 'pg_operator'::regclass, oid FROM pg_catalog.pg_operator
             WHERE oprnamespace = 'chat'::regnamespace) d
     WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend x
                        WHERE x.classid = d.classid AND x.objid = d.objid AND x.deptype = 'e')
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend x      -- indexes, sequences of columns
                        WHERE x.classid = d.classid AND x.objid = d.objid AND x.deptype IN ('i', 'a'));
    IF v_foreign IS NOT NULL THEN
        RAISE EXCEPTION 'schema chat holds objects that are not part of the extension'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Found: ' || v_foreign || '.',
                  HINT = 'Whoever created them could have them run with the extension owner''s rights: check and drop them, then update again.';
    END IF;
END
$$;
