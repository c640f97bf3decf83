#!/usr/bin/env bash
# test/bench/citus.sh: part 11 of make bench (BENCH_ONLY=citus, or
# BENCH_CITUS=1 beside the other parts): send throughput on one server
# against a Citus coordinator with two workers, on this one machine.
#
# The servers of test/citus/cluster.sh, fsync on: a coordinator and two
# workers (chat.distribute_tables() run) and a plain server beside them,
# each set up by test/bench/setup.sql (32 customers, each in a chat with the
# stylist).  pgbench (-n -M prepared -j 2 -T 10) sends as in part 1 at 1
# and 8 senders, medians of 3 runs interleaved: on the plain server
# chat.send_message() (the send in C) and chat._send_message_sql() (the
# same send in PL/pgSQL); on the coordinator chat.send_message(), which
# takes the PL/pgSQL path there.  Two cores serve all three nodes of the
# cluster, so the row shows what routing costs, not what more machines
# would give: the coordinator's planning and a round trip per statement to
# the chat's node.  As root (Citus is installed beside the server's
# extensions); about 4 minutes once Citus is built.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BENCH=$PWD/test/bench
BASE_PORT=$((${STYLIST_CHAT_PORT:-5499} + 20))
WORK=
RUNS=3
SECS=10

bail() {
    echo "bench (citus): $*" >&2
    [ -n "$WORK" ] && tail -5 "$WORK/err" 2>/dev/null >&2
    exit 1
}
source test/citus/cluster.sh
[ "$(id -u)" -eq 0 ] || bail "run as root: Citus is installed beside the server's extensions"
WORK=$(mktemp -d /tmp/stylist_chat_bench_citus.XXXXXX)
chmod 755 "$WORK"
trap citus_stop EXIT
echo "== Citus: build, four servers"
citus_install
citus_start on
on 0 "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION on the coordinator"
on 0 "SELECT count(*) FROM chat.distribute_tables()" >/dev/null || bail "chat.distribute_tables()"
on 3 "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION on the plain server"
for i in 0 3; do
    PATH=$BINDIR:$PATH psql -X -q -v ON_ERROR_STOP=1 -h "$WORK/${NODES[$i]}" -p "$(citus_port_of "$i")" \
        -U postgres -d postgres -f "$BENCH/setup.sql" >/dev/null 2>>"$WORK/err" || bail "setup.sql on ${NODES[$i]}"
done

median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# run NODE SCRIPT CLIENTS: messages/s, checked against the rows written
run() {
    local node=$1 script=$2 clients=$3 before after tps
    before=$(on "$node" "SELECT sum(last_seq) FROM chat.chats WHERE customer_id::text LIKE 'c0000000-%'")
    PATH=$BINDIR:$PATH pgbench -n -M prepared -c "$clients" -j "$((clients < 2 ? 1 : 2))" -T "$SECS" \
        -h "$WORK/${NODES[$node]}" -p "$(citus_port_of "$node")" -U postgres -f "$BENCH/$script.sql" postgres \
        >"$WORK/pgbench.out" 2>&1 || { cat "$WORK/pgbench.out" >&2; bail "pgbench $script on ${NODES[$node]} failed"; }
    grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.out" \
        || { cat "$WORK/pgbench.out" >&2; bail "pgbench $script on ${NODES[$node]}: failed transactions"; }
    after=$(on "$node" "SELECT sum(last_seq) FROM chat.chats WHERE customer_id::text LIKE 'c0000000-%'")
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out")
    [ $((after - before)) -gt 0 ] || bail "pgbench $script on ${NODES[$node]} wrote nothing"
    printf '%.0f' "$tps"
}

declare -A R
echo "== send throughput ($RUNS interleaved runs of $SECS s)"
for r in $(seq "$RUNS"); do
    for c in 1 8; do
        R[one_c,$c]+="$(run 3 send "$c") "
        R[one_sql,$c]+="$(run 3 send_sqlpath "$c") "
        R[citus,$c]+="$(run 0 send "$c") "
    done
    echo "   round $r done"
done

echo
echo "11. Send throughput, one server against a Citus coordinator and two workers on the same 2 cores, messages/s (medians of $RUNS)"
printf '%-9s %16s %20s %22s %14s %14s\n' senders "one server (C)" "one server (PL/pgSQL)" "Citus coordinator" "Citus/C" "Citus/PL/pgSQL"
for c in 1 8; do
    one_c=$(median ${R[one_c,$c]})
    one_sql=$(median ${R[one_sql,$c]})
    cit=$(median ${R[citus,$c]})
    printf '%-9s %16s %20s %22s %13sx %13sx\n' "$c" "$one_c" "$one_sql" "$cit" "$(ratio "$cit" "$one_c")" "$(ratio "$cit" "$one_sql")"
done
echo "   (every run: ${R[one_c,1]}/ ${R[one_sql,1]}/ ${R[citus,1]}at 1; ${R[one_c,8]}/ ${R[one_sql,8]}/ ${R[citus,8]}at 8)"
