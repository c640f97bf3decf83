#!/usr/bin/env bash
# test/citus/run.sh (make test-citus): stylist_chat on a Citus cluster of
# three nodes on this machine.  Not part of make test.
#
# The cluster (test/citus/cluster.sh): Citus 13.2.2 built once from its
# source and cached, a coordinator and two workers on 127.0.0.1, ports
# STYLIST_CHAT_PORT+1..+3 (default 5500-5502), a plain server (+4) to
# compare with, and a third worker (+5) added later; all removed at the
# end, whatever the end.  About a minute a
# run once Citus is built (the first build takes about 70 s on 2 cores).
#
# What it checks:
#   - the Citus built is the one wanted, the coordinator sees its two
#     workers, CREATE EXTENSION stylist_chat there reaches the workers;
#   - chat.distribute_tables(): refused on a worker; on the coordinator
#     every table with chat_id distributed by it and co-located with
#     chat.chats, shards on both workers, profiles and bookings (and the
#     other tables without chat_id) reference tables, the filter's and the
#     migration's tables local; each worker its own range of ids; a
#     second call changes nothing;
#   - test/citus/conversation.sql (sends of every kind, reactions, pins,
#     edits, deletes, history, search in a chat and across chats, gallery,
#     inbox, read and delivery marks, undelivered(), catch_up(), blocks,
#     reports, the filter, legal holds, keys, the image queue, the
#     admin's and the person's views, admin_search(), unpin(), a consent
#     revoked, a login token, edits the filter masks, flags and refuses)
#     answers on the coordinator exactly as on one server; the offline
#     notifications the coordinator's bookkeeping worker records, what
#     claim_notifications() gives and what fail_notification() and
#     complete_notification() do are one server's too; what does not run
#     there yet (chat.kpis() for one) says so with 0A000;
#   - a call on one chat goes to the node that holds it, whole, in one
#     statement: history() and messages_since() (chat._chat_page()), a
#     send (chat._store_message()), mark_read()
#     (chat._mark_read_on_chat()) and the 18 other calls that write in one
#     chat and 5 of the admin's (chat._on_chat_node()) send that node one
#     call and nothing else but the transaction's BEGIN and COMMIT, and no
#     other node anything, and the node sends nothing on
#     (citus.log_remote_commands, on the coordinator and on the workers);
#     the send commits there without two-phase commit; the reads of one
#     chat, admin_history() among them, reach that node alone, in one
#     statement each where they find something (search() in 2, and in a
#     chat of 450 messages, from the index, in 3); a listener on the coordinator hears
#     the events of calls run on the chat's node; the ids they take come
#     from the node's range; an approved held message is sent as its
#     sender;
#   - 64 clients of the coordinator open the chat of one pair at the same
#     instant: one id, one row;
#   - real time: test/chat_client.c, following the client protocol against
#     the coordinator (LISTEN, catch_up()), receives each of 200 messages
#     sent by 4 concurrent senders through the coordinator once; the
#     workers' relays relay nothing and say so;
#   - identity: a worker takes no one's word for an actor: a login of
#     chat_user there gets 28000 without one and 42501 for act_as() and for
#     the delegated calls, which take the actor as an argument; on the
#     chat's node nobody acts once a call run there has returned or
#     failed; a
#     token the coordinator issued authenticates there (the keys are a
#     reference table) and reads there, but every write is refused there
#     (25006, as on a standby); a forged token does not authenticate, and
#     once the coordinator revokes the profile's tokens the worker refuses
#     it too;
#   - a third worker added: stylist_chat created there by Citus, the
#     shards rebalanced onto it (rebalance_table_shards()), the chat's
#     shard moved there: a send and history() go there, one call each; a
#     report there refused (55000) until chat.distribute_tables() runs
#     again, then stored with an id of the new node's range;
#   - a worker, then the coordinator, crash (-m immediate) while 2
#     senders send through the coordinator, retrying each message with its
#     client_msg_id until it is stored: each stored once, and
#     test/chat_client.c, against the coordinator, receives each once;
#   - a platform's 1.0 database on the cluster: ALTER EXTENSION UPDATE
#     on the coordinator updates every node, chat.distribute_tables()
#     lays it out, its message and token still serve;
#   - a person's data exported and erased, then retention
#     (test/citus/privacy.sql): export_my_data(), export_profile(),
#     erase_profile() and apply_retention() answer on the coordinator as
#     on one server; a chat opened with a person during their erasure
#     waits for it on both.
#
# Output: TAP, then "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
BASE_PORT=${STYLIST_CHAT_PORT:-5499}
WORK=

source test/tap.sh
bail() {
    echo "Bail out! $*"
    [ -n "$WORK" ] && tail -5 "$WORK/err" 2>/dev/null | sed 's/^/#   /'
    echo "$((n - failed)) passed, $((failed + 1)) failed"
    exit 1
}
source test/citus/cluster.sh

[ "$(id -u)" -eq 0 ] || bail "run as root: Citus is installed beside the server's extensions"
bash test/deps.sh || bail "test/deps.sh"
WORK=$(mktemp -d /tmp/stylist_chat_citus.XXXXXX)
chmod 755 "$WORK"
trap citus_stop EXIT
trap 'exit 130' INT TERM
citus_install
citus_start off

# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------
is "$(on 0 "SELECT citus_version()" | grep -o '^Citus [0-9.]*')" "Citus $CITUS_VERSION" \
    "Citus $CITUS_VERSION runs on the coordinator"
is "$(on 0 "SELECT count(*) FROM citus_get_active_worker_nodes()")" 2 "the coordinator sees its two workers"

on 0 "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION stylist_chat"
version=$(on 0 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")
is "$(on 1 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'") $(on 2 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")" \
    "$version $version" "CREATE EXTENSION stylist_chat on the coordinator is propagated to both workers ($version)"

# the plain server to compare with
on 3 "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION stylist_chat (single)"

# ---------------------------------------------------------------------------
# the layout
# ---------------------------------------------------------------------------
is "$(PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/worker1" -p "$(citus_port_of 1)" -U postgres -d postgres \
        -c "SELECT * FROM chat.distribute_tables()" 2>&1 | grep -o 'ERROR: .*')" \
    "ERROR:  chat.distribute_tables() runs on the coordinator, and this node is a worker" \
    "chat.distribute_tables() on a worker: refused, naming the coordinator"
layout=$(on 0 "SELECT citus_table_type, count(*) FROM chat.distribute_tables() GROUP BY 1 ORDER BY 1" | tr '\n' ' ')
[ -n "$layout" ] || bail "chat.distribute_tables()"
echo "# chat.distribute_tables(): $layout"
# a call run on a worker takes ids there: each worker its own range, from
# its group << 48 + 1, set by that first call
ranges() {
    on "$1" "SELECT string_agg(DISTINCT (s.seqmin = (g.groupid::bigint << 48) + 1)::text, ',')
               FROM pg_sequence s, pg_dist_local_group g
              WHERE s.seqrelid IN ('chat.reports_id_seq'::regclass, 'chat.portfolio_consents_id_seq'::regclass,
                                   'chat.orphaned_images_id_seq'::regclass, 'chat.held_messages_id_seq'::regclass)"
}
is "$(ranges 1) $(ranges 2)" "true true" \
    "chat.distribute_tables() gives each worker its own range of ids for the distributed tables' identity columns"
is "$(on 0 "SELECT coalesce(string_agg(c.relname, ', ' ORDER BY c.relname), 'none')
              FROM pg_class c
             WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind = 'r'
               AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'chat_id')
               AND c.relname NOT LIKE 'legacy\_%'
               AND NOT EXISTS (SELECT FROM pg_dist_partition p
                                WHERE p.logicalrelid = c.oid AND p.partmethod = 'h'
                                  AND p.colocationid = (SELECT colocationid FROM pg_dist_partition
                                                         WHERE logicalrelid = 'chat.chats'::regclass)
                                  AND column_to_column_name(p.logicalrelid, p.partkey) = 'chat_id')")" \
    none "every table with chat_id (but the migration's staging) is distributed by chat_id, co-located with chat.chats"
is "$(on 0 "SELECT count(*) FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
             WHERE c.relnamespace = 'chat'::regnamespace AND p.partmethod = 'h'")" \
   "$(on 0 "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind = 'r'
               AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'chat_id')
               AND c.relname NOT LIKE 'legacy\_%'")" "... and only those"
is "$(on 0 "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_dist_partition p
             JOIN pg_class c ON c.oid = p.logicalrelid
            WHERE c.relname IN ('profiles', 'bookings') AND p.partmethod = 'n' AND p.repmodel = 't'")" \
    "bookings profiles" "profiles and bookings are reference tables"
is "$(on 0 "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind = 'r'
              AND c.relname !~ '_[0-9]+$'
              AND NOT EXISTS (SELECT FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)")" \
    "filter_rules filter_state legacy_imports legacy_messages legacy_plan" \
    "the filter's and the migration's tables stay local to the coordinator; nothing else does"
is "$(on 0 "SELECT count(DISTINCT s.nodeport) FROM pg_dist_shard_placement s JOIN pg_dist_shard d USING (shardid)
             WHERE d.logicalrelid = 'chat.chat_messages'::regclass")" 2 "the messages' shards are on both workers"
is "$(on 0 "SELECT citus_table_type, count(*) FROM chat.distribute_tables() GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" \
    "$layout" "a second call of chat.distribute_tables() changes nothing"

# ---------------------------------------------------------------------------
# the same answers as one server
# ---------------------------------------------------------------------------
# the ids of rows a call inserts on a worker are from that node's range
# (checked below): the comparisons of whole rows leave them out
mask_ids() { sed -E 's/"(held_)?id" : [0-9]+/"\1id" : <id>/g; s/report [0-9]+ /report <id> /g'; }
mask() { sed -E 's/^psql:[^:]*:[0-9]*: //; s/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+(\+[0-9:]+)?/<time>/g'; }
# offline notifications due a second after a message, on both
for i in 3 0; do
    on "$i" "ALTER SYSTEM SET stylist_chat.notification_delay = '1s'" >/dev/null && on "$i" "SELECT pg_reload_conf()" >/dev/null \
        || bail "notification_delay on ${NODES[$i]}"
done
sleep 0.5
for i in 3 0; do
    PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/${NODES[$i]}" -p "$(citus_port_of "$i")" -U postgres -d postgres \
        -f test/citus/conversation.sql 2>&1 | mask >"$WORK/conversation.${NODES[$i]}"
done
lines=$(wc -l <"$WORK/conversation.single")
errors=$(grep -c '^ERROR' "$WORK/conversation.single")
if diff "$WORK/conversation.single" "$WORK/conversation.coordinator" >"$WORK/conversation.diff"; then
    pass "test/citus/conversation.sql answers on the coordinator as on one server ($lines lines, $errors of them the errors it asks for)"
else
    fail "test/citus/conversation.sql answers on the coordinator as on one server ($lines lines, $errors of them the errors it asks for)"
    head -20 "$WORK/conversation.diff" | sed 's/^/#   /'
fi
is "$errors" 6 "... which are 6: an empty body, a stranger's chat twice, a seq beyond the last, a blocked chat, an edit a hold rule refuses"
kpis_as_admin() {
    PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY="$1" -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres \
        -d postgres -c "SELECT chat.act_as('ad000000-0000-4000-8000-000000000001', true)" \
        -c "SELECT count(*) FROM chat.kpis(current_date - 7, current_date)" 2>&1 | grep -m1 '^ERROR'
}
is "$(kpis_as_admin sqlstate) / $(kpis_as_admin terse)" \
    "ERROR:  0A000 / ERROR:  chat.kpis() does not run on a Citus cluster yet" \
    "what does not run there yet says so: chat.kpis() gives 0A000, naming itself"
refused() {  # the first error of the admin's call $1, as SQLSTATE
    PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY=sqlstate -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres \
        -d postgres -c "SELECT chat.act_as('ad000000-0000-4000-8000-000000000001', true)" -c "$1" 2>&1 | grep -m1 '^ERROR'
}
is "$(refused "SELECT count(*) FROM chat.legacy_report()") $(refused "SELECT count(*) FROM chat.legacy_problems()") $(refused "CALL chat.consolidate_legacy()") $(refused "SELECT count(*) FROM chat.stylist_kpis('5e000000-0000-4000-8000-000000000001', current_date - 7, current_date)") $(refused "SELECT chat.rebuild_kpis()")" \
    "ERROR:  0A000 ERROR:  0A000 ERROR:  0A000 ERROR:  0A000 ERROR:  0A000" \
    "... and so do the legacy migration's report, problems and import, stylist_kpis() and rebuild_kpis()"
# the bookkeeping worker notes what the relay relayed: the same notifications
noted() { [ "$(on "$1" "SELECT count(*) FROM chat.chats c LEFT JOIN chat.relay_watermark w USING (chat_id)
                       WHERE coalesce(w.noted_seq, 0) < c.last_seq")" = 0 ]; }
wait_until 20 noted 3 && wait_until 20 noted 0 || fail "the bookkeeping workers noted every message"
notes() { on "$1" "SELECT string_agg(concat_ws(' ', recipient_id, kind, first_seq, last_seq, status), ', '
                           ORDER BY recipient_id, kind) FROM chat.notifications"; }
is "$(notes 0)" "$(notes 3)" "the coordinator's bookkeeping worker records the offline notifications one server records ($(on 0 "SELECT count(*) FROM chat.notifications") of them)"
queue() { on "$1" "SELECT chat.act_as('ad000000-0000-4000-8000-000000000001', true);
                   SELECT string_agg(concat_ws(' ', status, kind, notifications), ', ' ORDER BY status, kind)
                     FROM chat.notification_queue()" | tail -1; }
one=$(queue 3)
is "$(queue 0) $([ -n "$one" ] && echo shown)" "$one shown" \
    "... and the admin's notification_queue() shows them as one server's does (${one:0:60}...)"
# every notification of messages due on both, for each message it covers
# (a second after it; the bookkeeping worker has recorded them)
due() { [ "$(on "$1" "SELECT count(*) > 0 AND count(*) FILTER (WHERE greatest(available_at, last_at + interval '1 second') > now()) = 0
                        FROM chat.notifications WHERE kind = 'messages' AND status = 'waiting'")" = t ]; }
wait_until 20 due 3 && wait_until 20 due 0 || fail "the notifications of messages came due on both"
claims() { on "$1" "SELECT string_agg(concat_ws(' ', kind, recipient_id, sender_name, message_count, first_seq, last_seq, preview), ', '
                            ORDER BY recipient_id, kind) FROM chat.claim_notifications(10, '1 minute')"; }
one=$(claims 3)
is "$(claims 0)" "$one" "claim_notifications() gives the coordinator's sender what it gives one server's (${one:0:60}...)"
# the sender's answers, by the notification's id alone (which names no
# chat: on a cluster they look in every shard): the claimed one failed
# (offered again later), then sent; the queue then as one server's
answers() {
    on "$1" "SELECT chat.fail_notification(min(id), 'provider down') > now() FROM chat.notifications WHERE status = 'leased'"
    on "$1" "SELECT status, attempts, last_error FROM chat.notifications WHERE last_error IS NOT NULL"
    on "$1" "SELECT chat.complete_notification(min(id)) FROM chat.notifications WHERE status = 'leased'"
    on "$1" "SELECT string_agg(concat_ws(' ', status, kind, notifications), ', ' ORDER BY status, kind)
               FROM chat.notification_queue()"
}
one=$(answers 3 | tr '\n' ' ')
case $one in "t leased|1|provider down t "*) ;; *) fail "fail_notification() and complete_notification() on one server: $one" ;; esac
is "$(answers 0 | tr '\n' ' ')" "$one" "fail_notification() and complete_notification() answer on the coordinator as on one server ($one)"

# ---------------------------------------------------------------------------
# one chat, one node
# ---------------------------------------------------------------------------
CUST=c0000000-0000-4000-8000-000000000001
STYL=5e000000-0000-4000-8000-000000000001
CHAT=$(on 0 "SELECT chat.pair_chat_id('$CUST', '$STYL')")
# the statements a call sends, and to which nodes: citus.log_remote_commands
remote_as() {
    PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres -d postgres \
        -c "SELECT chat.act_as('$1', true)" -c "SET citus.log_remote_commands = on" \
        -c "SET client_min_messages = log" -c "$2" 2>&1 >/dev/null
}
remote() { remote_as "$STYL" "$1"; }
home=$(on 0 "SELECT nodeport FROM pg_dist_shard_placement
              WHERE shardid = get_shard_id_for_distribution_column('chat.chats', '$CHAT')")
# the commands a call sends: "node statement" a line, BEGIN and COMMIT
# named by their first word
commands() {
    echo "$1" | sed -n 's/^NOTICE:  issuing \(.*\)$/\1/p' \
        | sed -e 's/^BEGIN .*/BEGIN/' -e 's/^SELECT \(.*\) FROM \([a-z_.]*\)(.*/\2/' \
        | paste -d ' ' <(echo "$1" | grep -o 'on server [^ ]*' | sed 's/.*://') - | tr '\n' ';'
}
out=$(remote "SELECT count(*) FROM chat.history('$CHAT')")
is "$(commands "$out")" "$home BEGIN;$home chat._chat_page;$home COMMIT;" \
    "history(): one call of chat._chat_page() on the node that holds the chat (port $home), in its transaction, and nothing to any other"
out=$(remote "SELECT chat.send_message('$CHAT', 'a reply, by PL/pgSQL', reply_to_seq => 2)")
# the same message on one server, for the erasure's comparison at the end
on 3 "SELECT chat.act_as('$STYL', true); SELECT chat.send_message('$CHAT', 'a reply, by PL/pgSQL', reply_to_seq => 2)" >/dev/null \
    || bail "the reply on one server"
is "$(commands "$out")" "$home BEGIN;$home chat._store_message;$home COMMIT;" \
    "a send: one call of chat._store_message() on that node, committed there without two-phase commit"
# the other calls on one chat.  Those that write there run whole on the
# chat's node: one call of chat._on_chat_node(), committed there without
# two-phase commit.  The others send every statement to the chat's node
# and to no other (a gallery whose subquery named the chat by the row's
# chat_id read every shard).
nodes_of() {
    remote "$1" | grep -o 'on server [^ ]*' | sed 's/.*://' | sort -u | tr '\n' ' '
}
spread=
notone=
# statements() counts the statements a read sends
statements() { remote "$1" | grep -c '^NOTICE:  issuing'; }
reads=
for call in "1 SELECT chat.react('$CHAT', 2, '🎉')" "1 SELECT chat.unreact('$CHAT', 2, '🎉')" \
            "1 SELECT chat.pin('$CHAT', 2, 'a note', NULL)" "n SELECT count(*) FROM chat.pinned('$CHAT')" \
            "1 SELECT chat.unpin('$CHAT', 2)" "n SELECT count(*) FROM chat.gallery('$CHAT')" \
            "n SELECT count(*) FROM chat.search('$CHAT', 'Friday', 1)" "n SELECT count(*) FROM chat.search('$CHAT', 'Friday')" \
            "n SELECT count(*) FROM chat.get_chat('$CHAT')" \
            "1 SELECT chat.mark_unread('$CHAT', 2)" "1 SELECT chat.ack_delivered('$CHAT', 2)" "n SELECT chat.typing('$CHAT')" \
            "1 SELECT chat.mute('$CHAT', 'infinity')" "1 SELECT chat.unmute('$CHAT')" "1 SELECT chat.archive('$CHAT')" \
            "1 SELECT chat.unarchive('$CHAT')" "1 SELECT chat.block('$CHAT')" "1 SELECT chat.unblock('$CHAT')" \
            "n SELECT count(*) FROM chat.chat_bookings('$CHAT')" "n SELECT count(*) FROM chat.pending_messages('$CHAT')"; do
    kind=${call%% *}
    call=${call#* }
    if [ "$kind" = 1 ]; then
        got=$(commands "$(remote "$call")")
        [ "$got" = "$home BEGIN;$home chat._on_chat_node;$home COMMIT;" ] || notone+="${call:7:30}: $got "
    else
        [ "$(nodes_of "$call")" = "$home " ] || spread+="${call:7:40}: $(nodes_of "$call"); "
        reads+="$(statements "$call") "
    fi
    # the same on one server, for the comparisons at the end
    on 3 "SELECT chat.act_as('$STYL', true); $call" >/dev/null || bail "on one server: $call"
done
is "$notone" "" "12 calls that write in one chat (react, unreact, pin, unpin, mark_unread, ack_delivered, mute, unmute, archive, unarchive, block, unblock): one call of chat._on_chat_node() on that node, and nothing else"
is "$spread" "" "7 calls that read one chat (pinned, the gallery, search, get_chat(), typing, bookings, pending messages) send their statements to the chat's node alone"
is "$reads" "1 1 2 2 1 1 1 2 " \
    "... in one statement each where it finds something: pinned(), gallery(), get_chat(), typing(), chat_bookings(); search() in two (the access, the cleared mark and how far back its newest 400 go; those 400); pending_messages(), finding none here, checks access in a second"
# a search that reaches the index: a chat of 450 messages, the word in
# the first 5 only (beyond the newest 400, read one by one)
LC=c0000000-0000-4000-8000-0000000000cc
on 0 "SELECT chat.upsert_profile('$LC', 'customer', 'Long C')" >/dev/null || bail "the long chat's customer"
LCHAT=$(on 0 "SELECT chat.act_as('$LC'); SELECT chat.chat_with('$STYL')" | tail -1)
on 0 "SELECT chat.act_as('$LC');
      SELECT count(chat.send_message('$LCHAT', CASE WHEN i <= 5 THEN 'Friday ' ELSE 'a day ' END || i))
        FROM generate_series(1, 450) i" >/dev/null || bail "the long chat's messages"
lhome=$(on 0 "SELECT nodeport FROM pg_dist_shard_placement
               WHERE shardid = get_shard_id_for_distribution_column('chat.chats', '$LCHAT')")
out=$(remote_as "$LC" "SELECT count(*) FROM chat.search('$LCHAT', 'Friday')")
is "$(on 0 "SELECT chat.act_as('$LC'); SELECT string_agg(seq::text, ' ') FROM chat.search('$LCHAT', 'Friday')" | tail -1) / $(echo "$out" | grep -o 'on server [^ ]*' | sed 's/.*://' | sort | uniq -c | awk '{ print $1 " to " $2 }')" \
    "5 4 3 2 1 / 3 to $lhome" \
    "search() in a chat of 450 messages, its matches beyond the newest 400: from the index, in 3 statements to the chat's node alone (the index's went to every shard)"
ADMIN=ad000000-0000-4000-8000-000000000001
got=$(remote_as "$ADMIN" "SELECT count(*) FROM chat.admin_history('$CHAT', 'where it reads')" \
      | grep -o 'on server [^ ]*' | sed 's/.*://' | sort -u | tr '\n' ' ')
on 3 "SELECT chat.act_as('$ADMIN', true); SELECT count(*) FROM chat.admin_history('$CHAT', 'where it reads')" >/dev/null \
    || bail "admin_history() on one server"
is "$got" "$home " "admin_history() reads the chat's node alone (through chat._message_rows it read every shard)"
# their events come back with them and are relayed by the coordinator:
# the customer, listening there, hears each of them once
CHAN=$(on 0 "SELECT chat.act_as('$CUST'); SELECT chat.listen_channel()" | tail -1)
heard=$(PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres -d postgres 2>&1 <<EOF
SELECT chat.act_as('$CUST', true);
LISTEN "$CHAN";
\! PATH=$BINDIR:\$PATH psql -X -qAt -h $WORK/coordinator -p $(citus_port_of 0) -U postgres -d postgres -c "SELECT chat.act_as('$STYL', true)" -c "SELECT chat.react('$CHAT', 2, '🦄')" -c "SELECT chat.pin('$CHAT', 2)" -c "SELECT chat.unpin('$CHAT', 2)" -c "SELECT chat.unreact('$CHAT', 2, '🦄')" >/dev/null
SELECT pg_sleep(1.5);
SELECT 1;
EOF
)
on 3 "SELECT chat.act_as('$STYL', true); SELECT chat.react('$CHAT', 2, '🦄'); SELECT chat.pin('$CHAT', 2);
      SELECT chat.unpin('$CHAT', 2); SELECT chat.unreact('$CHAT', 2, '🦄')" >/dev/null \
    || bail "the listener's calls on one server"
is "$(echo "$heard" | grep -o '"type":"[a-z_]*","chat_id":"'"$CHAT"'","seq":[0-9]*,"sender_id":"'"$STYL"'"' \
       | sed 's/"type":"\([a-z_]*\)".*"seq":\([0-9]*\).*/\1 \2/' | tr '\n' ' ')" \
    "reaction 2 pinned 2 unpinned 2 reaction 2 " \
    "the events of calls run on the chat's node are relayed by the coordinator: a listener there hears a reaction, a pin, an unpin and a reaction taken back, once each"
# an edit, whose text the coordinator screens with its filter's rules, a
# delete, a report and a consent given and taken back: one call each too;
# the ids of the rows they insert come from the node's own range
RSEQ=$(on 0 "SELECT seq FROM chat.chat_messages WHERE chat_id = '$CHAT' AND body = 'a reply, by PL/pgSQL'")
CSEQ=$(on 0 "SELECT max(seq) FROM chat.chat_messages
              WHERE chat_id = '$CHAT' AND sender_id = '$CUST' AND deleted_at IS NULL AND hidden_at IS NULL")
IMG=$(on 0 "SELECT a.seq || ', ' || a.position FROM chat.media a
             JOIN chat.chat_messages m ON m.chat_id = a.chat_id AND m.seq = a.seq
            WHERE a.chat_id = '$CHAT' AND m.deleted_at IS NULL AND m.hidden_at IS NULL
            ORDER BY a.seq, a.position LIMIT 1")
for i in 0 3; do
    on "$i" "SELECT chat.act_as('$STYL', true);
             SELECT chat.send_message('$CHAT', 'soon deleted', attachments => '[{\"storage_key\": \"k/soon.jpg\",
                     \"content_type\": \"image/jpeg\", \"byte_size\": 10, \"width\": 1, \"height\": 1}]')" >/dev/null \
        || bail "a message to delete on ${NODES[$i]}"
done
DSEQ=$(on 0 "SELECT seq FROM chat.chat_messages WHERE chat_id = '$CHAT' AND body = 'soon deleted'")
# the workers log what they send on too, between workers_log on and off
workers_log() {
    local i
    for i in 1 2; do
        if [ "$1" = on ]; then
            on "$i" "ALTER SYSTEM SET citus.log_remote_commands = on" >/dev/null
        else
            on "$i" "ALTER SYSTEM RESET citus.log_remote_commands" >/dev/null
        fi && on "$i" "SELECT pg_reload_conf()" >/dev/null || bail "log_remote_commands $1 on ${NODES[$i]}"
    done
    [ "$1" = off ] || sleep 0.3
}
# a call run on the chat's node sends nothing further (a delete's
# tombstones, a chain of data-modifying WITH queries, went from there to
# every node)
workers_log on
notone=
for call in "$STYL SELECT chat.edit_message('$CHAT', $RSEQ, 'a reply, edited')" \
            "$STYL SELECT chat.delete_message('$CHAT', $DSEQ)" \
            "$STYL SELECT chat.report('$CHAT', 'spam', $CSEQ)" \
            "$CUST SELECT chat.grant_portfolio_consent('$CHAT', $IMG)" \
            "$CUST SELECT chat.revoke_portfolio_consent('$CHAT', $IMG)" \
            "$CUST SELECT chat.clear_history('$CHAT')"; do
    who=${call%% *}
    call=${call#* }
    got=$(commands "$(remote_as "$who" "$call")")
    [ "$got" = "$home BEGIN;$home chat._on_chat_node;$home COMMIT;" ] || notone+="${call:7:30}: $got "
    on 3 "SELECT chat.act_as('$who', true); $call" >/dev/null || bail "on one server: $call"
done
workers_log off
is "$notone" "" "edit_message(), delete_message() (of a message with an image), report(), grant_portfolio_consent(), revoke_portfolio_consent(), clear_history(): one call of chat._on_chat_node() on that node, and nothing else, from there either"
homegroup=$(on 0 "SELECT groupid FROM pg_dist_node WHERE nodeport = $home")
is "$(on 0 "SELECT (SELECT id >> 48 FROM chat.reports WHERE chat_id = '$CHAT' AND reporter_id = '$STYL' AND seq = $CSEQ)
                || ' ' || (SELECT max(id) >> 48 FROM chat.portfolio_consents WHERE chat_id = '$CHAT')
                || ' ' || (SELECT id >> 48 FROM chat.orphaned_images WHERE chat_id = '$CHAT' AND seq = $DSEQ)")" \
    "$homegroup $homegroup $homegroup" \
    "... the report's, the consent's and the deleted image's ids taken from the range of that node's group ($homegroup << 48 on), as Citus gives the tables it creates"
# the admin's calls on one chat run there whole too: two messages a hold
# rule held, one approved (sent then, as its sender) and one rejected (its
# image queued for deletion), a message hidden, a legal hold placed and
# released; the same on one server
for i in 0 3; do
    on "$i" "SELECT chat.act_as('$ADMIN', true); SELECT chat.add_filter_rule('held', 'hold me', 'hold');
             SELECT chat.act_as('$CUST', true); SELECT chat.send_message('$CHAT', 'hold me: approved');
             SELECT chat.send_message('$CHAT', 'hold me: rejected', attachments => '[{\"storage_key\": \"k/held.jpg\",
                     \"content_type\": \"image/jpeg\", \"byte_size\": 10, \"width\": 1, \"height\": 1}]');
             SELECT chat.act_as('$ADMIN', true); SELECT chat.remove_filter_rule('held')" >/dev/null \
        || bail "held messages on ${NODES[$i]}"
done
held() { on "$1" "SELECT id FROM chat.held_messages WHERE chat_id = '$CHAT' AND body = 'hold me: $2'"; }
workers_log on
notone=
for call in "SELECT chat.approve_held_message('$CHAT', @approved)" \
            "SELECT chat.reject_held_message('$CHAT', @rejected, 'a number')" \
            "SELECT chat.hide_message('$CHAT', $CSEQ, 'rude')" \
            "SELECT chat.set_legal_hold('$CHAT', 'a dispute')" "SELECT chat.release_legal_hold('$CHAT', 'settled')"; do
    for i in 0 3; do
        c=${call//@approved/$(held "$i" approved)}
        c=${c//@rejected/$(held "$i" rejected)}
        if [ "$i" = 0 ]; then
            got=$(commands "$(remote_as "$ADMIN" "$c")")
            [ "$got" = "$home BEGIN;$home chat._on_chat_node;$home COMMIT;" ] || notone+="${call:12:24}: $got "
        else
            on 3 "SELECT chat.act_as('$ADMIN', true); $c" >/dev/null || bail "on one server: $c"
        fi
    done
done
workers_log off
is "$notone" "" "approve_held_message(), reject_held_message(), hide_message(), set_legal_hold(), release_legal_hold(): one call of chat._on_chat_node() on the chat's node each, and nothing else, from there either"
decided() {
    on "$1" "SELECT string_agg(h.status || ' ' || coalesce((SELECT m.sender_id || ' ' || m.body FROM chat.chat_messages m
                                                            WHERE m.chat_id = h.chat_id AND m.seq = h.seq), '-'), ', '
                               ORDER BY h.status)
               FROM chat.held_messages h WHERE h.chat_id = '$CHAT' AND h.rules = '{held}'" \
        && on "$1" "SELECT hidden_reason FROM chat.chat_messages WHERE chat_id = '$CHAT' AND seq = $CSEQ" \
        && on "$1" "SELECT reason || ', ' || release_reason FROM chat.legal_holds WHERE chat_id = '$CHAT'" \
        && on "$1" "SELECT reason FROM chat.orphaned_images WHERE storage_key = 'k/held.jpg'"
}
one=$(decided 3 | tr '\n' ' ')
is "$(decided 0 | tr '\n' ' ')" "$one" "... which decided (the approved message sent as its sender), hid and held on the coordinator as on one server ($one)"
is "$(on 0 "SELECT (SELECT id >> 48 FROM chat.legal_holds WHERE chat_id = '$CHAT' AND reason = 'a dispute')
                || ' ' || (SELECT id >> 48 FROM chat.audit_entries
                            WHERE chat_id = '$CHAT' AND action = 'hide_message' AND seq = $CSEQ)
                || ' ' || (SELECT id >> 48 FROM chat.orphaned_images WHERE storage_key = 'k/held.jpg')")" \
    "$homegroup $homegroup $homegroup" \
    "... the hold's, the audit entry's and the rejected image's ids taken from that node's range"
# their events come back with them too: the stylist, listening on the
# coordinator, hears a held message approved and a message hidden
on 0 "SELECT chat.act_as('$ADMIN', true); SELECT chat.add_filter_rule('held', 'hold me', 'hold');
      SELECT chat.act_as('$CUST', true); SELECT chat.send_message('$CHAT', 'hold me: heard');
      SELECT chat.act_as('$ADMIN', true); SELECT chat.remove_filter_rule('held')" >/dev/null \
    || bail "a held message to approve"
SCHAN=$(on 0 "SELECT chat.act_as('$STYL'); SELECT chat.listen_channel()" | tail -1)
heard=$(PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres -d postgres 2>&1 <<EOF
SELECT chat.act_as('$STYL', true);
LISTEN "$SCHAN";
\! PATH=$BINDIR:\$PATH psql -X -qAt -h $WORK/coordinator -p $(citus_port_of 0) -U postgres -d postgres -c "SELECT chat.act_as('$ADMIN', true)" -c "SELECT chat.approve_held_message('$CHAT', $(held 0 heard))" -c "SELECT chat.hide_message('$CHAT', 2, 'heard')" >/dev/null
SELECT pg_sleep(1.5);
SELECT 1;
EOF
)
AHSEQ=$(on 0 "SELECT seq FROM chat.chat_messages WHERE chat_id = '$CHAT' AND body = 'hold me: heard'")
is "$(echo "$heard" | grep -o '"type":"[a-z_]*","chat_id":"'"$CHAT"'","seq":[0-9]*' \
       | sed 's/"type":"\([a-z_]*\)".*"seq":\([0-9]*\)/\1 \2/' | tr '\n' ' ')" \
    "message $AHSEQ hidden 2 " \
    "... and their events are relayed by the coordinator: a listener there hears the approved message (seq $AHSEQ) and the hidden one, once each"
on 3 "SELECT chat.act_as('$ADMIN', true); SELECT chat.add_filter_rule('held', 'hold me', 'hold');
      SELECT chat.act_as('$CUST', true); SELECT chat.send_message('$CHAT', 'hold me: heard');
      SELECT chat.act_as('$ADMIN', true); SELECT chat.remove_filter_rule('held');
      SELECT chat.approve_held_message('$CHAT', (SELECT id FROM chat.held_messages WHERE body = 'hold me: heard'));
      SELECT chat.hide_message('$CHAT', 2, 'heard')" >/dev/null \
    || bail "the same on one server"
# the calls sent to the chat's node run there as the owner, in Citus's
# connection, with the owner's search_path of that node: a function
# planted in its public schema (as a role with CREATE there could, the
# default before PostgreSQL 15) must not be what they call
hnode=
for i in 1 2; do [ "$(citus_port_of "$i")" = "$home" ] && hnode=$i; done
on "$hnode" "SET citus.enable_ddl_propagation = off;
             CREATE TABLE public.planted_ran (who text);
             CREATE FUNCTION public.cardinality(text[]) RETURNS integer LANGUAGE plpgsql AS
             \$f\$ BEGIN INSERT INTO public.planted_ran VALUES (current_user); RETURN 0; END \$f\$" >/dev/null \
    || bail "the planted function"
remote "SELECT chat.send_message('$CHAT', 'is anything planted?')" >/dev/null
on 3 "SELECT chat.act_as('$STYL', true); SELECT chat.send_message('$CHAT', 'is anything planted?')" >/dev/null \
    || bail "the same message on one server"
is "$(on "$hnode" "SELECT count(*) FROM public.planted_ran") $(on 0 "SELECT count(*) FROM chat.chat_messages WHERE chat_id = '$CHAT' AND body = 'is anything planted?'")" \
    "0 1" "a send through the coordinator, run on the chat's node, calls no function planted in that node's public schema"
on "$hnode" "SET citus.enable_ddl_propagation = off; DROP FUNCTION public.cardinality(text[]); DROP TABLE public.planted_ran" >/dev/null
out=$(remote "SELECT count(*) FROM chat.messages_since('$CHAT', 0)")
is "$(commands "$out")" "$home BEGIN;$home chat._chat_page;$home COMMIT;" \
    "messages_since(): one call of chat._chat_page() on that node"
out=$(remote "SELECT chat.mark_read('$CHAT')")
is "$(commands "$out")" "$home BEGIN;$home chat._mark_read_on_chat;$home COMMIT;" \
    "mark_read(): one call of chat._mark_read_on_chat() on that node"

# ---------------------------------------------------------------------------
# one chat per pair, 64 clients at once
# ---------------------------------------------------------------------------
RC=c0000000-0000-4000-8000-0000000000aa
RS=5e000000-0000-4000-8000-0000000000aa
on 0 "SELECT chat.upsert_profile('$RC', 'customer', 'Race C'), chat.upsert_profile('$RS', 'stylist', 'Race S')" >/dev/null \
    || bail "the race's profiles"
at=$(on 0 "SELECT extract(epoch FROM clock_timestamp() + interval '4 seconds')")
for k in $(seq 64); do
    # half of them the customer's devices, half the stylist's
    PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres -d postgres \
        -c "BEGIN" -c "SELECT chat.act_as('$([ $((k % 2)) -eq 0 ] && echo "$RC" || echo "$RS")')" \
        -c "SELECT pg_sleep(greatest(0, $at - extract(epoch FROM clock_timestamp())))" \
        -c "SELECT chat.get_or_create_chat('$RC', '$RS')" -c "COMMIT" >"$WORK/race.$k" 2>&1 &
done
wait
is "$(cat "$WORK"/race.* | grep -v '^$' | sort | uniq -c | awk '{ print $1 " " $2 }')" \
    "64 $(on 0 "SELECT chat.pair_chat_id('$RC', '$RS')")" \
    "64 clients of the coordinator (32 as the customer, 32 as the stylist) open the pair's chat at the same instant: all get its id"
is "$(on 0 "SELECT count(*) FROM chat.chats WHERE customer_id = '$RC' AND stylist_id = '$RS'")" 1 "... and there is one row"

# ---------------------------------------------------------------------------
# real time across nodes
# ---------------------------------------------------------------------------
N=200
TC=c0000000-0000-4000-8000-0000000000bb
TS=5e000000-0000-4000-8000-0000000000bb
on 0 "SELECT chat.upsert_profile('$TC', 'customer', 'Live C'), chat.upsert_profile('$TS', 'stylist', 'Live S')" >/dev/null \
    || bail "the live profiles"
TCHAT=$(on 0 "SELECT chat.act_as('$TC'); SELECT chat.chat_with('$TS')" | tail -1)
[ -n "$TCHAT" ] || bail "the live chat"
gcc -O2 -Wall -Wextra -Werror -o "$WORK/chat_client" test/chat_client.c \
    -I"$("$PG_CONFIG" --includedir)" -L"$("$PG_CONFIG" --libdir)" -lpq 2>>"$WORK/err" \
    || bail "test/chat_client.c does not build"
PGHOST=$WORK/coordinator PGPORT=$(citus_port_of 0) PGUSER=postgres PGAPPNAME=chat_client \
    "$WORK/chat_client" -d postgres -p "$TS" -n "$N" -t 120 >"$WORK/client.out" 2>"$WORK/client.err" &
CLIENT=$!
client_connected() { [ "$(on 0 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chat_client' AND state = 'idle'")" -ge 1 ]; }
wait_until 20 client_connected || bail "the chat client did not connect"
sender() {
    local k
    for k in $(seq "$1" 4 "$N"); do
        PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres -d postgres \
            -c "BEGIN" -c "SELECT chat.act_as('$TC')" -c "SELECT chat.send_message('$TCHAT', 'live $k')" \
            -c "COMMIT" >/dev/null 2>>"$WORK/sender.err"
    done
}
for k in 1 2 3 4; do sender "$k" & done
wait $(jobs -p | grep -v "^$CLIENT$") 2>/dev/null
is "$(on 0 "SELECT count(*) FROM chat.chat_messages WHERE chat_id = '$TCHAT'")" "$N" "4 senders sent $N messages through the coordinator"
if wait "$CLIENT"; then pass "the stylist's client, against the coordinator, received them all and exited 0"; else fail "the stylist's client, against the coordinator, received them all and exited 0"; fi
is "$(grep -c "^message chat=$TCHAT " "$WORK/client.out")/$(grep "^message chat=$TCHAT " "$WORK/client.out" | sed -n 's/.* seq=\([0-9]*\) .*/\1/p' | sort -nu | wc -l)" \
    "$N/$N" "... each once: $N lines, $N distinct seqs"
is "$(on 1 "SELECT events_relayed FROM chat.relay_status()") $(on 2 "SELECT events_relayed FROM chat.relay_status()")" \
    "0 0" "the workers' relays relayed nothing"
is "$(PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/worker1" -p "$(citus_port_of 1)" -U postgres -d postgres \
        -c "SELECT 1 FROM chat.relay_status()" 2>&1 | grep -o 'NOTICE: .*')" \
    "NOTICE:  this node is a worker of a Citus cluster: nothing is relayed here" "... and say why"

# ---------------------------------------------------------------------------
# identity on a worker
# ---------------------------------------------------------------------------
on 0 "CREATE ROLE phone LOGIN IN ROLE chat_user" >/dev/null || bail "role phone"
w1() {  # as phone on worker1: the SQLSTATE of the last statement, or its output
    PATH=$BINDIR:$PATH psql -X -qAt -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -h "$WORK/worker1" -p "$(citus_port_of 1)" \
        -U phone -d postgres "$@" 2>&1 | tail -1
}
is "$(w1 -c "SELECT count(*) FROM chat.history('$CHAT')")" "ERROR:  28000" \
    "a chat_user login on a worker, no actor: history() gives 28000"
is "$(w1 -c "SELECT chat.act_as('$CUST')")" "ERROR:  42501" "... and act_as() 42501: no one's word is taken there"
is "$(w1 -c "SET stylist_chat.actor = '$CUST'")" "ERROR:  42602" \
    "... nor a setting's: there is no stylist_chat.actor to set (42602)"
is "$(w1 -c "SET chat.actor = '$CUST'" -c "SELECT count(*) FROM chat.history('$CHAT')")" "ERROR:  28000" \
    "... and a setting of another name is nobody's identity: 28000"
# the calls the coordinator sends whole to a chat's node take the actor as
# an argument: they are the owner's alone, on the worker and on the
# coordinator (the coordinator's SECURITY DEFINER functions call them,
# over Citus's connection as the owner)
is "$(w1 -c "SELECT count(*) FROM chat._chat_page('$CHAT', '$CUST', 0, NULL, 10, false)")" "ERROR:  42501" \
    "... nor an argument's: chat._chat_page(), which takes the actor as one, is refused to a chat_user login on a worker (42501)"
is "$(w1 -c "SELECT chat._store_message('$CHAT', '$CUST', 'as someone else', NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, false, NULL, NULL)")" \
    "ERROR:  42501" "... and so is chat._store_message()"
is "$(w1 -c "SELECT chat._mark_read_on_chat('$CHAT', '$CUST', NULL)")" "ERROR:  42501" \
    "... and chat._mark_read_on_chat()"
is "$(w1 -c "SELECT chat._on_chat_node('$CHAT', '$CUST', 'archive', '[]')") $(w1 -c "SELECT chat._on_chat_call('$CHAT', 'archive', '[]')")" \
    "ERROR:  42501 ERROR:  42501" "... and chat._on_chat_node(), which runs any call on one chat for the actor it is given, and what it calls"
is "$(PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY=sqlstate -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U phone -d postgres \
        -c "SELECT chat._on_chat_node('$CHAT', '$CUST', 'archive', '[]')" 2>&1 | tail -1)" "ERROR:  42501" \
    "... and on the coordinator"
# on the chat's node, a call sent there speaks for its actor while it
# runs, and for nobody once it has returned or failed (a static of the
# backend, which Citus's next statements in that connection would find)
node_psql() {
    PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY=sqlstate -h "$WORK/${NODES[$hnode]}" -p "$home" -U postgres -d postgres "$@" 2>&1
}
is "$(node_psql -c "SELECT chat._on_chat_node('$CHAT', '$CUST', 'unmute', '[]') ->> 'result' IS NULL" \
                -c "SELECT coalesce(chat.current_actor()::text, 'nobody')" \
                -c "SELECT chat._on_chat_node('$CHAT', '$CUST', 'erase_profile', '[]')" \
                -c "SELECT coalesce(chat.current_actor()::text, 'nobody')" \
                -c "SELECT chat.mute('$CHAT')" \
                -c "BEGIN" -c "SELECT chat.act_as('$CUST')" -c "SELECT chat.mute('$CHAT')" | grep -v '^$' | tr '\n' ' ')" \
    "t nobody ERROR:  22023 nobody ERROR:  28000 ERROR:  25006 " \
    "on the chat's node, a call sent there acts for its actor and, returned or refused (22023 for a call not on the list), leaves nobody acting and the node refusing writes (25006)"
is "$(PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY=sqlstate -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U phone -d postgres \
        -c "SELECT count(*) FROM chat._chat_page('$CHAT', '$CUST', 0, NULL, 10, false)" 2>&1 | tail -1)" "ERROR:  42501" \
    "... and on the coordinator"
on 0 "CREATE ROLE backend LOGIN IN ROLE chat_service" >/dev/null || bail "role backend"
is "$(PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY=sqlstate -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U backend -d postgres \
        -c "SELECT count(*) FROM chat._chat_page('$CHAT', '$CUST', 0, NULL, 10, false)" 2>&1 | tail -1)" "ERROR:  42501" \
    "... and to a chat_service login, which may act_as() anyone but not name the actor to these"
TOKEN=$(on 0 "SELECT chat.issue_token('$CUST', '1 hour')")
is "$(w1 -c "BEGIN" -c "SELECT chat.authenticate('$TOKEN', false)" -c "SELECT count(*) FROM chat.history('$CHAT')")" \
    "$(on 0 "SELECT chat.act_as('$CUST', true); SELECT count(*) FROM chat.history('$CHAT')" | tail -1)" \
    "a token the coordinator issued authenticates on the worker, which reads the chat's history as the coordinator does"
is "$(w1 -c "BEGIN" -c "SELECT chat.authenticate('$TOKEN', false)" -c "SELECT chat.send_message('$CHAT', 'from a worker')")" \
    "ERROR:  25006" "... but a write there is refused (25006), as on a standby: writes go through the coordinator, whose relay sees them"
is "$(PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/worker1" -p "$(citus_port_of 1)" -U phone -d postgres \
        -c "BEGIN" -c "SELECT chat.authenticate('$TOKEN', false)" -c "SELECT chat.mark_read('$CHAT')" 2>&1 | grep -m1 '^ERROR')" \
    "ERROR:  chat.mark_read() writes, and this node is a worker of a Citus cluster" "... naming the call and the node"
FORGED="${TOKEN%?}$([ "${TOKEN: -1}" = A ] && echo B || echo A)"
is "$(w1 -c "SELECT chat.authenticate('$FORGED', false)")" "ERROR:  28000" "... a token with one character changed does not"
on 0 "SELECT chat.revoke_tokens('$CUST')" >/dev/null
is "$(w1 -c "BEGIN" -c "SELECT chat.authenticate('$TOKEN', false)")" "ERROR:  28000" \
    "once the coordinator revokes the profile's tokens, the worker refuses the token too"

# ---------------------------------------------------------------------------
# a node added, the shards rebalanced onto it
# ---------------------------------------------------------------------------
citus_add_worker off
is "$(on 4 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")" \
    "$(on 0 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")" \
    "a third worker added: Citus creates stylist_chat there, at the coordinator's version"
on 0 "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')" >/dev/null \
    || fail "rebalance_table_shards() runs"
placed() {  # how many shards of table $1 node 4 holds
    on 0 "SELECT count(*) FROM pg_dist_shard_placement p JOIN pg_dist_shard s USING (shardid)
           WHERE s.logicalrelid = '$1'::regclass AND p.nodeport = $(citus_port_of 4)"
}
moved=$(placed chat.chat_messages)
is "$([ "${moved:-0}" -gt 0 ] && echo moved) $(placed chat.chats) $(placed chat.media)" "moved $moved $moved" \
    "rebalance_table_shards() moves shards to it ($moved of chat.chat_messages's), the co-located tables' with them"
shard=$(on 0 "SELECT get_shard_id_for_distribution_column('chat.chats', '$CHAT')")
from=$(on 0 "SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = $shard")
if [ "$from" != "$(citus_port_of 4)" ]; then
    on 0 "SELECT citus_move_shard_placement($shard, '127.0.0.1', $from, '127.0.0.1', $(citus_port_of 4),
                                            shard_transfer_mode => 'block_writes')" >/dev/null \
        || fail "the chat's shard moves to the new worker"
fi
home=$(citus_port_of 4)
out=$(remote "SELECT chat.send_message('$CHAT', 'after the move')")
on 3 "SELECT chat.act_as('$STYL', true); SELECT chat.send_message('$CHAT', 'after the move')" >/dev/null \
    || bail "the message after the move on one server"
sent=$(commands "$out")
out=$(remote "SELECT count(*) FROM chat.history('$CHAT')")
is "$sent $(commands "$out")" \
    "$home BEGIN;$home chat._store_message;$home COMMIT; $home BEGIN;$home chat._chat_page;$home COMMIT;" \
    "the chat's shard on the new worker: a send and history() go there, one call each"
is "$(on 0 "SELECT body FROM chat.chat_messages WHERE chat_id = '$CHAT' ORDER BY seq DESC LIMIT 1")" "after the move" \
    "... and the message is stored there"
is "$(PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/worker3" -p "$(citus_port_of 4)" -U postgres -d postgres \
        -c "SELECT 1 FROM chat.relay_status()" 2>&1 | grep -o 'NOTICE: .*')" \
    "NOTICE:  this node is a worker of a Citus cluster: nothing is relayed here" "... whose relay stands aside"
# a worker added since chat.distribute_tables() ran has a fresh install's
# ranges of ids, which would repeat the coordinator's: a call that takes
# ids there is refused until it runs again
is "$(PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY=sqlstate -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres -d postgres \
        -c "SELECT chat.act_as('$STYL', true)" -c "SELECT chat.report('$CHAT', 'other')" 2>&1 | tail -1) $(on 0 "SELECT count(*) FROM chat.reports WHERE chat_id = '$CHAT' AND reason = 'other'")" \
    "ERROR:  55000 0" "on the new worker, a report is refused (55000) before chat.distribute_tables() runs again, and nothing is stored"
on 0 "SELECT count(*) FROM chat.distribute_tables()" >/dev/null \
    || fail "chat.distribute_tables() again: $(tail -3 "$WORK/err" | tr '\n' ' ')"
newgroup=$(on 4 "SELECT groupid FROM pg_dist_local_group")
is "$(on 0 "SELECT chat.act_as('$STYL', true); SELECT chat.report('$CHAT', 'other') >> 48" | tail -1)" "$newgroup" \
    "... and once it has, the report is stored with an id of the new worker's range ($newgroup << 48 on)"
on 3 "SELECT chat.act_as('$STYL', true); SELECT chat.report('$CHAT', 'other')" >/dev/null || bail "the report on one server"

# ---------------------------------------------------------------------------
# a worker, then the coordinator, crash mid-stream
# ---------------------------------------------------------------------------
DC=c0000000-0000-4000-8000-0000000000dd
DS=5e000000-0000-4000-8000-0000000000dd
on 0 "SELECT chat.upsert_profile('$DC', 'customer', 'Crash C'), chat.upsert_profile('$DS', 'stylist', 'Crash S')" >/dev/null \
    || bail "the crash test's profiles"
DCHAT=$(on 0 "SELECT chat.act_as('$DC'); SELECT chat.chat_with('$DS')" | tail -1)
[ -n "$DCHAT" ] || bail "the crash test's chat"
dport=$(on 0 "SELECT nodeport FROM pg_dist_shard_placement
               WHERE shardid = get_shard_id_for_distribution_column('chat.chats', '$DCHAT')")
dnode=
for i in 1 2 4; do [ "$(citus_port_of "$i")" = "$dport" ] && dnode=$i; done
[ -n "$dnode" ] || bail "the crash test's chat is on no worker"
M=40
PGHOST=$WORK/coordinator PGPORT=$(citus_port_of 0) PGUSER=postgres PGAPPNAME=crash_client \
    "$WORK/chat_client" -d postgres -p "$DS" -n $((2 * M)) -t 180 >"$WORK/crash.out" 2>"$WORK/crash.err" &
CRASH_CLIENT=$!
crash_client_connected() { [ "$(on 0 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crash_client' AND state = 'idle'")" -ge 1 ]; }
wait_until 20 crash_client_connected || bail "the crash test's client did not connect"
# a sender that sends each of its messages until it is stored (a retry
# with the same client_msg_id stores nothing twice)
crash_sender() {
    local i tries id
    for i in $(seq "$M"); do
        id=$(printf 'dd00000%d-0000-4000-8000-%012d' "$1" "$i")
        tries=0
        until PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/coordinator" -p "$(citus_port_of 0)" -U postgres -d postgres \
                -c "SELECT chat.act_as('$DC', true)" \
                -c "SELECT chat.send_message('$DCHAT', 'through the crash $1.$i', client_msg_id => '$id')" \
                >/dev/null 2>>"$WORK/crash.send"; do
            echo "retry $1.$i" >>"$WORK/crash.retries"
            tries=$((tries + 1))
            [ "$tries" -ge 300 ] && { echo "gave up on $1.$i" >>"$WORK/crash.send"; break; }
            sleep 0.2
        done
    done
}
crash_sender 1 &
CS1=$!
crash_sender 2 &
CS2=$!
stored() { [ "$(on 0 "SELECT count(*) FROM chat.chat_messages WHERE chat_id = '$DCHAT'" 2>/dev/null)" -ge "$1" ]; }
wait_until 60 stored $((M / 2)) || fail "the crash test's senders got going"
as_pg "$BINDIR/pg_ctl" -D "$WORK/${NODES[$dnode]}/data" -m immediate -w restart >/dev/null 2>>"$WORK/err" \
    || bail "the crash of ${NODES[$dnode]}"
wait_until 60 stored "$M" || fail "the sends went on after the worker's crash"
as_pg "$BINDIR/pg_ctl" -D "$WORK/coordinator/data" -m immediate -w restart >/dev/null 2>>"$WORK/err" \
    || bail "the crash of the coordinator"
wait "$CS1" "$CS2"
is "$(on 0 "SELECT count(*) || ' ' || count(DISTINCT client_msg_id) || ' ' || max(seq) FROM chat.chat_messages WHERE chat_id = '$DCHAT'") $(grep -c 'gave up' "$WORK/crash.send")" \
    "$((2 * M)) $((2 * M)) $((2 * M)) 0" \
    "2 senders stored their $((2 * M)) messages through a crash of the chat's worker (${NODES[$dnode]}) and then of the coordinator, each once ($(cat "$WORK/crash.retries" 2>/dev/null | wc -l) tries failed and were retried)"
if wait "$CRASH_CLIENT"; then
    pass "the stylist's client, against the coordinator through both crashes, received them all and exited 0"
else
    fail "the stylist's client, against the coordinator through both crashes, received them all and exited 0"
    tail -3 "$WORK/crash.err" | sed 's/^/#   /'
fi
is "$(grep -c "^message chat=$DCHAT " "$WORK/crash.out")/$(grep "^message chat=$DCHAT " "$WORK/crash.out" | sed -n 's/.* seq=\([0-9]*\) .*/\1/p' | sort -nu | wc -l)" \
    "$((2 * M))/$((2 * M))" "... each once: $((2 * M)) lines, $((2 * M)) distinct seqs"
echo "# the client: $(grep -c "^chat_client: " "$WORK/crash.err") lines of errors and reconnections"

# ---------------------------------------------------------------------------
# a person's data exported and erased, on the coordinator as on one server
# ---------------------------------------------------------------------------
for i in 3 0; do
    PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/${NODES[$i]}" -p "$(citus_port_of "$i")" -U postgres -d postgres \
        -f test/citus/privacy.sql 2>&1 | mask | mask_ids >"$WORK/privacy.${NODES[$i]}"
done
lines=$(wc -l <"$WORK/privacy.single")
if diff "$WORK/privacy.single" "$WORK/privacy.coordinator" >"$WORK/privacy.diff"; then
    pass "test/citus/privacy.sql: export_my_data(), export_profile(), erase_profile() and apply_retention() answer on the coordinator as on one server ($lines lines)"
else
    fail "test/citus/privacy.sql: export_my_data(), export_profile(), erase_profile() and apply_retention() answer on the coordinator as on one server ($lines lines)"
    head -20 "$WORK/privacy.diff" | sed 's/^/#   /'
fi
is "$(grep -c '^ERROR' "$WORK/privacy.single") $(grep -c '^{"format": "stylist_chat export"' "$WORK/privacy.single") $(grep -c '^,\?{"chat_id" : "[0-9a-f-]*", "seq" : [0-9]*, "sender_id"' "$WORK/privacy.single")" \
    "0 2 $(( 2 * $(on 3 "SELECT count(*) FROM chat.chat_messages WHERE chat_id = '$CHAT'") ))" \
    "... without an error: two documents, each with every message of the customer's chat"
is "$(grep -c '^erase|request 7|{"images": 2, "messages": 9,' "$WORK/privacy.single")" "1" \
    "... and an erasure of the customer's 9 messages and 2 images"
is "$(grep -x '[0-9]*|0|0|0|t' "$WORK/privacy.single" | tr '\n' ' ')" "5|0|0|0|t 0|0|0|0|t " \
    "... and a retention run redacting the stylist's 4 messages and emptying their held one, then one that finds none"

# a chat opened with a person while an admin erases them: on one server
# it waits for the erasure to commit (the erasure's first lock is the
# profile's row, which the new chat's foreign key checks); on a cluster it
# does not (the chat's node checks its own copy of the row, which Citus
# did not lock there: it locks a reference table's row on the
# coordinator's copy, behind a lock of the whole table on every node),
# and the chat is opened, as if just after the erasure (README says so)
EC=c0000000-0000-4000-8000-0000000000e0
ES=5e000000-0000-4000-8000-0000000000e0
race() {  # NODE: whether the opening waited (1) and what it answered
    local i=$1 eraser start out
    on "$i" "SELECT chat.upsert_profile('$EC', 'customer', 'Eve'), chat.upsert_profile('$ES', 'stylist', 'Sam')" >/dev/null \
        || bail "the race's profiles on ${NODES[$i]}"
    PATH=$BINDIR:$PATH psql -X -qAt -h "$WORK/${NODES[$i]}" -p "$(citus_port_of "$i")" -U postgres -d postgres \
        -c "BEGIN" -c "SELECT chat.act_as('$ADMIN')" -c "SELECT count(*) FROM chat.erase_profile('$EC', 'the race')" \
        -c "SELECT pg_sleep(1.2)" -c "COMMIT" >/dev/null 2>>"$WORK/err" &
    eraser=$!
    sleep 0.5
    start=$(date +%s%N)
    out=$(PATH=$BINDIR:$PATH psql -X -qAt -v VERBOSITY=sqlstate -h "$WORK/${NODES[$i]}" -p "$(citus_port_of "$i")" \
              -U postgres -d postgres -c "BEGIN" -c "SELECT chat.act_as('$ES')" \
              -c "SELECT chat.get_or_create_chat('$EC', '$ES') = chat.pair_chat_id('$EC', '$ES')" -c "COMMIT" 2>&1 \
          | grep -v '^$' | grep -v '^COMMIT\|^ROLLBACK' | tail -1)
    echo "$(( ($(date +%s%N) - start) / 1000000 >= 500 )) $out"
    wait "$eraser"
}
is "$(race 3) / $(race 0)" "1 t / 1 t" \
    "a chat opened with a person during their erasure waits for the erasure, on the coordinator as on one server, and then opens"

# ---------------------------------------------------------------------------
# a platform's 1.0 database, updated on the cluster, then distributed
# ---------------------------------------------------------------------------
ondb() {  # ondb NODE SQL: on NODE in database platform
    PATH=$BINDIR:$PATH psql -X -qAt -v ON_ERROR_STOP=1 -h "$WORK/${NODES[$1]}" -p "$(citus_port_of "$1")" \
        -U postgres -d platform -c "$2" 2>>"$WORK/err"
}
for i in 0 1 2; do
    on "$i" "CREATE DATABASE platform" >/dev/null && ondb "$i" "CREATE EXTENSION citus" >/dev/null \
        || bail "database platform on ${NODES[$i]}"
done
ondb 0 "SELECT citus_set_coordinator_host('127.0.0.1', $(citus_port_of 0))" >/dev/null || bail "platform: coordinator host"
for i in 1 2; do
    ondb 0 "SELECT citus_add_node('127.0.0.1', $(citus_port_of "$i"))" >/dev/null || bail "platform: citus_add_node"
done
OC=c9000000-0000-4000-8000-000000000001
OS=5e900000-0000-4000-8000-000000000001
ondb 0 "CREATE EXTENSION stylist_chat VERSION '1.0'" >/dev/null || bail "platform: stylist_chat 1.0"
ondb 0 "SELECT chat.upsert_profile('$OC', 'customer', 'Old customer'), chat.upsert_profile('$OS', 'stylist', 'Old stylist');
        SELECT chat.act_as('$OC');
        SELECT chat.send_message(chat.get_or_create_chat('$OC', '$OS'), 'sent in the 1.0 days')" >/dev/null \
    || bail "platform: the 1.0 data"
OTOKEN=$(ondb 0 "SELECT chat.issue_token('$OC', '1 day')")
ondb 0 "ALTER EXTENSION stylist_chat UPDATE" >/dev/null || fail "ALTER EXTENSION stylist_chat UPDATE on the coordinator"
is "$(ondb 0 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'") $(ondb 1 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'") $(ondb 2 "SELECT extversion FROM pg_extension WHERE extname = 'stylist_chat'")" \
    "$version $version $version" \
    "a 1.0 database on the cluster: ALTER EXTENSION stylist_chat UPDATE on the coordinator updates every node to $version"
is "$(ondb 0 "SELECT citus_table_type, count(*) FROM chat.distribute_tables() GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" "$layout" \
    "... and chat.distribute_tables() then lays it out as a fresh install"
is "$(ondb 0 "SELECT chat.authenticate('$OTOKEN', false); SELECT body FROM chat.history(chat.pair_chat_id('$OC', '$OS'))" | tail -1) / $(ondb 0 "SELECT sum(result::int) FROM run_command_on_shards('chat.chat_messages', 'SELECT count(*) FROM %s')") $(ondb 0 "SELECT pg_relation_size('chat.chat_messages')")" \
    "sent in the 1.0 days / 1 0" \
    "... with the 1.0 data moved to the shards (none left in the coordinator's table): the message, read through the coordinator with the token issued at 1.0"

echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
