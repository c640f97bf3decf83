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
#        c. a bare INSERT of that row into a plain table: bare.sql.
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
#      of 1,000 and of 1,000,000 messages, and chat.inbox() (whole, and its
#      first page of 50) of a stylist with 10 and with 10,000 chats: the time of one call (a loop inside
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
# About 20 minutes on a 2-core machine.  BENCH_ONLY=search runs the bulk
# load and part 5 alone (a few minutes), for work on search;
# BENCH_ONLY=bookkeeping part 6 alone (about 5 minutes).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BENCH=$ROOT/test/bench
T_START=$(date +%s)

bash test/deps.sh || exit 1
source test/lib.sh

DB=postgres
ONLY=${BENCH_ONLY:-}
case $ONLY in ''|search|bookkeeping) ;;
    *) echo "bench: BENCH_ONLY is empty, search or bookkeeping, not $ONLY" >&2; exit 2 ;; esac
# part PART: whether this run does it
part() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
ADMIN=ad000000-0000-4000-8000-000000000001
STYLIST=5e000000-0000-4000-8000-000000000001
RUNS=3
SECS=10
MEM_EVENTS=1000000     # a multiple of 32
CONCURRENCY="1 8 32"

WORK=
LISTENER_PID=
cleanup() {
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
        send) q -c "SELECT sum(last_seq) FROM chat.chats WHERE customer_id::text LIKE 'c0000000-%'" ;;
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
if part all; then
echo "== 1. send throughput: ${RUNS} x {send_message, naive trigger, bare INSERT} x {$CONCURRENCY} senders x ${SECS} s"
declare -A TPS CPU
# the relay learns of new admins within a second: let it, and let it relay
# the setup's events, before anybody listens
sleep 1.5
wait_drained || die "the relay did not drain the setup's events"
for run in $(seq "$RUNS"); do
    for c in $CONCURRENCY; do
        for v in send naive bare; do
            before=$(rows_written "$v")
            case $v in
                send) start_listener "$CHANNEL" ;;
                naive) start_listener bench_naive ;;
            esac
            ticks=$(cluster_ticks)
            relay=$(relay_ticks)
            tps=$(pgbench_tps "$v" "$c")
            if [ "$v" = send ]; then
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
            TPS[$v,$c]+="$tps "
            printf '   run %d, %2d senders, %-5s %8.0f messages/s\n' "$run" "$c" "$v" "$tps"
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

if [ "$ONLY" != bookkeeping ]; then
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
part all && echo "== 3. timing: ${RUNS} x 8 calls"
part all && for run in $(seq "$RUNS"); do
    m3 new 1k "$STYLIST" "chat.history('$C1K', NULL, 50)"
    m3 new 1m "$STYLIST" "chat.history('$C1M', NULL, 50)"
    m3 mid 1k "$STYLIST" "chat.history('$C1K', 500, 50)"
    m3 mid 1m "$STYLIST" "chat.history('$C1M', 500000, 50)"
    m3 inbox 10 "$S10" "chat.inbox()"
    m3 inbox 10k "$S10K" "chat.inbox()"
    m3 page 10 "$S10" "chat.inbox(50)"
    m3 page 10k "$S10K" "chat.inbox(50)"
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
fi   # parts 3, 4 and 5

#
# The table
#
PGVERSION=$(q -c "SHOW server_version")
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "stylist_chat benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: PostgreSQL $PGVERSION, fsync on, synchronous_commit $(q -c 'SHOW synchronous_commit'), shared_buffers $(q -c 'SHOW shared_buffers'); medians of $RUNS runs"
if part all; then
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
s=$(median ${TPS[send,32]}); n=$(median ${TPS[naive,32]}); b=$(median ${TPS[bare,32]})
rn=$(ratio "$s" "$n"); rb=$(ratio "$s" "$b")
echo "   target, 32 senders: send_message >= 3x naive: ${rn}x $(verdict "$rn" '>=' 3)"
echo "   target, 32 senders: send_message >= 0.5x bare INSERT: ${rb}x $(verdict "$rb" '>=' 0.5)"
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
echo "   target: p99 <= 5 ms at 1,000 messages/s: $(printf '%.2f' "$p99") ms $(verdict "$p99" '<=' 5)"
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
if part all; then
echo
echo "3. Long histories and big inboxes (time per call; shared buffers hit+read per call)"
printf '   %-42s %12s %12s %8s  %s\n' call small large ratio target
row3 "history newest page, 1k vs 1M msgs" new 1k 1m 1.5
row3 "history middle page, 1k vs 1M msgs" mid 1k 1m 1.5
row3 "inbox, 10 vs 10,000 chats" inbox 10 10k none
row3 "inbox first page of 50, 10 vs 10,000 chats" page 10 10k none
echo
echo "4. Relay worker memory (pid $PID_BEFORE$([ "$PID_BEFORE" != "$PID_AFTER" ] && echo ", RESTARTED as $PID_AFTER"))"
echo "   events relayed: $((EV_AFTER - EV_BEFORE)) in ${MEM_SECS} s, sending and draining (listener received $MEM_GOT; dropped from the queue so far: $DROPPED)"
echo "   VmRSS after setup $(mb "$RSS_COLD") MB; before this run (after parts 1-3) $(mb "$RSS_BEFORE") MB, after $(mb "$RSS_AFTER") MB"
growth=$(mb $((RSS_AFTER - RSS_BEFORE)))
echo "   growth over $MEM_EVENTS events: VmRSS $growth MB (RssAnon $(mb $((ANON_AFTER - ANON_BEFORE))) MB, RssShmem $(mb $((SHM_AFTER - SHM_BEFORE))) MB)"
echo "   (RssAnon: the worker's private memory; RssShmem: shared memory it touched, e.g. the event queue and shared buffers)"
echo "   target: growth < 10 MB: $growth MB $(verdict "$growth" '<' 10)"
fi   # parts 3 and 4 of the table
if [ "$ONLY" != bookkeeping ]; then
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
echo "6. Bookkeeping on the send path (send_message, a listener consuming; notifications and KPIs kept by the relay worker)"
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
echo
echo "total runtime: $(($(date +%s) - T_START)) s"
