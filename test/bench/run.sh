#!/usr/bin/env bash
# test/bench/run.sh: throughput, latency, scaling and memory figures of
# stylist_chat (make bench).  Not a test: it asserts no timing; it prints
# one table and, for each target, MET or MISSED.
#
# One run, one throwaway cluster (test/lib.sh) with fsync on and the default
# synchronous_commit (on), in database postgres (the one the relay worker
# serves), on unix sockets only.  Figures are medians of 3 runs; the
# variants being compared run interleaved, so that a noisy machine affects
# them alike and their ratios stay meaningful.
#
#   1. Send throughput at 1, 8 and 32 concurrent senders, each in its own
#      chat, with pgbench (-n -M prepared -j 2 -T 10), for
#        a. chat.send_message, the relay running and test/bench/listener.c
#           consuming the notifications on an admin's channel (every chat's
#           events): send.sql;
#        b. the naive design: an INSERT of a row of the same size with an
#           AFTER INSERT trigger calling pg_notify, and a listener: naive.sql;
#        c. a bare INSERT of that row into a plain table: bare.sql;
#        d. the same send as a, through chat._send_message_sql(), the
#           PL/pgSQL send that src/send_path.c replaces for a plain text
#           message (send_sqlpath.sql): what the send in C saves.
#      Each listener's count is checked against the rows written.  Also the
#      CPU time the whole cluster spends per message (from /proc: the
#      postmaster, its children, and the children it reaped), and the relay
#      worker's share of it: on a 2-core machine 32 senders saturate the
#      CPU, so throughput ratios follow these costs.
#   2. Delivery latency, commit to listener receipt (test/bench/latency.c):
#      4 senders paced at 250 messages/s each (1,000/s), and 16 senders
#      flat out, for 10 s each.
#   3. Long histories and big inboxes, bulk-loaded (history_load.sql): a
#      page of chat.history() at the newest end and in the middle of a chat
#      of 1,000 and of 1,000,000 messages, and chat.inbox() (whole, its
#      first page of 50, and the page after the 5th or 5,000th chat; and
#      pages of 10, which both return whole) of a stylist with 10 and with
#      10,000 chats; chat.admin_inbox(50) and (10), first
#      page and after the 50,000th chat, with 100,000 chats on the platform
#      (90,000 more loaded without messages); chat.undelivered() of each
#      stylist, caught up once and then given news in 5 chats (each call
#      rolled back, bench.undelivered_rolled_back, so that every call finds
#      the same 5): the time of one call (a loop inside
#      the server, bench.time_query) and the shared buffers it touches
#      (EXPLAIN (ANALYZE, BUFFERS), whose Function Scan counts the buffers
#      of the function's own queries), each on a warm cache.
#   4. The relay worker's memory (/proc/PID/status) before and after it
#      relays 1,000,000 more message events (pgbench, 32 senders in 32
#      chats, a listener consuming), once the queue and backlog are empty.
#
#   5. Search (chat.search, chat.search_all), on the same bulk-loaded chats,
#      a few of whose messages get a rarer word: one call in the chat of
#      1,000 and of 1,000,000 messages for a word in every message
#      ('appointment') and for one in every 10,000th ('shampoo'), and
#      search_all of the stylists of 10 and of 10,000 chats, for a word of
#      theirs ('friday') and for one in the 1,000,000 messages of others'
#      chats and none of theirs ('appointment'); then what the
#      search index costs the send path: the send benchmark of part 1 (8
#      senders) with the index, then after DROP INDEX, in one run.
#
#   6. What the relay worker's bookkeeping of each message costs the send
#      path (src/relay_note.c: offline notifications, KPI rollups): the
#      send benchmark of part 1 at 1 and 32 senders, a listener consuming,
#      with stylist_chat.notifications and stylist_chat.kpis both on,
#      each alone, and both off, interleaved (ALTER SYSTEM and a reload
#      between runs); messages/s, the cluster's CPU per message and the
#      relay worker's share of it.
#
#   7. The KPIs (chat.kpis, chat.stylist_kpis) on a platform's history, in
#      a database of its own (kpi_bench, which the relay worker does not
#      serve): KPI_CHATS chats (default 100,000) of KPI_CUSTOMERS customers
#      and KPI_STYLISTS stylists, KPI_MESSAGES participant messages (default
#      10,000,000) over the 12 months ending this month and KPI_BOOKINGS
#      bookings (default 3 a chat), each with its booking card, bulk-loaded
#      by direct INSERTs (kpi_load.sql; without the search index); the
#      rollups computed by one chat._rebuild_kpis() (its time and
#      messages/s); then, as an admin, 9 calls (after an untimed one) of
#      kpis() and of stylist_kpis() for the stylist with the most chats, for
#      the last full month and for the 90 days ending with it: median and
#      max against the target (< 100 ms); the blocks of chat_messages the
#      calls read (pg_statio_user_tables before and after: 0 when they read
#      no message row); the rollups' sizes against chat_messages'; and the
#      month's figures.
#
#   8. The migration of a booking-based chat (chat.consolidate_legacy), in
#      a database of its own (migration_bench): MIG_MESSAGES legacy
#      messages (default 1,000,000) of MIG_PAIRS pairs (default 50,000),
#      two booking threads a pair, one message in ten with an image, one
#      pair in ten already talking in its chat (legacy_load.sql); the dry
#      run, then the import in batches of 10,000: its time and messages/s,
#      and each batch's time (the longest a chat's sender can wait); then
#      the same rows put into a copy of chat_messages (its indexes,
#      without checks, images or bookkeeping) by one INSERT ... SELECT, the
#      fastest they could go in: the import's rate against it.
#
#   9. What the filter of contact details costs a send: the send benchmark
#      of part 1 at 1 and 32 senders, a listener consuming, without a rule
#      and with a realistic set of five (phone numbers and e-mail addresses
#      masked, social handles masked, payment handles flagged, IBANs held),
#      for messages they do not match (send.sql) and for messages with a
#      phone number (send_contact.sql: masked, recorded), interleaved; and
#      the one question the send path asks without a rule (is there one?),
#      timed alone in the server.
#
#  10. The WebSocket gateway (gateway/): 1,000 clients on loopback (the load
#      client test/gateway/load.js, Node.js), one a profile, 500 customers
#      and 500 stylists in 500 chats; the gateway's memory before and after
#      they connect and authenticate, idle (per connection); then 1,000
#      messages/s for 30 s sent through the gateway, spread over the
#      chats: from each send request to the other participant's event
#      frame, p50/p99/max (an upper bound of commit to frame: it includes
#      the send's own transaction), every message at the other participant
#      exactly once, the gateway's CPU per message, and the most database
#      connections it held (pg_stat_activity, sampled).
#
# About 37 minutes on a 2-core machine.  BENCH_ONLY=send runs parts 1 and
# 2 alone (about 7 minutes); BENCH_ONLY=inbox the bulk load and part 3
# (about 3 minutes); BENCH_ONLY=search runs the bulk
# load and part 5 alone (a few minutes), for work on search;
# BENCH_ONLY=bookkeeping part 6 alone (about 5 minutes); BENCH_ONLY=kpis
# part 7 alone (about 10 minutes, most of it chat._rebuild_kpis(); with
# KPI_CHATS=10000 KPI_MESSAGES=1000000, about a minute); BENCH_ONLY=migration
# part 8 alone (about 5 minutes); BENCH_ONLY=filter part 9 alone (about 5
# minutes); BENCH_ONLY=gateway part 10 alone (about 2 minutes).
#
#  11. Optional: send throughput on one server against a Citus coordinator
#      and two workers on the same machine (test/bench/citus.sh, as root;
#      about 4 minutes): BENCH_ONLY=citus alone, or BENCH_CITUS=1 after
#      the other parts.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BENCH=$ROOT/test/bench
T_START=$(date +%s)

bash test/deps.sh || exit 1
source test/lib.sh

DB=postgres
ONLY=${BENCH_ONLY:-}
case $ONLY in ''|send|inbox|search|bookkeeping|kpis|migration|filter|gateway) ;;
    citus) exec bash "$BENCH/citus.sh" ;;
    *) echo "bench: BENCH_ONLY is empty, send, inbox, search, bookkeeping, kpis, migration, filter, gateway or citus, not $ONLY" >&2; exit 2 ;; esac
# part PART: whether this run does it
part() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
ADMIN=ad000000-0000-4000-8000-000000000001
STYLIST=5e000000-0000-4000-8000-000000000001
RUNS=3
SECS=10
MEM_EVENTS=1000000     # a multiple of 32
CONCURRENCY="1 8 32"
KPI_CHATS=${KPI_CHATS:-100000}
KPI_MESSAGES=${KPI_MESSAGES:-10000000}
KPI_BOOKINGS=${KPI_BOOKINGS:-$((KPI_CHATS * 3))}
KPI_CUSTOMERS=${KPI_CUSTOMERS:-$(((KPI_CHATS * 3 + 4) / 5))}
KPI_STYLISTS=${KPI_STYLISTS:-$(((KPI_CHATS + 49) / 50))}

WORK=
LISTENER_PID=
GATEWAY_PID=
cleanup() {
    if [ -n "$GATEWAY_PID" ]; then
        kill "$GATEWAY_PID" 2>/dev/null
        wait "$GATEWAY_PID" 2>/dev/null
    fi
    if [ -n "$LISTENER_PID" ]; then
        kill "$LISTENER_PID" 2>/dev/null
        wait "$LISTENER_PID" 2>/dev/null
    fi
    [ -n "$WORK" ] && rm -rf "$WORK"
    cluster_stop
}
die() {
    echo "bench: $*" >&2
    [ -n "${CLUSTER_DIR:-}" ] && [ -f "$CLUSTER_DIR/server.log" ] && tail -20 "$CLUSTER_DIR/server.log" >&2
    exit 1
}

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
# ratio A B: A/B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# verdict VALUE OP LIMIT: MET or MISSED
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? (v >= l) : (op == "<=") ? (v <= l) : (v < l)
    print (v != "n/a" && ok) ? "MET" : "MISSED" }'; }

echo "== build"
build_and_install || die "the extension does not build"
WORK=$(mktemp -d /tmp/stylist_chat_bench.XXXXXX)
chmod 755 "$WORK"
for prog in listener latency; do
    gcc -O2 -Wall -Wextra -Werror -I"$("$PG_CONFIG" --includedir)" -o "$WORK/$prog" \
        "$BENCH/$prog.c" -L"$("$PG_CONFIG" --libdir)" -lpq -lpthread || die "$prog.c does not build"
done

echo "== cluster"
cluster_start "fsync = on" "max_connections = 200" || die "the cluster does not start"
trap cleanup EXIT
q -c "CREATE EXTENSION stylist_chat" >/dev/null || die "CREATE EXTENSION failed"
q -f "$BENCH/setup.sql" >/dev/null || die "setup.sql failed"
CHANNEL=$(q -c "SELECT chat.act_as('$ADMIN', true)" -c "SELECT chat.listen_channel()" | tail -1)
[ -n "$CHANNEL" ] || die "no admin channel"

# the pgbench send script must send, as the customer, into its chat
pgbench -n -M prepared -c 1 -t 1 -f "$BENCH/send.sql" "$DB" >"$WORK/check.out" 2>&1 ||
    { cat "$WORK/check.out"; die "send.sql does not run"; }
[ "$(q -c "SELECT count(*) FROM chat.chat_messages WHERE sender_id = 'c0000000-0000-4000-8000-000000000000'")" = 1 ] ||
    die "send.sql did not store exactly one message of customer 0"

relay_pid() { q -c "SELECT pid FROM chat.relay_status()"; }
# the relay worker's CPU time so far, in clock ticks
relay_ticks() { awk '{ print $14 + $15 }' "/proc/$(relay_pid)/stat"; }
# the CPU time used so far by the whole cluster, in clock ticks: the
# postmaster, its live children (backends, the relay worker, ...) and the
# children it has reaped (backends that have exited)
cluster_ticks() {
    local pm
    pm=$(head -1 "$CLUSTER_DIR/data/postmaster.pid")
    {
        awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
        for child in $(cat "/proc/$pm/task/$pm/children"); do
            awk '{ print $14 + $15 }' "/proc/$child/stat" 2>/dev/null
        done
    } | awk '{ s += $1 } END { print s }'
}
HZ=$(getconf CLK_TCK)
# us_per TICKS COUNT: microseconds of CPU per item
us_per() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print 0 }'; }
# wait until the relay has nothing queued and nothing unrelayed (up to 120 s)
wait_drained() {
    local _
    for _ in $(seq 1200); do
        [ "$(q -c "SELECT queued = 0 AND backlog = 0 FROM chat.relay_status()")" = t ] && return 0
        sleep 0.1
    done
    return 1
}
start_listener() {
    "$WORK/listener" "$DB" "$1" 3600 >"$WORK/listener.out" 2>&1 &
    LISTENER_PID=$!
    local _
    for _ in $(seq 100); do
        grep -q '^listening' "$WORK/listener.out" && return 0
        kill -0 "$LISTENER_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/listener.out" >&2
    die "the listener did not start"
}
# stop_listener: it drains what is on its way, and its count goes in RECEIVED
stop_listener() {
    kill -TERM "$LISTENER_PID"
    wait "$LISTENER_PID"
    LISTENER_PID=
    RECEIVED=$(sed -n 's/^received //p' "$WORK/listener.out")
}
# messages written so far by each variant
rows_written() {
    case $1 in
        send|send_sqlpath) q -c "SELECT sum(last_seq) FROM chat.chats WHERE customer_id::text LIKE 'c0000000-%'" ;;
        naive) q -c "SELECT count(*) FROM bench.naive_messages" ;;
        bare) q -c "SELECT count(*) FROM bench.bare_messages" ;;
    esac
}
# pgbench_tps VARIANT CLIENTS: one timed run; prints tps
pgbench_tps() {
    local j=2
    [ "$2" -lt 2 ] && j=1
    pgbench -n -M prepared -c "$2" -j "$j" -T "$SECS" -f "$BENCH/$1.sql" "$DB" >"$WORK/pgbench.out" 2>&1 ||
        { cat "$WORK/pgbench.out" >&2; die "pgbench $1 -c $2 failed"; }
    grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.out" ||
        { cat "$WORK/pgbench.out" >&2; die "pgbench $1 -c $2 had failed transactions"; }
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out"
}

DELIVERY_PROBLEMS=()
RSS_COLD=$(grep VmRSS "/proc/$(relay_pid)/status" | awk '{ print $2 }')

#
# 1. Send throughput
#
if part send; then
echo "== 1. send throughput: ${RUNS} x {send_message, naive trigger, bare INSERT, PL/pgSQL send} x {$CONCURRENCY} senders x ${SECS} s"
declare -A TPS CPU
# the relay learns of new admins within a second: let it, and let it relay
# the setup's events, before anybody listens
sleep 1.5
wait_drained || die "the relay did not drain the setup's events"
for run in $(seq "$RUNS"); do
    for c in $CONCURRENCY; do
        for v in send naive bare send_sqlpath; do
            before=$(rows_written "$v")
            case $v in
                send|send_sqlpath) start_listener "$CHANNEL" ;;
                naive) start_listener bench_naive ;;
            esac
            ticks=$(cluster_ticks)
            relay=$(relay_ticks)
            tps=$(pgbench_tps "$v" "$c")
            if [ "$v" = send ] || [ "$v" = send_sqlpath ]; then
                wait_drained || die "the relay did not drain its backlog within 120 s"
            fi
            written=$(($(rows_written "$v") - before))
            if [ "$v" != bare ]; then
                stop_listener
                [ "$RECEIVED" = "$written" ] ||
                    DELIVERY_PROBLEMS+=("$v, $c senders, run $run: $written messages written, $RECEIVED notifications received")
            fi
            sleep 0.2   # the postmaster reaps the pgbench backends
            CPU[$v,$c]+="$(us_per $(($(cluster_ticks) - ticks)) "$written") "
            [ "$v" = send ] && CPU[relay,$c]+="$(us_per $(($(relay_ticks) - relay)) "$written") "
            [ "$v" = send_sqlpath ] && CPU[relay_sql,$c]+="$(us_per $(($(relay_ticks) - relay)) "$written") "
            TPS[$v,$c]+="$tps "
            printf '   run %d, %2d senders, %-12s %8.0f messages/s\n' "$run" "$c" "$v" "$tps"
        done
    done
done

#
# 2. Delivery latency
#
echo "== 2. delivery latency: ${RUNS} x {1,000/s paced, saturation} x ${SECS} s"
declare -A LAT
for run in $(seq "$RUNS"); do
    for load in fixed sat; do
        wait_drained || die "the relay did not drain its backlog"
        if [ "$load" = fixed ]; then args="4 250"; else args="16 0"; fi
        # shellcheck disable=SC2086
        out=$("$WORK/latency" "$DB" $args "$SECS") || die "latency $args failed"
        echo "   run $run, $load: $out"
        set -- $out
        # sent N received N missing N rate R p50 X p99 X max X
        LAT[$load,rate]+="$8 "; LAT[$load,p50]+="${10} "; LAT[$load,p99]+="${12} "
        LAT[$load,max]+="${14} "; LAT[$load,missing]+="$6 "
    done
done

fi   # parts 1 and 2

#
# 6. Bookkeeping on the send path (before the bulk load: the same chats
#    and tables as part 1)
#
declare -A BTPS BCPU BRELAY
BK_MODES="both notifications kpis none"
bookkeeping() { # MODE: the settings of that mode, reloaded
    local n=off k=off
    case $1 in both) n=on k=on ;; notifications) n=on ;; kpis) k=on ;; esac
    # the messages of the runs with the KPIs off count as counted: a run
    # measures keeping the KPIs, not catching up on what the runs before
    # it sent (which the first message of each chat would read back)
    [ "$k" = on ] && { q -c "INSERT INTO chat.kpi_chats AS k (chat_id, stylist_id, noted_seq, first_message_at,
                                                            last_message_at, waiting_side, waiting_since)
                            SELECT chat_id, stylist_id, last_seq, now(), now(), 'customer', now() FROM chat.chats
                            ON CONFLICT (chat_id) DO UPDATE SET noted_seq = excluded.noted_seq" >/dev/null \
                         || die "cannot mark the messages counted"; }
    q -c "ALTER SYSTEM SET stylist_chat.notifications = $n" -c "ALTER SYSTEM SET stylist_chat.kpis = $k" \
      -c "SELECT pg_reload_conf()" >/dev/null || die "cannot set the bookkeeping to $1"
    sleep 0.5   # the relay worker reloads its settings when it wakes
}
if part bookkeeping; then
echo "== 6. bookkeeping: ${RUNS} x {$BK_MODES} x {1, 32} senders x ${SECS} s"
sleep 1.5
wait_drained || die "the relay did not drain the setup's events"
for run in $(seq "$RUNS"); do
    for c in 1 32; do
        for mode in $BK_MODES; do
            bookkeeping "$mode"
            before=$(rows_written send)
            start_listener "$CHANNEL"
            ticks=$(cluster_ticks)
            relay=$(relay_ticks)
            tps=$(pgbench_tps send "$c")
            wait_drained || die "the relay did not drain its backlog within 120 s"
            written=$(($(rows_written send) - before))
            stop_listener
            [ "$RECEIVED" = "$written" ] ||
                DELIVERY_PROBLEMS+=("send ($mode bookkeeping), $c senders, run $run: $written messages written, $RECEIVED notifications received")
            sleep 0.2
            BCPU[$mode,$c]+="$(us_per $(($(cluster_ticks) - ticks)) "$written") "
            BRELAY[$mode,$c]+="$(us_per $(($(relay_ticks) - relay)) "$written") "
            BTPS[$mode,$c]+="$tps "
            printf '   run %d, %2d senders, bookkeeping %-13s %8.0f messages/s\n' "$run" "$c" "$mode" "$tps"
        done
    done
done
bookkeeping both
fi   # part 6

#
# 9. The filter of contact details on the send path (the same chats)
#
declare -A FTPS FCPU
F_MODES="none rules contact"
filter_rules() { # on|off: the realistic set of rules, or none
    if [ "$1" = on ]; then
        q -c "BEGIN" -c "SELECT chat.act_as('$ADMIN')" \
          -c "SELECT chat.add_filter_rule('phone', '(\+|00)?[0-9][0-9 ./-]{6,}[0-9]', 'mask')" \
          -c "SELECT chat.add_filter_rule('email', '(?i)[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}', 'mask')" \
          -c "SELECT chat.add_filter_rule('social', '(?i)\m(instagram|insta|ig|snap|telegram|whatsapp)\M[: ]*@?[a-z0-9._]{3,}', 'mask')" \
          -c "SELECT chat.add_filter_rule('payment', '(?i)paypal(\.me)?|venmo|revolut|cash ?app', 'flag')" \
          -c "SELECT chat.add_filter_rule('iban', '(?i)\m[a-z]{2}[0-9]{2}( ?[a-z0-9]{4}){3,7}', 'hold')" \
          -c "COMMIT" >/dev/null || die "cannot add the filter rules"
    else
        q -c "DELETE FROM chat.filter_rules" >/dev/null || die "cannot remove the filter rules"
    fi
}
if part filter; then
echo "== 9. filter: ${RUNS} x {$F_MODES} x {1, 32} senders x ${SECS} s"
sleep 1.5
wait_drained || die "the relay did not drain the setup's events"
for run in $(seq "$RUNS"); do
    for c in 1 32; do
        for mode in $F_MODES; do
            script=send
            case $mode in none) filter_rules off ;; rules) filter_rules on ;; contact) script=send_contact ;; esac
            before=$(rows_written send)
            start_listener "$CHANNEL"
            ticks=$(cluster_ticks)
            tps=$(pgbench_tps "$script" "$c")
            wait_drained || die "the relay did not drain its backlog within 120 s"
            written=$(($(rows_written send) - before))
            stop_listener
            [ "$RECEIVED" = "$written" ] ||
                DELIVERY_PROBLEMS+=("send (filter $mode), $c senders, run $run: $written messages written, $RECEIVED notifications received")
            sleep 0.2
            FCPU[$mode,$c]+="$(us_per $(($(cluster_ticks) - ticks)) "$written") "
            FTPS[$mode,$c]+="$tps "
            printf '   run %d, %2d senders, filter %-8s %8.0f messages/s\n' "$run" "$c" "$mode" "$tps"
        done
    done
done
filter_rules off
FMASKED=$(q -c "SELECT count(*) FROM chat.filtered_messages")
# the question without a rule, 100,000 times in a loop of the server's
FCHECK=$(q -c "DO \$\$
DECLARE t0 timestamptz := clock_timestamp(); n integer := 0;
BEGIN
    FOR i IN 1..100000 LOOP
        IF EXISTS (SELECT FROM chat.filter_rules) THEN n := n + 1; END IF;
    END LOOP;
    RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / 100000, 2);
END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')
FLOOP=$(q -c "DO \$\$
DECLARE t0 timestamptz := clock_timestamp(); n integer := 0;
BEGIN
    FOR i IN 1..100000 LOOP
        IF n < 0 THEN n := n + 1; END IF;
    END LOOP;
    RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / 100000, 2);
END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p')
fi   # part 9

#
# 10. The WebSocket gateway
#
if part gateway; then
echo "== 10. gateway: 1,000 clients, 500 chats, 1,000 messages/s for 30 s"
make -s gateway PG_CONFIG="$PG_CONFIG" || die "the gateway does not build"
if [ ! -d test/gateway/node_modules ]; then
    (cd test/gateway && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in test/gateway"
fi
q -c "CREATE ROLE bench_gateway LOGIN IN ROLE chat_user" >/dev/null
q -c "SELECT count(chat.upsert_profile(('e1' || lpad(i::text, 6, '0') || '-0000-4000-8000-000000000000')::uuid,
                                      'customer', 'Load customer ' || i)),
             count(chat.upsert_profile(('e5' || lpad(i::text, 6, '0') || '-0000-4000-8000-000000000000')::uuid,
                                      'stylist', 'Load stylist ' || i))
        FROM generate_series(1, 500) i" >/dev/null || die "cannot make the load profiles"
q -c "DO \$\$ DECLARE i int; BEGIN
        FOR i IN 1..500 LOOP
          PERFORM chat.act_as(('e1' || lpad(i::text, 6, '0') || '-0000-4000-8000-000000000000')::uuid);
          PERFORM chat.chat_with(('e5' || lpad(i::text, 6, '0') || '-0000-4000-8000-000000000000')::uuid);
          PERFORM chat.reset_actor();
        END LOOP; END \$\$" >/dev/null || die "cannot open the load chats"
q -c "SELECT p.id || ' ' || chat.issue_token(p.id, interval '2 hours') FROM chat.profiles p
       WHERE p.display_name LIKE 'Load %' ORDER BY p.id" >"$WORK/load_profiles"
q -c "SELECT c.chat_id || ' ' || c.customer_id || ' ' || c.stylist_id FROM chat.chats c
        JOIN chat.profiles p ON p.id = c.customer_id WHERE p.display_name LIKE 'Load %'" >"$WORK/load_chats"
GW_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
gateway/stylist_chat_gateway --port "$GW_PORT" --pool "${GATEWAY_POOL:-4}" \
    --db "host=$PGHOST port=$PGPORT dbname=$DB user=bench_gateway" \
    --origin "http://127.0.0.1:$GW_PORT" 2>"$WORK/gateway.log" &
GATEWAY_PID=$!
for _ in $(seq 100); do
    grep -q 'database connection -1 open' "$WORK/gateway.log" && break
    sleep 0.05
done
# the most database connections the gateway holds, sampled every 0.2 s
(while kill -0 "$GATEWAY_PID" 2>/dev/null; do
    q -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench_gateway'"
    sleep 0.2
 done) >"$WORK/gateway_conns" 2>/dev/null &
SAMPLER_PID=$!
GATEWAY_URL=ws://127.0.0.1:$GW_PORT/ws GATEWAY_ORIGIN=http://127.0.0.1:$GW_PORT GATEWAY_PID=$GATEWAY_PID \
    PROFILES=$WORK/load_profiles CHATS=$WORK/load_chats RATE=1000 SECS=30 \
    NODE_PATH=$ROOT/test/gateway/node_modules timeout 300 node test/gateway/load.js >"$WORK/load.out" 2>&1 ||
    { cat "$WORK/load.out" >&2; tail -20 "$WORK/gateway.log" >&2; die "the gateway load failed"; }
kill "$GATEWAY_PID" 2>/dev/null
wait "$GATEWAY_PID" 2>/dev/null
GATEWAY_PID=
wait "$SAMPLER_PID" 2>/dev/null
declare -A G
while read -r name value; do G[$name]=$value; done <"$WORK/load.out"
G[db_max]=$(sort -n "$WORK/gateway_conns" | tail -1)
fi   # part 10

if part search || part inbox; then
#
# 3. Long histories and big inboxes
#

echo "== 3. long histories and big inboxes: bulk load"
q -f "$BENCH/history_load.sql" >/dev/null || die "history_load.sql failed"
wait_drained || die "the relay reports a backlog after the bulk load"
chat_of() { q -c "SELECT chat.pair_chat_id('c1000000-0000-4000-8000-$(printf %012d "$1")', '$STYLIST')"; }
C1K=$(chat_of 1000)
C1M=$(chat_of 1000000)
S10=5e100000-0000-4000-8000-000000000010
S10K=5e100000-0000-4000-8000-000000010000
# measure ACTOR CALL: "ms buffers" (buffers from the second EXPLAIN of the
# session, when plans are cached; time from a 1-second loop in the server)
measure() {
    local out ms buf
    out=$(q -c "SELECT chat.act_as('$1', true)" \
            -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) SELECT * FROM $2" \
            -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) SELECT * FROM $2" \
            -c "SELECT 'time=' || bench.time_query(\$q\$SELECT count(*) FROM $2\$q\$, 1)") ||
        die "measuring $2 failed"
    buf=$(echo "$out" | grep -E '^ *Buffers: shared' | tail -1 |
          awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^(hit|read)=/) { split($i, a, "="); n += a[2] } print n }')
    ms=$(echo "$out" | sed -n 's/^time=//p')
    echo "$ms $buf"
}
declare -A H
# m3 NAME SIZE ACTOR CALL: one measurement into H
m3() {
    local ms buf
    read -r ms buf <<<"$(measure "$3" "$4")"
    H[$1,$2,ms]+="$ms "
    H[$1,$2,buf]+="$buf "
}
if part inbox; then
    # undelivered(): each stylist is caught up once (that call reads every
    # chat), then 5 of their chats get a message
    for s in "$S10" "$S10K"; do
        q -c "SELECT chat.act_as('$s', true)" -c "SELECT count(*) FROM chat.undelivered(1000)" >/dev/null ||
            die "undelivered() failed"
    done
    for i in 1 2 3 4 5 11 12 13 14 15; do
        c=c2000000-0000-4000-8000-$(printf %012d "$i")
        s=$S10; [ "$i" -gt 10 ] && s=$S10K
        q -c "SELECT chat.act_as('$c', true)" \
          -c "SELECT chat.send_message(chat.pair_chat_id('$c', '$s'), 'Is Friday still fine?')" >/dev/null ||
            die "cannot send the news"
    done
    # the page after the Nth chat: "before_activity, before_chat_id"
    after() {
        q -c "SELECT chat.act_as('$1', true)" \
          -c "SELECT format('%L, %L', activity_at, chat_id) FROM chat.inbox() OFFSET $(($2 - 1)) LIMIT 1" | tail -1
    }
    P10=$(after "$S10" 5)
    P10K=$(after "$S10K" 5000)
    PADM=$(q -c "SELECT format('%L, %L', coalesce(last_message_at, created_at), chat_id) FROM chat.chats
                  ORDER BY coalesce(last_message_at, created_at) DESC, chat_id OFFSET 49999 LIMIT 1")
    NCHATS=$(q -c "SELECT count(*) FROM chat.chats")
fi
part inbox && echo "== 3. timing: ${RUNS} x 18 calls"
part inbox && for run in $(seq "$RUNS"); do
    m3 new 1k "$STYLIST" "chat.history('$C1K', NULL, 50)"
    m3 new 1m "$STYLIST" "chat.history('$C1M', NULL, 50)"
    m3 mid 1k "$STYLIST" "chat.history('$C1K', 500, 50)"
    m3 mid 1m "$STYLIST" "chat.history('$C1M', 500000, 50)"
    m3 inbox 10 "$S10" "chat.inbox()"
    m3 inbox 10k "$S10K" "chat.inbox()"
    m3 page 10 "$S10" "chat.inbox(50)"
    m3 page 10k "$S10K" "chat.inbox(50)"
    m3 later 10 "$S10" "chat.inbox(50, $P10)"
    m3 later 10k "$S10K" "chat.inbox(50, $P10K)"
    m3 ten 10 "$S10" "chat.inbox(10)"
    m3 ten 10k "$S10K" "chat.inbox(10)"
    m3 ten 100k "$ADMIN" "chat.admin_inbox(10)"
    m3 page 100k "$ADMIN" "chat.admin_inbox(50)"
    m3 later 100k "$ADMIN" "chat.admin_inbox(50, $PADM)"
    m3 undel 10 "$S10" "bench.undelivered_rolled_back()"
    m3 undel 10k "$S10K" "bench.undelivered_rolled_back()"
done

#
# 4. Relay worker memory
#
if part all; then
echo "== 4. relay memory: $MEM_EVENTS message events (32 senders)"
wait_drained || die "the relay did not drain its backlog"
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$(relay_pid)/status"; }
PID_BEFORE=$(relay_pid)
RSS_BEFORE=$(rss VmRSS); ANON_BEFORE=$(rss RssAnon); SHM_BEFORE=$(rss RssShmem)
EV_BEFORE=$(q -c "SELECT events_relayed FROM chat.relay_status()")
start_listener "$CHANNEL"
t0=$(date +%s.%N)
pgbench -n -M prepared -c 32 -j 2 -t $((MEM_EVENTS / 32)) -f "$BENCH/send.sql" "$DB" >"$WORK/pgbench.out" 2>&1 ||
    { cat "$WORK/pgbench.out" >&2; die "pgbench for the memory run failed"; }
grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.out" ||
    { cat "$WORK/pgbench.out" >&2; die "the memory run had failed transactions"; }
wait_drained || die "the relay did not drain $MEM_EVENTS events within 120 s of the last send"
t1=$(date +%s.%N)
MEM_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
stop_listener
MEM_GOT=$RECEIVED
PID_AFTER=$(relay_pid)
RSS_AFTER=$(rss VmRSS); ANON_AFTER=$(rss RssAnon); SHM_AFTER=$(rss RssShmem)
EV_AFTER=$(q -c "SELECT events_relayed FROM chat.relay_status()")
DROPPED=$(q -c "SELECT dropped FROM chat.relay_status()")
fi   # part 4

#
# 5. Search
#
if part search; then
echo "== 5. search: ${RUNS} x 8 calls, then send throughput with and without the search index"
# a rarer word in every 10,000th message of the two long chats: 1 in the
# chat of 1,000 messages, 100 in the chat of 1,000,000
q -c "UPDATE chat.chat_messages SET body = body || ' Try the purple shampoo.'
       WHERE chat_id IN ('$C1K', '$C1M') AND seq % 10000 = 500" >/dev/null || die "the search load failed"
q -c "VACUUM (ANALYZE) chat.chat_messages" >/dev/null
SEARCH_INDEX_MB=$(q -c "SELECT round(pg_relation_size('chat.chat_messages_search_idx') / 1048576.0)")
for run in $(seq "$RUNS"); do
    m3 sfreq 1k "$STYLIST" "chat.search('$C1K', 'appointment')"
    m3 sfreq 1m "$STYLIST" "chat.search('$C1M', 'appointment')"
    m3 srare 1k "$STYLIST" "chat.search('$C1K', 'shampoo')"
    m3 srare 1m "$STYLIST" "chat.search('$C1M', 'shampoo')"
    m3 sall 10 "$S10" "chat.search_all('friday')"
    m3 sall 10k "$S10K" "chat.search_all('friday')"
    m3 sfar 10 "$S10" "chat.search_all('appointment')"
    m3 sfar 10k "$S10K" "chat.search_all('appointment')"
done
# the send path, with the index and without it (dropped: this is the end)
declare -A STPS
wait_drained || die "the relay did not drain its backlog"
# send_8 WITH|WITHOUT: one run, its messages/s and the cluster's CPU per message
send_8() {
    local before ticks tps
    before=$(rows_written send); ticks=$(cluster_ticks)
    tps=$(pgbench_tps send 8)
    wait_drained || die "the relay did not drain its backlog"
    sleep 0.2
    STPS[$1]+="$tps "
    SCPU[$1]+="$(us_per $(($(cluster_ticks) - ticks)) $(($(rows_written send) - before))) "
    printf '   run %d, 8 senders, %-7s the search index: %6.0f messages/s, %s us CPU each\n' \
        "$run" "$1" "$tps" "$(echo ${SCPU[$1]} | awk '{ print $NF }')"
}
declare -A SCPU
for run in $(seq "$RUNS"); do send_8 with; done
q -c "DROP INDEX chat.chat_messages_search_idx" >/dev/null || die "DROP INDEX failed"
for run in $(seq "$RUNS"); do send_8 without; done
fi   # part 5
fi   # parts 3, 4 and 5

#
# 7. KPIs on a platform-sized history, in a database of its own
#
KPI_DB=kpi_bench
KPI_ADMIN=ad700000-0000-4000-8000-000000000001
KPI_RUNS=9
declare -A K
# kq ARGS: psql in the KPI database
kq() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$KPI_DB" "$@"; }
# a statement that makes its session's table statistics current as it
# returns (they are otherwise flushed at most once a second)
KFLUSH='DO $$ BEGIN PERFORM pg_stat_force_next_flush(); END $$'
# seconds since START (date +%s.%N)
secs_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# the blocks of chat.chat_messages (heap, indexes, TOAST) read or found in
# shared buffers by everybody so far: "heap index toast"
message_blocks() {
    kq -F ' ' -c "SELECT heap_blks_read + heap_blks_hit,
                         coalesce(idx_blks_read, 0) + coalesce(idx_blks_hit, 0),
                         coalesce(toast_blks_read, 0) + coalesce(toast_blks_hit, 0)
                         + coalesce(tidx_blks_read, 0) + coalesce(tidx_blks_hit, 0)
                    FROM pg_statio_user_tables WHERE relid = 'chat.chat_messages'::regclass"
}
if part kpis; then
echo "== 7. kpis: load $KPI_CHATS chats, $KPI_MESSAGES messages, $KPI_BOOKINGS bookings into database $KPI_DB"
if [ "$KPI_CUSTOMERS" -le 0 ] || [ "$KPI_STYLISTS" -le 0 ] ||
   [ $((KPI_CUSTOMERS * KPI_STYLISTS)) -lt "$KPI_CHATS" ]; then
    die "KPI_CHATS must not exceed KPI_CUSTOMERS x KPI_STYLISTS"
fi
q -c "CREATE DATABASE $KPI_DB" >/dev/null || die "CREATE DATABASE $KPI_DB failed"
# (it warns that the relay worker serves another database: the point)
kq -c "SET client_min_messages = error" -c "CREATE EXTENSION stylist_chat" >/dev/null ||
    die "CREATE EXTENSION failed in $KPI_DB"
[ "$(kq -c "SET client_min_messages = error" -c "SELECT relays_this_database FROM chat.relay_status()")" = f ] ||
    die "the relay worker serves $KPI_DB: it would relay the load"
echo "   the relay worker serves database $(kq -c "SELECT chat._relay_database()"), not $KPI_DB: the load is neither relayed nor counted as it goes"
# messages are loaded without the search index, which the KPIs never read
# (it would make the load several times longer)
kq -c "DROP INDEX chat.chat_messages_search_idx" >/dev/null || die "DROP INDEX failed"
t0=$(date +%s.%N)
kq -v chats="$KPI_CHATS" -v messages="$KPI_MESSAGES" -v bookings="$KPI_BOOKINGS" \
   -v customers="$KPI_CUSTOMERS" -v stylists="$KPI_STYLISTS" -v admin="$KPI_ADMIN" \
   -f "$BENCH/kpi_load.sql" -c "$KFLUSH" >/dev/null || die "kpi_load.sql failed"
K[load]=$(secs_since "$t0")
t0=$(date +%s.%N)
kq -c "VACUUM (ANALYZE) chat.chat_messages, chat.chats, chat.bookings, chat.profiles, chat.relay_watermark" \
   -c "$KFLUSH" >/dev/null || die "VACUUM failed"
K[vacuum]=$(secs_since "$t0")
read -r 'K[messages]' 'K[cards]' <<<"$(kq -F ' ' -c "
    SELECT count(*) FILTER (WHERE sender_id IS NOT NULL), count(*) FILTER (WHERE sender_id IS NULL)
      FROM chat.chat_messages")"
read -r 'K[bookings]' 'K[cancelled]' <<<"$(kq -F ' ' -c "
    SELECT count(*), count(*) FILTER (WHERE status = 'cancelled') FROM chat.bookings")"
echo "   loaded in ${K[load]} s (then VACUUM ANALYZE ${K[vacuum]} s): ${K[messages]} participant messages and ${K[cards]} booking cards, ${K[bookings]} bookings (${K[cancelled]} cancelled)"

t0=$(date +%s.%N)
K[rebuilt]=$(kq -c "SELECT chat._rebuild_kpis()" -c "$KFLUSH") || die "chat._rebuild_kpis() failed"
K[rebuild]=$(secs_since "$t0")
K[rebuild_rate]=$(awk -v n="${K[rebuilt]}" -v s="${K[rebuild]}" 'BEGIN { printf "%.0f", n / s }')
echo "   chat._rebuild_kpis(): ${K[rebuilt]} messages in ${K[rebuild]} s, ${K[rebuild_rate]} messages/s"
# the rollups analysed, as autovacuum would soon have them
t0=$(date +%s.%N)
kq -c "VACUUM (ANALYZE) chat.kpi_chats, chat.kpi_chat_months, chat.kpi_days, chat.kpi_stylist_days,
                        chat.kpi_responses, chat.kpi_stylist_responses, chat.kpi_pairs, chat.kpi_bookings,
                        chat.kpi_booking_chats, chat.kpi_reactivations" -c "$KFLUSH" >/dev/null ||
    die "VACUUM of the rollups failed"
K[vacuum_kpis]=$(secs_since "$t0")

# the last full month (UTC), and the 90 days ending with it
read -r 'K[from]' 'K[to]' 'K[from90]' <<<"$(kq -F ' ' -c "
    SELECT m, (m + interval '1 month' - interval '1 day')::date,
           (m + interval '1 month' - interval '1 day')::date - 89
      FROM (SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date AS m) x")"
read -r 'K[stylist]' 'K[stylist_chats]' <<<"$(kq -F ' ' -c "
    SELECT stylist_id, count(*) FROM chat.chats GROUP BY stylist_id ORDER BY 2 DESC, 1 LIMIT 1")"
echo "== 7. timing, as an admin: ${KPI_RUNS} runs of kpis and stylist_kpis (${K[stylist_chats]} chats) for ${K[from]}..${K[to]} and for ${K[from90]}..${K[to]}"
read -r heap0 idx0 toast0 <<<"$(message_blocks)"
# kpibench.time_runs(): one untimed run, then KPI_RUNS timed ones, timed in the server
out=$(kq -F ' ' -c "SELECT chat.act_as('$KPI_ADMIN', true)" \
        -c "SELECT 'month', percentile_disc(0.5) WITHIN GROUP (ORDER BY t), max(t)
              FROM kpibench.time_runs(\$q\$SELECT * FROM chat.kpis('${K[from]}', '${K[to]}')\$q\$, $KPI_RUNS) t" \
        -c "SELECT 'smonth', percentile_disc(0.5) WITHIN GROUP (ORDER BY t), max(t)
              FROM kpibench.time_runs(\$q\$SELECT * FROM chat.stylist_kpis('${K[stylist]}', '${K[from]}', '${K[to]}')\$q\$, $KPI_RUNS) t" \
        -c "SELECT '90', percentile_disc(0.5) WITHIN GROUP (ORDER BY t), max(t)
              FROM kpibench.time_runs(\$q\$SELECT * FROM chat.kpis('${K[from90]}', '${K[to]}')\$q\$, $KPI_RUNS) t" \
        -c "SELECT 's90', percentile_disc(0.5) WITHIN GROUP (ORDER BY t), max(t)
              FROM kpibench.time_runs(\$q\$SELECT * FROM chat.stylist_kpis('${K[stylist]}', '${K[from90]}', '${K[to]}')\$q\$, $KPI_RUNS) t" \
        -c "$KFLUSH") || die "timing the KPI queries failed"
while read -r name med max; do
    [ -n "$name" ] || continue
    K[$name,med]=$med; K[$name,max]=$max
    printf '   %-7s median %9.1f ms, max %9.1f ms\n' "$name" "$med" "$max"
done <<<"$out"
read -r heap1 idx1 toast1 <<<"$(message_blocks)"
K[heap]=$((heap1 - heap0)); K[idx]=$((idx1 - idx0)); K[toast]=$((toast1 - toast0))
K[row]=$(psql -X -q -v ON_ERROR_STOP=1 -d "$KPI_DB" -c "SELECT chat.act_as('$KPI_ADMIN', true)" -c '\x on' \
           -c "SELECT * FROM chat.kpis('${K[from]}', '${K[to]}')" | sed -n '/RECORD/,$p') ||
    die "chat.kpis() failed"
K[sizes]=$(kq -F ' ' -c "
    SELECT c.relname, pg_total_relation_size(c.oid)
      FROM pg_class c
     WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind = 'r' AND c.relname LIKE 'kpi\_%'
     ORDER BY 2 DESC, 1")
K[msg_size]=$(kq -c "SELECT pg_total_relation_size('chat.chat_messages')")
K[msg_heap]=$(kq -c "SELECT pg_relation_size('chat.chat_messages')")
fi   # part 7

#
# 8. The migration of a booking-based chat, in a database of its own
#
MIG_DB=migration_bench
MIG_ADMIN=ad800000-0000-4000-8000-000000000001
MIG_PAIRS=${MIG_PAIRS:-50000}
MIG_MESSAGES=${MIG_MESSAGES:-1000000}
MIG_BATCH=10000
declare -A M
# mq ARGS: psql in the migration database, as its admin for the session
mq() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$MIG_DB" -c "SELECT chat.act_as('$MIG_ADMIN', true)" "$@" | sed 1d; }
if part migration; then
echo "== 8. migration: load $MIG_MESSAGES legacy messages of $MIG_PAIRS pairs into database $MIG_DB"
q -c "CREATE DATABASE $MIG_DB" >/dev/null || die "CREATE DATABASE $MIG_DB failed"
psql -X -qAt -v ON_ERROR_STOP=1 -d "$MIG_DB" -c "SET client_min_messages = error" \
     -c "CREATE EXTENSION stylist_chat" >/dev/null || die "CREATE EXTENSION failed in $MIG_DB"
t0=$(date +%s.%N)
psql -X -qAt -v ON_ERROR_STOP=1 -d "$MIG_DB" -v pairs="$MIG_PAIRS" -v messages="$MIG_MESSAGES" \
     -v admin="$MIG_ADMIN" -f "$BENCH/legacy_load.sql" >/dev/null || die "legacy_load.sql failed"
M[load]=$(secs_since "$t0")
M[staged]=$(mq -c "SELECT count(*) FROM chat.legacy_messages")
M[talking]=$(mq -c "SELECT count(*) FROM chat.chats")
echo "   loaded in ${M[load]} s: ${M[staged]} legacy messages; ${M[talking]} pairs already talk"
t0=$(date +%s.%N)
M[dry_out]=$(mq -c "CALL chat.consolidate_legacy(dry_run => true)") || die "the dry run failed"
M[dry]=$(secs_since "$t0")
echo "   dry run in ${M[dry]} s: ${M[dry_out]} (pairs|messages|imported before|problems|batches)"
t0=$(date +%s.%N)
M[out]=$(mq -c "SET client_min_messages = warning" \
            -c "CALL chat.consolidate_legacy(dry_run => false, batch_size => $MIG_BATCH)") || die "the import failed"
M[import]=$(secs_since "$t0")
M[imported]=$(echo "${M[out]}" | cut -d'|' -f2)
M[batches]=$(echo "${M[out]}" | cut -d'|' -f5)
M[rate]=$(awk -v n="${M[imported]}" -v s="${M[import]}" 'BEGIN { printf "%.0f", n / s }')
echo "   imported ${M[imported]} in ${M[import]} s (${M[batches]} batches), ${M[rate]} messages/s"
# each batch's rows carry its transaction's start: a batch lasts until the next one starts
read -r 'M[batch_med]' 'M[batch_max]' <<<"$(mq -F ' ' -c "
    SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY d) * 1000), round(max(d) * 1000)
      FROM (SELECT extract(epoch FROM lead(t) OVER (ORDER BY t) - t) AS d
              FROM (SELECT DISTINCT imported_at AS t FROM chat.legacy_imports) b) x")"
read -r 'M[check_n]' 'M[check_ok]' <<<"$(mq -F ' ' -c "
    SELECT count(*), count(*) FILTER (WHERE m.created_at = s.sent_at AND m.seq <= 0)
      FROM chat.legacy_imports i
      JOIN chat.legacy_messages s ON s.legacy_id = i.legacy_id
      JOIN chat.chat_messages m ON m.chat_id = i.chat_id AND m.seq = i.seq")"
# the same rows by one INSERT ... SELECT into a copy of chat_messages with its indexes
mq -c "CREATE TABLE legacybench.messages (LIKE chat.chat_messages INCLUDING DEFAULTS INCLUDING INDEXES)" \
   >/dev/null || die "the copy of chat_messages failed"
t0=$(date +%s.%N)
mq -c "SET work_mem = '256MB'" -c "
    INSERT INTO legacybench.messages (chat_id, seq, sender_id, body, booking_id, attachment_count, created_at)
    SELECT chat.pair_chat_id(b.customer_id, b.stylist_id),
           1 - row_number() OVER (PARTITION BY b.customer_id, b.stylist_id ORDER BY s.sent_at DESC, s.staged_id DESC),
           s.sender_id, s.body, s.booking_id, coalesce(jsonb_array_length(s.attachments), 0), s.sent_at
      FROM chat.legacy_messages s JOIN chat.bookings b ON b.id = s.booking_id" >/dev/null ||
    die "the bare INSERT failed"
M[bare]=$(secs_since "$t0")
M[bare_rate]=$(awk -v n="${M[staged]}" -v s="${M[bare]}" 'BEGIN { printf "%.0f", n / s }')
echo "   the same rows by one INSERT ... SELECT: ${M[bare]} s, ${M[bare_rate]} messages/s"
fi   # part 8

#
# The table
#
PGVERSION=$(q -c "SHOW server_version")
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "stylist_chat benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: PostgreSQL $PGVERSION, fsync on, synchronous_commit $(q -c 'SHOW synchronous_commit'), shared_buffers $(q -c 'SHOW shared_buffers'); medians of $RUNS runs"
if part send; then
echo
echo "1. Send throughput, messages/s (pgbench -M prepared -T $SECS; each sender in its own chat)"
printf '   %7s %13s %13s %13s %11s %10s\n' senders send_message naive_trigger bare_INSERT send/naive send/bare
for c in $CONCURRENCY; do
    s=$(median ${TPS[send,$c]}); n=$(median ${TPS[naive,$c]}); b=$(median ${TPS[bare,$c]})
    printf '   %7s %13.0f %13.0f %13.0f %10sx %9sx\n' "$c" "$s" "$n" "$b" \
        "$(ratio "$s" "$n")" "$(ratio "$s" "$b")"
done
echo "   server CPU per message, us (all the cluster's processes, listener backend and relay worker included):"
printf '   %7s %13s %13s %13s %11s\n' senders send_message naive_trigger bare_INSERT "(relay)"
for c in $CONCURRENCY; do
    printf '   %7s %13s %13s %13s %11s\n' "$c" "$(median ${CPU[send,$c]})" "$(median ${CPU[naive,$c]})" \
        "$(median ${CPU[bare,$c]})" "($(median ${CPU[relay,$c]}))"
done
echo "   the same send through PL/pgSQL (chat._send_message_sql(), as send_message was before src/send_path.c):"
printf '   %7s %13s %13s %13s %11s\n' senders send_message PL/pgSQL_send C/PL/pgSQL "CPU, us"
for c in $CONCURRENCY; do
    s=$(median ${TPS[send,$c]}); p=$(median ${TPS[send_sqlpath,$c]})
    printf '   %7s %13.0f %13.0f %12sx %11s\n' "$c" "$s" "$p" "$(ratio "$s" "$p")" \
        "$(median ${CPU[send,$c]}) / $(median ${CPU[send_sqlpath,$c]}) ($(median ${CPU[relay_sql,$c]}))"
done
# target_ratio SENDERS VARIANT LIMIT: send_message against naive or bare
target_ratio() {
    local r
    r=$(ratio "$(median ${TPS[send,$1]})" "$(median ${TPS[$2,$1]})")
    printf '   target, %2s senders: send_message >= %sx %s: %sx %s\n' "$1" "$3" \
        "$([ "$2" = naive ] && echo 'the naive trigger' || echo 'the bare INSERT')" "$r" "$(verdict "$r" '>=' "$3")"
}
target_ratio 1 bare 0.7
target_ratio 8 bare 0.6
target_ratio 32 bare 0.6
target_ratio 1 naive 1.2
target_ratio 32 naive 3
cpu32=$(median ${CPU[send,32]})
echo "   target, 32 senders: server CPU per message <= 90 us (relay worker included): $cpu32 us $(verdict "$cpu32" '<=' 90)"
if [ ${#DELIVERY_PROBLEMS[@]} -eq 0 ]; then
    echo "   delivery: every listener received exactly one notification per message written"
else
    for p in "${DELIVERY_PROBLEMS[@]}"; do echo "   DELIVERY MISMATCH: $p"; done
fi
echo
echo "2. Delivery latency, COMMIT returned -> listener received (ms)"
printf '   %-28s %8s %8s %8s %8s %8s\n' load msgs/s p50 p99 max missing
for load in fixed sat; do
    if [ "$load" = fixed ]; then label="1,000/s (4 senders x 250/s)"; else label="saturation (16 senders)"; fi
    printf '   %-28s %8.0f %8.2f %8.2f %8.2f %8s\n' "$label" "$(median ${LAT[$load,rate]})" \
        "$(median ${LAT[$load,p50]})" "$(median ${LAT[$load,p99]})" "$(median ${LAT[$load,max]})" \
        "$(median ${LAT[$load,missing]})"
done
p99=$(median ${LAT[fixed,p99]})
echo "   target: p99 <= 1 ms at 1,000 messages/s: $(printf '%.2f' "$p99") ms $(verdict "$p99" '<=' 1)"
p99=$(median ${LAT[sat,p99]})
echo "   target: p99 <= 10 ms at saturation: $(printf '%.2f' "$p99") ms $(verdict "$p99" '<=' 10)"
fi   # parts 1 and 2 of the table
row3() { # label name small large target
    local ms1 ms2 b1 b2 rt rbuf
    ms1=$(median ${H[$2,$3,ms]}); ms2=$(median ${H[$2,$4,ms]})
    b1=$(median ${H[$2,$3,buf]}); b2=$(median ${H[$2,$4,buf]})
    rt=$(ratio "$ms2" "$ms1"); rbuf=$(ratio "$b2" "$b1")
    if [ "$5" = none ]; then t1="(none)"; t2="(none)"; else
        t1="<= $5 $(verdict "$rt" '<=' "$5")"; t2="<= $5 $(verdict "$rbuf" '<=' "$5")"; fi
    printf '   %-42s %9.3f ms %9.3f ms %7sx  %s\n' "$1 time" "$ms1" "$ms2" "$rt" "$t1"
    printf '   %-42s %12s %12s %7sx  %s\n' "$1 buffers" "$b1" "$b2" "$rbuf" "$t2"
}
if part inbox; then
echo
echo "3. Long histories and big inboxes (time per call; shared buffers hit+read per call)"
printf '   %-42s %12s %12s %8s  %s\n' call small large ratio target
row3 "history newest page, 1k vs 1M msgs" new 1k 1m 1.5
row3 "history middle page, 1k vs 1M msgs" mid 1k 1m 1.5
row3 "inbox, 10 vs 10,000 chats" inbox 10 10k none
row3 "inbox first page of 50, 10 vs 10,000 chats" page 10 10k 1.5
row3 "inbox page after 5th / 5,000th chat" later 10 10k 1.5
row3 "admin_inbox(50) of $NCHATS chats vs inbox(50), 10" page 10 100k 1.5
row3 "admin_inbox after the 50,000th vs inbox" later 10 100k 1.5
echo "   (rows a page returns: 10 for the stylist of 10 chats, 5 after its 5th; 50 for the others)"
echo "   the same with pages of the same rows, inbox(10) and admin_inbox(10):"
row3 "inbox(10), 10 vs 10,000 chats" ten 10 10k 1.5
row3 "admin_inbox(10) of $NCHATS vs inbox(10), 10" ten 10 100k 1.5
row3 "undelivered(), 5 chats with news, 10 vs 10k" undel 10 10k 2
fi   # part 3 of the table
if part all; then
echo
echo "4. Relay worker memory (pid $PID_BEFORE$([ "$PID_BEFORE" != "$PID_AFTER" ] && echo ", RESTARTED as $PID_AFTER"))"
echo "   events relayed: $((EV_AFTER - EV_BEFORE)) in ${MEM_SECS} s, sending and draining (listener received $MEM_GOT; dropped from the queue so far: $DROPPED)"
echo "   VmRSS after setup $(mb "$RSS_COLD") MB; before this run (after parts 1-3) $(mb "$RSS_BEFORE") MB, after $(mb "$RSS_AFTER") MB"
growth=$(mb $((RSS_AFTER - RSS_BEFORE)))
echo "   growth over $MEM_EVENTS events: VmRSS $growth MB (RssAnon $(mb $((ANON_AFTER - ANON_BEFORE))) MB, RssShmem $(mb $((SHM_AFTER - SHM_BEFORE))) MB)"
echo "   (RssAnon: the worker's private memory; RssShmem: shared memory it touched, e.g. the event queue and shared buffers)"
echo "   target: growth < 10 MB: $growth MB $(verdict "$growth" '<' 10)"
fi   # part 4 of the table
if part search; then
echo
echo "5. Search (time per call; shared buffers hit+read per call; index ${SEARCH_INDEX_MB} MB for $(q -c "SELECT count(*) FROM chat.chat_messages") messages)"
printf '   %-42s %12s %12s %8s  %s\n' call small large ratio target
row3 "search, word in every msg, 1k vs 1M msgs" sfreq 1k 1m 2
row3 "search, word in every 10,000th, 1k vs 1M" srare 1k 1m none
row3 "search_all, 10 vs 10,000 chats" sall 10 10k none
row3 "search_all, word only in others' chats" sfar 10 10k none
w=$(median ${STPS[with]}); wo=$(median ${STPS[without]})
echo "   send_message, 8 senders: $(printf '%.0f' "$w") messages/s with the search index, $(printf '%.0f' "$wo") without: $(ratio "$w" "$wo")x"
cw=$(median ${SCPU[with]}); cwo=$(median ${SCPU[without]})
echo "   server CPU per message: ${cw} us with the search index, ${cwo} us without: $(ratio "$cw" "$cwo")x (runs one after the other, not interleaved: compare with care)"
fi   # part 5 of the table
if part bookkeeping; then
echo
echo "6. Bookkeeping on the send path (send_message, a listener consuming; notifications and KPIs kept by the bookkeeping worker; (relay): the relay worker's share)"
printf '   %-24s %7s %12s %14s %10s %9s\n' bookkeeping senders messages/s "vs none" "CPU us/msg" "(relay)"
for c in 1 32; do
    none=$(median ${BTPS[none,$c]})
    for mode in $BK_MODES; do
        t=$(median ${BTPS[$mode,$c]})
        printf '   %-24s %7s %12.0f %13sx %10s %9s\n' "$mode" "$c" "$t" "$(ratio "$t" "$none")" \
            "$(median ${BCPU[$mode,$c]})" "$(median ${BRELAY[$mode,$c]})"
    done
done
for c in 1 32; do
    r=$(ratio "$(median ${BTPS[notifications,$c]})" "$(median ${BTPS[none,$c]})")
    echo "   target, $c senders: notifications cost at most a few percent (>= 0.95x none): ${r}x $(verdict "$r" '>=' 0.95)"
done
fi   # part 6 of the table
if part kpis; then
echo
echo "7. KPIs: $KPI_CHATS chats, ${K[messages]} messages (and ${K[cards]} booking cards), ${K[bookings]} bookings over 12 months, in database $KPI_DB"
echo "   load ${K[load]} s (direct INSERTs, no search index; VACUUM ANALYZE ${K[vacuum]} s)"
echo "   chat._rebuild_kpis(): ${K[rebuild]} s for ${K[rebuilt]} messages, ${K[rebuild_rate]} messages/s (VACUUM ANALYZE of the rollups ${K[vacuum_kpis]} s)"
echo "   time per call, as an admin, after one untimed call; median and max of $KPI_RUNS (ms):"
printf '   %-54s %9s %9s  %s\n' call median max target
for row in "month|chat.kpis, ${K[from]}..${K[to]}" "smonth|chat.stylist_kpis (${K[stylist_chats]} chats), same month" \
           "90|chat.kpis, 90 days ${K[from90]}..${K[to]}" "s90|chat.stylist_kpis, same 90 days"; do
    name=${row%%|*}; label=${row#*|}
    printf '   %-54s %9.1f %9.1f  < 100 ms %s\n' "$label" "${K[$name,med]}" "${K[$name,max]}" \
        "$(verdict "${K[$name,med]}" '<' 100)"
done
echo "   chat_messages blocks read by the KPI queries: $((K[heap] + K[idx] + K[toast])) (heap ${K[heap]}, indexes ${K[idx]}, TOAST ${K[toast]}; pg_statio_user_tables, before and after the $((4 * (KPI_RUNS + 1))) calls)"
echo "   rollup sizes (pg_total_relation_size) against chat.chat_messages, $(mb $((K[msg_size] / 1024))) MB ($(mb $((K[msg_heap] / 1024))) MB heap, without the search index):"
total=0
while read -r rel bytes; do
    [ -n "$rel" ] || continue
    total=$((total + bytes))
    printf '   %-28s %10s MB %7s %%\n' "chat.$rel" "$(mb $((bytes / 1024)))" \
        "$(awk -v a="$bytes" -v b="${K[msg_size]}" 'BEGIN { printf "%.1f", 100 * a / b }')"
done <<<"${K[sizes]}"
printf '   %-28s %10s MB %7s %%\n' "all rollups" "$(mb $((total / 1024)))" \
    "$(awk -v a="$total" -v b="${K[msg_size]}" 'BEGIN { printf "%.1f", 100 * a / b }')"
echo "   chat.kpis('${K[from]}', '${K[to]}'):"
while IFS= read -r line; do echo "   $line"; done <<<"${K[row]}"
fi   # part 7 of the table
if part filter; then
echo
echo "9. The filter of contact details on the send path (send_message, a listener consuming)"
printf '   %-44s %7s %12s %10s %10s\n' rules senders messages/s "vs none" "CPU us/msg"
for c in 1 32; do
    none=$(median ${FTPS[none,$c]})
    for mode in $F_MODES; do
        label=$mode
        case $mode in none) label="no rule" ;; rules) label="5 rules, messages they do not match" ;;
                      contact) label="5 rules, each message a phone number (masked)" ;; esac
        t=$(median ${FTPS[$mode,$c]})
        printf '   %-44s %7s %12.0f %9sx %10s\n' "$label" "$c" "$t" "$(ratio "$t" "$none")" "$(median ${FCPU[$mode,$c]})"
    done
done
echo "   messages masked and recorded: $FMASKED"
echo "   without a rule, the send path's one question (is there a rule?): ${FCHECK} us, against ${FLOOP} us for an empty loop step"
fi   # part 9 of the table
if part migration; then
echo
echo "8. Migration: ${M[staged]} legacy messages of $MIG_PAIRS pairs (${M[talking]} already talking), in database $MIG_DB"
echo "   load into chat.legacy_messages (INSERT ... SELECT, as a COPY): ${M[load]} s"
echo "   dry run (every row checked, nothing written): ${M[dry]} s"
echo "   chat.consolidate_legacy(), batches of $MIG_BATCH: ${M[imported]} imported in ${M[import]} s, ${M[rate]} messages/s"
echo "   a batch (its chats locked until it commits): median ${M[batch_med]} ms, max ${M[batch_max]} ms (${M[batches]} batches)"
echo "   imported rows found below seq 1 with their original time: ${M[check_ok]} of ${M[check_n]}"
echo "   the same rows by one INSERT ... SELECT into a copy of chat_messages (its indexes; no checks, images, bookkeeping): ${M[bare]} s, ${M[bare_rate]} messages/s"
echo "   import against that: $(ratio "${M[rate]}" "${M[bare_rate]}")x"
fi   # part 8 of the table
if part gateway; then
echo
echo "10. WebSocket gateway: ${G[connections]} clients on loopback, 500 chats, ${G[offered_rate]} messages/s offered for 30 s (${G[messages]} sent)"
echo "   send request -> the other participant's event frame (includes the send's commit): p50 ${G[latency_p50_ms]} ms, p99 ${G[latency_p99_ms]} ms, max ${G[latency_max_ms]} ms"
echo "   target: p99 <= 50 ms: $(verdict "${G[latency_p99_ms]}" '<=' 50)"
echo "   at the other participant: ${G[missing]} missing, ${G[doubled]} doubled; errors: ${G[errors]}${G[first_error]:+ (first: ${G[first_error]})}"
echo "   target: nothing missing or doubled: $( [ "${G[missing]}" = 0 ] && [ "${G[doubled]}" = 0 ] && echo MET || echo MISSED)"
echo "   gateway CPU per message: ${G[gateway_cpu_us_per_message]} us (a send, its answer and two event frames)"
echo "   gateway memory: VmRSS ${G[rss_before_kb]} KB with no client, ${G[rss_idle_kb]} KB with ${G[connections]} idle (${G[rss_per_connection_kb]} KB a connection), ${G[rss_loaded_kb]} KB after the load"
echo "   target: <= 64 KB a connection: $(verdict "${G[rss_per_connection_kb]}" '<=' 64)"
echo "   database connections: at most ${G[db_max]} (pg_stat_activity), ${G[gateway_db_connections]} by the gateway's own count"
echo "   target: <= 8: $(verdict "${G[db_max]}" '<=' 8)"
fi   # part 10 of the table
if [ -z "$ONLY" ]; then
    if [ "${BENCH_CITUS:-0}" = 1 ]; then
        cluster_stop     # the two cores for the Citus cluster alone
        bash "$BENCH/citus.sh"
    else
        echo
        echo "11. Send throughput on a Citus cluster: not run (BENCH_CITUS=1, or BENCH_ONLY=citus alone; see test/bench/citus.sh)"
    fi
fi
echo
echo "total runtime: $(($(date +%s) - T_START)) s"
