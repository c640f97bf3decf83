#!/usr/bin/env bash
# test/scripts/dump_restore.sh: pg_dump and restore keep every byte of chat data.
#
# What it tests: a database filled through the API (profiles of every role,
# one renamed; bookings, one updated; three chats, one empty; messages with
# a booking, attachments, an attachment-only message, control characters,
# a 4000-character body, an edited and a deleted message; read state after
# mark_read) is dumped with pg_dump in the plain and the custom format, and
# each dump is restored into a fresh database (psql -v ON_ERROR_STOP=1, and
# pg_restore --exit-on-error).  In each restored database:
#   - every row of profiles, bookings, chats, chat_messages, media,
#     audit_entries, portfolio_consents, the filter's rules, records and
#     held messages is identical (row count and md5 of the ordered rows as
#     text), and so are the filter's joined patterns (not dumped: made
#     again as its rules are restored) and the read state of every chat;
#   - the extension is the same: version, config tables, member objects,
#     and the privileges on every table, view and function of schema chat;
#   - the API still works and still refuses: history and inbox read the
#     same as in the original; send_message continues the seq without a
#     gap, a retry with a client_msg_id sent before the dump returns its
#     original seq, and the other's unread counter counts the new message;
#     a profile outside the chat is refused with 42501; the filter masks a
#     new message as it did.
#
# How: bash calling psql, pg_dump, pg_restore.  Usage:
#   bash test/scripts/dump_restore.sh DBNAME
# with PGHOST, PGPORT, PGUSER set (a superuser) and DBNAME holding
# CREATE EXTENSION stylist_chat (and pgtap).  Output: TAP.  The databases
# and files it makes are removed at the end, whatever the end.
set -uo pipefail

DB=${1:?usage: dump_restore.sh DBNAME}
WORK=$(mktemp -d /tmp/stylist_chat_dump.XXXXXX)
RESTORED_PLAIN=${DB}_restored_plain
RESTORED_CUSTOM=${DB}_restored_custom

cleanup() {
    dropdb --if-exists "$RESTORED_PLAIN" >/dev/null 2>&1
    dropdb --if-exists "$RESTORED_CUSTOM" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)

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
        [ -n "${3:-}" ] && [ -s "$3" ] && sed 's/^/#   /' "$3" | head -20
    fi
    return 0
}
# is GOT EXPECTED DESCRIPTION
is() {
    if [ "$1" == "$2" ] && [ -n "$2" ]; then
        pass "$3"
    else
        fail "$3"
        if [ "$(printf '%s' "$2" | wc -l)" -eq 0 ]; then
            printf '%s\n' "got:      $1" "expected: $2" | sed 's/^/#   /'
        else
            # several lines: what differs, as a diff from expected to got
            diff <(printf '%s\n' "$2") <(printf '%s\n' "$1") | head -30 | sed 's/^/#   /'
        fi
    fi
}

echo "1..42"

# the people, bookings and message keys
C1=11111111-1111-4111-8111-111111111111     # customer
C2=22222222-2222-4222-8222-222222222222     # customer, renamed
S1=33333333-3333-4333-8333-333333333333     # stylist
S2=44444444-4444-4444-8444-444444444444     # stylist, one empty chat
A1=55555555-5555-4555-8555-555555555555     # admin
B1=aaaaaaaa-0000-4000-8000-000000000001
B2=aaaaaaaa-0000-4000-8000-000000000002
B3=aaaaaaaa-0000-4000-8000-000000000003
K1=cccccccc-0000-4000-8000-000000000001     # client_msg_id of message 1 of chat 1
K9=cccccccc-0000-4000-8000-000000000009     # client_msg_id of message 9 of chat 1
KNEW=cccccccc-0000-4000-8000-0000000000ff   # a message sent after the restore
VARS=(-v c1=$C1 -v c2=$C2 -v s1=$S1 -v s2=$S2 -v a1=$A1
      -v b1=$B1 -v b2=$B2 -v b3=$B3 -v k1=$K1 -v k9=$K9 -v knew=$KNEW)

# ---------------------------------------------------------------------------
# 1-2. fill the database through the API
# ---------------------------------------------------------------------------
"${PSQL[@]}" "${VARS[@]}" -d "$DB" >"$WORK/fill.out" 2>&1 <<'SQL'
SET stylist_chat.booking_cards = off;   -- the messages below are the people's only
SELECT chat.upsert_profile(:'c1', 'customer', 'Ana O''Neil');
SELECT chat.upsert_profile(:'c2', 'customer', 'Zoë Müller');
SELECT chat.upsert_profile(:'c2', 'customer', 'Zoë Müller-Schmidt');
SELECT chat.upsert_profile(:'s1', 'stylist', 'Bob "Scissors" Lee');
SELECT chat.upsert_profile(:'s2', 'stylist', 'Kim');
SELECT chat.upsert_profile(:'a1', 'admin', 'Ops desk');
SELECT chat.upsert_booking(:'b1', :'c1', :'s1', 'Haircut', '2024-05-01 10:00+00', 'completed');
SELECT chat.upsert_booking(:'b2', :'c1', :'s1', 'Colour', '2024-06-01 14:30+02', 'confirmed');
SELECT chat.upsert_booking(:'b2', :'c1', :'s1', 'Colour and cut', '2024-06-02 14:30+02', 'cancelled');
SELECT chat.upsert_booking(:'b3', :'c2', :'s1', 'Beard trim', '2024-07-01 09:15+00', 'pending');

-- chat 1 (c1, s1), opened from a booking: twelve messages
BEGIN;
SELECT chat.act_as(:'c1');
SELECT chat.chat_for_booking(:'b1') AS chat1 \gset
SELECT chat.send_message(:'chat1', 'Hi! Looking forward to it.', :'b1', :'k1');
COMMIT;
BEGIN;
SELECT chat.act_as(:'s1');
SELECT chat.send_message(:'chat1', 'Here are some ideas', NULL, NULL,
    '[{"storage_key": "chats/1/ideas-1.jpg", "content_type": "image/jpeg", "byte_size": 204800, "width": 1080, "height": 1350},
      {"storage_key": "chats/1/idées 2 ✂.png", "content_type": "image/png", "byte_size": 1, "width": 1, "height": 100000}]');
COMMIT;
BEGIN;
SELECT chat.act_as(:'c1');
SELECT chat.send_message(:'chat1', NULL, NULL, NULL,
    '[{"storage_key": "chats/1/me.webp", "content_type": "image/webp", "byte_size": 104857600, "width": 4000, "height": 3000}]');
SELECT chat.send_message(:'chat1', E'Line one\nLine two\twith a tab, a backslash \\ , ''quotes'', "double" and 💇 ');
COMMIT;
BEGIN;
SELECT chat.act_as(:'s1');
SELECT chat.send_message(:'chat1', 'Typo mesage');
SELECT chat.edit_message(:'chat1', 5, 'Typo message, fixed');
SELECT chat.send_message(:'chat1', 'Oops, wrong photo', NULL, NULL,
    '[{"storage_key": "chats/1/wrong.jpg", "content_type": "image/jpeg", "byte_size": 99, "width": 10, "height": 10}]');
SELECT chat.delete_message(:'chat1', 6);
COMMIT;
BEGIN;
SELECT chat.act_as(:'c1');
SELECT chat.send_message(:'chat1', repeat('x', 3999) || 'y');
COMMIT;
BEGIN;
SELECT chat.act_as(:'s1');
SELECT chat.send_message(:'chat1', 'See you on the 2nd', :'b2');
COMMIT;
BEGIN;
SELECT chat.act_as(:'c1');
SELECT chat.send_message(:'chat1', 'ok', NULL, :'k9');
COMMIT;
BEGIN;
SELECT chat.act_as(:'s1');
SELECT chat.send_message(:'chat1', 'Message a');
SELECT chat.send_message(:'chat1', 'Message b');
SELECT chat.send_message(:'chat1', 'Message c, with a photo', NULL, NULL,
    '[{"storage_key": "chats/1/c.gif", "content_type": "image/gif", "byte_size": 5000, "width": 64, "height": 64}]');
COMMIT;
-- portfolio consent: two granted, one of them revoked
BEGIN;
SELECT chat.act_as(:'c1');
SELECT chat.grant_portfolio_consent(:'chat1', 2, 2);
SELECT chat.grant_portfolio_consent(:'chat1', 3, 1);
SELECT chat.revoke_portfolio_consent(:'chat1', 2, 2);
COMMIT;
-- the customer has read up to 10: 11 and 12 are unread
BEGIN;
SELECT chat.act_as(:'c1');
SELECT chat.mark_read(:'chat1', 10);
COMMIT;

-- chat 2 (c2, s1): three messages, the stylist has read two
BEGIN;
SELECT chat.act_as(:'c2');
SELECT chat.chat_with(:'s1') AS chat2 \gset
SELECT chat.send_message(:'chat2', 'Hello');
SELECT chat.send_message(:'chat2', 'Is Monday free?', :'b3');
SELECT chat.send_message(:'chat2', 'Or Tuesday');
COMMIT;
BEGIN;
SELECT chat.act_as(:'s1');
SELECT chat.mark_read(:'chat2', 2);
COMMIT;

-- chat 3 (c1, s2): opened, empty
BEGIN;
SELECT chat.act_as(:'s2');
SELECT chat.get_or_create_chat(:'c1', :'s2');
COMMIT;

-- moderation: an admin reads chat 2 and hides one of its messages (two
-- audit entries); the message stays as it was for admins
BEGIN;
SELECT chat.act_as(:'a1');
SELECT count(*) FROM chat.admin_history(:'chat2', 'report 17');
SELECT chat.hide_message(:'chat2', 3, 'report 17');
COMMIT;

-- the filter: phone numbers masked; chat 3 gets a masked message
BEGIN;
SELECT chat.act_as(:'a1');
SELECT chat.add_filter_rule('phone', '(\+|00)?[0-9][0-9 ./-]{6,}[0-9]', 'mask');
COMMIT;
BEGIN;
SELECT chat.act_as(:'c1');
SELECT chat.send_message(chat.pair_chat_id(:'c1', :'s2'), 'call me: 0171 2345678');
COMMIT;
SQL
ok $? "the database is filled through the API" "$WORK/fill.out"

CHAT1=$("${PSQL[@]}" -d "$DB" -c "SELECT chat.pair_chat_id('$C1', '$S1')")
CHAT2=$("${PSQL[@]}" -d "$DB" -c "SELECT chat.pair_chat_id('$C2', '$S1')")
VARS+=(-v chat1="$CHAT1" -v chat2="$CHAT2")

got=$("${PSQL[@]}" -d "$DB" 2>&1 <<SQL
SELECT concat_ws(' ',
    (SELECT count(*) FROM chat.profiles), (SELECT count(DISTINCT role) FROM chat.profiles),
    (SELECT count(*) FROM chat.bookings), (SELECT count(*) FROM chat.chats),
    (SELECT count(*) FROM chat.chat_messages), (SELECT count(*) FROM chat.media),
    (SELECT count(*) FROM chat.chat_messages WHERE edited_at IS NOT NULL),
    (SELECT count(*) FROM chat.chat_messages WHERE deleted_at IS NOT NULL),
    (SELECT format('%s/%s/%s/%s', customer_read_seq, customer_unread, stylist_read_seq, stylist_unread)
       FROM chat.chats WHERE chat_id = '$CHAT1'),
    (SELECT format('%s/%s/%s/%s', customer_read_seq, customer_unread, stylist_read_seq, stylist_unread)
       FROM chat.chats WHERE chat_id = '$CHAT2'))
SQL
)
is "$got" "5 3 3 3 16 4 1 1 10/2/12/0 3/0/2/1" \
    "the original holds 5 profiles of 3 roles, 3 bookings, 3 chats, 16 messages, 4 attachments, an edited and a deleted message, and read state"

# ---------------------------------------------------------------------------
# 3-4. dump
# ---------------------------------------------------------------------------
pg_dump -d "$DB" -f "$WORK/dump.sql" >"$WORK/dump_plain.err" 2>&1
ok $? "pg_dump in the plain format" "$WORK/dump_plain.err"
pg_dump -Fc -d "$DB" -f "$WORK/dump.custom" >"$WORK/dump_custom.err" 2>&1
ok $? "pg_dump in the custom format" "$WORK/dump_custom.err"

# ---------------------------------------------------------------------------
# what must survive, as text to compare
# ---------------------------------------------------------------------------

# one line per table: row count and md5 of the rows in key order
table_print() {
    "${PSQL[@]}" -d "$1" -c "
        SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY $3), ''))
          FROM chat.$2 t" 2>&1
}

read_state() {
    "${PSQL[@]}" -d "$1" -c "
        SELECT string_agg(format('%s customer %s/%s stylist %s/%s last %s',
                                 chat_id, customer_read_seq, customer_unread,
                                 stylist_read_seq, stylist_unread, last_seq), E'\n' ORDER BY chat_id)
          FROM chat.chats" 2>&1
}

extension_print() {
    "${PSQL[@]}" -d "$1" -c "
        SELECT e.extversion || ' ' || e.extnamespace::regnamespace || ' '
               || (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                     FROM unnest(e.extconfig) AS c) || E'\n'
               || (SELECT string_agg(pg_describe_object(d.classid, d.objid, d.objsubid), E'\n'
                                     ORDER BY pg_describe_object(d.classid, d.objid, d.objsubid))
                     FROM pg_depend d
                    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
                      AND d.deptype = 'e')
          FROM pg_extension e WHERE e.extname = 'stylist_chat'" 2>&1
}

privileges_print() {
    "${PSQL[@]}" -d "$1" -c "
        SELECT string_agg(x, E'\n' ORDER BY x) FROM (
            SELECT 'schema ' || nspname || ' ' || coalesce(nspacl::text, '-')
              FROM pg_namespace WHERE nspname = 'chat'
            UNION ALL
            SELECT 'relation ' || c.oid::regclass || ' ' || coalesce(c.relacl::text, '-')
              FROM pg_class c WHERE c.relnamespace = 'chat'::regnamespace
            UNION ALL
            SELECT 'function ' || p.oid::regprocedure || ' ' || coalesce(p.proacl::text, '-')
                   || ' ' || p.prosecdef
              FROM pg_proc p WHERE p.pronamespace = 'chat'::regnamespace) s(x)" 2>&1
}

# history and inbox through the API, read-only
api_print() {
    "${PSQL[@]}" "${VARS[@]}" -d "$1" 2>&1 <<'SQL'
BEGIN;
SELECT chat.act_as(:'c1');
SELECT count(*) || ' ' || md5(string_agg(h::text, E'\n' ORDER BY h.seq))
  FROM chat.history(:'chat1', NULL, 1000) h;
SELECT md5(string_agg(i::text, E'\n' ORDER BY i.chat_id)) FROM chat.inbox() i;
SELECT md5(g::text) FROM chat.get_chat(:'chat1') g;
SELECT chat.act_as(:'s1');
SELECT count(*) || ' ' || md5(string_agg(h::text, E'\n' ORDER BY h.seq))
  FROM chat.history(:'chat2', NULL, 1000) h;
SELECT md5(string_agg(i::text, E'\n' ORDER BY i.chat_id)) FROM chat.inbox() i;
SELECT md5(string_agg(b::text, E'\n' ORDER BY b.booking_id)) FROM chat.chat_bookings(:'chat1') b;
COMMIT;
SQL
}

declare -A SRC
for spec in "profiles id" "bookings id" "chats chat_id" "chat_messages chat_id, seq" \
            "media chat_id, seq, position" "audit_entries chat_id, id" \
            "portfolio_consents chat_id, id" "filter_rules id" "filter_state only_row" \
            "filtered_messages chat_id, seq" "held_messages chat_id, id"; do
    SRC[${spec%% *}]=$(table_print "$DB" "${spec%% *}" "${spec#* }")
done
SRC_READ=$(read_state "$DB")
SRC_EXT=$(extension_print "$DB")
SRC_PRIV=$(privileges_print "$DB")
SRC_API=$(api_print "$DB")
SRC_LAST=$("${PSQL[@]}" -d "$DB" -c "SELECT last_seq || ' ' || stylist_unread FROM chat.chats WHERE chat_id = '$CHAT1'")
SRC_K1=$("${PSQL[@]}" -d "$DB" -c "SELECT seq FROM chat.chat_messages WHERE chat_id = '$CHAT1' AND client_msg_id = '$K1'")

# ---------------------------------------------------------------------------
# 5-23, 24-42. restore each dump into a fresh database and compare
# ---------------------------------------------------------------------------
check_restored() {
    local target=$1 format=$2 rc

    dropdb --if-exists "$target" >/dev/null 2>&1
    if createdb "$target" >"$WORK/restore.err" 2>&1; then
        if [ "$format" = plain ]; then
            "${PSQL[@]}" -d "$target" -f "$WORK/dump.sql" >>"$WORK/restore.err" 2>&1
        else
            pg_restore --exit-on-error -d "$target" "$WORK/dump.custom" >>"$WORK/restore.err" 2>&1
        fi
        rc=$?
    else
        rc=1
    fi
    ok $rc "$format dump: restored into a fresh database without error" "$WORK/restore.err"

    for spec in "profiles id" "bookings id" "chats chat_id" "chat_messages chat_id, seq" \
                "media chat_id, seq, position" "audit_entries chat_id, id" \
            "portfolio_consents chat_id, id" "filter_rules id" "filter_state only_row" \
            "filtered_messages chat_id, seq" "held_messages chat_id, id"; do
        local table=${spec%% *}
        is "$(table_print "$target" "$table" "${spec#* }")" "${SRC[$table]}" \
            "$format dump: every row of chat.$table is identical (count md5: ${SRC[$table]})"
    done
    is "$(read_state "$target")" "$SRC_READ" \
        "$format dump: the read state of every chat is identical"
    is "$(extension_print "$target")" "$SRC_EXT" \
        "$format dump: the extension has the same version, config tables and member objects"
    is "$(privileges_print "$target")" "$SRC_PRIV" \
        "$format dump: the privileges on schema chat and its relations and functions are identical"
    is "$(api_print "$target")" "$SRC_API" \
        "$format dump: history, inbox, get_chat and chat_bookings answer as in the original"

    # writing: the seq goes on, an old client_msg_id is still known, the
    # stylist's unread counter counts the new message
    local last=${SRC_LAST% *} unread=${SRC_LAST#* }
    got=$("${PSQL[@]}" "${VARS[@]}" -d "$target" 2>&1 <<'SQL'
BEGIN;
SELECT chat.act_as(:'c1') \g /dev/null
SELECT chat.get_or_create_chat(:'c1', :'s1') = :'chat1' AS same_chat \gset
SELECT chat.send_message(:'chat1', 'After the restore', NULL, :'knew') AS new_seq \gset
SELECT chat.send_message(:'chat1', 'Hi! Looking forward to it.', :'b1', :'k1') AS old_seq \gset
COMMIT;
SELECT concat_ws(' ', :'same_chat', :'new_seq', :'old_seq', last_seq, stylist_unread,
                 (SELECT count(*) FROM chat.chats))
  FROM chat.chats WHERE chat_id = :'chat1';
SQL
)
    is "$got" "t $((last + 1)) $SRC_K1 $((last + 1)) $((unread + 1)) 3" \
        "$format dump: get_or_create_chat finds the chat, send_message gives seq $((last + 1)), a retry of a message sent before the dump returns seq $SRC_K1"

    # reading: someone outside the chat is still refused
    got=$("${PSQL[@]}" "${VARS[@]}" -d "$target" 2>&1 <<'SQL'
\set VERBOSITY sqlstate
BEGIN;
SELECT chat.act_as(:'c2') \g /dev/null
SELECT count(*) FROM chat.history(:'chat1');
SQL
)
    is "$got" "ERROR:  42501" \
        "$format dump: a customer outside the chat is refused with 42501"

    # the filter works as before: its state was made again from its rules
    got=$("${PSQL[@]}" "${VARS[@]}" -d "$target" 2>&1 <<'SQL'
BEGIN;
SELECT chat.act_as(:'c1') \g /dev/null
SELECT chat.send_message(chat.pair_chat_id(:'c1', :'s2'), 'or 0171 7654321') AS filtered_seq \gset
SELECT body FROM chat.chat_messages WHERE chat_id = chat.pair_chat_id(:'c1', :'s2') AND seq = :filtered_seq;
COMMIT;
SQL
)
    is "$got" "or [removed]" "$format dump: the filter masks a new message as before"
}

check_restored "$RESTORED_PLAIN" plain
check_restored "$RESTORED_CUSTOM" custom

[ "$n" -eq 42 ] || echo "# ran $n tests, planned 42"
[ "$failed" -eq 0 ] && [ "$n" -eq 42 ]
