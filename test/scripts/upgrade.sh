#!/usr/bin/env bash
# test/scripts/upgrade.sh: ALTER EXTENSION stylist_chat UPDATE, on a live
# database, gives what a fresh install gives and loses nothing.
#
# The versions: every version with an upgrade path to the default version,
# as the server sees the installed scripts (pg_extension_update_paths);
# every stylist_chat--A--B.sql of the tree (built from src/sql/updates/ or
# frozen at the top level) must be among the installed ones.  Nothing here
# names a version.  For each such version V, in database chat_upgrade of a
# cluster of its own (test/lib.sh, stylist_chat.database = 'chat_upgrade',
# so that the relay worker serves it; removed at the end, whatever the end):
#
#   1. CREATE EXTENSION stylist_chat VERSION 'V', filled through the API of
#      1.0 only: customers, stylists and an admin; bookings; four chats
#      (one empty) with messages carrying booking refs, client_msg_ids and
#      attachments; an edit, a delete, read marks (mark_read), delivery
#      marks (undelivered()), an admin's read (admin_history) and a hidden
#      message (hide_message) in the audit log; a token minted, the signing
#      key rotated, another token minted.
#   2. a listener (psql, fed through a fifo) LISTENs on the admin's channel
#      from listen_channel() and receives a message relayed by the worker;
#   3. recorded: the md5 of every table's rows, the audit id sequence, each
#      profile's listen_channel(), the worker's pid;
#   4. ALTER EXTENSION stylist_chat UPDATE, with the worker running and the
#      listener connected; then:
#        a. the catalogs of the extension are those of a fresh install of the
#           default version in database chat_fresh: every member object
#           (pg_depend deptype 'e') with its definition (functions in full;
#           views and their options; tables with their columns in order,
#           constraints, indexes, triggers, row level security, options;
#           sequences' parameters), owner, privileges, comment and
#           pg_init_privs entry; the schema's owner, privileges and
#           comment; the extension's version and configuration tables.
#           No OID is compared.  A difference is shown as a unified diff.
#           Privileges are compared as what they grant: a NULL ACL (or no
#           pg_init_privs entry) is the default ACL for the owner, and the
#           items are sorted;
#        b. every table's rows are what they were, tables new in the update
#           are empty (chat.retention_state and chat.filter_state have
#           their one row), the audit id sequence has not moved;
#        c. each token minted before the update still authenticates, as a
#           chat_user login, for the transaction;
#        d. each profile's listen_channel() is what it was;
#        e. a message sent after the update reaches the listener, still on
#           its first connection, and the worker's pid has not changed;
#        f. pg_prove of test/pgtap/privileges.sql and test/pgtap/catalog.sql
#           pass on the upgraded database (pgtap is created for them after
#           the other checks).
#
# Usage: bash test/scripts/upgrade.sh [DBNAME] from the repository root
# (DBNAME, which the runner passes, is not used: the cluster is its own).
# Output: TAP.  About 10 s a version.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_upgrade.XXXXXX)
chmod 755 "$WORK"
LISTENER=

cleanup() {
    exec 7>&- 2>/dev/null
    [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
    wait 2>/dev/null
    cluster_stop
    rm -rf "$WORK"
}

# TAP
n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# ok STATUS DESCRIPTION [FILE]: pass when STATUS is 0, else fail and show FILE
ok() {
    if [ "$1" -eq 0 ]; then
        pass "$2"
    else
        fail "$2"
        [ -n "${3:-}" ] && [ -s "$3" ] && sed 's/^/#   /' "$3" | head -"${4:-40}"
    fi
    return 0
}
diag() { echo "# $*"; }
bail() { echo "Bail out! $*"; exit 1; }

EXT=stylist_chat
DB=chat_upgrade
FRESH=chat_fresh
USER_LOGIN=regress_upgrade_user
PER_VERSION=14

cluster_start "stylist_chat.database = '$DB'" || bail "cannot start a cluster"
trap cleanup EXIT
trap '' PIPE    # a listener that died fails a write to its fifo, not the script

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
# q DB SQL: one statement's result; errors go to $WORK/psql.err
q() { "${PSQL[@]}" -d "$1" -c "$2" 2>>"$WORK/psql.err"; }
# as_actor DB PROFILE SQL...: the statements in one transaction, acting as PROFILE
as_actor() {
    local db=$1 actor=$2
    shift 2
    {
        echo "BEGIN;"
        echo "SELECT chat.act_as('$actor') \\g /dev/null"
        for s in "$@"; do echo "$s;"; done
        echo "COMMIT;"
    } | "${PSQL[@]}" -d "$db" 2>>"$WORK/psql.err"
}

# wait_until TIMEOUT_S DB SQL EXPECTED: poll until SQL returns EXPECTED
wait_until() {
    local deadline=$((SECONDS + $1)) got
    while :; do
        got=$(q "$2" "$3" 2>/dev/null)
        [ "$got" == "$4" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

WORKER_PID="SELECT pid FROM pg_stat_activity WHERE backend_type = 'stylist_chat relay' AND datname = '$DB'"

# ---------------------------------------------------------------------------
# the versions
# ---------------------------------------------------------------------------
q postgres "SELECT 1" >/dev/null || bail "cannot connect"
DEFAULT=$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = '$EXT'")
[ -n "$DEFAULT" ] || bail "extension $EXT is not installed"
mapfile -t VERSIONS < <(q postgres "SELECT source FROM pg_extension_update_paths('$EXT')
                                     WHERE target = '$DEFAULT' AND path IS NOT NULL
                                     ORDER BY source")
echo "1..$((2 + PER_VERSION * ${#VERSIONS[@]}))"
diag "default version $DEFAULT; versions with an upgrade path to it: ${VERSIONS[*]:-none}"

# the upgrade scripts of the tree, built from src/sql/updates/ or frozen at
# the top level, are installed, and the installed ones are the tree's
SHAREDIR=$("$PG_CONFIG" --sharedir)/extension
: >"$WORK/scripts.missing"
while read -r script; do
    if [ ! -e "$SHAREDIR/$script" ]; then
        echo "$script is not installed" >>"$WORK/scripts.missing"
    elif [ -e "$script" ] && ! cmp -s "$script" "$SHAREDIR/$script"; then
        echo "$script differs from the one installed" >>"$WORK/scripts.missing"
    fi
done < <({ for f in src/sql/updates/*.sql; do [ -e "$f" ] && echo "$EXT--$(basename "$f")"; done
           for f in "$EXT"--*--*.sql; do [ -e "$f" ] && echo "$f"; done; } | sort -u)
ok "$([ -s "$WORK/scripts.missing" ]; echo $((1 - $?)))" \
    "every upgrade script of the tree is installed (in $SHAREDIR)" "$WORK/scripts.missing"
ok "$([ ${#VERSIONS[@]} -gt 0 ]; echo $?)" \
    "at least one version has an upgrade path to $DEFAULT (${#VERSIONS[@]}: ${VERSIONS[*]:-none})"

# ---------------------------------------------------------------------------
# the catalog fingerprint of the extension in a database
# ---------------------------------------------------------------------------
cat >"$WORK/fingerprint.sql" <<'EOF'
-- what an ACL grants, independent of how it is stored: NULL is the
-- owner's default, items sorted, roles by name
CREATE FUNCTION pg_temp.acl(acl aclitem[], objtype "char", owner oid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(x, ' ' ORDER BY x), '(none)')
      FROM (SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
                   || '=' || a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END
                   || '/' || pg_get_userbyid(a.grantor) AS x
              FROM aclexplode(coalesce(acl, acldefault(objtype, owner))) a) s
$$;
-- the initial privileges that pg_dump compares with, for (catalog, object,
-- sub-object): without an entry, the default ACL, as pg_dump takes it
CREATE FUNCTION pg_temp.initprivs(cls oid, obj oid, sub int, objtype "char", owner oid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT pg_temp.acl((SELECT i.initprivs FROM pg_init_privs i
                         WHERE i.classoid = cls AND i.objoid = obj AND i.objsubid = sub),
                       objtype, owner)
$$;
CREATE FUNCTION pg_temp.comment(cls oid, obj oid, sub int) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(quote_literal(d.description), '(none)')
      FROM (SELECT) x LEFT JOIN pg_description d
        ON d.classoid = cls AND d.objoid = obj AND d.objsubid = sub
$$;

WITH member AS (
    SELECT d.classid, d.objid, pg_describe_object(d.classid, d.objid, 0) AS what
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE e.extname = 'stylist_chat' AND d.refclassid = 'pg_extension'::regclass
       AND d.deptype = 'e'
), block AS (
    -- functions
    SELECT m.what, concat_ws(E'\n',
               '  owner: ' || pg_get_userbyid(p.proowner),
               '  acl: ' || pg_temp.acl(p.proacl, 'f', p.proowner),
               '  init privs: ' || pg_temp.initprivs(m.classid, m.objid, 0, 'f', p.proowner),
               '  comment: ' || pg_temp.comment(m.classid, m.objid, 0),
               '  definition:', pg_get_functiondef(p.oid)) AS body
      FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    -- relations: views, tables, sequences
    SELECT m.what, concat_ws(E'\n',
               '  kind: ' || c.relkind::text || ' persistence: ' || c.relpersistence::text
                   || ' replica identity: ' || c.relreplident::text,
               '  owner: ' || pg_get_userbyid(c.relowner),
               '  acl: ' || pg_temp.acl(c.relacl, CASE c.relkind WHEN 'S' THEN 's'::"char" ELSE 'r'::"char" END, c.relowner),
               '  init privs: ' || pg_temp.initprivs(m.classid, m.objid, 0,
                                                     CASE c.relkind WHEN 'S' THEN 's'::"char" ELSE 'r'::"char" END, c.relowner),
               '  comment: ' || pg_temp.comment(m.classid, m.objid, 0),
               '  options: ' || coalesce(array_to_string(c.reloptions, ', '), '(none)'),
               '  row security: ' || c.relrowsecurity || ' forced: ' || c.relforcerowsecurity,
               CASE WHEN c.relkind = 'v' THEN '  view:' || E'\n' || pg_get_viewdef(c.oid) END,
               CASE WHEN c.relkind = 'S' THEN
                   (SELECT '  sequence: ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart
                           || ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax
                           || ' cache ' || s.seqcache || ' cycle ' || s.seqcycle
                      FROM pg_sequence s WHERE s.seqrelid = c.oid) END,
               CASE WHEN c.relkind = 'S' THEN
                   (SELECT '  owned by: ' || string_agg(pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
                                                         || ' (' || d.deptype::text || ')', ', ')
                      FROM pg_depend d
                     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')) END,
               (SELECT string_agg(format('  column %s %s%s%s%s%s%s acl: %s init privs: %s comment: %s',
                                         a.attname, format_type(a.atttypid, a.atttypmod),
                                         CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                         CASE WHEN a.atthasdef THEN ' default ' ||
                                              (SELECT pg_get_expr(ad.adbin, ad.adrelid) FROM pg_attrdef ad
                                                WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum) ELSE '' END,
                                         CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END,
                                         CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END,
                                         CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                                              THEN ' collate ' || a.attcollation::regcollation ELSE '' END,
                                         coalesce(array_to_string(a.attacl, ' '), '(none)'),
                                         pg_temp.initprivs(m.classid, m.objid, a.attnum, 'c', c.relowner),
                                         pg_temp.comment(m.classid, m.objid, a.attnum)),
                                  E'\n' ORDER BY a.attnum)
                  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND c.relkind <> 'S'),
               (SELECT string_agg(format('  constraint %s: %s', k.conname, pg_get_constraintdef(k.oid)),
                                  E'\n' ORDER BY k.conname)
                  FROM pg_constraint k WHERE k.conrelid = c.oid),
               (SELECT string_agg(format('  index: %s%s', pg_get_indexdef(i.indexrelid),
                                         CASE WHEN i.indisclustered THEN ' (clustered)' ELSE '' END),
                                  E'\n' ORDER BY i.indexrelid::regclass::text)
                  FROM pg_index i WHERE i.indrelid = c.oid),
               (SELECT string_agg(format('  trigger: %s (enabled %s)', pg_get_triggerdef(g.oid), g.tgenabled::text),
                                  E'\n' ORDER BY g.tgname)
                  FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal),
               (SELECT string_agg(format('  policy %s: %s %s to %s using %s check %s', p.polname, p.polcmd::text,
                                         p.polpermissive, p.polroles::regrole[],
                                         pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)),
                                  E'\n' ORDER BY p.polname)
                  FROM pg_policy p WHERE p.polrelid = c.oid),
               (SELECT string_agg(format('  rule %s: %s', r.rulename, pg_get_ruledef(r.oid)),
                                  E'\n' ORDER BY r.rulename)
                  FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN')) AS body
      FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    -- anything else: what it is, and its comment
    SELECT m.what, '  comment: ' || pg_temp.comment(m.classid, m.objid, 0)
      FROM member m
     WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass)
    UNION ALL
    SELECT '~ schema ' || n.nspname, concat_ws(E'\n',
               '  owner: ' || pg_get_userbyid(n.nspowner),
               '  acl: ' || pg_temp.acl(n.nspacl, 'n', n.nspowner),
               '  init privs: ' || pg_temp.initprivs('pg_namespace'::regclass, n.oid, 0, 'n', n.nspowner),
               '  comment: ' || pg_temp.comment('pg_namespace'::regclass, n.oid, 0),
               '  default privileges: ' || coalesce((SELECT string_agg(d.defaclobjtype::text || ' ' || d.defaclacl::text, ', ')
                                                        FROM pg_default_acl d WHERE d.defaclnamespace = n.oid), '(none)'))
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'stylist_chat'
    UNION ALL
    SELECT '~ extension ' || e.extname, concat_ws(E'\n',
               '  version: ' || e.extversion,
               '  owner: ' || pg_get_userbyid(e.extowner),
               '  relocatable: ' || e.extrelocatable,
               '  comment: ' || pg_temp.comment('pg_extension'::regclass, e.oid, 0),
               '  configuration: ' || coalesce((SELECT string_agg(c.cfg::regclass::text || ' where ' || quote_literal(c.cond),
                                                                  ', ' ORDER BY c.cfg::regclass::text)
                                                  FROM unnest(e.extconfig, e.extcondition) AS c(cfg, cond)), '(none)'),
               '  members: ' || (SELECT count(*) FROM member))
      FROM pg_extension e
     WHERE e.extname = 'stylist_chat'
)
SELECT what || E'\n' || coalesce(body, '') FROM block ORDER BY what;
EOF

# fingerprint DB FILE
fingerprint() {
    "${PSQL[@]}" -d "$1" -f "$WORK/fingerprint.sql" >"$2" 2>>"$WORK/psql.err"
}

# ---------------------------------------------------------------------------
# the state to keep
# ---------------------------------------------------------------------------
C1=c0000000-0000-4000-8000-0000000000c1
C2=c0000000-0000-4000-8000-0000000000c2
S1=50000000-0000-4000-8000-0000000000a1
S2=50000000-0000-4000-8000-0000000000a2
AD=ad000000-0000-4000-8000-0000000000ad
B1=b0000000-0000-4000-8000-0000000000b1
B2=b0000000-0000-4000-8000-0000000000b2
PROFILES=("$C1" "$C2" "$S1" "$S2" "$AD")
IMG='{"storage_key": "chat/img-1.png", "content_type": "image/png", "byte_size": 2048, "width": 640, "height": 480}'
IMG2='{"storage_key": "chat/img-2.jpeg", "content_type": "image/jpeg", "byte_size": 99999, "width": 1024, "height": 768}'

# fill DB: everything through the API of 1.0; prints the chat ids and tokens
fill() {
    local db=$1 chat1 chat2 chat3 chat4
    q "$db" "SELECT chat.upsert_profile('$C1', 'customer', 'Carla'),
                    chat.upsert_profile('$C2', 'customer', 'Chen'),
                    chat.upsert_profile('$S1', 'stylist', 'Sofia'),
                    chat.upsert_profile('$S2', 'stylist', 'Sven'),
                    chat.upsert_profile('$AD', 'admin', 'Ada'),
                    chat.upsert_profile('$C2', 'customer', 'Chen Li')" >/dev/null || return 1
    q "$db" "SELECT chat.upsert_booking('$B1', '$C1', '$S1', 'Cut and colour', '2024-05-01 10:00+00', 'confirmed'),
                    chat.upsert_booking('$B2', '$C2', '$S1', 'Beard trim', '2024-05-02 11:30+00', 'pending'),
                    chat.upsert_booking('$B2', '$C2', '$S1', 'Beard trim', '2024-05-02 11:30+00', 'cancelled')" \
        >/dev/null || return 1
    chat1=$(as_actor "$db" "$C1" "SELECT chat.get_or_create_chat('$C1', '$S1')") || return 1
    chat2=$(as_actor "$db" "$S1" "SELECT chat.get_or_create_chat('$C2', '$S1')") || return 1
    chat3=$(as_actor "$db" "$C1" "SELECT chat.chat_with('$S2')") || return 1
    chat4=$(as_actor "$db" "$C2" "SELECT chat.chat_with('$S2')") || return 1     # stays empty
    as_actor "$db" "$C1" \
        "SELECT chat.send_message('$chat1', 'Hello, about Thursday', '$B1', md5('c1-1')::uuid)" \
        "SELECT chat.send_message('$chat1', 'a typo heer', NULL, md5('c1-2')::uuid)" \
        "SELECT chat.edit_message('$chat1', 2, 'a typo here')" \
        "SELECT chat.send_message('$chat1', 'sent by mistake', NULL, md5('c1-3')::uuid, '[$IMG]')" \
        "SELECT chat.delete_message('$chat1', 3)" \
        "SELECT chat.send_message('$chat3', E'first line\\nsecond line', NULL, md5('c3-1')::uuid)" \
        >/dev/null || return 1
    as_actor "$db" "$S1" \
        "SELECT chat.send_message('$chat1', 'Here are two looks', '$B1', md5('s1-1')::uuid, '[$IMG, $IMG2]')" \
        "SELECT chat.send_message('$chat1', 'something rude', NULL, md5('s1-2')::uuid)" \
        "SELECT chat.send_message('$chat2', 'Your trim is cancelled', '$B2', NULL)" \
        "SELECT chat.mark_read('$chat1', 2)" \
        "SELECT count(*) FROM chat.undelivered()" >/dev/null || return 1
    as_actor "$db" "$C2" \
        "SELECT chat.send_message('$chat2', 'ok, thanks', NULL, md5('c2-1')::uuid)" \
        "SELECT chat.send_message('$chat2', 'see you', NULL, md5('c2-2')::uuid)" >/dev/null || return 1
    as_actor "$db" "$C1" "SELECT chat.mark_read('$chat1')" "SELECT count(*) FROM chat.undelivered(1)" \
        >/dev/null || return 1
    as_actor "$db" "$AD" \
        "SELECT count(*) FROM chat.admin_history('$chat1', 'a complaint about chat 1')" \
        "SELECT chat.hide_message('$chat1', 5, 'abusive')" >/dev/null || return 1
    TOKEN_OLDKEY=$(q "$db" "SELECT chat.issue_token('$C1', '2 hours')") || return 1
    q "$db" "SELECT chat.rotate_signing_key()" >/dev/null || return 1
    TOKEN_NEWKEY=$(q "$db" "SELECT chat.issue_token('$S1')") || return 1
    CHAT1=$chat1 CHAT2=$chat2 CHAT3=$chat3 CHAT4=$chat4
}

# snapshot DB OUT: the md5 and count of every table's rows, and the audit
# id sequence, one line each.  A row is hashed as JSON without its NULL
# columns, so that a column an update appends (NULL in every old row)
# leaves it unchanged, while any change of an old value shows.  Likewise
# a column that holds its column default is left out of the row (a column
# an update appends with a constant default, ADD COLUMN ... NOT NULL
# DEFAULT 0, holds it in every old row; the same rule on both sides, so
# that an old value that changes from or to its default still shows), and
# a generated column is left out (computed from the row's other columns,
# which are all compared).
snapshot() {
    "${PSQL[@]}" -d "$1" >"$2" 2>>"$WORK/psql.err" <<'EOF'
DO $$
DECLARE
    r record;
    v text;
    appended text;
BEGIN
    CREATE TEMPORARY TABLE snap (what text, value text) ON COMMIT PRESERVE ROWS;
    FOR r IN SELECT c.oid::regclass AS rel
               FROM pg_depend d
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'stylist_chat'
               JOIN pg_class c ON c.oid = d.objid
              WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind = 'r' LOOP
        SELECT coalesce(string_agg(format(' - CASE WHEN t.%1$I IS NOT DISTINCT FROM (%2$s) THEN %1$L ELSE '''' END',
                                          a.attname, pg_get_expr(ad.adbin, ad.adrelid)), ''), '')
          INTO appended
          FROM pg_attribute a
          JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         WHERE a.attrelid = r.rel AND a.attgenerated = '' AND NOT a.attisdropped;
        SELECT appended || coalesce(string_agg(format(' - %L', a.attname), ''), '')
          INTO appended
          FROM pg_attribute a
         WHERE a.attrelid = r.rel AND a.attgenerated = 's' AND NOT a.attisdropped;
        EXECUTE format('SELECT count(*) || '' rows, md5 '' || coalesce(md5(string_agg(x::text, E''\n'' ORDER BY x::text)), ''-'')
                          FROM (SELECT jsonb_strip_nulls(to_jsonb(t) %s) AS x FROM %s t) y', appended, r.rel)
           INTO v;
        INSERT INTO snap VALUES (r.rel::text, v);
    END LOOP;
END
$$;
SELECT what || ': ' || value FROM snap
UNION ALL
SELECT 'chat.audit_entries_id_seq: last_value ' || last_value || ', is_called ' || is_called
  FROM chat.audit_entries_id_seq
ORDER BY 1;
EOF
}

# channels DB OUT: each profile's listen_channel()
channels() {
    local p
    for p in "${PROFILES[@]}"; do
        echo "$p $(as_actor "$1" "$p" "SELECT chat.listen_channel()")"
    done >"$2"
}

# the listener: psql reading its commands from a fifo (fd 7), output in
# $WORK/listen.out, where psql writes the notifications it has received
# after each command
listener_start() {
    rm -f "$WORK/listen.in"
    mkfifo "$WORK/listen.in"
    PGAPPNAME=upgrade_listener psql -X -At -d "$1" <"$WORK/listen.in" >"$WORK/listen.out" 2>"$WORK/listen.err" &
    LISTENER=$!
    exec 7>"$WORK/listen.in"
    echo "LISTEN \"$2\";" >&7
}
listener_stop() {
    exec 7>&-
    [ -n "$LISTENER" ] && { wait "$LISTENER" 2>/dev/null; LISTENER=; }
}
# heard CHAT SEQ TIMEOUT_S: wait until the listener has a message event of (CHAT, SEQ)
heard() {
    local deadline=$((SECONDS + $3))
    while :; do
        echo "SELECT 'poll';" >&7 2>/dev/null || return 1
        sleep 0.2
        grep -q "\"type\":\"message\",\"chat_id\":\"$1\",\"seq\":$2," "$WORK/listen.out" && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
    done
}

# a fresh install of the default version, to compare with
q postgres "CREATE DATABASE $FRESH" >/dev/null || bail "cannot create database $FRESH"
q "$FRESH" "CREATE EXTENSION $EXT" >/dev/null 2>&1 || bail "cannot create extension $EXT in $FRESH"
fingerprint "$FRESH" "$WORK/fresh.fp" || bail "cannot read the catalogs of $FRESH"

# ---------------------------------------------------------------------------
# each version
# ---------------------------------------------------------------------------
for V in "${VERSIONS[@]}"; do
    diag "from $V to $DEFAULT"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    : >"$WORK/psql.err"
    q postgres "CREATE DATABASE $DB" >/dev/null || bail "cannot create database $DB"
    q "$DB" "CREATE EXTENSION $EXT VERSION '$V'" >/dev/null || bail "cannot create extension $EXT version $V"
    q "$DB" "DO \$\$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_LOGIN') THEN
                   CREATE ROLE $USER_LOGIN LOGIN IN ROLE chat_user;
               END IF;
             END \$\$" >/dev/null || bail "cannot create role $USER_LOGIN"

    # 1. state, through the API of 1.0
    if fill "$DB"; then
        counts=$(q "$DB" "SELECT (SELECT count(*) FROM chat.profiles) || ' profiles, '
                              || (SELECT count(*) FROM chat.bookings) || ' bookings, '
                              || (SELECT count(*) FROM chat.chats) || ' chats, '
                              || (SELECT count(*) FROM chat.chat_messages) || ' messages, '
                              || (SELECT count(*) FROM chat.media) || ' attachments, '
                              || (SELECT count(*) FROM chat.audit_entries) || ' audit entries, '
                              || (SELECT count(*) FROM chat.secrets) || ' keys'")
        pass "$V: installed and filled through the 1.0 API ($counts)"
    else
        fail "$V: installed and filled through the 1.0 API"
        sed 's/^/#   /' "$WORK/psql.err" | head -20
        bail "cannot go on without the state"
    fi

    # 2. the listener, on the admin's channel
    wait_until 30 "$DB" "SELECT count(*) FROM ($WORKER_PID) w" 1 || bail "no relay worker in $DB"
    ADMIN_CHANNEL=$(as_actor "$DB" "$AD" "SELECT chat.listen_channel()")
    listener_start "$DB" "$ADMIN_CHANNEL"
    wait_until 10 "$DB" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'upgrade_listener'" 1 \
        || bail "the listener did not connect"
    sleep 1.2   # the worker learns of a new admin within a second
    seq=$(as_actor "$DB" "$C2" "SELECT chat.send_message('$CHAT2', 'before the update', NULL, md5('pre')::uuid)")
    heard "$CHAT2" "$seq" 20
    ok $? "$V: the listener on the admin's channel receives a message relayed before the update (chat 2, seq $seq)" \
        "$WORK/listen.err"

    # 3. what must survive: wait until the worker has written its watermarks
    wait_until 20 "$DB" "SELECT count(*) FROM chat.chats c LEFT JOIN chat.relay_watermark w USING (chat_id)
                          WHERE coalesce(w.relayed_seq, 0) <> c.last_seq" 0 \
        || diag "the watermarks did not reach the chats' last seq within 20 s"
    listener_pid=$(q "$DB" "SELECT pid FROM pg_stat_activity WHERE application_name = 'upgrade_listener'")
    worker_pid=$(q "$DB" "$WORKER_PID")
    snapshot "$DB" "$WORK/before.snap"
    channels "$DB" "$WORK/before.channels"
    mapfile -t TABLES_BEFORE < <(sed 's/:.*//' "$WORK/before.snap" | grep -v '_seq$')

    # 4. the update, with the worker running and the listener connected
    if "${PSQL[@]}" -d "$DB" -c "ALTER EXTENSION $EXT UPDATE" >"$WORK/update.out" 2>&1; then
        version=$(q "$DB" "SELECT extversion FROM pg_extension WHERE extname = '$EXT'")
        ok "$([ "$version" == "$DEFAULT" ]; echo $?)" \
            "$V: ALTER EXTENSION $EXT UPDATE with the worker (pid $worker_pid) and the listener connected: now $version"
    else
        fail "$V: ALTER EXTENSION $EXT UPDATE"
        sed 's/^/#   /' "$WORK/update.out"
    fi

    # a. the catalogs, as a fresh install makes them
    fingerprint "$DB" "$WORK/upgraded.fp"
    diff -u --label "fresh install of $DEFAULT" --label "upgraded from $V" \
        "$WORK/fresh.fp" "$WORK/upgraded.fp" >"$WORK/fp.diff"
    rc=$?
    [ -s "$WORK/fresh.fp" ] || rc=1
    ok $rc "$V: the extension's catalogs after the update are those of a fresh install ($(sed -n 's/^  members: //p' "$WORK/fresh.fp") member objects, the schema and the extension)" \
        "$WORK/fp.diff" 400

    # b. the rows
    snapshot "$DB" "$WORK/after.snap"
    grep -F -f <(printf '%s:\n' "${TABLES_BEFORE[@]}" chat.audit_entries_id_seq) "$WORK/after.snap" >"$WORK/after.kept"
    diff -u --label before --label after "$WORK/before.snap" "$WORK/after.kept" >"$WORK/rows.diff"
    ok $? "$V: every table's rows are unchanged (${#TABLES_BEFORE[@]} tables) and the audit id sequence has not moved" \
        "$WORK/rows.diff"
    grep -v -F -f <(printf '%s:\n' "${TABLES_BEFORE[@]}" chat.audit_entries_id_seq) "$WORK/after.snap" >"$WORK/after.new"
    # (but chat.retention_state and chat.filter_state, whose one row a
    # fresh install makes too)
    ok "$(grep -q '^chat.retention_state: 1 rows' "$WORK/after.new" &&
          grep -q '^chat.filter_state: 1 rows' "$WORK/after.new" &&
          ! grep -Ev '^chat.(retention|filter)_state: 1 rows' "$WORK/after.new" | grep -qv ': 0 rows'; echo $?)" \
        "$V: the tables new in $DEFAULT are empty, but for the one row of chat.retention_state and of chat.filter_state ($(sed 's/:.*//' "$WORK/after.new" | paste -sd' ' -))" \
        "$WORK/after.new"

    # c. the tokens minted before the update
    for t in "OLDKEY:$C1:minted before the key was rotated" "NEWKEY:$S1:minted after the rotation"; do
        IFS=: read -r which profile what <<<"$t"
        token=TOKEN_$which
        got=$(psql -X -q -At -v ON_ERROR_STOP=1 -U "$USER_LOGIN" -d "$DB" 2>"$WORK/token.err" <<EOF
BEGIN;
SELECT chat.authenticate('${!token}') \g /dev/null
SELECT chat.current_actor();
COMMIT;
SELECT coalesce(chat.current_actor()::text, 'nobody');
EOF
)
        ok "$([ "$got" == "$profile"$'\n'nobody ]; echo $?)" \
            "$V: a token $what still authenticates as $USER_LOGIN, for the transaction (current_actor in it, then after it: $(echo ${got:-none}))" \
            "$WORK/token.err" 5
    done

    # d. the channels
    channels "$DB" "$WORK/after.channels"
    diff -u --label before --label after "$WORK/before.channels" "$WORK/after.channels" >"$WORK/channels.diff"
    ok $? "$V: listen_channel() of each of the ${#PROFILES[@]} profiles is unchanged" "$WORK/channels.diff"

    # e. real time goes on
    seq=$(as_actor "$DB" "$S1" "SELECT chat.send_message('$CHAT2', 'after the update', NULL, md5('post')::uuid)")
    heard "$CHAT2" "${seq:-0}" 20
    rc=$?
    now_listener=$(q "$DB" "SELECT pid FROM pg_stat_activity WHERE application_name = 'upgrade_listener'")
    ok "$([ $rc -eq 0 ] && [ "$now_listener" == "$listener_pid" ]; echo $?)" \
        "$V: a message sent after the update (chat 2, seq ${seq:-none}) reaches the listener, still on its connection (backend $listener_pid, now ${now_listener:-gone})" \
        "$WORK/listen.err"
    now_worker=$(q "$DB" "$WORKER_PID")
    ok "$([ "$now_worker" == "$worker_pid" ]; echo $?)" \
        "$V: the relay worker was not restarted (pid $worker_pid, now ${now_worker:-none})"
    listener_stop

    # g. the KPI rollups: the history of 1.0 counted by rebuild_kpis()
    want=$(q "$DB" "SELECT count(*) FROM chat.chat_messages WHERE sender_id IS NOT NULL")
    got=$(as_actor "$DB" "$AD" "SELECT chat.rebuild_kpis()")
    got2=$(as_actor "$DB" "$AD" "SELECT messages FROM chat.kpis('2000-01-01', current_date)")
    ok "$([ "$got|$got2" == "$want|$want" ] && [ "$want" -gt 0 ]; echo $?)" \
        "$V: rebuild_kpis() as an admin counts the $want messages of the history into the KPIs (counted ${got:-none}, kpis() says ${got2:-none})" \
        "$WORK/psql.err"

    # f. the pgTAP suites on the upgraded database
    q "$DB" "CREATE EXTENSION IF NOT EXISTS pgtap" >/dev/null || diag "cannot create extension pgtap"
    for t in privileges catalog; do
        pg_prove -d "$DB" "test/pgtap/$t.sql" >"$WORK/prove.out" 2>&1
        rc=$?
        grep -E '^# |^Failed|Tests=' "$WORK/prove.out" | grep -v '^# *$' >"$WORK/prove.sum"
        ok $rc "$V: pg_prove test/pgtap/$t.sql passes on the upgraded database ($(grep -oE 'Tests=[0-9]+' "$WORK/prove.out"))" \
            "$WORK/prove.sum"
    done

    if [ -s "$WORK/psql.err" ]; then
        diag "psql said:"
        sort -u "$WORK/psql.err" | grep -v 'relay worker serves database' | head -10 | sed 's/^/#   /'
    fi
done

[ "$failed" -eq 0 ]
