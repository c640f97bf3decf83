#!/usr/bin/env bash
# test/scripts/adversarial.sh: attacks by real, unprivileged connections.
#
# What it tests: LOGIN roles that connect over the socket as a real client
# would, with only the grants such a client has:
#   adv_enduser     IN ROLE chat_user: an end-user connection, authenticated
#                   with a token from chat.issue_token() (or not at all)
#   adv_service     IN ROLE chat_service: the application backend
#   adv_nobody      no grants at all
#   adv_mallory_su  SUPERUSER but not the extension owner
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
# test/libpq/relay.c; 64 clients racing get_or_create_chat by race.c, and
# mark_read backwards and forwards under load by senders.c: not repeated here.
#
# Usage: bash test/scripts/adversarial.sh DBNAME, with PGHOST, PGPORT, PGUSER
# set (a superuser, the extension owner) and DBNAME holding CREATE EXTENSION
# stylist_chat.  Output: TAP, and a summary of attacks tried and held per
# category.  The roles and files it makes are removed at the end, whatever
# the end.
set -uo pipefail

DB=${1:?usage: adversarial.sh DBNAME}
WORK=$(mktemp -d /tmp/stylist_chat_adv.XXXXXX)
chmod 755 "$WORK"
ROLES=(adv_enduser adv_service adv_nobody adv_mallory_su)

cleanup() {
    # wait for our own background clients, then drop the roles
    wait 2>/dev/null
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
BK_AS=a0000000-0000-4000-8000-0000000000b1   # booking of alice and sam
BK_BS=b0000000-0000-4000-8000-0000000000b1   # booking of bob and sue
MADE_UP=deadbeef-0000-4000-8000-000000000000 # no such chat, no such booking

# ---------------------------------------------------------------------------
# roles and data, as the extension owner
# ---------------------------------------------------------------------------
if ! "${SU[@]}" >"$WORK/setup.out" 2>&1 <<SQL
DO \$\$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname IN ('adv_enduser', 'adv_service', 'adv_nobody', 'adv_mallory_su')) THEN
        RAISE EXCEPTION 'the adv_* roles exist already: another run is going on, or a run was killed';
    END IF;
END
\$\$;
CREATE ROLE adv_enduser LOGIN IN ROLE chat_user;
CREATE ROLE adv_service LOGIN IN ROLE chat_service;
CREATE ROLE adv_nobody LOGIN;
CREATE ROLE adv_mallory_su LOGIN SUPERUSER;
-- these connect directly, never through a pooler: they may keep an identity
-- for the session (authenticate, act_as(..., true))
ALTER ROLE adv_enduser SET stylist_chat.session_identity = on;
ALTER ROLE adv_service SET stylist_chat.session_identity = on;
ALTER ROLE adv_mallory_su SET stylist_chat.session_identity = on;
SELECT chat.upsert_profile('$ALICE', 'customer', 'Alice');
SELECT chat.upsert_profile('$SAM', 'stylist', 'Sam');
SELECT chat.upsert_profile('$BOB', 'customer', 'Bob');
SELECT chat.upsert_profile('$SUE', 'stylist', 'Sue');
SELECT chat.upsert_profile('$ADA', 'admin', 'Ada');
SELECT chat.upsert_booking('$BK_AS', '$ALICE', '$SAM', 'SECRET-AS haircut', '2030-01-01 10:00+00', 'confirmed');
SELECT chat.upsert_booking('$BK_BS', '$BOB', '$SUE', 'OWN-BS colour', '2030-01-02 10:00+00', 'confirmed');
BEGIN;
SELECT chat.act_as('$ALICE');
SELECT chat.send_message(chat.chat_for_booking('$BK_AS'), 'SECRET-AS hello', '$BK_AS', 'a0000000-0000-4000-8000-00000000c001',
    '[{"storage_key": "secret-as/1.jpg", "content_type": "image/jpeg", "byte_size": 10, "width": 1, "height": 1}]');
SELECT chat.act_as('$SAM');
SELECT chat.send_message(chat.chat_with('$ALICE'), 'SECRET-AS reply');
SELECT chat.act_as('$BOB');
SELECT chat.send_message(chat.chat_for_booking('$BK_BS'), 'OWN-BS hello', '$BK_BS', 'b0000000-0000-4000-8000-00000000c001',
    '[{"storage_key": "own-bs/1.jpg", "content_type": "image/jpeg", "byte_size": 10, "width": 1, "height": 1}]');
SELECT chat.act_as('$SUE');
SELECT chat.send_message(chat.chat_with('$BOB'), 'OWN-BS reply');
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
fingerprint() {
    "${SU[@]}" <<'SQL'
SELECT c.relname || ' ' || x.v
  FROM pg_class c
  JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'chat'
 CROSS JOIN LATERAL (SELECT (xpath('/row/v/text()',
        query_to_xml(format('SELECT count(*) || '' '' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), ''-'') AS v FROM chat.%I t', c.relname),
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
# a SQL string literal
sqlq() { printf "'%s'" "${1//\'/\'\'}"; }

TABLES=(profiles bookings chats chat_messages media relay_watermark secrets audit_entries)
# table attacks for one role
table_attacks() {
    local who=$1 t
    for t in "${TABLES[@]}"; do
        att tables "$who: SELECT chat.$t" '^42501' "SELECT * FROM chat.$t"
        att tables "$who: INSERT chat.$t" '^42501' "INSERT INTO chat.$t DEFAULT VALUES"
        local col=chat_id
        case $t in profiles | bookings) col=id ;; secrets) col=name ;; esac
        att tables "$who: UPDATE chat.$t" '^42501' "UPDATE chat.$t SET $col = $col"
        att tables "$who: DELETE chat.$t" '^42501' "DELETE FROM chat.$t"
        att tables "$who: TRUNCATE chat.$t" '^42501' "TRUNCATE chat.$t"
        att tables "$who: COPY chat.$t to a file" '^42501' "COPY chat.$t TO '/tmp/adv_copy_$t'"
        att tables "$who: COPY chat.$t from a file" '^42501' "COPY chat.$t FROM '/etc/hostname'"
    done
    att tables "$who: SELECT ... FOR UPDATE chat.chats" '^42501' 'SELECT 1 FROM chat.chats FOR UPDATE'
    att tables "$who: LOCK chat.chat_messages" '^42501' 'LOCK TABLE chat.chat_messages IN ACCESS EXCLUSIVE MODE'
    att tables "$who: LOCK chat.secrets" '^42501' 'LOCK TABLE chat.secrets IN ACCESS SHARE MODE'
    att tables "$who: UPDATE chat.audit_log" '^42501' "UPDATE chat.audit_log SET reason = 'nothing'"
    att tables "$who: DELETE chat.audit_log" '^42501' 'DELETE FROM chat.audit_log'
    att tables "$who: INSERT chat.audit_log" '^42501' "INSERT INTO chat.audit_log (actor_id, action, chat_id) VALUES ('$ADA', 'read_history', '$VICTIM')"
    att tables "$who: TRUNCATE chat.audit_log" '^(42501|42809)' 'TRUNCATE chat.audit_log'
    att tables "$who: UPDATE chat.my_messages" '^42501' "UPDATE chat.my_messages SET sender_id = sender_id"
    att tables "$who: DELETE chat.admin_messages" '^42501' 'DELETE FROM chat.admin_messages'
    att tables "$who: UPDATE chat.my_chats" '^42501' 'UPDATE chat.my_chats SET last_seq = last_seq'
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
SELECT p.proname || '|' || p.oid::regprocedure || '|' || format('SELECT chat.%I(%s)', p.proname,
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
                                       WHEN 'anyelement' THEN '1'
                                       ELSE 'NULL::' || format_type(t, NULL) END, ', ' ORDER BY i)
                   FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i)), ''))
  FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'chat'
 ORDER BY p.oid::regprocedure::text;
SQL
# the functions a role is meant to call: everything else must give 42501
USER_API=" authenticate current_actor _actor_is_admin get_or_create_chat chat_with chat_for_booking get_chat history
  messages_since inbox chat_bookings send_message edit_message delete_message mark_read listen_channel listen typing
  undelivered admin_history hide_message "
SERVICE_API=" relay_status listen_channel listen typing undelivered act_as current_actor reset_actor pair_chat_id
  _actor_is_admin upsert_profile upsert_booking get_or_create_chat chat_with chat_for_booking get_chat history
  messages_since inbox chat_bookings send_message edit_message delete_message mark_read issue_token
  rotate_signing_key admin_history hide_message "
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
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log; do
        rows views "$who: chat.$v of the victim's chat" '^00000 rows=0$' "SELECT * FROM chat.$v WHERE chat_id = '$VICTIM'"
        rows views "$who: chat.$v of a made-up chat" '^00000 rows=0$' "SELECT * FROM chat.$v WHERE chat_id = '$MADE_UP'"
    done
    rows views "$who: chat.my_chats of alice" '^00000 rows=0$' "SELECT * FROM chat.my_chats WHERE customer_id = '$ALICE'"
    rows views "$who: inbox has only own chats" '^00000 rows=(0|1)$' "SELECT * FROM chat.inbox() WHERE chat_id = '$OWN'"
    rows views "$who: inbox has no victim chat" '^(00000 rows=0|28000 .*)$' "SELECT * FROM chat.inbox() WHERE chat_id <> '$OWN'"
    rows views "$who: undelivered has nothing of the victim" '^(00000 rows=0|28000 .*)$' \
        "SELECT * FROM chat.undelivered() WHERE chat_id <> '$OWN'"
}

# leak VIEW EXPR OWN_EXPECTED: the leaky function on EXPR in the view's WHERE
leaky_attacks() {
    local who=$1 own=$2 v
    local secret="v LIKE '%SECRET-AS%' OR v LIKE '%secret-as%' OR v LIKE '%$VICTIM%' OR v LIKE '%$ALICE%'"
    local ownq="v LIKE '%$OWN%' OR v LIKE '%OWN-BS%' OR v LIKE '%own-bs%'"
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log; do
        local cols="t::text"
        case $v in my_messages | admin_messages) cols="t.body" ;; my_media) cols="t.storage_key" ;; esac
        for expr in "t::text" "$cols"; do
            local exp='^00000 leaked=0 own=[0-9]+$'
            [ "$own" = yes ] && case $v in my_chats | my_messages | my_media) exp='^00000 leaked=0 own=[1-9][0-9]*$' ;; esac
            printf "SELECT 'leaky', %s, %s, pg_temp.leaktest(%s, %s, %s);\n" \
                "$(sqlq "$who: leak($expr) in WHERE of chat.$v")" "$(sqlq "$exp")" \
                "$(sqlq "SELECT * FROM chat.$v t WHERE pg_temp.leak($expr)")" "$(sqlq "$secret")" "$(sqlq "$ownq")"
        done
    done
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
        interval) printf '%s\n' 'NULL::interval' "'0'::interval" "'-1 hour'::interval" "'31 days'::interval" \
                      "'178000000 years'::interval" "'1 microsecond'::interval" ;;
        boolean) printf '%s\n' 'NULL::boolean' ;;
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
    fuzz "$who" chat.authenticate "NULL::text" "text"
    fuzz "$who" chat.get_or_create_chat "'$BOB'::uuid;'$SUE'::uuid" "uuid;uuid"
    fuzz "$who" chat.chat_with "'$SUE'::uuid" "uuid"
    fuzz "$who" chat.chat_for_booking "'$BK_BS'::uuid" "uuid"
    fuzz "$who" chat.get_chat "$own" "uuid"
    fuzz "$who" chat.history "$own;NULL::bigint;50" "uuid;bigint;integer"
    fuzz "$who" chat.messages_since "$own;0::bigint;100" "uuid;bigint;integer"
    fuzz "$who" chat.chat_bookings "$own" "uuid"
    fuzz "$who" chat.send_message "$own;'fuzz';NULL::uuid;NULL::uuid;NULL::jsonb" "uuid;text;uuid;uuid;jsonb"
    fuzz "$who" chat.edit_message "$own;1::bigint;'fuzz'" "uuid;bigint;text"
    fuzz "$who" chat.delete_message "$own;1::bigint" "uuid;bigint"
    fuzz "$who" chat.mark_read "$own;1::bigint" "uuid;bigint"
    fuzz "$who" chat.typing "$own" "uuid"
    fuzz "$who" chat.undelivered "10" "integer"
    fuzz "$who" chat.admin_history "$own;'fuzz';NULL::bigint;50" "uuid;text;bigint;integer"
    fuzz "$who" chat.hide_message "$own;1::bigint;'fuzz'" "uuid;bigint;text"
}
service_fuzz() {
    local who=$1 own="'$OWN'::uuid"
    fuzz "$who" chat.act_as "'$BOB'::uuid;false" "uuid;boolean"
    fuzz "$who" chat.upsert_profile "'$BOB'::uuid;'customer';'Bob'" "uuid;text;text"
    fuzz "$who" chat.upsert_booking "'$BK_BS'::uuid;'$BOB'::uuid;'$SUE'::uuid;'OWN-BS colour';'2030-01-02 10:00+00'::timestamptz;'confirmed'" \
        "uuid;uuid;uuid;text;timestamptz;text"
    fuzz "$who" chat.issue_token "'$BOB'::uuid;'1 hour'::interval" "uuid;interval"
    fuzz "$who" chat.pair_chat_id "'$BOB'::uuid;'$SUE'::uuid" "uuid;uuid"
    # as the admin
    echo "SELECT chat.act_as('$ADA');"
    fuzz "$who (as admin)" chat.admin_history "$own;'fuzz';NULL::bigint;50" "uuid;text;bigint;integer"
    fuzz "$who (as admin)" chat.hide_message "$own;1::bigint;'fuzz'" "uuid;bigint;text"
}

# --- the end user, authenticated as bob ---------------------------------------
{
    echo "$PRELUDE"
    att tokens 'adv_enduser: authenticate with a good token' '^00000' "SELECT chat.authenticate('$TOK_BOB')"
    table_attacks "adv_enduser (bob)"
    function_attacks "adv_enduser (bob)" "$USER_API"
    identity_attacks "adv_enduser (bob)" "$BOB" adv_enduser
    echo "RESET search_path;"
    probe_attacks "adv_enduser (bob)"
    echo "BEGIN;"     # undelivered() moves bob's own delivery mark
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
             "SELECT chat.mark_read('$OWN')" "SELECT chat.chat_with('$SUE')" "SELECT chat.typing('$OWN')"; do
        att tokens "adv_enduser (nobody): $q" '^28000 no chat profile is acting' "$q"
    done
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log; do
        rows views "adv_enduser (nobody): chat.$v" '^00000 rows=0$' "SELECT * FROM chat.$v"
    done
    leaky_attacks "adv_enduser (nobody)" no
    identity_attacks "adv_enduser (nobody)" NULL adv_enduser
    echo "RESET search_path;"
    echo "BEGIN;"
    fuzz "adv_enduser (nobody)" chat.authenticate "NULL::text" "text"
    echo "ROLLBACK;"
} >"$WORK/anon.sql"

# bad tokens, each as a statement of its own in a fresh session: 28000, the
# one message, nobody acting afterwards
bad_tokens() {
    local t=$TOK_ALICE
    printf '%s\n' "" "${t:0:75}" "${t:0:1}" "${t}A" "${t}${t}" "${t}=" "${t:0:75}!" \
        "$( [ "${t:0:1}" = A ] && echo B || echo A )${t:1}" \
        "${t:0:10}$( [ "${t:10:1}" = A ] && echo B || echo A )${t:11}" \
        "${t:0:30}$( [ "${t:30:1}" = A ] && echo B || echo A )${t:31}" \
        "${t:0:75}$( [ "${t:75:1}" = A ] && echo B || echo A )" \
        "$(printf 'A%.0s' $(seq 76))" "${TOK_BOB:0:36}${t:36}"
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
    echo "SELECT chat.authenticate(repeat('$TOK_ALICE', 13798));"
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
    echo "BEGIN;"
    view_attacks "adv_service (as bob)"
    echo "ROLLBACK;"
    leaky_attacks "adv_service (as bob)" yes
    att tables 'adv_service (as admin): UPDATE chat.audit_log' '^42501' "SELECT chat.act_as('$ADA'); UPDATE chat.audit_log SET reason = 'nothing'"
    att tables 'adv_service (as admin): DELETE chat.audit_log' '^42501' "SELECT chat.act_as('$ADA'); DELETE FROM chat.audit_log"
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
    for v in my_chats my_messages my_media admin_chats admin_messages audit_log; do
        att views "adv_nobody: SELECT chat.$v" '^42501' "SELECT * FROM chat.$v"
    done
} >"$WORK/nobody.sql"

# --- a superuser that does not own the extension: the audit trigger -----------
{
    echo "$PRELUDE"
    echo "SELECT chat.act_as('$ADA', true);"
    for q in "UPDATE chat.audit_entries SET reason = 'nothing'" 'DELETE FROM chat.audit_entries' 'TRUNCATE chat.audit_entries' \
             "UPDATE chat.audit_log SET reason = 'nothing'" 'DELETE FROM chat.audit_log'; do
        att tables "adv_mallory_su: $q" '^42501 the audit log is append-only$' "$q"
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
for f in enduser anon service nobody mallory; do
    expected_lines=$(grep -c "^SELECT '" "$WORK/$f.sql")
    got_lines=$(grep -c $'\x1f' "$WORK/$f.out")
    is "$got_lines" "$expected_lines" "$f: every attack reported (the session never died)"
    [ "$got_lines" = "$expected_lines" ] || sed 's/^/#   /' "$WORK/$f.out.err" | head -20
    while IFS=$'\x1f' read -r cat name exp got; do
        [ -n "$cat" ] || continue
        tried[$cat]=$(( ${tried[$cat]:-0} + 1 ))
        total=$((total + 1))
        if [[ "$got" =~ $exp ]]; then
            held[$cat]=$(( ${held[$cat]:-0} + 1 ))
            total_held=$((total_held + 1))
            pass "$cat: $name"
        else
            fail "$cat: $name"
            printf '%s\n' "got:      ${got:0:300}" "expected: $exp" | sed 's/^/#   /'
        fi
    done < <(grep $'\x1f' "$WORK/$f.out")
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
is "$(wc -l <"$WORK/before")" "12" "the fingerprint covers 8 tables and 4 catalogs"
is "$("${SU[@]}" -c "SELECT count(*) FROM pg_stats WHERE schemaname = 'chat' AND tablename = 'secrets'")" "3" \
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
SELECT chat.authenticate('$TOK_ALICE') \gset
SELECT pg_sleep(greatest(0, extract(epoch FROM '$AT'::timestamptz - clock_timestamp()))) \gset
SELECT chat.send_message('$VICTIM', 'the same message', NULL, '$KEY');
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

# ---------------------------------------------------------------------------
echo "1..$n"
echo "# attacks tried: $total, held: $total_held (in ${ATTACK_SECONDS} s)"
for c in tables functions identity tokens probing views leaky fuzz; do
    echo "# $c: tried ${tried[$c]:-0}, held ${held[$c]:-0}"
done
echo "# LISTEN on channels built from known ids while traffic flows: test/libpq/relay.c"
echo "# 64 clients racing get_or_create_chat: test/libpq/race.c; mark_read backwards and forwards: test/libpq/senders.c"
[ "$failed" -eq 0 ]
