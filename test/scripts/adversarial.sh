#!/usr/bin/env bash
# test/scripts/adversarial.sh: attacks by real, unprivileged connections.
#
# What it tests: LOGIN roles that connect over the socket as a real client
# would, with only the grants such a client has:
#   adv_enduser     IN ROLE chat_user: an end-user connection, authenticated
#                   with a token from chat.issue_token() (or not at all);
#                   a superuser allows it identities for the session
#   adv_enduser_tx  IN ROLE chat_user, identities for one transaction only
#   adv_service     IN ROLE chat_service: the application backend
#   adv_nobody      no grants at all
#   adv_mallory_su  SUPERUSER but not the extension owner
#   adv_reader      IN ROLE pg_read_all_data: reads every table
#   adv_planter     IN ROLE chat_service, owns a database of its own
# try attacks in these categories, each with the SQLSTATE it must get:
#   tables     SELECT/INSERT/UPDATE/DELETE/TRUNCATE/COPY of every base
#              table, the audit log and the keys included, and the
#              statistics that could carry the keys (pg_stats, pg_statistic)
#   functions  every function of schema chat a role is not granted, called
#              (act_as, upsert_profile, issue_token, rotate_signing_key, the
#              internal ones); which ones a role may call is written out here
#   identity   SET / set_config of any setting meant to carry an actor, SET
#              ROLE and SET SESSION AUTHORIZATION to roles it is not a member
#              of, search_path games: afterwards the actor and current_user
#              are what they were
#   tokens     bad tokens in a real session: 28000, one message, the session
#              stays unauthenticated
#   probing    every function taking a chat (or booking) id against a chat the
#              actor is not in, with the existing id and made-up ones: one
#              error, the same for all (the id aside), so nothing leaks
#   views      every view filtered on the victim's chat gives no row
#   leaky      a cheap leaky function in the WHERE clause of every view sees
#              none of the victim's rows (it does see the attacker's own)
#   fuzz       every SQL function, each argument in turn: NULL, empty and
#              1 MB strings, invalid UUID text, control characters, invalid
#              UTF-8 escapes, JSON of the wrong shape and 100000 levels deep,
#              negative and huge limits, seq numbers out of range: a
#              documented refusal (class 22, 23505, 28000, 42501, 54001,
#              55000) or success, never an internal error or a crash.  Run in
#              a transaction that is rolled back.
# then checks that the attacks changed nothing (md5 of every table of schema
# chat, the roles and the per-role settings, before and after), and finally
#   race       64 end-user connections of one person send the SAME
#              client_msg_id at the same instant: no error, exactly one
#              row, every caller gets the same seq, last_seq and the
#              other's unread counter move by exactly one.
# LISTEN on every channel that can be built from known ids is covered by
# test/libpq/relay_privacy.c; 64 clients racing get_or_create_chat by
# race.c, and mark_read backwards and forwards under load by senders.c: not
# repeated here.
#
# Then the attack classes that an outside review found open in version 1.0,
# one category each (against release 1.0 most of their attacks succeed;
# the summary counts them against the version installed):
#   explain    EXPLAIN (ANALYZE) of the caller's own conditions on every
#              column of every view, under every combination of the
#              planner switches a session may turn off: the plan and its
#              figures are the same whether the condition holds for the
#              victim's hidden row or not; a binary search of a message
#              body through the plan's figures recovers nothing; the
#              figures do not change when other people's chats appear
#   schema     a schema chat made beforehand by another role (owned by it,
#              writable by it, or holding its objects) with a planted
#              overload of an internal helper: CREATE EXTENSION (and the
#              update from 1.0 to the installed version) refuses and
#              installs nothing, and the role does not become superuser
#   expiry     an identity taken from a token ends when the token expires,
#              when its key is rotated out (two rotations) and when the
#              profile's tokens are revoked, for the session and within an
#              open transaction; identities for the session only where a
#              superuser allowed them
#   replay     a login token read by another session of the same login
#              (from pg_stat_activity, or a log) is worth nothing: a bind
#              parameter never shows, a replay gets 28000
#   locks      an end user who makes a call that locks and then idles in
#              the transaction holds nobody up: the other participant, a
#              third person and the backend get their answer (or 55P03)
#              within 5 s, for every call that locks
#   audit      an admin's read of a chat stays in the audit log whatever
#              becomes of the reading transaction (rollback, savepoint,
#              cursor, error); chat.admin_messages carries no text
#   keys       a member of pg_read_all_data reads no key (table,
#              statistics, COPY, row_security off, pg_dump) and cannot
#              forge a token
# The summary counts the attack classes, and how many of them held.
#
# Usage: bash test/scripts/adversarial.sh DBNAME, with PGHOST, PGPORT, PGUSER
# set (a superuser, the extension owner) and DBNAME holding CREATE EXTENSION
# stylist_chat.  It makes throwaway databases adv_schema_* next to it.
# ADVERSARIAL_ONLY="explain keys ..." runs the first part and, of the
# review's categories, only those named.
# Output: TAP, and a summary of attacks tried and held per category.  The
# roles, databases and files it makes are removed at the end, whatever the
# end.
set -uo pipefail

DB=${1:?usage: adversarial.sh DBNAME}
WORK=$(mktemp -d /tmp/stylist_chat_adv.XXXXXX)
chmod 755 "$WORK"
ROLES=(adv_enduser adv_enduser_tx adv_service adv_nobody adv_mallory_su adv_reader adv_planter)
SCHEMA_DBS=(adv_schema_owned adv_schema_create adv_schema_public adv_schema_full adv_schema_revoked
            adv_schema_upd_owned adv_schema_upd_create adv_schema_upd_foreign)

want() { [ -z "${ADVERSARIAL_ONLY:-}" ] || [[ " $ADVERSARIAL_ONLY " == *" $1 "* ]]; }

cleanup() {
    # release and wait for our own background clients, then drop the
    # databases and the roles
    touch "$WORK"/release.all "$WORK"/release.victim{1,2,3} 2>/dev/null
    wait 2>/dev/null
    for d in "${SCHEMA_DBS[@]}"; do
        psql -X -q -d "$DB" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
    for r in "${ROLES[@]}"; do
        psql -X -q -d "$DB" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

SU=(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB")

# TAP
n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
is() {
    if [ "$1" == "$2" ] && [ -n "$2" ]; then
        pass "$3"
    else
        fail "$3"
        printf '%s\n' "got:      $1" "expected: $2" | head -c 2000 | sed 's/^/#   /'
    fi
}

# the people
ALICE=a1000000-0000-4000-8000-000000000001   # customer, the victim
SAM=a2000000-0000-4000-8000-000000000002     # stylist, the victim's
BOB=b1000000-0000-4000-8000-000000000001     # customer, the attacker
SUE=b2000000-0000-4000-8000-000000000002     # stylist, the attacker's
ADA=ad000000-0000-4000-8000-000000000001     # admin
CAROL=c1000000-0000-4000-8000-000000000001   # customer of sue and of sam, a third person
DAVE=d1000000-0000-4000-8000-000000000001    # customer, whose chat appears in the middle
BK_AS=a0000000-0000-4000-8000-0000000000b1   # booking of alice and sam
BK_BS=b0000000-0000-4000-8000-0000000000b1   # booking of bob and sue
BK_BSAM=b0000000-0000-4000-8000-0000000000b2 # booking of bob and sam, who have no chat
MADE_UP=deadbeef-0000-4000-8000-000000000000 # no such chat, no such booking

# ---------------------------------------------------------------------------
# roles and data, as the extension owner
# ---------------------------------------------------------------------------
if ! "${SU[@]}" >"$WORK/setup.out" 2>&1 <<SQL
DO \$\$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname IN ($(printf "'%s', " "${ROLES[@]}" | sed 's/, $//'))) THEN
        RAISE EXCEPTION 'the adv_* roles exist already: another run is going on, or a run was killed';
    END IF;
END
\$\$;
CREATE ROLE adv_enduser LOGIN IN ROLE chat_user;
CREATE ROLE adv_enduser_tx LOGIN IN ROLE chat_user;
CREATE ROLE adv_service LOGIN IN ROLE chat_service;
CREATE ROLE adv_nobody LOGIN;
CREATE ROLE adv_mallory_su LOGIN SUPERUSER;
CREATE ROLE adv_reader LOGIN IN ROLE pg_read_all_data;
CREATE ROLE adv_planter LOGIN IN ROLE chat_service;
-- An identity for the session (authenticate(token, true), act_as(id,
-- true)) is refused unless a superuser allows it for the login.  These
-- connect directly, never through a pooler: adv_enduser stands for an
-- end-user connection that authenticates once, adv_service for a backend
-- that keeps a connection per person; the attacks below run one statement
-- after another in such sessions.  adv_enduser_tx keeps the default.
-- (Release 1.0 had no such setting, and this script runs against it too.)
DO \$\$
BEGIN
    IF EXISTS (SELECT FROM pg_settings WHERE name = 'stylist_chat.session_identity') THEN
        ALTER ROLE adv_enduser SET stylist_chat.session_identity = on;
        ALTER ROLE adv_service SET stylist_chat.session_identity = on;
        ALTER ROLE adv_mallory_su SET stylist_chat.session_identity = on;
    END IF;
END
\$\$;
SELECT chat.upsert_profile('$ALICE', 'customer', 'Alice');
SELECT chat.upsert_profile('$SAM', 'stylist', 'Sam');
SELECT chat.upsert_profile('$BOB', 'customer', 'Bob');
SELECT chat.upsert_profile('$SUE', 'stylist', 'Sue');
SELECT chat.upsert_profile('$ADA', 'admin', 'Ada');
SELECT chat.upsert_profile('$CAROL', 'customer', 'Carol');
SELECT chat.upsert_profile('$DAVE', 'customer', 'Dave');
SET stylist_chat.booking_cards = off;   -- the chats hold the messages sent below only
SELECT chat.upsert_booking('$BK_AS', '$ALICE', '$SAM', 'SECRET-AS haircut', '2030-01-01 10:00+00', 'confirmed');
SELECT chat.upsert_booking('$BK_BS', '$BOB', '$SUE', 'OWN-BS colour', '2030-01-02 10:00+00', 'confirmed');
SELECT chat.upsert_booking('$BK_BSAM', '$BOB', '$SAM', 'OWN-BSAM trim', '2030-01-03 10:00+00', 'pending');
BEGIN;
SELECT chat.act_as('$ALICE');
SELECT chat.send_message(chat.chat_for_booking('$BK_AS'), 'SECRET-AS hello', '$BK_AS', 'a0000000-0000-4000-8000-00000000c001',
    '[{"storage_key": "secret-as/1.jpg", "content_type": "image/jpeg", "byte_size": 10, "width": 1, "height": 1}]');
-- alice lets sam show her photo in his portfolio
SELECT chat.grant_portfolio_consent(chat.pair_chat_id('$ALICE', '$SAM'), 1, 1);
SELECT chat.act_as('$SAM');
SELECT chat.send_message(chat.chat_with('$ALICE'), 'SECRET-AS reply');
SELECT chat.act_as('$BOB');
SELECT chat.send_message(chat.chat_for_booking('$BK_BS'), 'OWN-BS hello', '$BK_BS', 'b0000000-0000-4000-8000-00000000c001',
    '[{"storage_key": "own-bs/1.jpg", "content_type": "image/jpeg", "byte_size": 10, "width": 1, "height": 1}]');
SELECT chat.grant_portfolio_consent(chat.pair_chat_id('$BOB', '$SUE'), 1, 1);
SELECT chat.act_as('$SUE');
SELECT chat.send_message(chat.chat_with('$BOB'), 'OWN-BS reply');
SELECT chat.act_as('$CAROL');
SELECT chat.send_message(chat.chat_with('$SUE'), 'CAROL-SUE hello');
SELECT chat.send_message(chat.chat_with('$SAM'), 'CAROL-SAM hello');
SELECT chat.act_as('$ADA');
SELECT count(*) FROM chat.admin_history(chat.pair_chat_id('$ALICE', '$SAM'), 'SECRET-AS audit');
COMMIT;
ANALYZE chat.secrets;
SQL
then
    echo "1..1"; fail "setup"; sed 's/^/#   /' "$WORK/setup.out"; exit 1
fi
VICTIM=$("${SU[@]}" -c "SELECT chat.pair_chat_id('$ALICE', '$SAM')")
OWN=$("${SU[@]}" -c "SELECT chat.pair_chat_id('$BOB', '$SUE')")
UNOPENED=$("${SU[@]}" -c "SELECT chat.pair_chat_id('$BOB', '$SAM')")   # a real pair, no chat
TOK_BOB=$(psql -X -q -At -U adv_service -d "$DB" -c "SELECT chat.issue_token('$BOB')")
TOK_ALICE=$(psql -X -q -At -U adv_service -d "$DB" -c "SELECT chat.issue_token('$ALICE')")

# the fingerprint of everything an attack could change
# (an admin's read is recorded for good, whatever becomes of the reading
# transaction: the audit entries the attacks add are left out here, and
# checked on their own below)
AUDIT_MAX=$("${SU[@]}" -c 'SELECT coalesce(max(id), 0) FROM chat.audit_entries')
fingerprint() {
    "${SU[@]}" -v audit_max="$AUDIT_MAX" <<'SQL'
SELECT c.relname || ' ' || x.v
  FROM pg_class c
  JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'chat'
 CROSS JOIN LATERAL (SELECT (xpath('/row/v/text()',
        query_to_xml(format('SELECT count(*) || '' '' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), ''-'') AS v FROM chat.%I t%s',
                            c.relname, CASE WHEN c.relname = 'audit_entries' THEN ' WHERE t.id <= ' || :audit_max ELSE '' END),
                     false, true, '')))[1]::text AS v) x
 WHERE c.relkind = 'r'
UNION ALL
SELECT 'roles ' || md5(string_agg(format('%s %s %s %s', r.rolname, r.rolsuper, r.rolcreaterole,
                                         (SELECT array_agg(m.roleid::regrole ORDER BY m.roleid) FROM pg_auth_members m WHERE m.member = r.oid)),
                                  ',' ORDER BY r.rolname))
  FROM pg_roles r
UNION ALL
SELECT 'settings ' || coalesce(md5(string_agg(s.setrole || ' ' || s.setconfig::text, ',' ORDER BY s.setrole)), '-')
  FROM pg_db_role_setting s
UNION ALL
SELECT 'acl ' || md5(string_agg(coalesce(c.relacl::text, '-'), ',' ORDER BY c.relname))
  FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'chat'
UNION ALL
SELECT 'fn ' || md5(string_agg(p.oid::regprocedure || coalesce(p.proacl::text, '-') || md5(p.prosrc), ',' ORDER BY p.oid::regprocedure::text))
  FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'chat'
ORDER BY 1;
SQL
}
fingerprint >"$WORK/before" 2>&1

# ---------------------------------------------------------------------------
# the attack scripts: each line of output is CATEGORY|NAME|EXPECTED|GOT,
# where EXPECTED is an extended regular expression GOT must match
# ---------------------------------------------------------------------------
# the helpers every attacker defines in its own pg_temp
PRELUDE=$(cat <<'SQL'
\set ON_ERROR_STOP 0
-- SQLSTATE and message of running q ('00000 ok' when it runs)
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text;
BEGIN
    EXECUTE q;
    RETURN '00000 ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ' ' || msg;
END
$$;
-- the same, with the number of rows q returns
CREATE FUNCTION pg_temp.nrows(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; k bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM (' || q || ') x' INTO k;
    RETURN '00000 rows=' || k;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ' ' || msg;
END
$$;
-- the same, then who we are
CREATE FUNCTION pg_temp.whoami(r text) RETURNS text LANGUAGE sql AS $$
    SELECT left(r, 5) || ' actor=' || coalesce(chat.current_actor()::text, 'NULL')
           || ' user=' || current_user || ' session=' || session_user
$$;
-- a probe of q (%1$s is the id) with every id: how many distinct answers
-- (SQLSTATE, message with the id blanked, detail, hint), and the first
CREATE FUNCTION pg_temp.probe(q text, ids text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hnt text; answers text[] := '{}'; id text;
BEGIN
    FOREACH id IN ARRAY ids LOOP
        BEGIN
            EXECUTE format(q, id);
            answers := answers || '00000 ok'::text;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            answers := answers || (st || ' ' || replace(msg, id, 'ID') || ' / ' || det || ' / ' || hnt);
        END;
    END LOOP;
    RETURN (SELECT count(DISTINCT a) FROM unnest(answers) a) || ' ' || answers[1];
END
$$;
-- a leaky function: it keeps whatever it is shown
CREATE TEMP TABLE leaked (v text);
CREATE FUNCTION pg_temp.leak(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    INSERT INTO pg_temp.leaked VALUES (v);
    RETURN true;
END
$$;
-- run q, then count what the leaky function saw of the victim and of our own
CREATE FUNCTION pg_temp.leaktest(q text, victim text, own text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; nv bigint; no bigint;
BEGIN
    DELETE FROM pg_temp.leaked;
    r := pg_temp.try(q);
    IF r NOT LIKE '00000%' THEN
        RETURN r;
    END IF;
    EXECUTE 'SELECT count(*) FROM pg_temp.leaked WHERE ' || victim INTO nv;
    EXECUTE 'SELECT count(*) FROM pg_temp.leaked WHERE ' || own INTO no;
    RETURN '00000 leaked=' || nv || ' own=' || no;
END
$$;
SQL
)

# att CATEGORY NAME EXPECTED SQL: one attack, run through pg_temp.try
att() { printf "SELECT '%s', %s, %s, pg_temp.try(%s);\n" "$1" "$(sqlq "$2")" "$(sqlq "$3")" "$(sqlq "$4")"; }
# rows CATEGORY NAME EXPECTED SQL: through pg_temp.nrows
rows() { printf "SELECT '%s', %s, %s, pg_temp.nrows(%s);\n" "$1" "$(sqlq "$2")" "$(sqlq "$3")" "$(sqlq "$4")"; }
# ident CATEGORY NAME EXPECTED SQL: through try, then who we are
ident() { printf "SELECT '%s', %s, %s, pg_temp.whoami(pg_temp.try(%s));\n" "$1" "$(sqlq "$2")" "$(sqlq "$3")" "$(sqlq "$4")"; }
# probe CATEGORY NAME EXPECTED SQL-WITH-%1\$s IDS...
probe() {
    local cat=$1 name=$2 exp=$3 q=$4; shift 4
    printf "SELECT '%s', %s, %s, pg_temp.probe(%s, %s);\n" "$cat" "$(sqlq "$name")" "$(sqlq "$exp")" "$(sqlq "$q")" \
        "$(sqlq "{$(IFS=,; echo "$*")}")"
}
# chk NAME EXPECTED SQL: not an attack but a step the attacks build on
# (the session authenticated, the victim's rows are there), through try
chk() { printf "SELECT 'check', %s, %s, pg_temp.try(%s);\n" "$(sqlq "$1")" "$(sqlq "$2")" "$(sqlq "$3")"; }
# a SQL string literal
sqlq() { printf "'%s'" "${1//\'/\'\'}"; }

TABLES=(profiles bookings chats chat_messages media relay_watermark secrets audit_entries token_revocations used_tokens reports pins
        reactions portfolio_consents notifications notification_preferences kpi_chats kpi_chat_months kpi_days
        kpi_stylist_days kpi_responses kpi_stylist_responses kpi_pairs kpi_bookings kpi_booking_chats kpi_reactivations
        legacy_messages legacy_imports legacy_plan legal_holds privacy_requests orphaned_images retention_marks
        retention_state filter_rules filter_state filtered_messages held_messages caught_up)
# table attacks for one role (chat_service loads the staging table of a
# migration, chat.legacy_messages: not attacked as chat_service)
table_attacks() {
    local who=$1 t
    for t in "${TABLES[@]}"; do
        [ "$who" = adv_service ] && [ "$t" = legacy_messages ] && continue
        att tables "$who: SELECT chat.$t" '^42501' "SELECT * FROM chat.$t"
        att tables "$who: INSERT chat.$t" '^42501' "INSERT INTO chat.$t DEFAULT VALUES"
        local col=chat_id
        case $t in profiles | bookings) col=id ;; secrets) col=name ;; token_revocations) col=profile_id ;; used_tokens) col=token_id ;;
            notification_preferences | caught_up) col=profile_id ;; kpi_days | kpi_stylist_days | kpi_responses | kpi_stylist_responses) col=day ;;
            legacy_messages) col=legacy_id ;; privacy_requests) col=profile_id ;; retention_state) col=only_row ;;
            filter_rules) col=name ;; filter_state) col=only_row ;;
            esac
        att tables "$who: UPDATE chat.$t" '^42501' "UPDATE chat.$t SET $col = $col"
        att tables "$who: DELETE chat.$t" '^42501' "DELETE FROM chat.$t"
        att tables "$who: TRUNCATE chat.$t" '^42501' "TRUNCATE chat.$t"
        att tables "$who: COPY chat.$t to a file" '^42501' "COPY chat.$t TO '/tmp/adv_copy_$t'"
        att tables "$who: COPY chat.$t from a file" '^42501' "COPY chat.$t FROM '/etc/hostname'"
    done
    att tables "$who: SELECT ... FOR UPDATE chat.chats" '^42501' 'SELECT 1 FROM chat.chats FOR UPDATE'
    att tables "$who: LOCK chat.chat_messages" '^42501' 'LOCK TABLE chat.chat_messages IN ACCESS EXCLUSIVE MODE'
    att tables "$who: LOCK chat.secrets" '^42501' 'LOCK TABLE chat.secrets IN ACCESS SHARE MODE'
    # the lock by which runs of consolidate_legacy() take turns: nobody else
    # may hold it to stall a migration
    att tables "$who: LOCK chat.legacy_plan" '^42501' 'LOCK TABLE chat.legacy_plan IN EXCLUSIVE MODE'
    # (the views select from functions: a write is refused as a write to a
    # view that cannot be written, 55000, before privileges are checked)
    att tables "$who: UPDATE chat.audit_log" '^(42501|55000)' "UPDATE chat.audit_log SET reason = 'nothing'"
    att tables "$who: DELETE chat.audit_log" '^(42501|55000)' 'DELETE FROM chat.audit_log'
    att tables "$who: INSERT chat.audit_log" '^(42501|55000)' "INSERT INTO chat.audit_log (actor_id, action, chat_id) VALUES ('$ADA', 'read_history', '$VICTIM')"
    att tables "$who: TRUNCATE chat.audit_log" '^(42501|42809)' 'TRUNCATE chat.audit_log'
    att tables "$who: UPDATE chat.my_messages" '^(42501|55000)' "UPDATE chat.my_messages SET sender_id = sender_id"
    att tables "$who: DELETE chat.admin_messages" '^(42501|55000)' 'DELETE FROM chat.admin_messages'
    att tables "$who: UPDATE chat.my_chats" '^(42501|55000)' 'UPDATE chat.my_chats SET last_seq = last_seq'
    rows tables "$who: pg_stats of schema chat (the keys' histogram)" '^00000 rows=0$' "SELECT * FROM pg_stats WHERE schemaname = 'chat'"
    att tables "$who: SELECT pg_statistic" '^42501' 'SELECT * FROM pg_statistic'
    att tables "$who: pg_read_file of the data directory" '^42501' "SELECT pg_read_file('global/pg_control')"
    att tables "$who: pg_ls_dir" '^42501' "SELECT pg_ls_dir('.')"
    att tables "$who: CREATE in schema chat" '^42501' 'CREATE TABLE chat.adv_t (x int)'
    att tables "$who: CREATE FUNCTION in schema chat" '^42501' 'CREATE FUNCTION chat.current_actor(x int) RETURNS uuid LANGUAGE sql AS $q$SELECT NULL::uuid$q$'
    att tables "$who: ALTER chat.audit_entries DISABLE TRIGGER" '^42501' 'ALTER TABLE chat.audit_entries DISABLE TRIGGER ALL'
    att tables "$who: ALTER EXTENSION" '^42501' 'ALTER EXTENSION stylist_chat UPDATE'
    att tables "$who: DROP EXTENSION" '^42501' 'DROP EXTENSION stylist_chat'
    att tables "$who: COMMENT ON chat.secrets" '^42501' "COMMENT ON TABLE chat.secrets IS 'mine'"
    att tables "$who: GRANT on chat.secrets" '^42501' 'GRANT SELECT ON chat.secrets TO PUBLIC'
    att tables "$who: session_replication_role (skips triggers)" '^42501' 'SET session_replication_role = replica'
}

# every function of schema chat with NULL arguments: "SELECT chat.f(NULL::t, ...)"
"${SU[@]}" -F '|' >"$WORK/functions" <<'SQL'
SELECT p.proname || '|' || p.oid::regprocedure || '|' ||
       format(CASE p.prokind WHEN 'p' THEN 'CALL chat.%I(%s)' ELSE 'SELECT chat.%I(%s)' END, p.proname,
       -- not NULLs: a STRICT function called with NULL constants is folded
       -- away before the privilege check, and proves nothing
       coalesce((SELECT string_agg(CASE format_type(t, NULL)
                                       WHEN 'uuid' THEN '''00000000-0000-4000-8000-000000000000''::uuid'
                                       WHEN 'text' THEN '''x''::text'
                                       WHEN 'bytea' THEN 'decode(repeat(''ab'', 32), ''hex'')'
                                       WHEN 'bigint' THEN '1::bigint'
                                       WHEN 'integer' THEN '1'
                                       WHEN 'boolean' THEN 'false'
                                       WHEN 'interval' THEN '''1 hour''::interval'
                                       WHEN 'timestamp with time zone' THEN 'now()'
                                       WHEN 'jsonb' THEN '''[]''::jsonb'
                                       WHEN 'regclass' THEN '''chat.chats''::regclass'
                                       WHEN 'anyelement' THEN '1'
                                       ELSE 'NULL::' || format_type(t, NULL) END, ', ' ORDER BY i)
                   FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i)), ''))
  FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'chat'
 ORDER BY p.oid::regprocedure::text;
SQL
# the functions a role is meant to call: everything else must give 42501
# (the views' own functions, _my_chats and the like, go with the views)
VIEW_FUNCTIONS="_my_chats _my_messages _my_media _admin_chats _admin_messages _audit_log _admin_blocks _admin_reports"
USER_API=" authenticate current_actor reset_actor get_or_create_chat chat_with chat_for_booking get_chat history
  messages_since inbox chat_bookings send_message edit_message delete_message mark_read listen_channel listen typing
  undelivered catch_up ack_delivered admin_history admin_inbox hide_message block unblock report resolve_report pin unpin pinned mark_unread
  react unreact archive unarchive mute unmute clear_history
  gallery grant_portfolio_consent revoke_portfolio_consent my_portfolio
  search search_all admin_search set_notification_preferences notification_preferences kpis stylist_kpis
  export_my_data pending_messages $VIEW_FUNCTIONS "
SERVICE_API=" relay_status listen_channel listen typing undelivered catch_up ack_delivered act_as current_actor reset_actor pair_chat_id
  upsert_profile upsert_booking get_or_create_chat chat_with chat_for_booking get_chat history
  messages_since inbox chat_bookings send_message edit_message delete_message mark_read issue_token
  issue_login_token revoke_tokens rotate_signing_key admin_history admin_inbox hide_message block unblock report resolve_report pin unpin pinned mark_unread
  react unreact archive unarchive mute unmute clear_history
  gallery grant_portfolio_consent revoke_portfolio_consent my_portfolio portfolio
  search search_all admin_search set_notification_preferences notification_preferences
  claim_notifications complete_notification fail_notification notification_queue kpis stylist_kpis rebuild_kpis
  legacy_report legacy_problems consolidate_legacy _consolidate_start _consolidate_batch
  set_legal_hold release_legal_hold admin_legal_holds privacy_log export_profile export_my_data erase_profile
  apply_retention retention_status take_orphaned_images
  add_filter_rule remove_filter_rule admin_filter_rules approve_held_message reject_held_message pending_messages
  admin_held_messages
  $VIEW_FUNCTIONS "
function_attacks() {
    local who=$1 api=" $(echo $2) " name sig call
    while IFS='|' read -r name sig call; do
        [ -n "$name" ] || continue
        case "$api" in *" $name "*) continue ;; esac
        att functions "$who: $sig" '^42501' "$call"
    done <"$WORK/functions"
}

identity_attacks() {
    local who=$1 actor=$2 user=$3
    local same="^[0-9A-Z]{5} actor=$actor user=$user session=$user\$"
    local s
    for s in stylist_chat.actor stylist_chat.profile_id stylist_chat.current_actor chat.actor chat.actor_id \
             app.user_id app.current_user request.jwt.claim.sub myapp.profile; do
        ident identity "$who: SET $s to alice" "$same" "SET $s = '$ALICE'"
        ident identity "$who: set_config($s) to alice" "$same" "SELECT set_config('$s', '$ALICE', false)"
    done
    ident identity "$who: SET stylist_chat.database" "$same" "SET stylist_chat.database = '$DB'"
    ident identity "$who: ALTER ROLE self SET stylist_chat.actor" "$same" "ALTER ROLE $user SET stylist_chat.actor = '$ALICE'"
    ident identity "$who: ALTER ROLE chat_service" "^42501 actor=$actor user=$user" 'ALTER ROLE chat_service SET search_path = pg_temp'
    ident identity "$who: GRANT chat_service to self" "^(42501|0LP01) actor=$actor user=$user" "GRANT chat_service TO $user"
    ident identity "$who: GRANT chat_user to adv_nobody" "^(42501|0LP01) actor=$actor user=$user" 'GRANT chat_user TO adv_nobody'
    local r
    for r in postgres adv_mallory_su adv_nobody pg_read_all_data pg_write_all_data pg_signal_backend; do
        ident identity "$who: SET ROLE $r" "^42501 actor=$actor user=$user session=$user\$" "SET ROLE $r"
        ident identity "$who: SET SESSION AUTHORIZATION $r" "^42501 actor=$actor user=$user session=$user\$" "SET SESSION AUTHORIZATION $r"
    done
    [ "$user" = adv_enduser ] && ident identity "$who: SET ROLE chat_service" "^42501 actor=$actor user=$user" 'SET ROLE chat_service'
    [ "$user" = adv_service ] && ident identity "$who: SET ROLE chat_user" "^42501 actor=$actor user=$user" 'SET ROLE chat_user'
    ident identity "$who: SET ROLE adv_service / adv_enduser (the other)" "^42501 actor=$actor user=$user" \
        "SET ROLE $([ "$user" = adv_service ] && echo adv_enduser || echo adv_service)"
    ident identity "$who: set_config('role', 'postgres')" "^42501 actor=$actor user=$user" "SELECT set_config('role', 'postgres', false)"
    ident identity "$who: set_config('session_authorization')" "^42501 actor=$actor user=$user" "SELECT set_config('session_authorization', 'postgres', false)"
    ident identity "$who: RESET ALL" "$same" 'RESET ALL'
    # pg_temp and public first on the path, with look-alike objects: the API
    # pins its search_path and the views were bound at creation
    ident identity "$who: shadow chats/profiles in pg_temp" "$same" \
        "CREATE TEMP TABLE chats AS SELECT '$VICTIM'::uuid AS chat_id, '$ALICE'::uuid AS customer_id; SET search_path = pg_temp, public"
    att identity "$who: history of the victim with a shadowing search_path" '^(42501|28000)' "SELECT * FROM chat.history('$VICTIM')"
    att identity "$who: send to the victim with a shadowing search_path" '^(42501|28000)' "SELECT chat.send_message('$VICTIM', 'forged')"
    att identity "$who: reading the keys through a view of my own" '^42501' "CREATE TEMP VIEW k AS SELECT * FROM chat.secrets; SELECT * FROM k"
}

probe_attacks() {
    local who=$1 ids="$VICTIM $MADE_UP $UNOPENED 00000000-0000-0000-0000-000000000000"
    local same='^1 42501 chat ID does not exist or you are not one of its participants'
    # shellcheck disable=SC2086
    {
    probe probing "$who: get_chat" "$same" 'SELECT * FROM chat.get_chat(%1$L)' $ids
    probe probing "$who: history" "$same" 'SELECT * FROM chat.history(%1$L)' $ids
    probe probing "$who: history before 2" "$same" 'SELECT * FROM chat.history(%1$L, 2, 1)' $ids
    probe probing "$who: messages_since" "$same" 'SELECT * FROM chat.messages_since(%1$L, 0)' $ids
    probe probing "$who: chat_bookings" "$same" 'SELECT * FROM chat.chat_bookings(%1$L)' $ids
    probe probing "$who: send_message" "$same" "SELECT chat.send_message(%1\$L, 'forged')" $ids
    probe probing "$who: send_message with client_msg_id" "$same" "SELECT chat.send_message(%1\$L, 'forged', NULL, 'a0000000-0000-4000-8000-00000000c001')" $ids
    probe probing "$who: send_message with the victim's booking" "$same" "SELECT chat.send_message(%1\$L, 'forged', '$BK_AS')" $ids
    probe probing "$who: send_message with attachments" "$same" \
        "SELECT chat.send_message(%1\$L, 'forged', NULL, NULL, '[{\"storage_key\": \"x\", \"content_type\": \"image/png\", \"byte_size\": 1, \"width\": 1, \"height\": 1}]')" $ids
    probe probing "$who: edit_message" "$same" "SELECT chat.edit_message(%1\$L, 1, 'forged')" $ids
    probe probing "$who: edit_message of a seq that does not exist" "$same" "SELECT chat.edit_message(%1\$L, 99, 'forged')" $ids
    probe probing "$who: delete_message" "$same" 'SELECT chat.delete_message(%1$L, 1)' $ids
    probe probing "$who: delete_message of a seq that does not exist" "$same" 'SELECT chat.delete_message(%1$L, 99)' $ids
    probe probing "$who: mark_read" "$same" 'SELECT chat.mark_read(%1$L)' $ids
    probe probing "$who: mark_read 1" "$same" 'SELECT chat.mark_read(%1$L, 1)' $ids
    probe probing "$who: mark_read out of range" "$same" 'SELECT chat.mark_read(%1$L, 999)' $ids
    probe probing "$who: typing" "$same" 'SELECT chat.typing(%1$L)' $ids
    probe probing "$who: block" "$same" 'SELECT chat.block(%1$L)' $ids
    probe probing "$who: unblock" "$same" 'SELECT chat.unblock(%1$L)' $ids
    probe probing "$who: report" "$same" "SELECT chat.report(%1\$L, 'spam')" $ids
    probe probing "$who: report of message 1" "$same" "SELECT chat.report(%1\$L, 'spam', 1, 'spite')" $ids
    probe probing "$who: mark_unread" "$same" 'SELECT chat.mark_unread(%1$L, 1)' $ids
    probe probing "$who: mark_unread out of range" "$same" 'SELECT chat.mark_unread(%1$L, 999)' $ids
    probe probing "$who: pin" "$same" "SELECT chat.pin(%1\$L, 1, 'spite')" $ids
    probe probing "$who: pin of a seq that does not exist" "$same" 'SELECT chat.pin(%1$L, 99)' $ids
    probe probing "$who: unpin" "$same" 'SELECT chat.unpin(%1$L, 1)' $ids
    probe probing "$who: pinned" "$same" 'SELECT * FROM chat.pinned(%1$L)' $ids
    probe probing "$who: send_message replying to message 1" "$same" "SELECT chat.send_message(%1\$L, 'forged', reply_to_seq => 1)" $ids
    probe probing "$who: send_message replying to a seq that does not exist" "$same" "SELECT chat.send_message(%1\$L, 'forged', reply_to_seq => 99)" $ids
    probe probing "$who: react" "$same" "SELECT chat.react(%1\$L, 1, '👍')" $ids
    probe probing "$who: react to a seq that does not exist" "$same" "SELECT chat.react(%1\$L, 99, '👍')" $ids
    probe probing "$who: react with text" "$same" "SELECT chat.react(%1\$L, 1, 'spite')" $ids
    probe probing "$who: unreact" "$same" "SELECT chat.unreact(%1\$L, 1, '👍')" $ids
    probe probing "$who: archive" "$same" 'SELECT chat.archive(%1$L)' $ids
    probe probing "$who: unarchive" "$same" 'SELECT chat.unarchive(%1$L)' $ids
    probe probing "$who: mute" "$same" 'SELECT chat.mute(%1$L)' $ids
    probe probing "$who: mute until a time" "$same" "SELECT chat.mute(%1\$L, now() + interval '1 hour')" $ids
    probe probing "$who: mute until a time past (checked after access)" "$same" "SELECT chat.mute(%1\$L, now() - interval '1 hour')" $ids
    probe probing "$who: unmute" "$same" 'SELECT chat.unmute(%1$L)' $ids
    probe probing "$who: clear_history" "$same" 'SELECT chat.clear_history(%1$L)' $ids
    # a forged catch-up position: refused before its seq is compared with
    # the chat's last seq (whose error would tell it), alone or beside one
    # of the attacker's own
    probe probing "$who: catch_up with a forged position" "$same" \
        "SELECT * FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', %1\$L, 'seq', 1)))" $ids
    probe probing "$who: catch_up with a forged position beyond any seq" "$same" \
        "SELECT * FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', %1\$L, 'seq', 999999999)))" $ids
    probe probing "$who: catch_up with a forged position of seq 0" "$same" \
        "SELECT * FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', %1\$L, 'seq', 0)))" $ids
    probe probing "$who: catch_up with a forged position beside an own one" "$same" \
        "SELECT * FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', '$OWN', 'seq', 0), jsonb_build_object('chat_id', %1\$L, 'seq', 1)))" $ids
    probe probing "$who: catch_up with a forged position in upper case" "$same" \
        "SELECT * FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', upper(%1\$L), 'seq', 1)))" $ids
    probe probing "$who: ack_delivered" "$same" 'SELECT chat.ack_delivered(%1$L, 1)' $ids
    probe probing "$who: ack_delivered beyond any seq" "$same" 'SELECT chat.ack_delivered(%1$L, 999999999)' $ids
    probe probing "$who: ack_delivered of seq 0" "$same" 'SELECT chat.ack_delivered(%1$L, 0)' $ids
    probe probing "$who: gallery" "$same" 'SELECT * FROM chat.gallery(%1$L)' $ids
    probe probing "$who: gallery of a page" "$same" 'SELECT * FROM chat.gallery(%1$L, 1, 1, 1)' $ids
    probe probing "$who: gallery with bad paging" "$same" 'SELECT * FROM chat.gallery(%1$L, 0, 0, 11)' $ids
    probe probing "$who: grant_portfolio_consent" "$same" 'SELECT chat.grant_portfolio_consent(%1$L, 1, 1)' $ids
    probe probing "$who: grant_portfolio_consent of an image that does not exist" "$same" \
        'SELECT chat.grant_portfolio_consent(%1$L, 99, 11)' $ids
    probe probing "$who: revoke_portfolio_consent" "$same" 'SELECT chat.revoke_portfolio_consent(%1$L, 1, 1)' $ids
    probe probing "$who: search" "$same" "SELECT * FROM chat.search(%1\$L, 'hello')" $ids
    probe probing "$who: search for a word of the victim's" "$same" "SELECT * FROM chat.search(%1\$L, 'secret')" $ids
    probe probing "$who: search with a bad query" "$same" "SELECT * FROM chat.search(%1\$L, 'sec')" $ids
    probe probing "$who: hide_message" '^1 42501 only an admin may do this' "SELECT chat.hide_message(%1\$L, 1, 'spite')" $ids
    probe probing "$who: admin_history" '^1 42501 only an admin may do this' 'SELECT * FROM chat.admin_history(%1$L)' $ids
    probe probing "$who: chat_for_booking" '^1 42501 booking ID does not exist or you are not part of it' \
        'SELECT chat.chat_for_booking(%1$L)' "$BK_AS" "$MADE_UP" 00000000-0000-0000-0000-000000000000
    probe probing "$who: get_or_create_chat of two others" '^1 42501 only the customer or the stylist may open their chat' \
        "SELECT chat.get_or_create_chat(%1\$L, '$SAM')" "$ALICE" "$MADE_UP"
    }
}

view_attacks() {
    local who=$1 v
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log admin_blocks admin_reports; do
        rows views "$who: chat.$v of the victim's chat" '^00000 rows=0$' "SELECT * FROM chat.$v WHERE chat_id = '$VICTIM'"
        rows views "$who: chat.$v of a made-up chat" '^00000 rows=0$' "SELECT * FROM chat.$v WHERE chat_id = '$MADE_UP'"
    done
    rows views "$who: chat.my_chats of alice" '^00000 rows=0$' "SELECT * FROM chat.my_chats WHERE customer_id = '$ALICE'"
    rows views "$who: inbox has only own chats" '^00000 rows=(0|1)$' "SELECT * FROM chat.inbox() WHERE chat_id = '$OWN'"
    rows views "$who: inbox has no victim chat" '^(00000 rows=0|28000 .*)$' "SELECT * FROM chat.inbox() WHERE chat_id <> '$OWN'"
    rows views "$who: undelivered has nothing of the victim" '^(00000 rows=0|28000 .*)$' \
        "SELECT * FROM chat.undelivered() WHERE chat_id <> '$OWN'"
    rows views "$who: archived inbox has no victim chat" '^(00000 rows=0|28000 .*)$' \
        "SELECT * FROM chat.inbox(archived => true) WHERE chat_id <> '$OWN'"
    rows views "$who: catch_up has nothing of the victim" '^(00000 rows=0|28000 .*)$' \
        "SELECT * FROM chat.catch_up(NULL, 1000) WHERE chat_id <> '$OWN'"
    # search_all: the victim's words find nothing, whatever the query's syntax
    local sq
    for sq in secret 'secret-as' '"secret as"' 'secret or hello' 'hello -own' 'secr' "secret' | 'hello" 'SECRET:*'; do
        rows views "$who: search_all($sq) has nothing of the victim" '^(00000 rows=0|28000 .*)$' \
            "SELECT * FROM chat.search_all($(sqlq "$sq")) WHERE chat_id <> '$OWN' OR snippet ILIKE '%secret%'"
    done
    rows views "$who: search_all finds own words" '^(00000 rows=[12]|28000 .*)$' "SELECT * FROM chat.search_all('own-bs')"
    rows views "$who: admin_search is refused" '^42501 ' "SELECT * FROM chat.admin_search('secret', 'curious')"
    rows views "$who: admin_inbox is refused" '^(42501|28000) ' "SELECT * FROM chat.admin_inbox(50)"
    rows views "$who: admin_inbox is refused, a later page too" '^(42501|28000) ' \
        "SELECT * FROM chat.admin_inbox(50, now(), '$VICTIM')"
}

# leak VIEW EXPR OWN_EXPECTED: the leaky function on EXPR in the view's WHERE
leaky_attacks() {
    local who=$1 own=$2 v
    local secret="v LIKE '%SECRET-AS%' OR v LIKE '%secret-as%' OR v LIKE '%$VICTIM%' OR v LIKE '%$ALICE%'"
    local ownq="v LIKE '%$OWN%' OR v LIKE '%OWN-BS%' OR v LIKE '%own-bs%'"
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log admin_blocks admin_reports; do
        local cols="t::text"
        case $v in my_messages) cols="t.body" ;; admin_messages) cols="t.hidden_reason" ;; my_media) cols="t.storage_key" ;; esac
        for expr in "t::text" "$cols"; do
            local exp='^00000 leaked=0 own=[0-9]+$'
            [ "$own" = yes ] && case $v in my_chats | my_messages | my_media) exp='^00000 leaked=0 own=[1-9][0-9]*$' ;; esac
            printf "SELECT 'leaky', %s, %s, pg_temp.leaktest(%s, %s, %s);\n" \
                "$(sqlq "$who: leak($expr) in WHERE of chat.$v")" "$(sqlq "$exp")" \
                "$(sqlq "SELECT * FROM chat.$v t WHERE pg_temp.leak($expr)")" "$(sqlq "$secret")" "$(sqlq "$ownq")"
        done
    done
    # a leaky function on the rows of a search across chats
    printf "SELECT 'leaky', %s, %s, pg_temp.leaktest(%s, %s, %s);\n" \
        "$(sqlq "$who: leak in WHERE of chat.search_all")" "$(sqlq '^(00000 leaked=0 |28000 no chat profile is acting)')" \
        "$(sqlq "SELECT * FROM chat.search_all('secret or hello or own') t WHERE pg_temp.leak(t::text)")" \
        "$(sqlq "$secret")" "$(sqlq "$ownq")"
    # the same through a join and through a sub-select
    printf "SELECT 'leaky', %s, '^00000 leaked=0 ', pg_temp.leaktest(%s, %s, %s);\n" \
        "$(sqlq "$who: leak in a join of my_messages and my_chats")" \
        "$(sqlq "SELECT * FROM chat.my_messages m JOIN chat.my_chats c USING (chat_id) WHERE pg_temp.leak(m.body || c.customer_id::text)")" \
        "$(sqlq "$secret")" "$(sqlq "$ownq")"
    printf "SELECT 'leaky', %s, '^00000 leaked=0 ', pg_temp.leaktest(%s, %s, %s);\n" \
        "$(sqlq "$who: leak in a sub-select of my_media")" \
        "$(sqlq "SELECT * FROM (SELECT * FROM chat.my_media) x WHERE pg_temp.leak(x.storage_key) OFFSET 0")" \
        "$(sqlq "$secret")" "$(sqlq "$ownq")"
}

# fuzz FN SANE-ARGS TYPES: each argument in turn gets every bad value of its type
FUZZ_OK='^(00000|22[0-9A-Z]{3}|23505|28000|42501|54000|54001|55000) '
fuzz_values() {
    case $1 in
        uuid) printf '%s\n' 'NULL::uuid' "''::uuid" "'not-a-uuid'::uuid" "repeat('a', 1048576)::uuid" \
                  "E'a1000000-0000-4000-8000-00000000000\\x01'::uuid" "'00000000-0000-0000-0000-000000000000'::uuid" \
                  "'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid" "'{$VICTIM}'::uuid" "'$VICTIM'::uuid" ;;
        text) printf '%s\n' 'NULL::text' "''" "' '" "E'\\t\\n\\r'" "repeat('x', 1048576)" "repeat('é', 4001)" "repeat('x', 4000)" \
                  "E'a\\x01b\\x7fc\\x1b[2J'" "E'\\u202e\\u200b'" "E'\\xc3\\x28'" "E'\\xff\\xfe'" "convert_from('\\xc328', 'UTF8')" \
                  "chr(0)" "'''; DROP TABLE chat.chats; --'" "'%s%n%x'" "'💇‍♀️'" ;;
        bigint) printf '%s\n' 'NULL::bigint' '0::bigint' '(-1)::bigint' '(-9223372036854775808)::bigint' \
                    '9223372036854775807::bigint' '2147483648::bigint' ;;
        integer) printf '%s\n' 'NULL::integer' '0' '(-1)' '1001' '2147483647' '(-2147483648)' ;;
        jsonb) printf '%s\n' 'NULL::jsonb' "'null'::jsonb" "'{}'::jsonb" "'\"x\"'::jsonb" "'[1]'::jsonb" "'[[]]'::jsonb" \
                   "'[null]'::jsonb" "'[{}]'::jsonb" "'{\"storage_key\": \"k\"}'::jsonb" \
                   "(repeat('[', 100000) || repeat(']', 100000))::jsonb" \
                   "(repeat('{\"a\":', 100000) || '1' || repeat('}', 100000))::jsonb" \
                   "(SELECT jsonb_agg(jsonb_build_object('storage_key', 'k' || i, 'content_type', 'image/png', 'byte_size', 1, 'width', 1, 'height', 1)) FROM generate_series(1, 11) i)" \
                   "'[{\"storage_key\": \"k\", \"content_type\": \"image/png\", \"byte_size\": 1, \"width\": 1, \"height\": 1, \"evil\": 1}]'::jsonb" \
                   "'[{\"storage_key\": \"k\", \"content_type\": \"image/png\", \"byte_size\": 1e400, \"width\": 1, \"height\": 1}]'::jsonb" \
                   "'[{\"storage_key\": \"k\", \"content_type\": \"image/png\", \"byte_size\": 1.5, \"width\": -1, \"height\": 1}]'::jsonb" \
                   "'[{\"storage_key\": \"k\", \"content_type\": \"image/png\", \"byte_size\": \"1\", \"width\": 1, \"height\": 1}]'::jsonb" \
                   "'[{\"storage_key\": \"k\", \"content_type\": \"text/html\", \"byte_size\": 1, \"width\": 1, \"height\": 1}]'::jsonb" \
                   "'[{\"storage_key\": \"\\u0001\", \"content_type\": \"image/png\", \"byte_size\": 1, \"width\": 1, \"height\": 1}]'::jsonb" \
                   "jsonb_build_array(jsonb_build_object('storage_key', repeat('k', 1048576), 'content_type', 'image/png', 'byte_size', 1, 'width', 1, 'height', 1))" \
                   "'[{\"storage_key\": null, \"content_type\": null, \"byte_size\": null, \"width\": null, \"height\": null}]'::jsonb" ;;
        time) printf '%s\n' 'NULL::time' "'00:00'::time" "'24:00'::time" "'23:59:59.999999'::time" ;;
        interval) printf '%s\n' 'NULL::interval' "'0'::interval" "'-1 hour'::interval" "'31 days'::interval" \
                      "'178000000 years'::interval" "'1 microsecond'::interval" ;;
        boolean) printf '%s\n' 'NULL::boolean' ;;
        date) printf '%s\n' 'NULL::date' "'infinity'::date" "'-infinity'::date" "'4714-11-24 BC'::date" \
                  "'5874897-12-31'::date" "'1900-01-01'::date" ;;
        timestamptz) printf '%s\n' 'NULL::timestamptz' "'infinity'::timestamptz" "'-infinity'::timestamptz" \
                         "'4714-11-24 00:00:00+00 BC'::timestamptz" ;;
    esac
}
fuzz() {
    local who=$1 fn=$2 sane=$3 types=$4
    local -a a t
    IFS=';' read -r -a a <<<"$sane"
    IFS=';' read -r -a t <<<"$types"
    local i v args j
    for i in "${!t[@]}"; do
        while IFS= read -r v; do
            args=
            for j in "${!a[@]}"; do
                [ -n "$args" ] && args+=", "
                if [ "$j" -eq "$i" ]; then args+="$v"; else args+="${a[$j]}"; fi
            done
            att fuzz "$who: $fn arg $((i + 1)) = ${v:0:60}" "$FUZZ_OK" "SELECT * FROM $fn($args)"
        done < <(fuzz_values "${t[$i]}")
    done
}
user_fuzz() {
    local who=$1 own="'$OWN'::uuid"
    fuzz "$who" chat.authenticate "NULL::text;false" "text;boolean"
    fuzz "$who" chat.get_or_create_chat "'$BOB'::uuid;'$SUE'::uuid" "uuid;uuid"
    fuzz "$who" chat.chat_with "'$SUE'::uuid" "uuid"
    fuzz "$who" chat.chat_for_booking "'$BK_BS'::uuid" "uuid"
    fuzz "$who" chat.get_chat "$own" "uuid"
    fuzz "$who" chat.history "$own;NULL::bigint;50" "uuid;bigint;integer"
    fuzz "$who" chat.messages_since "$own;0::bigint;100" "uuid;bigint;integer"
    fuzz "$who" chat.chat_bookings "$own" "uuid"
    fuzz "$who" chat.send_message "$own;'fuzz';NULL::uuid;NULL::uuid;NULL::jsonb;NULL::bigint" "uuid;text;uuid;uuid;jsonb;bigint"
    fuzz "$who" chat.react "$own;1::bigint;'👍'" "uuid;bigint;text"
    fuzz "$who" chat.unreact "$own;1::bigint;'👍'" "uuid;bigint;text"
    fuzz "$who" chat.edit_message "$own;1::bigint;'fuzz'" "uuid;bigint;text"
    fuzz "$who" chat.delete_message "$own;1::bigint" "uuid;bigint"
    fuzz "$who" chat.mark_read "$own;1::bigint" "uuid;bigint"
    fuzz "$who" chat.typing "$own" "uuid"
    fuzz "$who" chat.mark_unread "$own;1::bigint" "uuid;bigint"
    fuzz "$who" chat.pin "$own;1::bigint;'fuzz';NULL::timestamptz" "uuid;bigint;text;timestamptz"
    fuzz "$who" chat.unpin "$own;1::bigint" "uuid;bigint"
    fuzz "$who" chat.pinned "$own" "uuid"
    fuzz "$who" chat.inbox "10;NULL::timestamptz;NULL::uuid;false" "integer;timestamptz;uuid;boolean"
    fuzz "$who" chat.archive "$own" "uuid"
    fuzz "$who" chat.unarchive "$own" "uuid"
    fuzz "$who" chat.mute "$own;now() + interval '1 hour'" "uuid;timestamptz"
    fuzz "$who" chat.unmute "$own" "uuid"
    fuzz "$who" chat.clear_history "$own" "uuid"
    fuzz "$who" chat.gallery "$own;NULL::bigint;50;NULL::integer" "uuid;bigint;integer;integer"
    fuzz "$who" chat.gallery "$own;1::bigint;50;1" "uuid;bigint;integer;integer"
    fuzz "$who" chat.grant_portfolio_consent "$own;1::bigint;1" "uuid;bigint;integer"
    fuzz "$who" chat.revoke_portfolio_consent "$own;1::bigint;1" "uuid;bigint;integer"
    fuzz "$who" chat.my_portfolio "NULL::bigint;50" "bigint;integer"
    fuzz "$who" chat.search "$own;'hello';20;NULL::bigint" "uuid;text;integer;bigint"
    fuzz "$who" chat.search_all "'hello';20;NULL::timestamptz;NULL::uuid;NULL::bigint" "text;integer;timestamptz;uuid;bigint"
    fuzz "$who" chat.admin_search "'hello';'fuzz';20;NULL::timestamptz;NULL::uuid;NULL::bigint" "text;text;integer;timestamptz;uuid;bigint"
    fuzz "$who" chat.undelivered "10" "integer"
    fuzz "$who" chat.catch_up "NULL::jsonb;10" "jsonb;integer"
    fuzz "$who" chat.ack_delivered "$own;0::bigint" "uuid;bigint"
    fuzz "$who" chat.set_notification_preferences "true;'Europe/Berlin';'22:00'::time;'07:00'::time" "boolean;text;time;time"
    fuzz "$who" chat.kpis "'2026-01-01'::date;'2026-01-31'::date" "date;date"
    fuzz "$who" chat.stylist_kpis "'$SUE'::uuid;'2026-01-01'::date;'2026-01-31'::date" "uuid;date;date"
    # catch-up positions made to hurt: malformed, huge, deep, many, forged
    local r
    for r in "'[{\"chat_id\": \"$OWN\", \"seq\": 1e400}]'" "'[{\"chat_id\": \"$OWN\", \"seq\": 9223372036854775808}]'" \
             "'[{\"chat_id\": \"$OWN\", \"seq\": -0}]'" "'[{\"chat_id\": \"$OWN\", \"seq\": 0.0}]'" \
             "'[{\"chat_id\": \"{$OWN}\", \"seq\": 0}]'" "'[{\"chat_id\": \" $OWN\", \"seq\": 0}]'" \
             "'[{\"chat_id\": \"$OWN\", \"seq\": 0, \"chat_id\": \"$VICTIM\"}]'" \
             "jsonb_build_array(jsonb_build_object('chat_id', repeat('a', 1048576), 'seq', 0))" \
             "(SELECT jsonb_agg(jsonb_build_object('chat_id', '$OWN', 'seq', 0)) FROM generate_series(1, 1000))" \
             "(SELECT jsonb_agg(jsonb_build_object('chat_id', gen_random_uuid(), 'seq', 0)) FROM generate_series(1, 1000))" \
             "(SELECT jsonb_agg(jsonb_build_object('chat_id', '$OWN', 'seq', 0)) FROM generate_series(1, 100000))" \
             "jsonb_build_array(jsonb_build_object('chat_id', '$OWN', 'seq', (repeat('[', 10000) || repeat(']', 10000))::jsonb))"; do
        att fuzz "$who: chat.catch_up position ${r:0:60}" "$FUZZ_OK" "SELECT * FROM chat.catch_up($r::jsonb, 1)"
    done
    fuzz "$who" chat.admin_history "$own;'fuzz';NULL::bigint;50" "uuid;text;bigint;integer"
    fuzz "$who" chat.hide_message "$own;1::bigint;'fuzz'" "uuid;bigint;text"
    fuzz "$who" chat.block "$own" "uuid"
    fuzz "$who" chat.unblock "$own" "uuid"
    fuzz "$who" chat.report "$own;'spam';NULL::bigint;'fuzz'" "uuid;text;bigint;text"
    fuzz "$who" chat.resolve_report "1::bigint;'dismiss';'fuzz'" "bigint;text;text"
}
service_fuzz() {
    local who=$1 own="'$OWN'::uuid"
    fuzz "$who" chat.act_as "'$BOB'::uuid;false" "uuid;boolean"
    fuzz "$who" chat.upsert_profile "'$BOB'::uuid;'customer';'Bob'" "uuid;text;text"
    fuzz "$who" chat.upsert_booking "'$BK_BS'::uuid;'$BOB'::uuid;'$SUE'::uuid;'OWN-BS colour';'2030-01-02 10:00+00'::timestamptz;'confirmed'" \
        "uuid;uuid;uuid;text;timestamptz;text"
    fuzz "$who" chat.issue_token "'$BOB'::uuid;'1 hour'::interval" "uuid;interval"
    fuzz "$who" chat.issue_login_token "'$BOB'::uuid;'5 minutes'::interval" "uuid;interval"
    fuzz "$who" chat.revoke_tokens "'$BOB'::uuid" "uuid"
    fuzz "$who" chat.pair_chat_id "'$BOB'::uuid;'$SUE'::uuid" "uuid;uuid"
    fuzz "$who" chat.portfolio "'$SUE'::uuid;NULL::bigint;50" "uuid;bigint;integer"
    fuzz "$who" chat.claim_notifications "10;'1 minute'::interval" "integer;interval"
    fuzz "$who" chat.complete_notification "1::bigint" "bigint"
    fuzz "$who" chat.fail_notification "1::bigint;'fuzz'" "bigint;text"
    # as the admin
    echo "SELECT chat.act_as('$ADA');"
    fuzz "$who (as admin)" chat.admin_history "$own;'fuzz';NULL::bigint;50" "uuid;text;bigint;integer"
    fuzz "$who (as admin)" chat.hide_message "$own;1::bigint;'fuzz'" "uuid;bigint;text"
    fuzz "$who (as admin)" chat.resolve_report "1::bigint;'dismiss';'fuzz'" "bigint;text;text"
    fuzz "$who (as admin)" chat.admin_search "'hello';'fuzz';20;NULL::timestamptz;NULL::uuid;NULL::bigint" "text;text;integer;timestamptz;uuid;bigint"
    fuzz "$who (as admin)" chat.kpis "'2026-01-01'::date;'2026-01-31'::date" "date;date"
    fuzz "$who (as admin)" chat.stylist_kpis "'$SUE'::uuid;'2026-01-01'::date;'2026-01-31'::date" "uuid;date;date"
}

# --- the end user, authenticated as bob ---------------------------------------
{
    echo "$PRELUDE"
    att tokens 'adv_enduser: authenticate with a good token, for the session' '^00000' "SELECT chat.authenticate('$TOK_BOB', true)"
    table_attacks "adv_enduser (bob)"
    function_attacks "adv_enduser (bob)" "$USER_API"
    identity_attacks "adv_enduser (bob)" "$BOB" adv_enduser
    echo "RESET search_path;"
    probe_attacks "adv_enduser (bob)"
    # the portfolio: a stylist's public page is the backend's to read; an
    # end user reads their own, and a customer has none
    att probing "adv_enduser (bob): portfolio of sam (his customers' images)" '^42501' "SELECT * FROM chat.portfolio('$SAM')"
    att probing "adv_enduser (bob): portfolio of sue" '^42501' "SELECT * FROM chat.portfolio('$SUE')"
    att probing "adv_enduser (bob): my_portfolio, as a customer" '^42501 only a stylist has a portfolio' \
        "SELECT * FROM chat.my_portfolio()"
    rows probing "adv_enduser (bob): his own gallery, with his consent" '^00000 rows=1$' \
        "SELECT * FROM chat.gallery('$OWN') WHERE portfolio_consent"
    att probing "adv_enduser (bob): the pending messages of alice's chat" '^42501' \
        "SELECT * FROM chat.pending_messages('$VICTIM')"
    echo "BEGIN;"     # undelivered() moves bob's own delivery mark; his export is recorded
    # his own data export holds nothing of alice, nor of her chat
    rows probing "adv_enduser (bob): his export says nothing of alice or her chat" '^00000 rows=0$' \
        "SELECT * FROM chat.export_my_data() l WHERE l ~* '$ALICE|$VICTIM|alice'"
    view_attacks "adv_enduser (bob)"
    echo "ROLLBACK;"
    leaky_attacks "adv_enduser (bob)" yes
    # bad tokens after a good one: refused, bob stays bob
    att tokens 'adv_enduser: a tampered token after a good one' '^28000 invalid token$' \
        "SELECT chat.authenticate('${TOK_ALICE:0:40}$( [ "${TOK_ALICE:40:1}" = A ] && echo B || echo A )${TOK_ALICE:41}')"
    ident tokens 'adv_enduser: ... and bob is still acting' "^28000 actor=$BOB user=adv_enduser" \
        "SELECT chat.authenticate('${TOK_ALICE:0:75}')"
    echo "BEGIN;"
    user_fuzz "adv_enduser (bob)"
    echo "ROLLBACK;"
    echo "SELECT 'fuzz', 'adv_enduser: the session survived the fuzzing', '^00000 actor=$BOB', pg_temp.whoami('00000');"
} >"$WORK/enduser.sql"

# --- the end user, not authenticated -------------------------------------------
{
    echo "$PRELUDE"
    function_attacks "adv_enduser (nobody)" "$USER_API"
    for q in "SELECT chat.get_chat('$OWN')" "SELECT * FROM chat.history('$OWN')" "SELECT chat.send_message('$OWN', 'x')" \
             "SELECT * FROM chat.inbox()" "SELECT chat.listen_channel()" "SELECT chat.listen()" "SELECT * FROM chat.undelivered()" \
             "SELECT chat.mark_read('$OWN')" "SELECT chat.chat_with('$SUE')" "SELECT chat.typing('$OWN')" \
             "SELECT chat.block('$OWN')" "SELECT chat.unblock('$OWN')" \
             "SELECT chat.pin('$OWN', 1)" "SELECT chat.unpin('$OWN', 1)" "SELECT * FROM chat.pinned('$OWN')" \
             "SELECT chat.mark_unread('$OWN', 1)" "SELECT chat.archive('$OWN')" "SELECT chat.unarchive('$OWN')" \
             "SELECT chat.mute('$OWN')" "SELECT chat.unmute('$OWN')" "SELECT chat.clear_history('$OWN')" \
             "SELECT * FROM chat.inbox(archived => true)" "SELECT * FROM chat.gallery('$OWN')" \
             "SELECT chat.react('$OWN', 1, '👍')" "SELECT chat.unreact('$OWN', 1, '👍')" \
             "SELECT * FROM chat.catch_up()" "SELECT chat.ack_delivered('$OWN', 1)" \
             "SELECT chat.grant_portfolio_consent('$OWN', 1, 1)" "SELECT chat.revoke_portfolio_consent('$OWN', 1, 1)" \
             "SELECT * FROM chat.my_portfolio()" "SELECT * FROM chat.search('$OWN', 'hello')" \
             "SELECT * FROM chat.search_all('hello')" "SELECT * FROM chat.admin_search('hello', 'why')"; do
        att tokens "adv_enduser (nobody): $q" '^28000 no chat profile is acting' "$q"
    done
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log admin_blocks admin_reports; do
        rows views "adv_enduser (nobody): chat.$v" '^00000 rows=0$' "SELECT * FROM chat.$v"
    done
    leaky_attacks "adv_enduser (nobody)" no
    identity_attacks "adv_enduser (nobody)" NULL adv_enduser
    echo "RESET search_path;"
    echo "BEGIN;"
    fuzz "adv_enduser (nobody)" chat.authenticate "NULL::text;false" "text;boolean"
    echo "ROLLBACK;"
} >"$WORK/anon.sql"

# bad tokens, each as a statement of its own in a fresh session: 28000, the
# one message, nobody acting afterwards
bad_tokens() {
    local t=$TOK_ALICE l=$((${#TOK_ALICE} - 1))
    printf '%s\n' "" "${t:0:l}" "${t:0:1}" "${t}A" "${t}${t}" "${t}=" "${t:0:l}!" \
        "$( [ "${t:0:1}" = A ] && echo B || echo A )${t:1}" \
        "${t:0:10}$( [ "${t:10:1}" = A ] && echo B || echo A )${t:11}" \
        "${t:0:30}$( [ "${t:30:1}" = A ] && echo B || echo A )${t:31}" \
        "${t:0:l}$( [ "${t:l:1}" = A ] && echo B || echo A )" \
        "$(printf 'A%.0s' $(seq $((l + 1))))" "${TOK_BOB:0:36}${t:36}"
}
{
    echo '\set ON_ERROR_STOP 0'
    echo '\set VERBOSITY default'
    i=0
    while IFS= read -r tok; do
        i=$((i + 1))
        echo "SELECT chat.authenticate('$tok');"
    done < <(bad_tokens)
    echo "SELECT chat.authenticate(NULL);"
    echo "SELECT chat.authenticate(repeat('$TOK_ALICE', $((1048576 / ${#TOK_ALICE} + 1))));"
    echo "SELECT chat.authenticate(E'${TOK_ALICE:0:40}\\\\x01${TOK_ALICE:41}');"
    echo "SELECT 'actor after the bad tokens: ' || coalesce(chat.current_actor()::text, 'NULL');"
} >"$WORK/tokens.sql"

# --- the service, acting as bob -----------------------------------------------
{
    echo "$PRELUDE"
    att identity 'adv_service: act_as bob for the session' '^00000' "SELECT chat.act_as('$BOB', true)"
    table_attacks "adv_service"
    function_attacks "adv_service" "$SERVICE_API"
    identity_attacks "adv_service" "$BOB" adv_service
    echo "RESET search_path;"
    att tokens 'adv_service: authenticate (not for chat_service)' '^42501' "SELECT chat.authenticate('$TOK_BOB')"
    probe_attacks "adv_service (as bob)"
    # the public portfolio lists alice's image for sam, and nothing in it
    # says whose it is or which chat it comes from
    rows probing "adv_service (as bob): sam's public portfolio has alice's image" '^00000 rows=1$' \
        "SELECT * FROM chat.portfolio('$SAM')"
    rows probing "adv_service (as bob): ... and names neither alice, nor sam, nor their chat" '^00000 rows=0$' \
        "SELECT * FROM chat.portfolio('$SAM') p WHERE row_to_json(p)::text ~* '$ALICE|$VICTIM|$SAM|alice'"
    rows probing "adv_service (as bob): sue's portfolio has only bob's image" '^00000 rows=1$' \
        "SELECT * FROM chat.portfolio('$SUE') WHERE storage_key = 'own-bs/1.jpg'"
    att probing "adv_service (as bob): my_portfolio, as a customer" '^42501 only a stylist has a portfolio' \
        "SELECT * FROM chat.my_portfolio()"
    echo "BEGIN;"
    view_attacks "adv_service (as bob)"
    echo "ROLLBACK;"
    leaky_attacks "adv_service (as bob)" yes
    # the migration is an admin's: the service acting as bob cannot run
    # it, nor either of the steps the procedure (with the caller's rights)
    # is granted
    att functions 'adv_service (as bob): legacy_report()' '^42501 only an admin' 'SELECT * FROM chat.legacy_report()'
    att functions 'adv_service (as bob): legacy_problems()' '^42501 only an admin' 'SELECT * FROM chat.legacy_problems()'
    att functions 'adv_service (as bob): consolidate_legacy()' '^42501 only an admin' 'CALL chat.consolidate_legacy()'
    att functions 'adv_service (as bob): _consolidate_start()' '^42501 only an admin' 'SELECT chat._consolidate_start(false, 10)'
    att functions 'adv_service (as bob): _consolidate_batch()' '^42501 only an admin' 'SELECT chat._consolidate_batch(10)'
    # and the data rights, the holds and the filter are an admin's
    att functions 'adv_service (as bob): export_profile(alice)' '^42501 only an admin' "SELECT * FROM chat.export_profile('$ALICE')"
    att functions 'adv_service (as bob): erase_profile(alice)' '^42501 only an admin' "SELECT * FROM chat.erase_profile('$ALICE', 'x')"
    att functions 'adv_service (as bob): set_legal_hold' '^42501 only an admin' "SELECT chat.set_legal_hold('$VICTIM', 'x')"
    att functions 'adv_service (as bob): privacy_log' '^42501 only an admin' 'SELECT * FROM chat.privacy_log()'
    att functions 'adv_service (as bob): add_filter_rule' '^42501 only an admin' "SELECT chat.add_filter_rule('x', 'a', 'flag')"
    att functions 'adv_service (as bob): admin_held_messages' '^42501 only an admin' 'SELECT * FROM chat.admin_held_messages()'
    att functions 'adv_service (as bob): approve_held_message' '^42501 only an admin' "SELECT chat.approve_held_message('$VICTIM', 1)"
    att functions "adv_service (as bob): pending messages of alice's chat" '^42501' "SELECT * FROM chat.pending_messages('$VICTIM')"
    att tables 'adv_service (as admin): UPDATE chat.audit_log' '^(42501|55000)' "SELECT chat.act_as('$ADA'); UPDATE chat.audit_log SET reason = 'nothing'"
    att tables 'adv_service (as admin): DELETE chat.audit_log' '^(42501|55000)' "SELECT chat.act_as('$ADA'); DELETE FROM chat.audit_log"
    echo "BEGIN;"
    service_fuzz "adv_service"
    echo "ROLLBACK;"
} >"$WORK/service.sql"

# --- no grants at all ---------------------------------------------------------
{
    echo "$PRELUDE"
    table_attacks "adv_nobody"
    function_attacks "adv_nobody" " "
    att tokens 'adv_nobody: authenticate' '^42501' "SELECT chat.authenticate('$TOK_BOB')"
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log admin_blocks admin_reports; do
        att views "adv_nobody: SELECT chat.$v" '^42501' "SELECT * FROM chat.$v"
    done
} >"$WORK/nobody.sql"

# --- a superuser that does not own the extension: the audit trigger -----------
{
    echo "$PRELUDE"
    echo "SELECT chat.act_as('$ADA', true);"
    for q in "UPDATE chat.audit_entries SET reason = 'nothing'" 'DELETE FROM chat.audit_entries' 'TRUNCATE chat.audit_entries'; do
        att tables "adv_mallory_su: $q" '^42501 the audit log is append-only$' "$q"
    done
    # the evidence of portfolio consent: only ever revoked, never rewritten;
    # deleted by the extension owner only
    for q in "UPDATE chat.portfolio_consents SET granted_by = '$SAM'" "UPDATE chat.portfolio_consents SET storage_key = 'x'" \
             'DELETE FROM chat.portfolio_consents' 'TRUNCATE chat.portfolio_consents'; do
        att tables "adv_mallory_su: $q" '^42501 portfolio consents are evidence' "$q"
    done
    for q in "UPDATE chat.audit_log SET reason = 'nothing'" 'DELETE FROM chat.audit_log'; do
        att tables "adv_mallory_su: $q" '^(42501 the audit log is append-only|55000 cannot (update|delete from) view "audit_log")$' "$q"
    done
} >"$WORK/mallory.sql"

START=$SECONDS
run_as() {  # ROLE SQLFILE OUTFILE
    psql -X -q -At -F $'\x1f' -U "$1" -d "$DB" -f "$2" >"$3" 2>"$3.err"
}
# one after the other: the fuzzing transactions of bob's two sessions would
# otherwise wait for each other's locks on his chat
run_as adv_enduser "$WORK/enduser.sql" "$WORK/enduser.out"
run_as adv_enduser "$WORK/anon.sql" "$WORK/anon.out"
run_as adv_service "$WORK/service.sql" "$WORK/service.out"
run_as adv_nobody "$WORK/nobody.sql" "$WORK/nobody.out"
run_as adv_mallory_su "$WORK/mallory.sql" "$WORK/mallory.out"
psql -X -q -At -U adv_enduser -d "$DB" -f "$WORK/tokens.sql" >"$WORK/tokens.out" 2>"$WORK/tokens.err"

declare -A tried held
total=0
total_held=0
# record CATEGORY NAME EXPECTED GOT: one attack's outcome, GOT matching the
# extended regular expression EXPECTED when the attack held
record() {
    local cat=$1 name=$2 exp=$3 got=$4
    tried[$cat]=$(( ${tried[$cat]:-0} + 1 ))
    total=$((total + 1))
    if [[ "$got" =~ $exp ]]; then
        held[$cat]=$(( ${held[$cat]:-0} + 1 ))
        total_held=$((total_held + 1))
        pass "$cat: $name"
    else
        fail "$cat: $name"
        printf '%s\n' "got:      ${got:0:600}" "expected: $exp" | sed 's/^/#   /'
    fi
}
# tally F: the attacks of $WORK/F.sql, reported in $WORK/F.out
tally() {
    local f=$1 cat name exp got
    local expected_lines got_lines
    expected_lines=$(grep -c "^SELECT '" "$WORK/$f.sql")
    got_lines=$(grep -c $'\x1f' "$WORK/$f.out")
    is "$got_lines" "$expected_lines" "$f: every attack reported (the session never died)"
    [ "$got_lines" = "$expected_lines" ] || sed 's/^/#   /' "$WORK/$f.out.err" | head -20
    while IFS=$'\x1f' read -r cat name exp got; do
        [ -n "$cat" ] || continue
        if [ "$cat" = check ]; then
            [[ "$got" =~ $exp ]] && pass "$f: $name" ||
                { fail "$f: $name"; printf '%s\n' "got:      ${got:0:300}" "expected: $exp" | sed 's/^/#   /'; }
            continue
        fi
        record "$cat" "$name" "$exp" "$got"
    done < <(grep $'\x1f' "$WORK/$f.out")
}
for f in enduser anon service nobody mallory; do
    tally "$f"
done

# the bad tokens in their own statements
bad_count=$(grep -c "^SELECT chat.authenticate" "$WORK/tokens.sql")
sed -i -E 's/^psql:[^ ]*: //' "$WORK/tokens.err"
refused=$(grep -c '^ERROR:  invalid token$' "$WORK/tokens.err")
tried[tokens]=$(( ${tried[tokens]:-0} + bad_count )); total=$((total + bad_count))
held[tokens]=$(( ${held[tokens]:-0} + refused )); total_held=$((total_held + refused))
is "$refused" "$bad_count" "tokens: $bad_count bad tokens, each in a statement of its own, get 'invalid token'"
is "$(grep '^ERROR:' "$WORK/tokens.err" | sort -u)" "ERROR:  invalid token" "tokens: one message for every bad token"
is "$(grep -A1 '^ERROR:' "$WORK/tokens.err" | grep -v '^ERROR:\|^--' | sort -u)" \
   "HINT:  Ask the application for a new token." "tokens: one hint for every bad token, and no detail"
is "$(cat "$WORK/tokens.out")" "actor after the bad tokens: NULL" "tokens: the session stays unauthenticated"
psql -X -q -At -U adv_enduser -d "$DB" -v VERBOSITY=verbose \
    -c '\set VERBOSITY verbose' -c "SELECT chat.authenticate('${TOK_ALICE:0:75}')" >/dev/null 2>"$WORK/verbose.err"
is "$(grep -o '^ERROR:  [0-9A-Z]*' "$WORK/verbose.err")" "ERROR:  28000" "tokens: the SQLSTATE of a bad token is 28000"

# the catalogs agree with the lists above: what each role may execute
# (an inlinable SQL function granted by mistake would still hit the table
# privileges in the call above, so this is checked here too)
for pair in "adv_enduser:$USER_API" "adv_service:$SERVICE_API" "adv_nobody: "; do
    role=${pair%%:*}
    is "$("${SU[@]}" -c "SELECT coalesce(string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname), '-')
                           FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'chat'
                          WHERE has_function_privilege('$role', p.oid, 'EXECUTE')")" \
       "$(echo ${pair#*:} | tr ' ' '\n' | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//;s/^$/-/')" \
       "functions: $role may execute exactly the functions meant for it"
done

# nothing changed
fingerprint >"$WORK/after" 2>&1
is "$(diff "$WORK/before" "$WORK/after" && echo same)" "same" \
   "nothing changed: every table of schema chat, the roles, the settings, the privileges and the functions"
is "$(wc -l <"$WORK/before")" "$((${#TABLES[@]} + 4))" "the fingerprint covers ${#TABLES[@]} tables and 4 catalogs"
is "$("${SU[@]}" -c "SELECT count(*) FROM chat.audit_entries
                      WHERE id > $AUDIT_MAX AND NOT (actor_id = '$ADA' AND action IN ('read_history', 'search'))")" "0" \
   "the attacks added to the audit log only ada's reads and searches (admin_history and admin_search fuzzed by the backend acting as her)"
is "$("${SU[@]}" -c "SELECT count(*) > 0 FROM pg_stats WHERE schemaname = 'chat' AND tablename = 'secrets'")" "t" \
   "the statistics of chat.secrets exist (the pg_stats attack could have found them)"
ATTACK_SECONDS=$((SECONDS - START))

# ---------------------------------------------------------------------------
# race: 64 connections of alice send the same client_msg_id at one instant
# ---------------------------------------------------------------------------
KEY=$("${SU[@]}" -c 'SELECT gen_random_uuid()')
before=$("${SU[@]}" -c "SELECT last_seq || ' ' || stylist_unread FROM chat.chats WHERE chat_id = '$VICTIM'")
AT=$("${SU[@]}" -c "SELECT clock_timestamp() + interval '3 seconds'")
for i in $(seq 1 64); do
    psql -X -q -At -U adv_enduser -d "$DB" -v ON_ERROR_STOP=1 >"$WORK/race.$i.out" 2>&1 <<SQL &
BEGIN;
SELECT chat.authenticate('$TOK_ALICE') \gset
SELECT pg_sleep(greatest(0, extract(epoch FROM '$AT'::timestamptz - clock_timestamp()))) \gset
SELECT chat.send_message('$VICTIM', 'the same message', NULL, '$KEY');
COMMIT;
SQL
done
wait
after=$("${SU[@]}" -c "SELECT last_seq || ' ' || stylist_unread FROM chat.chats WHERE chat_id = '$VICTIM'")
read -r seq0 unread0 <<<"$before"
is "$(cat "$WORK"/race.*.out | grep -cvE '^[0-9]+$')" "0" "race: no error for any of 64 senders of one client_msg_id"
cat "$WORK"/race.*.out | grep -vE '^[0-9]+$' | sort | uniq -c | head -5 | sed 's/^/#   /'
is "$(cat "$WORK"/race.*.out | sort | uniq -c | sed 's/^ *//')" "64 $((seq0 + 1))" "race: all 64 got the same seq, the next one"
is "$("${SU[@]}" -c "SELECT count(*) FROM chat.chat_messages WHERE chat_id = '$VICTIM' AND client_msg_id = '$KEY'")" "1" \
   "race: exactly one row"
is "$after" "$((seq0 + 1)) $((unread0 + 1))" "race: last_seq and the stylist's unread counter moved by exactly one"


# ===========================================================================
# The attack classes that the security review found open in version 1.0,
# one category each.  Each category runs after the fingerprint: some change
# data (a chat appears, audit entries, revocations, rotated keys).
# ===========================================================================
EXTVER=$("${SU[@]}" -c "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")
# token PROFILE [FUNCTION [TTL]]: a token from the backend (issue_token by default)
token() {
    psql -X -q -At -U adv_service -d "$DB" -c "SELECT chat.${2:-issue_token}('$1'${3:+, '$3'})"
}
# the time in milliseconds
now_ms() { date +%s%3N; }
# wait_for FILE: until FILE exists, at most 15 s
wait_for() {
    local i=0
    while [ ! -e "$1" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$1" ]
}
# the SQLSTATE of the first error a psql run (VERBOSITY verbose) wrote to
# FILE, or 00000
sqlstate_of() {
    local st
    grep -q 'ERROR:' "$1" || { echo 00000; return; }
    st=$(grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}:' "$1" | sed 's/ERROR:  //; s/:$//')
    echo "${st:-ERROR}"
}

# ---------------------------------------------------------------------------
# explain: EXPLAIN (ANALYZE) of the caller's own conditions says nothing of
# the rows the caller may not see
# ---------------------------------------------------------------------------
# The attacker's tools.  A pair of probes differs only in whether its
# condition holds for the victim's hidden row; the plans of the two are
# compared under every combination of the planner switches, with the lines
# that only repeat the probes' own conditions (which differ by their
# constants) left out: what is compared is every node, row count, "Rows
# Removed by ...", memory and batch figure of the execution.  JIT is off and
# so is parallel query: their figures vary with load, not with data.
EXPLAIN_PRELUDE=$(cat <<'SQL'
SET jit = off;
SET max_parallel_workers_per_gather = 0;
-- the plan of q as EXPLAIN ANALYZE prints it, without the lines that only
-- repeat q's expressions; an error is an answer too
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF) ' || q LOOP
        IF l !~ '^\s*(Filter|Index Cond|Recheck Cond|Join Filter|Hash Cond|Merge Cond|Sort Key|Presorted Key|Group Key|One-Time Filter|Cache Key|Order By|TID Cond|Output):' THEN
            r := r || l || E'\n';
        END IF;
    END LOOP;
    RETURN r;
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || E'\n';
END
$$;
-- combination i (0-127) of the planner switches, for this transaction:
-- bits 0-5 turn off one of the six that shape scans and joins, bit 6 the
-- eight others; returns what is off
CREATE FUNCTION pg_temp.set_combo(i integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    six text[] := '{enable_seqscan,enable_nestloop,enable_mergejoin,enable_hashjoin,enable_indexscan,enable_bitmapscan}';
    eight text[] := '{enable_indexonlyscan,enable_material,enable_sort,enable_hashagg,enable_memoize,enable_incremental_sort,enable_tidscan,enable_gathermerge}';
    k integer;
    off text := '';
BEGIN
    FOR k IN 1..6 LOOP
        PERFORM set_config(six[k], CASE WHEN i & (1 << (k - 1)) <> 0 THEN 'off' ELSE 'on' END, true);
        IF i & (1 << (k - 1)) <> 0 THEN
            off := off || six[k] || ' ';
        END IF;
    END LOOP;
    FOR k IN 1..8 LOOP
        PERFORM set_config(eight[k], CASE WHEN i & 64 <> 0 THEN 'off' ELSE 'on' END, true);
    END LOOP;
    RETURN off || CASE WHEN i & 64 <> 0 THEN 'and the eight others' ELSE '' END;
END
$$;
-- in how many of the 128 combinations the plans of q_true and q_false
-- differ, and the first difference
CREATE FUNCTION pg_temp.explain_pair(q_true text, q_false text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE i integer; differ integer := 0; first text; pt text; pf text; combo text;
BEGIN
    FOR i IN 0..127 LOOP
        combo := pg_temp.set_combo(i);
        pt := pg_temp.plan(q_true);
        pf := pg_temp.plan(q_false);
        IF pt IS DISTINCT FROM pf THEN
            differ := differ + 1;
            first := coalesce(first, format('[off: %s] holds: %s / does not: %s', combo,
                                            regexp_replace(pt, '\s+', ' ', 'g'), regexp_replace(pf, '\s+', ' ', 'g')));
        END IF;
    END LOOP;
    RETURN '00000 differ=' || differ || ' of 128' || coalesce(' ' || first, '');
END
$$;
-- the plans of q in all 128 combinations
CREATE FUNCTION pg_temp.plans(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE i integer; r text := '';
BEGIN
    FOR i IN 0..127 LOOP
        r := r || '[off: ' || pg_temp.set_combo(i) || E']\n' || pg_temp.plan(q);
    END LOOP;
    RETURN r;
END
$$;
-- the attack of the review: a binary search of a hidden message body,
-- one character after the other, asking the plan whether body < guess;
-- "yes" is a plan that differs from the plan of body < '' (which no body
-- satisfies).  Returns how many answers were yes, and whether what was
-- recovered is the body (which the test knows, the attacker does not).
CREATE FUNCTION pg_temp.extract(anchor text, secret text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    q text := 'SELECT 1 FROM chat.my_messages WHERE ' || anchor || ' AND body < %L COLLATE "C"';
    no text;
    prefix text := '';
    lo integer; hi integer; mid integer;
    yes integer := 0; asked integer := 0;
BEGIN
    PERFORM set_config('enable_nestloop', 'off', true);
    PERFORM set_config('enable_mergejoin', 'off', true);
    PERFORM set_config('enable_seqscan', 'off', true);
    no := pg_temp.plan(format(q, ''));
    WHILE char_length(prefix) < 64 LOOP
        -- body = prefix when body < prefix || chr(1)
        asked := asked + 1;
        IF pg_temp.plan(format(q, prefix || chr(1))) <> no THEN
            yes := yes + 1;
            EXIT;
        END IF;
        -- the largest printable c with body >= prefix || c
        lo := 32; hi := 127;
        WHILE hi - lo > 1 LOOP
            mid := (lo + hi) / 2;
            asked := asked + 1;
            IF pg_temp.plan(format(q, prefix || chr(mid))) <> no THEN
                yes := yes + 1;
                hi := mid;
            ELSE
                lo := mid;
            END IF;
        END LOOP;
        prefix := prefix || chr(lo);
    END LOOP;
    RETURN format('00000 yes=%s of %s recovered_body=%s recovered=%s', yes, asked,
                  CASE WHEN prefix = secret THEN 'true' ELSE 'false' END, left(prefix, 40));
END
$$;
SQL
)

if want explain; then
    # the probe pairs, made by the owner, who sees the victim's rows: for
    # each view, the victim's row named by its chat (and seq, position) or
    # by its person, and on each column of type uuid, text, bigint,
    # integer, smallint and timestamptz a condition that holds for the row
    # and one that does not, with the same operator or its strict form
    # (not col = other where the anchor says col = value: the planner sees
    # that contradiction in the constants alone)
    "${SU[@]}" -F $'\x1f' >"$WORK/explain.pairs" 2>"$WORK/explain.pairs.err" <<SQL
BEGIN;
CREATE TEMP TABLE victim_rows (view text, anchors text[], r jsonb);
SELECT chat.act_as('$ALICE') \\g /dev/null
INSERT INTO victim_rows
SELECT 'my_chats', ARRAY[format('chat_id = %L', '$VICTIM'), format('customer_id = %L', '$ALICE')], to_jsonb(v)
  FROM chat.my_chats v WHERE v.chat_id = '$VICTIM'
UNION ALL
SELECT 'my_messages', ARRAY[format('chat_id = %L AND seq = 1', '$VICTIM'), format('sender_id = %L', '$ALICE')], to_jsonb(v)
  FROM chat.my_messages v WHERE v.chat_id = '$VICTIM' AND v.seq = 1
UNION ALL
SELECT 'my_media', ARRAY[format('chat_id = %L AND seq = 1 AND position = 1', '$VICTIM')], to_jsonb(v)
  FROM chat.my_media v WHERE v.chat_id = '$VICTIM' AND v.seq = 1 AND v.position = 1;
SELECT chat.act_as('$ADA') \\g /dev/null
INSERT INTO victim_rows
SELECT 'admin_chats', ARRAY[format('chat_id = %L', '$VICTIM')], to_jsonb(v)
  FROM chat.admin_chats v WHERE v.chat_id = '$VICTIM'
UNION ALL
SELECT 'admin_messages', ARRAY[format('chat_id = %L AND seq = 1', '$VICTIM')], to_jsonb(v)
  FROM chat.admin_messages v WHERE v.chat_id = '$VICTIM' AND v.seq = 1
UNION ALL
(SELECT 'audit_log', ARRAY[format('chat_id = %L', '$VICTIM')], to_jsonb(v)
   FROM chat.audit_log v WHERE v.chat_id = '$VICTIM' ORDER BY v.id LIMIT 1);
SELECT format('%s.%s (%s) %s, where %s', vr.view, a.attname, c.ty, p.kind, anchor),
       format('SELECT 1 FROM chat.%I WHERE %s AND %s', vr.view, anchor, p.t),
       format('SELECT 1 FROM chat.%I WHERE %s AND %s', vr.view, anchor, p.f)
  FROM victim_rows vr
  JOIN pg_attribute a ON a.attrelid = ('chat.' || vr.view)::regclass AND a.attnum > 0 AND NOT a.attisdropped
 CROSS JOIN LATERAL unnest(vr.anchors) WITH ORDINALITY AS x(anchor, ord)
 CROSS JOIN LATERAL (
        SELECT format_type(a.atttypid, NULL) AS ty, vr.r ->> a.attname AS v, quote_ident(a.attname) AS col) c
 CROSS JOIN LATERAL (
        SELECT quote_literal(c.v) || '::' || c.ty AS lit,
               CASE c.ty WHEN 'uuid' THEN quote_literal('$MADE_UP') || '::uuid'
                         WHEN 'text' THEN quote_literal(c.v || '~') || '::text'
                         WHEN 'timestamp with time zone'
                         THEN quote_literal((c.v::timestamptz + interval '1 microsecond')::text) || '::timestamptz'
                         ELSE quote_literal((c.v::numeric + 1)::text) || '::' || c.ty END AS other,
               CASE c.ty WHEN 'text' THEN ' COLLATE "C"' ELSE '' END AS coll) l
 CROSS JOIN LATERAL (
        SELECT 'IS NULL' AS kind,
               c.col || CASE WHEN c.v IS NULL THEN ' IS NULL' ELSE ' IS NOT NULL' END AS t,
               c.col || CASE WHEN c.v IS NULL THEN ' IS NOT NULL' ELSE ' IS NULL' END AS f
        UNION ALL
        SELECT '=', c.col || ' = ' || l.lit, c.col || ' = ' || l.other
         WHERE c.v IS NOT NULL AND x.anchor !~ ('(^| )' || a.attname || ' = ')
        UNION ALL
        SELECT '<=', c.col || ' <= ' || l.lit || l.coll, c.col || ' < ' || l.lit || l.coll WHERE c.v IS NOT NULL
        UNION ALL
        SELECT '>=', c.col || ' >= ' || l.lit || l.coll, c.col || ' > ' || l.lit || l.coll WHERE c.v IS NOT NULL) p
 WHERE c.ty IN ('uuid', 'text', 'bigint', 'integer', 'smallint', 'timestamp with time zone')
 ORDER BY vr.view, x.ord, a.attnum, p.kind;
ROLLBACK;
SQL
    is "$(cut -d $'\x1f' -f1 "$WORK/explain.pairs" | cut -d. -f1 | sort -u | tr '\n' ' ')" \
       "admin_chats admin_messages audit_log my_chats my_media my_messages " \
       "explain: the owner made probe pairs for the victim's row in every view"
    [ -s "$WORK/explain.pairs.err" ] && sed 's/^/#   /' "$WORK/explain.pairs.err" | head -5

    # explain_attacks WHO: every pair, the pairs on who talks to whom, and
    # the binary search
    explain_attacks() {
        local who=$1 name qt qf
        while IFS=$'\x1f' read -r name qt qf; do
            printf "SELECT 'explain', %s, '^00000 differ=0 ', pg_temp.explain_pair(%s, %s);\n" \
                "$(sqlq "$who: $name")" "$(sqlq "$qt")" "$(sqlq "$qf")"
        done <"$WORK/explain.pairs"
        # whether a pair talks: alice and sam do, alice and sue do not; sam
        # wrote messages, ada never did
        printf "SELECT 'explain', %s, '^00000 differ=0 ', pg_temp.explain_pair(%s, %s);\n" \
            "$(sqlq "$who: my_chats, does alice talk to sam (yes) or to sue (no)")" \
            "$(sqlq "SELECT 1 FROM chat.my_chats WHERE customer_id = '$ALICE' AND stylist_id = '$SAM'")" \
            "$(sqlq "SELECT 1 FROM chat.my_chats WHERE customer_id = '$ALICE' AND stylist_id = '$SUE'")"
        printf "SELECT 'explain', %s, '^00000 differ=0 ', pg_temp.explain_pair(%s, %s);\n" \
            "$(sqlq "$who: my_messages, has sam (yes) or ada (no) written")" \
            "$(sqlq "SELECT 1 FROM chat.my_messages WHERE sender_id = '$SAM'")" \
            "$(sqlq "SELECT 1 FROM chat.my_messages WHERE sender_id = '$ADA'")"
        printf "SELECT 'explain', %s, '^00000 differ=0 ', pg_temp.explain_pair(%s, %s);\n" \
            "$(sqlq "$who: my_media, is there an attachment in the victim's chat (yes) or in a made-up one (no)")" \
            "$(sqlq "SELECT 1 FROM chat.my_media WHERE chat_id = '$VICTIM'")" \
            "$(sqlq "SELECT 1 FROM chat.my_media WHERE chat_id = '$MADE_UP'")"
        printf "SELECT 'explain', %s, %s, pg_temp.extract(%s, %s);\n" \
            "$(sqlq "$who: binary search of the body of message 2 of the victim's chat through EXPLAIN of my_messages")" \
            "$(sqlq '^00000 yes=0 of [0-9]+ recovered_body=false')" \
            "$(sqlq "chat_id >= '$VICTIM' AND chat_id <= '$VICTIM' AND seq = 2")" "$(sqlq 'SECRET-AS reply')"
    }
    # the plans of whole views, before and after another pair's chat (and
    # a message in the victim's) appear: they must not count other people's
    count_probes() {
        local v
        for v in my_chats my_messages my_media admin_chats admin_messages audit_log admin_blocks admin_reports; do
            echo "SELECT pg_temp.plans('SELECT 1 FROM chat.$v') \\g $WORK/count.$1.$v"
            echo "SELECT pg_temp.plans('SELECT 1 FROM chat.$v WHERE chat_id IS NOT NULL') \\g $WORK/count.$1.$v.notnull"
        done
    }
    {
        echo "$PRELUDE"
        echo "$EXPLAIN_PRELUDE"
        echo "SELECT concat('actor=', chat.authenticate('$(token "$BOB")', true));"
        explain_attacks "adv_enduser (bob)"
        count_probes bob.before
    } >"$WORK/explain_bob.sql"
    {
        echo "$PRELUDE"
        echo "$EXPLAIN_PRELUDE"
        echo "SELECT concat('actor=', coalesce(chat.current_actor()::text, 'nobody'));"
        explain_attacks "adv_enduser (nobody)"
        count_probes nobody.before
    } >"$WORK/explain_nobody.sql"
    EXPLAIN_START=$SECONDS
    run_as adv_enduser "$WORK/explain_bob.sql" "$WORK/explain_bob.out"
    run_as adv_enduser "$WORK/explain_nobody.sql" "$WORK/explain_nobody.out"
    is "$(grep -m1 '^actor=' "$WORK/explain_bob.out")" "actor=$BOB" "explain: bob's session is authenticated"
    is "$(grep -m1 '^actor=' "$WORK/explain_nobody.out")" "actor=nobody" "explain: the other session is not"
    tally explain_bob
    tally explain_nobody

    # dave's chat with sam appears, with messages and an attachment, and
    # alice writes to sam again
    "${SU[@]}" >"$WORK/dave.out" 2>&1 <<SQL
BEGIN;
SELECT chat.act_as('$DAVE');
SELECT chat.send_message(chat.chat_with('$SAM'), 'DAVE-SAM ' || i, NULL, NULL,
       '[{"storage_key": "dave-sam/1.jpg", "content_type": "image/jpeg", "byte_size": 10, "width": 1, "height": 1}]')
  FROM generate_series(1, 3) i;
SELECT chat.act_as('$ALICE');
SELECT chat.send_message('$VICTIM', 'SECRET-AS again');
COMMIT;
SQL
    for who in bob nobody; do
        {
            echo "$EXPLAIN_PRELUDE"
            [ $who = bob ] && echo "SELECT chat.authenticate('$(token "$BOB")', true) \\g /dev/null"
            count_probes $who.after
        } >"$WORK/count_$who.sql"
        psql -X -q -At -U adv_enduser -d "$DB" -f "$WORK/count_$who.sql" >/dev/null 2>"$WORK/count_$who.err"
        for v in my_chats my_messages my_media admin_chats admin_messages audit_log admin_blocks admin_reports; do
            for s in "" .notnull; do
                if [ -s "$WORK/count.$who.before.$v$s" ] && cmp -s "$WORK/count.$who.before.$v$s" "$WORK/count.$who.after.$v$s"; then
                    got=same
                else
                    got="differ: $(diff "$WORK/count.$who.before.$v$s" "$WORK/count.$who.after.$v$s" 2>&1 | grep '^[<>]' | head -4 | tr '\n' ' ')"
                fi
                record explain "adv_enduser ($who): EXPLAIN of SELECT 1 FROM chat.$v${s:+ WHERE chat_id IS NOT NULL}, 128 combinations, before and after dave's chat with sam appears" \
                    '^same$' "$got"
            done
        done
    done
    EXPLAIN_SECONDS=$((SECONDS - EXPLAIN_START))
fi

# ---------------------------------------------------------------------------
# audit: an admin's read of a chat is in the audit log whatever becomes of
# the transaction that read it
# ---------------------------------------------------------------------------
if want audit; then
    TOK_ADA=$(token "$ADA")
    # audit_read NAME REASON SQL...: an admin (an end-user connection with
    # ada's token) reads the victim's chat with REASON in a transaction that
    # does not commit it; the entry must be in the log afterwards, once
    audit_read() {
        local name=$1 reason=$2; shift 2
        psql -X -q -At -U adv_enduser -d "$DB" >"$WORK/audit.out" 2>&1 <<SQL
BEGIN;
SELECT chat.authenticate('$TOK_ADA') \\g /dev/null
$(printf '%s\n' "$@")
SQL
        local read entries
        read=$(grep -c 'SECRET-AS' "$WORK/audit.out")
        entries=$("${SU[@]}" -c "SELECT count(*) FROM chat.audit_entries
                                  WHERE chat_id = '$VICTIM' AND action = 'read_history' AND reason = '$reason'")
        record audit "adv_enduser (ada): $name" '^read=[1-9][0-9]* entries=1$' "read=$read entries=$entries"
    }
    audit_read "admin_history, then ROLLBACK" 'adv audit rollback' \
        "SELECT body FROM chat.admin_history('$VICTIM', 'adv audit rollback');" 'ROLLBACK;'
    audit_read "admin_history in a savepoint rolled back, then COMMIT" 'adv audit savepoint' \
        'SAVEPOINT s;' "SELECT body FROM chat.admin_history('$VICTIM', 'adv audit savepoint');" 'ROLLBACK TO SAVEPOINT s;' 'COMMIT;'
    audit_read "admin_history through a cursor, FETCH 1, then ROLLBACK" 'adv audit cursor' \
        "DECLARE c CURSOR FOR SELECT body FROM chat.admin_history('$VICTIM', 'adv audit cursor');" 'FETCH 1 FROM c;' 'ROLLBACK;'
    audit_read "admin_history, then an error, then COMMIT (which rolls back)" 'adv audit error' \
        "SELECT body FROM chat.admin_history('$VICTIM', 'adv audit error');" 'SELECT 1 / 0;' 'COMMIT;'
    audit_read "admin_history, then the connection drops" 'adv audit dropped' \
        "SELECT body FROM chat.admin_history('$VICTIM', 'adv audit dropped');" '\q'
    audit_read "admin_history in a function's exception block that fails" 'adv audit exception' \
        "DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT body FROM chat.admin_history('$VICTIM', 'adv audit exception') LOOP RAISE NOTICE '%', r.body; END LOOP; RAISE EXCEPTION 'undo'; EXCEPTION WHEN raise_exception THEN NULL; END \$\$;" 'COMMIT;'

    # admin_messages: every message, but no text to read without a trace
    {
        echo "$PRELUDE"
        echo "SELECT concat('actor=', chat.authenticate('$TOK_ADA', true));"
        att audit 'adv_enduser (ada): SELECT body FROM chat.admin_messages' '^42703' "SELECT body FROM chat.admin_messages WHERE chat_id = '$VICTIM'"
        printf "SELECT 'check', 'ada sees the rows of the victim''s chat in admin_messages', '^00000 rows=[1-9]', pg_temp.nrows(%s);\n" \
            "$(sqlq "SELECT * FROM chat.admin_messages t WHERE chat_id = '$VICTIM'")"
        rows audit 'adv_enduser (ada): ... and none carries the text' '^00000 rows=0$' \
            "SELECT * FROM chat.admin_messages t WHERE t::text LIKE '%SECRET-AS%'"
    } >"$WORK/audit_ada.sql"
    run_as adv_enduser "$WORK/audit_ada.sql" "$WORK/audit_ada.out"
    is "$(grep -m1 '^actor=' "$WORK/audit_ada.out")" "actor=$ADA" "audit: ada's session is authenticated"
    tally audit_ada
fi

# ---------------------------------------------------------------------------
# keys: a member of pg_read_all_data reads every table, but no key
# ---------------------------------------------------------------------------
# The forger's tools: HMAC-SHA256 from the built-in sha256(), and a version
# 1 token (the format of 1.0, which 1.1 still accepts until such tokens
# expire) for a profile, valid for an hour, signed with a key.
FORGE_PRELUDE=$(cat <<'SQL'
CREATE FUNCTION pg_temp.hmac_sha256(k bytea, m bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE kp bytea; ipad bytea; opad bytea; i integer;
BEGIN
    kp := CASE WHEN length(k) > 64 THEN sha256(k) ELSE k END;
    kp := kp || decode(repeat('00', 64 - length(kp)), 'hex');
    ipad := kp; opad := kp;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(kp, i) # 54);
        opad := set_byte(opad, i, get_byte(kp, i) # 92);
    END LOOP;
    RETURN sha256(opad || sha256(ipad || m));
END
$$;
CREATE FUNCTION pg_temp.forge_v1(k bytea, profile uuid) RETURNS text LANGUAGE sql AS $$
    SELECT translate(encode(p || pg_temp.hmac_sha256(k, p), 'base64'), E'+/=\n', '-_')
      FROM (SELECT decode('01' || replace(profile::text, '-', '')
                          || lpad(to_hex(((extract(epoch FROM now() + interval '1 hour') - 946684800) * 1000000)::bigint), 16, '0'),
                          'hex') AS p) x
$$;
SQL
)

if want keys; then
    "${SU[@]}" -c "ANALYZE chat.secrets" >/dev/null
    {
        echo "$PRELUDE"
        echo "$FORGE_PRELUDE"
        rows keys 'adv_reader: SELECT * FROM chat.secrets' '^00000 rows=0$' 'SELECT * FROM chat.secrets'
        rows keys 'adv_reader: the signing key by name' '^00000 rows=0$' "SELECT key FROM chat.secrets WHERE name = 'signing'"
        rows keys 'adv_reader: TABLE chat.secrets in a CTE' '^00000 rows=0$' 'WITH k AS (TABLE chat.secrets) SELECT * FROM k'
        rows keys 'adv_reader: pg_stats of chat.secrets (its histogram holds the keys)' '^00000 rows=0$' \
            "SELECT * FROM pg_stats WHERE schemaname = 'chat' AND tablename = 'secrets'"
        # pg_statistic is not filtered by row level security: a member of
        # pg_read_all_data reads it whole
        rows keys 'adv_reader: pg_statistic of chat.secrets.key (the same histogram, unfiltered)' '^00000 rows=0$' \
            "SELECT s.* FROM pg_statistic s JOIN pg_attribute a ON a.attrelid = s.starelid AND a.attnum = s.staattnum
              WHERE s.starelid = 'chat.secrets'::regclass AND a.attname = 'key'"
        att keys 'adv_reader: row_security off, then SELECT chat.secrets' '^42501' 'SET row_security = off; SELECT * FROM chat.secrets'
        echo 'CREATE TEMP VIEW k AS SELECT * FROM chat.secrets;'
        rows keys 'adv_reader: the keys through a view of its own' '^00000 rows=0$' 'SELECT * FROM pg_temp.k'
        # an admin token under every key it could find: in the table and
        # in the statistics of its bytea columns (and 32 zero bytes, for
        # want of anything)
        cat <<SQL
CREATE TEMP TABLE candidates AS
SELECT key FROM chat.secrets
UNION
SELECT k FROM pg_statistic s
  JOIN pg_attribute a ON a.attrelid = s.starelid AND a.attnum = s.staattnum AND a.atttypid = 'bytea'::regtype
 CROSS JOIN LATERAL unnest(ARRAY[s.stavalues1::text, s.stavalues2::text, s.stavalues3::text,
                                 s.stavalues4::text, s.stavalues5::text]) v
 CROSS JOIN LATERAL unnest(v::bytea[]) k
 WHERE s.starelid = 'chat.secrets'::regclass;
SELECT concat('keys=', count(*)) FROM candidates;
INSERT INTO candidates VALUES (decode(repeat('00', 32), 'hex'));
SELECT concat('forged=', pg_temp.forge_v1(key, '$ADA')) FROM candidates;
SQL
    } >"$WORK/keys_reader.sql"
    run_as adv_reader "$WORK/keys_reader.sql" "$WORK/keys_reader.out"
    tally keys_reader
    record keys 'adv_reader: keys found in chat.secrets and pg_statistic' '^keys=0$' "$(grep -m1 '^keys=' "$WORK/keys_reader.out")"
    accepted=0 forged_n=0
    for forged in $(grep '^forged=' "$WORK/keys_reader.out" | sed 's/^forged=//'); do
        forged_n=$((forged_n + 1))
        psql -X -q -At -v VERBOSITY=verbose -U adv_enduser_tx -d "$DB" -c "SELECT chat.authenticate('$forged')" \
            >"$WORK/forged.out" 2>&1
        [ "$(sqlstate_of "$WORK/forged.out")" = 00000 ] && accepted=$((accepted + 1))
    done
    record keys 'an end-user connection presents the admin tokens forged under those keys' '^accepted=0 of [1-9]' \
        "accepted=$accepted of $forged_n"
    # the forger's method works, given the key (the owner forges the same way)
    control=$( { echo "$FORGE_PRELUDE"; echo "SELECT pg_temp.forge_v1(key, '$ADA') FROM chat.secrets WHERE name = 'signing';"; } |
               "${SU[@]}" -f - )
    is "$(psql -X -q -At -U adv_enduser_tx -d "$DB" -c "SELECT chat.authenticate('$control')" 2>&1)" "$ADA" \
       "keys: the forger's method makes a good token from the real key (control)"

    n_copy=$(psql -X -q -At -v VERBOSITY=verbose -U adv_reader -d "$DB" -c 'COPY chat.secrets TO STDOUT' 2>"$WORK/copy.err" | wc -l)
    record keys 'adv_reader: COPY chat.secrets TO STDOUT' '^(00000|42501) lines=0$' "$(sqlstate_of "$WORK/copy.err") lines=$n_copy"
    KEYS_HEX=$("${SU[@]}" -c "SELECT encode(key, 'hex') FROM chat.secrets")
    # keys_in FILE: how many of the keys FILE holds
    keys_in() {
        local k c=0
        for k in $KEYS_HEX; do grep -q "$k" "$1" && c=$((c + 1)); done
        echo $c
    }
    pg_dump -U adv_reader -d "$DB" >"$WORK/dump_reader.sql" 2>"$WORK/dump_reader.err"
    rc=$?
    is "keys=$(keys_in "$WORK/dump_reader.sql")" "keys=0" "keys: pg_dump by adv_reader (rc $rc) carries no key"
    pg_dump -d "$DB" >"$WORK/dump_su.sql" 2>"$WORK/dump_su.err"
    rc=$?
    is "rc=$rc keys=$(keys_in "$WORK/dump_su.sql")" "rc=0 keys=0" "keys: pg_dump by the superuser works, and carries no key"
    [ -s "$WORK/dump_su.err" ] && sed 's/^/#   /' "$WORK/dump_su.err" | head -5
fi

# ---------------------------------------------------------------------------
# schema: a schema chat that another role made, may write to, or filled
# ---------------------------------------------------------------------------
# in_db DB ROLE SQL: run SQL in DB as ROLE; "00000 ok" or "SQLSTATE message"
in_db() {
    local out
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -U "$2" -d "$1" -c "$3" 2>&1)
    if [ $? -eq 0 ]; then
        echo "00000 ok"
    else
        echo "$out" | grep -m1 -oE 'ERROR:  [0-9A-Z]{5}: .*' | sed -E 's/^ERROR:  ([0-9A-Z]{5}): /\1 /'
    fi
}
# the planted overload: closer than _require_arg(anyelement, text) for a
# uuid argument, so the extension's SECURITY DEFINER functions would call
# it as the extension owner; then it makes its author a superuser
PLANT='CREATE FUNCTION chat._require_arg(value uuid, name text) RETURNS uuid LANGUAGE plpgsql AS $p$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE adv_planter SUPERUSER;
    END IF;
    RETURN value;
END
$p$'
# what of the extension DB holds: its row in pg_extension, and the
# relations and functions in schema chat that adv_planter did not make
installed_in() {
    psql -X -q -At -d "$1" -c "SELECT format('extension=%s relations=%s functions=%s',
        (SELECT count(*) FROM pg_extension WHERE extname = 'stylist_chat'),
        (SELECT count(*) FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'chat')),
        (SELECT count(*) FROM pg_proc WHERE pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'chat')
                                        AND proowner <> 'adv_planter'::regrole))"
}
planter_is_superuser() {
    "${SU[@]}" -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'adv_planter'"
}

# run_step DB:ROLE:SQL
run_step() {
    local rest=${1#*:}
    [ "$(in_db "${1%%:*}" "${rest%%:*}" "${rest#*:}")" = "00000 ok" ]
}
# schema_case NAME DB EXPECTED STEPS...: make DB, run each step (ROLE:SQL),
# then CREATE EXTENSION as the superuser must give EXPECTED and install
# nothing; then adv_planter plants its function if it can and calls
# chat.upsert_profile() (it is a chat_service member), and must not have
# become a superuser
schema_case() {
    local name=$1 db=$2 exp=$3 step; shift 3
    for step in "$@"; do
        run_step "$step" || { fail "schema: $name: step ${step:0:60}"; return; }
    done
    record schema "$name: CREATE EXTENSION stylist_chat VERSION '$EXTVER'" "$exp" \
        "$(in_db "$db" "$PGUSER" "CREATE EXTENSION stylist_chat VERSION '$EXTVER'")"
    record schema "$name: nothing was installed" '^extension=0 relations=0 functions=0$' "$(installed_in "$db")"
    in_db "$db" adv_planter "$PLANT" >/dev/null
    in_db "$db" adv_planter "SELECT chat.upsert_profile(gen_random_uuid(), 'customer', 'Eve')" >/dev/null
    record schema "$name: adv_planter is no superuser after calling chat.upsert_profile()" '^f$' "$(planter_is_superuser)"
    "${SU[@]}" -c "ALTER ROLE adv_planter NOSUPERUSER" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
}
# update_case NAME DB EXPECTED STEPS...: the same for an update from 1.0,
# STEPS installing 1.0 on the way
update_case() {
    local name=$1 db=$2 exp=$3 step; shift 3
    for step in "$@"; do
        run_step "$step" || { fail "schema: $name: step ${step:0:60}"; return; }
    done
    record schema "$name: ALTER EXTENSION stylist_chat UPDATE TO '$EXTVER'" "$exp" \
        "$(in_db "$db" "$PGUSER" "ALTER EXTENSION stylist_chat UPDATE TO '$EXTVER'")"
    record schema "$name: ... and the extension stays at 1.0" '^1\.0$' \
        "$(psql -X -q -At -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")"
    "${SU[@]}" -c "ALTER ROLE adv_planter NOSUPERUSER" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
}

if want schema; then
    # a step is DB:ROLE:SQL; $DB is where the superuser makes the databases
    schema_case "schema chat owned by the application role, with a planted function" adv_schema_owned \
        '^42501 schema chat belongs to role adv_planter' \
        "$DB:$PGUSER:CREATE DATABASE adv_schema_owned OWNER adv_planter" \
        "adv_schema_owned:adv_planter:CREATE SCHEMA chat" \
        "adv_schema_owned:adv_planter:$PLANT"
    schema_case "the superuser's empty schema chat, CREATE granted to the application role" adv_schema_create \
        '^42501 other roles may create objects in schema chat' \
        "$DB:$PGUSER:CREATE DATABASE adv_schema_create" \
        "adv_schema_create:$PGUSER:CREATE SCHEMA chat; GRANT USAGE, CREATE ON SCHEMA chat TO adv_planter"
    schema_case "the superuser's empty schema chat, CREATE granted to PUBLIC" adv_schema_public \
        '^42501 other roles may create objects in schema chat' \
        "$DB:$PGUSER:CREATE DATABASE adv_schema_public" \
        "adv_schema_public:$PGUSER:CREATE SCHEMA chat; GRANT USAGE, CREATE ON SCHEMA chat TO PUBLIC"
    schema_case "schema chat taken over by the superuser (ALTER SCHEMA OWNER) with the planted function in it" adv_schema_full \
        '^42P06 schema chat is not empty' \
        "$DB:$PGUSER:CREATE DATABASE adv_schema_full OWNER adv_planter" \
        "adv_schema_full:adv_planter:CREATE SCHEMA chat" \
        "adv_schema_full:adv_planter:$PLANT" \
        "adv_schema_full:$PGUSER:ALTER SCHEMA chat OWNER TO CURRENT_USER"
    schema_case "the superuser's schema chat, CREATE revoked after the function was planted" adv_schema_revoked \
        '^42P06 schema chat is not empty' \
        "$DB:$PGUSER:CREATE DATABASE adv_schema_revoked" \
        "adv_schema_revoked:$PGUSER:CREATE SCHEMA chat; GRANT USAGE, CREATE ON SCHEMA chat TO adv_planter" \
        "adv_schema_revoked:adv_planter:$PLANT" \
        "adv_schema_revoked:$PGUSER:REVOKE CREATE ON SCHEMA chat FROM adv_planter"
    # the update from 1.0, where 1.0 was installed into such a schema
    if [ "$EXTVER" != 1.0 ]; then
        update_case "1.0 installed in the application role's schema chat, function planted" adv_schema_upd_owned \
            '^42501 schema chat may be written to by roles other than the extension owner' \
            "$DB:$PGUSER:CREATE DATABASE adv_schema_upd_owned OWNER adv_planter" \
            "adv_schema_upd_owned:adv_planter:CREATE SCHEMA chat" \
            "adv_schema_upd_owned:$PGUSER:CREATE EXTENSION stylist_chat VERSION '1.0'" \
            "adv_schema_upd_owned:adv_planter:$PLANT"
        update_case "1.0 installed in a schema chat the application role may create in, function planted" adv_schema_upd_create \
            '^42501 schema chat may be written to by roles other than the extension owner' \
            "$DB:$PGUSER:CREATE DATABASE adv_schema_upd_create" \
            "adv_schema_upd_create:$PGUSER:CREATE SCHEMA chat; GRANT USAGE, CREATE ON SCHEMA chat TO adv_planter" \
            "adv_schema_upd_create:$PGUSER:CREATE EXTENSION stylist_chat VERSION '1.0'" \
            "adv_schema_upd_create:adv_planter:$PLANT"
        update_case "1.0 installed, a function planted while CREATE was granted, then revoked" adv_schema_upd_foreign \
            '^42501 schema chat holds objects that are not part of the extension' \
            "$DB:$PGUSER:CREATE DATABASE adv_schema_upd_foreign" \
            "adv_schema_upd_foreign:$PGUSER:CREATE EXTENSION stylist_chat VERSION '1.0'" \
            "adv_schema_upd_foreign:$PGUSER:GRANT CREATE ON SCHEMA chat TO adv_planter" \
            "adv_schema_upd_foreign:adv_planter:$PLANT" \
            "adv_schema_upd_foreign:$PGUSER:REVOKE CREATE ON SCHEMA chat FROM adv_planter"
    fi
    is "$(planter_is_superuser)" "f" "schema: adv_planter is no superuser at the end"
fi

# ---------------------------------------------------------------------------
# replay: a login token that another session of the same login reads is
# worth nothing
# ---------------------------------------------------------------------------
# The victim's own client: it authenticates with a token, passed as a bind
# parameter (as a client should) or spelled into the query (as a careless
# one does), for the session or in a transaction it keeps open, then stays
# connected, idle, until a file appears; then it says who it still is.
VICTIM_C=$(cat <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "libpq-fe.h"

static void
report(const char *what, PGresult *r)
{
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		printf("%s %s\n", what, PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
	else
	{
		const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		printf("%s error %s\n", what, st ? st : "?");
	}
	fflush(stdout);
	PQclear(r);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	int			param, in_xact, i;
	char		sql[1024];

	if (argc != 6)
	{
		fprintf(stderr, "usage: victim DBNAME param|literal session|transaction TOKEN RELEASE_FILE\n");
		return 2;
	}
	param = strcmp(argv[2], "param") == 0;
	in_xact = strcmp(argv[3], "transaction") == 0;
	snprintf(sql, sizeof(sql), "dbname=%s", argv[1]);
	conn = PQconnectdb(sql);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 2;
	}
	if (in_xact)
		PQclear(PQexec(conn, "BEGIN"));
	if (param)
	{
		const char *values[1] = {argv[4]};

		report("authenticated",
			   PQexecParams(conn, in_xact ? "SELECT chat.authenticate($1)" : "SELECT chat.authenticate($1, true)",
							1, NULL, values, NULL, NULL, 0));
	}
	else
	{
		char	   *lit = PQescapeLiteral(conn, argv[4], strlen(argv[4]));

		snprintf(sql, sizeof(sql), "SELECT chat.authenticate(%s%s)", lit, in_xact ? "" : ", true");
		PQfreemem(lit);
		report("authenticated", PQexec(conn, sql));
	}
	for (i = 0; i < 300 && access(argv[5], F_OK) != 0; i++)
		usleep(100000);
	report("still", PQexec(conn, "SELECT chat.current_actor()"));
	if (in_xact)
		PQclear(PQexec(conn, "COMMIT"));
	PQfinish(conn);
	return 0;
}
C
)

if want replay; then
    PGC=${PG_CONFIG:-pg_config}
    printf '%s\n' "$VICTIM_C" >"$WORK/victim.c"
    if ! gcc -O2 -Wall -Wextra -Werror -o "$WORK/victim" "$WORK/victim.c" -I"$("$PGC" --includedir)" \
            -L"$("$PGC" --libdir)" -lpq >"$WORK/victim.build" 2>&1; then
        fail "replay: the victim's client builds"; sed 's/^/#   /' "$WORK/victim.build" | head -10
    fi
    # victim_start N MODE SCOPE TOKEN: the victim's client as adv_enduser,
    # application_name adv_victim_N, until release.victimN; waits until it
    # is idle after authenticating
    victim_start() {
        PGAPPNAME=adv_victim_$1 PGUSER=adv_enduser "$WORK/victim" "$DB" "$2" "$3" "$4" "$WORK/release.victim$1" \
            >"$WORK/victim.$1.out" 2>&1 &
        local i=0
        while [ $i -lt 100 ] && [ "$("${SU[@]}" -c "SELECT count(*) FROM pg_stat_activity
                                           WHERE application_name = 'adv_victim_$1' AND state LIKE 'idle%'
                                             AND query LIKE '%chat.authenticate(%'")" != 1 ]; do
            sleep 0.1; i=$((i + 1))
        done
    }
    victim_end() {
        touch "$WORK/release.victim$1"
        wait $!
    }
    # replay_file N TOKEN: the attacker, another session of adv_enduser:
    # what it sees of the victim in pg_stat_activity, then the token again
    replay_sql() {
        local k=$1 tok=$2
        echo "$PRELUDE"
        printf "SELECT 'replay', %s, '^seen=1 with_token=0$', (SELECT format('seen=%%s with_token=%%s', count(*), count(*) FILTER (WHERE strpos(query, %s) > 0)) FROM pg_stat_activity WHERE application_name = 'adv_victim_$k');\n" \
            "$(sqlq "adv_enduser: the victim's query text in pg_stat_activity (token as a bind parameter)")" "$(sqlq "$tok")"
    }
    replay_att() {
        local who=$1 tok=$2
        att replay "$who: the victim's login token again, for the session" '^28000 invalid token$' "SELECT chat.authenticate('$tok', true)"
        att replay "$who: the victim's login token again, for a transaction" '^28000 invalid token$' "SELECT chat.authenticate('$tok')"
    }

    # 1. bind parameter, for the session: the token never shows; a replay
    # while the victim's session lasts gets 28000
    LT=$(token "$ALICE" issue_login_token)
    victim_start 1 param session "$LT"
    {
        replay_sql 1 "$LT"
        replay_att "adv_enduser (while the victim's session lasts)" "$LT"
    } >"$WORK/replay1.sql"
    run_as adv_enduser "$WORK/replay1.sql" "$WORK/replay1.out"
    victim_end 1
    is "$(cat "$WORK/victim.1.out" | tr '\n' ' ')" "authenticated $ALICE still $ALICE " "replay: the victim authenticated and stayed herself"
    tally replay1

    # 2. the careless client spells the token into its query: the attacker
    # reads it from pg_stat_activity, and it is spent
    LT=$(token "$ALICE" issue_login_token)
    victim_start 2 literal session "$LT"
    {
        echo "$PRELUDE"
        echo "SELECT concat('read=', substring(query from 'authenticate\(''([A-Za-z0-9_-]+)''')) FROM pg_stat_activity WHERE application_name = 'adv_victim_2';"
    } >"$WORK/replay2a.sql"
    read_tok=$(psql -X -q -At -U adv_enduser -d "$DB" -f "$WORK/replay2a.sql" | grep -m1 '^read=' | sed 's/^read=//')
    is "$read_tok" "$LT" "replay: another session of the login reads a token spelled into the query (the premise)"
    {
        echo "$PRELUDE"
        replay_att "adv_enduser (token read from pg_stat_activity)" "${read_tok:-none}"
    } >"$WORK/replay2.sql"
    run_as adv_enduser "$WORK/replay2.sql" "$WORK/replay2.out"
    victim_end 2
    tally replay2

    # 3. bind parameter, in a transaction the victim keeps open: the replay
    # is refused at once or after lock_timeout (the first use is not yet
    # committed); once it is, 28000
    LT=$(token "$ALICE" issue_login_token)
    victim_start 3 param transaction "$LT"
    t0=$(now_ms)
    PGOPTIONS='-c statement_timeout=8s' psql -X -q -At -U adv_enduser -d "$DB" -v VERBOSITY=verbose \
        -c "SELECT chat.authenticate('$LT')" >"$WORK/replay3.out" 2>&1
    t1=$(now_ms)
    record replay "adv_enduser: the login token of a transaction still open, again (within 5 s)" '^(28000|55P03) [0-4][0-9]{3}$' \
        "$(sqlstate_of "$WORK/replay3.out") $(printf '%04d' $((t1 - t0)))"
    victim_end 3
    {
        echo "$PRELUDE"
        replay_att "adv_enduser (after the victim's transaction committed)" "$LT"
    } >"$WORK/replay3b.sql"
    run_as adv_enduser "$WORK/replay3b.sql" "$WORK/replay3b.out"
    tally replay3b

    # 4. after the victim's session is over
    {
        echo "$PRELUDE"
        replay_att "adv_enduser (after the victim's session ended)" "$LT"
    } >"$WORK/replay4.sql"
    run_as adv_enduser "$WORK/replay4.sql" "$WORK/replay4.out"
    tally replay4
fi

# ---------------------------------------------------------------------------
# locks: an end user idling in a transaction after a call that locks holds
# nobody up
# ---------------------------------------------------------------------------
if want locks; then
    TOK_BOB_L=$(token "$BOB")
    TOK_SUE=$(token "$SUE")
    TOK_SAM=$(token "$SAM")
    TOK_CAROL=$(token "$CAROL")
    CAROL_SUE=$("${SU[@]}" -c "SELECT chat.pair_chat_id('$CAROL', '$SUE')")
    CAROL_SAM=$("${SU[@]}" -c "SELECT chat.pair_chat_id('$CAROL', '$SAM')")
    # under 5 s, in milliseconds
    WITHIN=' ([0-9]{1,3}|[0-4][0-9]{3})$'

    # timed TAG ROLE TOKEN SQL: SQL as ROLE, authenticated with TOKEN for
    # the transaction (when one is given), in the background; "SQLSTATE
    # MILLISECONDS" into $WORK/timed.TAG.  A statement_timeout of 8 s only
    # ends a wait that would otherwise last as long as the idle transaction;
    # no lock_timeout is set here: the API must bring its own.
    TIMED_PIDS=()
    timed() {
        local tag=$1 role=$2 tok=$3 sql=$4
        (
            t0=$(now_ms)
            { echo "BEGIN;"
              [ -n "$tok" ] && echo "SELECT chat.authenticate('$tok') \\g /dev/null"
              echo "$sql \\g /dev/null"
              echo "COMMIT;"
            } | PGOPTIONS='-c statement_timeout=8s' psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
                    -U "$role" -d "$DB" >"$WORK/timed.$tag.log" 2>&1
            t1=$(now_ms)
            echo "$(sqlstate_of "$WORK/timed.$tag.log") $((t1 - t0))" >"$WORK/timed.$tag"
        ) &
        TIMED_PIDS+=($!)
    }
    # the idler: CALL in a transaction (bob's, with TOKEN, when one is
    # given), then idle in it until release.lockN
    idler_start() {
        local k=$1 call=$2 tok=$3
        { echo "BEGIN;"
          [ -n "$tok" ] && echo "SELECT chat.authenticate('$tok') \\g /dev/null"
          echo "$call \\g /dev/null"
          echo "\\! touch $WORK/idle.lock$k"
          echo "\\! while [ ! -e $WORK/release.lock$k ] && [ ! -e $WORK/release.all ]; do sleep 0.1; done"
          echo "ROLLBACK;"
        } | psql -X -q -At -v ON_ERROR_STOP=1 -U adv_enduser -d "$DB" >"$WORK/idle.lock$k.out" 2>&1 &
        IDLER=$!
        wait_for "$WORK/idle.lock$k"
    }
    # before each case: everyone has something undelivered
    lock_prestep() {
        "${SU[@]}" >/dev/null <<SQL
BEGIN;
SELECT chat.act_as('$SUE'); SELECT chat.send_message('$OWN', 'locks: from sue');
SELECT chat.act_as('$BOB'); SELECT chat.send_message('$OWN', 'locks: from bob');
SELECT chat.act_as('$CAROL'); SELECT chat.send_message('$CAROL_SUE', 'locks: to sue'), chat.send_message('$CAROL_SAM', 'locks: to sam');
SELECT chat.act_as('$ALICE'); SELECT chat.send_message('$VICTIM', 'locks: to sam');
COMMIT;
SQL
    }
    # lock_case N WHAT CALL P [TOKEN]: bob makes CALL and idles; meanwhile
    # P (sue, in whose chat with bob he idles, or sam, with whom he opens
    # one), carol (a customer of P) and the backend make their calls
    lock_case() {
        local k=$1 what=$2 call=$3 p=$4 idle_tok=${5-$TOK_BOB_L}
        local pn ptok pchat carol_p t
        if [ "$p" = "$SUE" ]; then pn=sue ptok=$TOK_SUE pchat=$OWN carol_p=$CAROL_SUE
        else pn=sam ptok=$TOK_SAM pchat=$UNOPENED carol_p=$CAROL_SAM; fi
        lock_prestep
        if ! idler_start "$k" "$call" "$idle_tok"; then
            fail "locks: bob's $what succeeded, and he idles"
            sed 's/^/#   /' "$WORK/idle.lock$k.out" | head -5
            touch "$WORK/release.lock$k"; wait "$IDLER"
            return
        fi
        TIMED_PIDS=()
        timed "$k.p_undelivered" adv_enduser "$ptok" 'SELECT count(*) FROM chat.undelivered()'
        sleep 0.3
        timed "$k.carol_send" adv_enduser "$TOK_CAROL" "SELECT chat.send_message('$carol_p', 'locks: carol')"
        timed "$k.carol_read" adv_enduser "$TOK_CAROL" "SELECT chat.mark_read('$carol_p')"
        timed "$k.carol_undelivered" adv_enduser "$TOK_CAROL" 'SELECT count(*) FROM chat.undelivered()'
        timed "$k.carol_locked" adv_enduser "$TOK_CAROL" "SELECT chat.send_message('$pchat', 'locks: carol intrudes')"
        if [ "$pchat" = "$OWN" ]; then
            timed "$k.p_read" adv_enduser "$ptok" "SELECT chat.mark_read('$OWN')"
            timed "$k.p_send" adv_enduser "$ptok" "SELECT chat.send_message('$OWN', 'locks: $pn')"
        else
            timed "$k.p_open" adv_enduser "$ptok" "SELECT chat.chat_with('$BOB')"
        fi
        timed "$k.svc_bob" adv_service "" "SELECT chat.upsert_profile('$BOB', 'customer', 'Bob')"
        timed "$k.svc_p" adv_service "" "SELECT chat.upsert_profile('$p', 'stylist', '${pn^}')"
        timed "$k.svc_claim" adv_service "" "SELECT count(*) FROM chat.claim_notifications(10, '1 minute')"
        [ -z "$idle_tok" ] && timed "$k.carol_login" adv_enduser "" \
            "SELECT chat.authenticate('$(token "$CAROL" issue_login_token)')"
        wait "${TIMED_PIDS[@]}"
        touch "$WORK/release.lock$k"
        wait "$IDLER"
        local pre="while bob idles after $what"
        record locks "$pre: $pn's undelivered() answers" "^00000$WITHIN" "$(cat "$WORK/timed.$k.p_undelivered")"
        record locks "$pre: carol's send_message to her chat with $pn" "^00000$WITHIN" "$(cat "$WORK/timed.$k.carol_send")"
        record locks "$pre: carol's mark_read of her chat with $pn" "^00000$WITHIN" "$(cat "$WORK/timed.$k.carol_read")"
        record locks "$pre: carol's undelivered()" "^00000$WITHIN" "$(cat "$WORK/timed.$k.carol_undelivered")"
        record locks "$pre: carol's send_message to the chat of bob and $pn" "^42501$WITHIN" "$(cat "$WORK/timed.$k.carol_locked")"
        if [ "$pchat" = "$OWN" ]; then
            record locks "$pre: $pn's mark_read of the chat" "^(00000|55P03)$WITHIN" "$(cat "$WORK/timed.$k.p_read")"
            record locks "$pre: $pn's send_message to the chat" "^(00000|55P03)$WITHIN" "$(cat "$WORK/timed.$k.p_send")"
        else
            record locks "$pre: $pn's chat_with(bob)" "^(00000|55P03)$WITHIN" "$(cat "$WORK/timed.$k.p_open")"
        fi
        record locks "$pre: the backend's upsert_profile of bob" "^(00000|55P03)$WITHIN" "$(cat "$WORK/timed.$k.svc_bob")"
        record locks "$pre: the backend's upsert_profile of $pn" "^(00000|55P03)$WITHIN" "$(cat "$WORK/timed.$k.svc_p")"
        record locks "$pre: the notification sender's claim_notifications" "^00000$WITHIN" "$(cat "$WORK/timed.$k.svc_claim")"
        [ -z "$idle_tok" ] && record locks "$pre: carol logs in with a login token of her own" "^00000$WITHIN" \
            "$(cat "$WORK/timed.$k.carol_login")"
    }
    LOCKS_START=$SECONDS
    lock_case 1 "mark_read of his chat with sue" "SELECT chat.mark_read('$OWN')" "$SUE"
    lock_case 2 "send_message to sue" "SELECT chat.send_message('$OWN', 'locks: idle')" "$SUE"
    lock_case 3 "edit_message of his message" "SELECT chat.edit_message('$OWN', 1, 'locks: idle edit')" "$SUE"
    lock_case 4 "delete_message of his message" "SELECT chat.delete_message('$OWN', 1)" "$SUE"
    lock_case 5 "undelivered()" 'SELECT count(*) FROM chat.undelivered()' "$SUE"
    lock_case 10 "catch_up() acknowledging his chat with sue" \
        "SELECT count(*) FROM chat.catch_up(jsonb_build_array(jsonb_build_object('chat_id', '$OWN', 'seq', 1)))" "$SUE"
    lock_case 11 "ack_delivered of his chat with sue" "SELECT chat.ack_delivered('$OWN', 1)" "$SUE"
    lock_case 6 "get_or_create_chat with sam (a new pair)" "SELECT chat.get_or_create_chat('$BOB', '$SAM')" "$SAM"
    lock_case 7 "chat_with(sam) (a new pair)" "SELECT chat.chat_with('$SAM')" "$SAM"
    lock_case 8 "chat_for_booking of his booking with sam (a new pair)" "SELECT chat.chat_for_booking('$BK_BSAM')" "$SAM"
    lock_case 12 "archive of his chat with sue" "SELECT chat.archive('$OWN')" "$SUE"
    lock_case 13 "mute of his chat with sue" "SELECT chat.mute('$OWN')" "$SUE"
    lock_case 14 "clear_history of his chat with sue" "SELECT chat.clear_history('$OWN')" "$SUE"
    lock_case 15 "grant_portfolio_consent in his chat with sue" "SELECT chat.grant_portfolio_consent('$OWN', 1, 1)" "$SUE"
    lock_case 16 "revoke_portfolio_consent in his chat with sue" "SELECT chat.revoke_portfolio_consent('$OWN', 1, 1)" "$SUE"
    lock_case 17 "react to his message" "SELECT chat.react('$OWN', 1, '👍')" "$SUE"
    lock_case 18 "set_notification_preferences" "SELECT chat.set_notification_preferences(true, 'Europe/Berlin', '22:00', '07:00')" "$SUE"
    # login tokens spent a while ago, expired now: a login clears some of them
    for i in 1 2 3; do
        psql -X -q -At -U adv_enduser -d "$DB" -c "SELECT chat.authenticate('$(token "$CAROL" issue_login_token '1 second')')" >/dev/null
    done
    sleep 1.5
    lock_case 9 "authenticate with a login token" "SELECT chat.authenticate('$(token "$BOB" issue_login_token)')" "$SUE" ""
    LOCKS_SECONDS=$((SECONDS - LOCKS_START))
fi

# ---------------------------------------------------------------------------
# expiry: an identity taken from a token lasts no longer than the token
# ---------------------------------------------------------------------------
# the answer to q with its hint ("SQLSTATE message / hint"), and the actor
EXPIRY_PRELUDE=$(cat <<'SQL'
CREATE FUNCTION pg_temp.tryh(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hnt text;
BEGIN
    EXECUTE q;
    RETURN '00000 ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hnt = PG_EXCEPTION_HINT;
    RETURN st || ' ' || msg || ' / ' || hnt;
END
$$;
CREATE FUNCTION pg_temp.actor_now() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN '00000 actor=' || coalesce(chat.current_actor()::text, 'NULL');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
SQL
)
if want expiry; then
    # ended WHO: the calls after the end of the token: one that needs an
    # actor gets 28000 with a hint, and so does the next; the views show
    # nothing, and nobody is acting
    ended() {
        local who=$1
        printf "SELECT 'expiry', %s, %s, pg_temp.tryh(%s);\n" "$(sqlq "$who: inbox()")" "$(sqlq '^28000 [^/]+ / .+')" \
            "$(sqlq 'SELECT * FROM chat.inbox()')"
        printf "SELECT 'expiry', %s, %s, pg_temp.tryh(%s);\n" "$(sqlq "$who: send_message(), the next call")" \
            "$(sqlq '^28000 [^/]+ / .+')" "$(sqlq "SELECT chat.send_message('$OWN', 'expiry: still here?')")"
        rows expiry "$who: my_messages" '^(00000 rows=0|28000 .*)$' 'SELECT * FROM chat.my_messages'
        printf "SELECT 'expiry', %s, %s, pg_temp.actor_now();\n" "$(sqlq "$who: current_actor()")" \
            "$(sqlq '^(00000 actor=NULL|28000 .*)$')"
    }
    # as_service SQL: what the backend does meanwhile, run from the
    # attacker's psql session, which stays open
    as_service() { echo "\\! psql -X -q -At -U adv_service -d $DB -c \"$1\" >/dev/null"; }
    # expiry_run N ROLE < SQL: make $WORK/expiryN.sql, run it as ROLE at
    # once (its tokens are fresh), tally it
    expiry_run() {
        { echo "$PRELUDE"; echo "$EXPIRY_PRELUDE"; cat; } >"$WORK/expiry$1.sql"
        run_as "$2" "$WORK/expiry$1.sql" "$WORK/expiry$1.out"
        tally "expiry$1"
    }

    # for the session, a token of 2 seconds
    expiry_run 1 adv_enduser < <(
        chk 'authenticate for the session with a token of 2 s' '^00000' \
            "SELECT chat.authenticate('$(token "$BOB" issue_token '2 seconds')', true)"
        chk '... which works at first' '^00000' 'SELECT * FROM chat.inbox()'
        echo "SELECT pg_sleep(2.5);"
        ended "adv_enduser, 0.5 s after the token expired"
    )
    # the same in one transaction
    expiry_run 2 adv_enduser < <(
        echo "BEGIN;"
        chk 'authenticate in a transaction with a token of 2 s' '^00000' \
            "SELECT chat.authenticate('$(token "$BOB" issue_token '2 seconds')')"
        echo "SELECT pg_sleep(2.5);"
        ended "adv_enduser, in the transaction, 0.5 s after the token expired"
        echo "COMMIT;"
    )
    # for the session, then the key is rotated once (the token still
    # works), then again
    expiry_run 3 adv_enduser < <(
        chk 'authenticate for the session' '^00000' "SELECT chat.authenticate('$(token "$BOB")', true)"
        as_service 'SELECT chat.rotate_signing_key()'
        chk 'after one rotation the token is still good' '^00000' 'SELECT * FROM chat.inbox()'
        as_service 'SELECT chat.rotate_signing_key()'
        ended "adv_enduser, after the second rotation of the signing key"
    )
    # the same in one transaction
    expiry_run 4 adv_enduser < <(
        echo "BEGIN;"
        chk 'authenticate in a transaction' '^00000' "SELECT chat.authenticate('$(token "$BOB")')"
        as_service 'SELECT chat.rotate_signing_key()'
        as_service 'SELECT chat.rotate_signing_key()'
        ended "adv_enduser, in the transaction, after two rotations"
        echo "COMMIT;"
    )
    # for the session, then the profile's tokens are revoked
    expiry_run 5 adv_enduser < <(
        chk 'authenticate for the session' '^00000' "SELECT chat.authenticate('$(token "$BOB")', true)"
        as_service "SELECT chat.revoke_tokens('$BOB')"
        ended "adv_enduser, after revoke_tokens(bob)"
    )
    # the same in one transaction
    expiry_run 6 adv_enduser < <(
        echo "BEGIN;"
        chk 'authenticate in a transaction' '^00000' "SELECT chat.authenticate('$(token "$BOB")')"
        as_service "SELECT chat.revoke_tokens('$BOB')"
        ended "adv_enduser, in the transaction, after revoke_tokens(bob)"
        echo "COMMIT;"
    )
    # a token issued after the revocation works
    is "$(psql -X -q -At -U adv_enduser -d "$DB" -c "SELECT chat.authenticate('$(token "$BOB")', true)" \
          -c 'SELECT count(*) > 0 FROM chat.inbox()' 2>&1 | tr '\n' ' ')" "$BOB t " \
       "expiry: a token issued after revoke_tokens(bob) works"
    # an identity for the session is the superuser's to allow
    expiry_run 7 adv_enduser_tx < <(
        att expiry 'adv_enduser_tx: authenticate for the session' '^42501' "SELECT chat.authenticate('$(token "$BOB")', true)"
        att expiry 'adv_enduser_tx: SET stylist_chat.session_identity = on' '^42501' 'SET stylist_chat.session_identity = on'
        att expiry 'adv_enduser_tx: set_config(stylist_chat.session_identity)' '^42501' \
            "SELECT set_config('stylist_chat.session_identity', 'on', false)"
        att expiry 'adv_enduser_tx: ALTER ROLE self SET stylist_chat.session_identity' '^42501' \
            'ALTER ROLE adv_enduser_tx SET stylist_chat.session_identity = on'
        att expiry 'adv_enduser_tx: ... and after all that, authenticate for the session' '^42501' \
            "SELECT chat.authenticate('$(token "$BOB")', true)"
    )
fi

# ---------------------------------------------------------------------------
echo "1..$n"
echo "# attacks tried: $total, held: $total_held (in ${ATTACK_SECONDS} s)"
for c in tables functions identity tokens probing views leaky fuzz; do
    echo "# $c: tried ${tried[$c]:-0}, held ${held[$c]:-0}"
done
REVIEW=(explain schema expiry replay locks audit keys)
classes=0
classes_held=0
for c in "${REVIEW[@]}"; do
    extra=
    case $c in
        explain) extra=" (each pair of probes under 128 combinations of planner switches, in ${EXPLAIN_SECONDS:-0} s)" ;;
        locks) extra=" (in ${LOCKS_SECONDS:-0} s)" ;;
        schema) extra=" (installing version $EXTVER)" ;;
    esac
    echo "# $c: tried ${tried[$c]:-0}, held ${held[$c]:-0}$extra"
    [ "${tried[$c]:-0}" -gt 0 ] || continue
    classes=$((classes + 1))
    [ "${held[$c]:-0}" -eq "${tried[$c]}" ] && classes_held=$((classes_held + 1))
done
echo "# attack classes from the security review: $classes, held: $classes_held"
echo "# LISTEN on channels built from known ids while traffic flows: test/libpq/relay_privacy.c"
echo "# 64 clients racing get_or_create_chat: test/libpq/race.c; mark_read backwards and forwards: test/libpq/senders.c"
[ "$failed" -eq 0 ]
