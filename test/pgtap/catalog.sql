-- test/pgtap/catalog.sql: what every function, view and table of the
-- extension promises, object by object, read from the catalogs.
--
--   * PUBLIC has no privilege on it: nobody gets a function or a relation
--     by merely connecting.  Privileges are read from the ACL itself
--     (aclexplode), since has_function_privilege() cannot name PUBLIC; a
--     NULL ACL means the default one, which for a function includes
--     EXECUTE for PUBLIC.
--   * it has a comment (COMMENT ON ...);
--   * a SECURITY DEFINER function pins search_path to exactly
--     pg_catalog, pg_temp, so that a caller cannot plant an object it
--     would resolve.
--
-- The objects are the members of extension stylist_chat in schema chat,
-- so the plan grows with the extension.  Read-only; run on a fresh install
-- by test/run.sh and on an upgraded database by test/scripts/upgrade.sh.
BEGIN;

CREATE TEMPORARY VIEW members AS
SELECT 'function'::text AS kind, p.oid::regprocedure::text AS name,
       coalesce(p.proacl, acldefault('f', p.proowner)) AS acl,
       obj_description(p.oid, 'pg_proc') AS comment,
       p.prosecdef AS definer, p.proconfig AS config
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stylist_chat'
  JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.deptype = 'e' AND p.pronamespace = 'chat'::regnamespace
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END,
       c.oid::regclass::text,
       coalesce(c.relacl, acldefault('r', c.relowner)),
       obj_description(c.oid, 'pg_class'),
       false, NULL
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stylist_chat'
  JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.deptype = 'e' AND c.relnamespace = 'chat'::regnamespace AND c.relkind IN ('r', 'v');

SELECT plan((SELECT 2 * count(*) + count(*) FILTER (WHERE definer) + 2 FROM members)::integer);

-- There is something to check: the extension's functions, views and tables.
SELECT cmp_ok((SELECT count(*) FROM members WHERE kind = 'function'), '>', 0::bigint,
              'the extension has functions in schema chat');
SELECT cmp_ok((SELECT count(*) FROM members WHERE kind = 'view'), '>', 0::bigint,
              'the extension has views in schema chat');

-- PUBLIC (grantee 0) holds no privilege on any of them.
SELECT is((SELECT coalesce(array_agg(a.privilege_type ORDER BY a.privilege_type), '{}')
             FROM aclexplode(m.acl) a WHERE a.grantee = 0),
          '{}'::text[],
          format('%s %s: PUBLIC has no privilege', m.kind, m.name))
  FROM members m
 ORDER BY m.kind, m.name;

-- Each is documented.
SELECT ok(m.comment IS NOT NULL AND btrim(m.comment) <> '',
          format('%s %s has a comment', m.kind, m.name))
  FROM members m
 ORDER BY m.kind, m.name;

-- Each SECURITY DEFINER function resolves names in pg_catalog and then
-- pg_temp only (pg_temp last, or it would be searched first).
SELECT ok('search_path=pg_catalog, pg_temp' = ANY (coalesce(m.config, '{}')),
          format('SECURITY DEFINER function %s pins search_path = pg_catalog, pg_temp', m.name))
  FROM members m
 WHERE m.definer
 ORDER BY m.name;

SELECT * FROM finish();
ROLLBACK;
