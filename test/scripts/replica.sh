#!/usr/bin/env bash
# test/scripts/replica.sh: a streaming replica serves the reads, refuses the
# writes with 25006 and a hint, relays nothing; promoted after the primary
# died mid-stream, it relays, and a client following the protocol ends with
# every message exactly once.
#
# How: a primary (test/lib.sh) and a hot standby made from it with
# pg_basebackup, streaming over the primary's unix socket, made synchronous
# (synchronous_standby_names): a message the relay announces has reached
# the standby's disk, because PostgreSQL shows a committed transaction to
# others only after the synchronous standby confirmed it.  Tests:
#   - the standby streams, synchronously;
#   - as an acting profile, history(), messages_since(), inbox(), search(),
#     gallery() and get_chat() give on the standby what they give on the
#     primary; someone else's chat is 42501 there too, and no actor 28000;
#     a token authenticates there; a single-use login token is 25006;
#   - send_message() (the send in C and, with a reply, the PL/pgSQL one),
#     mark_read(), ack_delivered(), undelivered() and catch_up() fail with
#     25006, a message naming the function and the standby, and a hint;
#   - relay_status() on the standby: no worker, standby true;
#   - failover: test/chat_client.c receives as the stylist, connected with
#     libpq's list of both servers and target_session_attrs=read-write,
#     while another customer sends it 600 messages in bursts of 30 (a transaction
#     each, every message with its client_msg_id, a burst resent whole when
#     it fails: a retry returns the first seq and stores nothing); a third
#     of the way the primary is stopped in immediate mode and the standby
#     promoted (pg_promote()).  The client and the sender find the new
#     primary by themselves; its relay worker starts and relays what is
#     above the watermarks it inherited.  At the end the chat holds exactly
#     600 messages, seq 1 to 600, and the client printed each once and
#     exited 0 (how many catch_up() offered again, which the client drops by
#     (chat, seq), is printed as a diagnostic).
#
# Usage: bash test/scripts/replica.sh [DBNAME] (DBNAME unused).  Both
# servers and every file are removed at the end, whatever the end.
# Output: TAP.  About 30 s.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_replica.XXXXXX)
chmod 755 "$WORK"
STANDBY=$WORK/standby
PORT2=$(( ${STYLIST_CHAT_PORT:-5499} + 1 ))

standby_stop() {
    if [ -f "$STANDBY/data/postmaster.pid" ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$STANDBY/data" -m immediate -w stop >/dev/null 2>&1
    fi
}
cleanup() {
    stop_background
    standby_stop
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/err" 2>/dev/null | tail -5; exit 1; }

echo "1..26"
cluster_start "max_wal_senders = 4" "wal_keep_size = '64MB'" >"$WORK/err" 2>&1 || bail "cannot start a cluster"
trap cleanup EXIT
PRIMARY=$PGHOST
PORT1=$PGPORT

CHAT_CLIENT=$WORK/chat_client
gcc -O2 -Wall -Wextra -Werror -o "$CHAT_CLIENT" test/chat_client.c \
    -I"$("$PG_CONFIG" --includedir)" -L"$("$PG_CONFIG" --libdir)" -lpq 2>>"$WORK/err" \
    || bail "test/chat_client.c does not build"

# p SQL: on the primary; s SQL: on the standby (errors to $WORK/err)
p() { psql -X -qAt -v ON_ERROR_STOP=1 -h "$PRIMARY" -p "$PORT1" -d postgres -c "$1" 2>>"$WORK/err"; }
s() { psql -X -qAt -v ON_ERROR_STOP=1 -h "$STANDBY" -p "$PORT2" -d postgres -c "$1" 2>>"$WORK/err"; }
# s_error SQL: the standby's error, as "SQLSTATE message | hint"
s_error() {
    psql -X -qAt -h "$STANDBY" -p "$PORT2" -d postgres -v VERBOSITY=verbose -c "$1" >/dev/null 2>"$WORK/s_error"
    printf '%s | %s' "$(sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): \(.*\)/\1 \2/p' "$WORK/s_error" | head -1)" \
        "$(sed -n 's/^HINT:  //p' "$WORK/s_error" | head -1)"
}
caught_up() {   # the standby has replayed what the primary wrote
    [ "$(s "SELECT pg_last_wal_replay_lsn() >= '$(p "SELECT pg_current_wal_lsn()")'::pg_lsn")" = t ]
}

CUST=c0000000-0000-4000-8000-000000000001
STYL=5e000000-0000-4000-8000-000000000001
OTHER=c0000000-0000-4000-8000-000000000002
p "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION"
p "SELECT chat.upsert_profile('$CUST', 'customer', 'Ann'), chat.upsert_profile('$STYL', 'stylist', 'Leo'),
          chat.upsert_profile('$OTHER', 'customer', 'Bob')" >/dev/null || bail "profiles"
CHAT=$(p "SELECT chat.act_as('$CUST'); SELECT chat.chat_with('$STYL')" | tail -1)
OTHER_CHAT=$(p "SELECT chat.act_as('$OTHER'); SELECT chat.chat_with('$STYL')" | tail -1)
[ -n "$CHAT" ] && [ -n "$OTHER_CHAT" ] || bail "no chats"

# the standby
mkdir -m 700 "$STANDBY"
[ "$(id -u)" -eq 0 ] && chown postgres: "$STANDBY"
as_pg "$PG_BINDIR/pg_basebackup" -h "$PRIMARY" -p "$PORT1" -U postgres -D "$STANDBY/data" \
    -X stream -R -c fast >>"$WORK/err" 2>&1 || bail "pg_basebackup"
{
    echo "port = $PORT2"
    echo "unix_socket_directories = '$STANDBY'"
    echo "primary_conninfo = 'host=$PRIMARY port=$PORT1 user=postgres application_name=standby1'"
} >>"$STANDBY/data/postgresql.auto.conf"
as_pg "$PG_BINDIR/pg_ctl" -D "$STANDBY/data" -l "$STANDBY/server.log" -w -t 60 start >/dev/null 2>>"$WORK/err" \
    || { cat "$STANDBY/server.log" >>"$WORK/err"; bail "the standby does not start"; }
p "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" >/dev/null
p "SELECT pg_reload_conf()" >/dev/null
sync_streaming() { [ "$(p "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby1' AND state = 'streaming' AND sync_state = 'sync'")" = 1 ]; }
wait_until 30 sync_streaming && pass "the standby streams from the primary, synchronously" \
    || fail "the standby streams from the primary, synchronously"
is "$(s "SELECT pg_is_in_recovery()")" t "... and is in recovery (hot standby)"

# 3-10. the reads (and 11-12 tokens)
p "SELECT chat.act_as('$CUST');
   SELECT chat.send_message('$CHAT', 'Is my appointment on Friday still fine?');
   SELECT chat.send_message('$CHAT', '', attachments => '[{\"storage_key\": \"uploads/ann/hair.jpg\",
       \"content_type\": \"image/jpeg\", \"byte_size\": 1000, \"width\": 10, \"height\": 10}]')" >/dev/null \
    || bail "the first messages"
p "SELECT chat.act_as('$STYL'); SELECT chat.send_message('$CHAT', 'Friday at 3 is fine, see you')" >/dev/null
wait_until 10 caught_up || bail "the standby does not catch up"
for call in "SELECT * FROM chat.history('$CHAT')" \
            "SELECT * FROM chat.messages_since('$CHAT', 0)" \
            "SELECT * FROM chat.inbox()" \
            "SELECT * FROM chat.search('$CHAT', 'appointment')" \
            "SELECT * FROM chat.gallery('$CHAT')" \
            "SELECT * FROM chat.get_chat('$CHAT')"; do
    on_primary=$(p "SELECT chat.act_as('$CUST'); $call")
    on_standby=$(s "SELECT chat.act_as('$CUST'); $call")
    if [ -n "$on_primary" ] && [ "$on_primary" = "$on_standby" ]; then
        pass "on the standby as on the primary: ${call#SELECT * FROM chat.}"
    else
        fail "on the standby as on the primary: ${call#SELECT * FROM chat.}"
        echo "#   primary: $(echo "$on_primary" | head -c 300)"; echo "#   standby: $(echo "$on_standby" | head -c 300)"
    fi
done
is "$(s_error "SELECT chat.act_as('$OTHER'); SELECT * FROM chat.history('$CHAT')" | cut -c1-5)" 42501 \
    "someone else's chat on the standby: 42501"
is "$(s_error "SELECT * FROM chat.history('$CHAT')" | cut -c1-5)" 28000 "no actor on the standby: 28000"

# tokens: a multi-use token acts on the standby; a single-use one is
# spent on the primary
TOKEN=$(p "SELECT chat.issue_token('$CUST')")
is "$(s "SELECT chat.authenticate('$TOKEN'); SELECT count(*) FROM chat.history('$CHAT')" | tail -1)" 3 \
    "authenticate() with a token on the standby, then history(): 3 messages"
LOGIN=$(p "SELECT chat.issue_login_token('$CUST')")
is "$(s_error "SELECT chat.authenticate('$LOGIN')" | sed 's/ | .*//')" \
    "25006 chat.authenticate() writes, and this server is a standby" \
    "a single-use login token on the standby: 25006 (it is spent on the primary)"

# 13-18. the writes
HINT="Call it on the primary. A standby serves the reads: history(), messages_since(), inbox(), search(), gallery(), get_chat() and the like."
is "$(s_error "SELECT chat.act_as('$CUST'); SELECT chat.send_message('$CHAT', 'hello?')")" \
    "25006 chat.send_message() writes, and this server is a standby | $HINT" \
    "send_message on the standby: 25006, the function named, the hint"
is "$(s_error "SELECT chat.act_as('$CUST'); SELECT chat.send_message('$CHAT', 'a reply', reply_to_seq => 1)" | sed 's/ | .*//')" \
    "25006 chat.send_message() writes, and this server is a standby" "... a reply (the PL/pgSQL send) too"
for call in "mark_read('$CHAT')" "ack_delivered('$CHAT', 3)" "undelivered()" "catch_up()"; do
    fn=${call%%(*}
    is "$(s_error "SELECT chat.act_as('$STYL'); SELECT * FROM chat.$call")" \
        "25006 chat.$fn() writes, and this server is a standby | $HINT" "$fn on the standby: 25006"
done

# 19-20. no relaying on the standby
is "$(s "SELECT running::text || ' ' || standby::text FROM chat.relay_status()" 2>/dev/null)" "false true" \
    "relay_status() on the standby: no worker, standby"
grep -q "this server is a standby: nothing is relayed here" < <(psql -X -qAt -h "$STANDBY" -p "$PORT2" -d postgres \
    -c "SELECT 1 FROM chat.relay_status()" 2>&1) && pass "... and a NOTICE says so" || fail "... and a NOTICE says so"

# 21-26. failover mid-stream
# the client and the sender: libpq's list of both servers, the writable one
BOTH=(env PGHOST="$PRIMARY,$STANDBY" PGPORT="$PORT1,$PORT2" PGTARGETSESSIONATTRS=read-write)
N=600
BURST=30
# what was sent to the stylist so far is delivered: the client gets the 600
p "SELECT chat.act_as('$STYL'); SELECT count(*) FROM chat.undelivered()" >/dev/null
PGAPPNAME=chat_client "${BOTH[@]}" "$CHAT_CLIENT" -d postgres -p "$STYL" -n "$N" -t 120 \
    >"$WORK/client.out" 2>"$WORK/client.err" &
CLIENT=$!
BGPIDS+=("$CLIENT")
client_connected() { [ "$(p "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chat_client'")" -ge 1 ]; }
wait_until 10 client_connected || bail "the chat client did not connect"
sender() {
    local b i sql
    for ((b = 0; b < N / BURST; b++)); do
        sql="BEGIN; SELECT chat.act_as('$OTHER');"
        for ((i = b * BURST + 1; i <= (b + 1) * BURST; i++)); do
            sql+=" SELECT chat.send_message('$OTHER_CHAT', 'message $i', client_msg_id => '$(printf 'aaaaaaaa-0000-4000-8000-%012d' "$i")');"
        done
        sql+=" COMMIT;"
        until "${BOTH[@]}" psql -X -qAt -v ON_ERROR_STOP=1 -d postgres -c "$sql" >/dev/null 2>>"$WORK/sender.err"; do
            echo retry >>"$WORK/sender.retries"
            sleep 0.2
        done
    done
}
sender &
SENDER=$!
BGPIDS+=("$SENDER")
a_third() { [ "$(p "SELECT count(*) FROM chat.chat_messages WHERE chat_id = '$OTHER_CHAT'" 2>/dev/null || echo 0)" -ge $((N / 3)) ]; }
wait_until 60 a_third || bail "the sender did not get a third of the way"
as_pg "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1
is "$(s "SELECT pg_promote()")" t "the primary stopped in immediate mode a third of the way, the standby promoted"
wait "$SENDER"
is "$(s "SELECT count(*) || ' ' || count(DISTINCT client_msg_id) || ' ' || min(seq) || ' ' || max(seq)
          FROM chat.chat_messages WHERE chat_id = '$OTHER_CHAT'")" "$N $N 1 $N" \
    "the new primary holds the 600 messages once each, seq 1 to 600 ($(wc -l <"$WORK/sender.retries" 2>/dev/null || echo 0) bursts resent)"
running() { [ "$(s "SELECT running FROM chat.relay_status()" 2>/dev/null)" = t ]; }
wait_until 20 running && pass "the new primary's relay worker runs" || fail "the new primary's relay worker runs"
if wait "$CLIENT"; then pass "the client received every message and exited 0"; else fail "the client received every message and exited 0"; fi
is "$(grep -c "^message chat=$OTHER_CHAT " "$WORK/client.out")/$(grep "^message chat=$OTHER_CHAT " "$WORK/client.out" | sed -n 's/.* seq=\([0-9]*\) .*/\1/p' | sort -nu | wc -l)" \
    "$N/$N" "... 600 lines of the chat, 600 distinct seqs: each message printed once"
is "$(grep "^message chat=$OTHER_CHAT " "$WORK/client.out" | sed -n 's/.* seq=\([0-9]*\) .*/\1/p' | sort -n | sed -n '1p;$p' | tr '\n' ' ')" \
    "1 $N " "... seq 1 to 600"
echo "# catch_up offered again: $(sed -n 's/^chat_client: \([0-9]*\) messages offered again$/\1/p' "$WORK/client.err" | tail -1)"
echo "# client reconnections: $(grep -ci 'reconnect' "$WORK/client.err")"

[ "$failed" -eq 0 ]
