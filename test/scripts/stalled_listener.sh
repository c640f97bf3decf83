#!/usr/bin/env bash
# test/scripts/stalled_listener.sh: a listener that never reads does not
# slow or stop senders, and the relay says what it holds back.
#
# A subscriber that LISTENs and then stops reading its socket (test/bench/
# listener.c with "stall") holds back the tail of the server's one
# notification queue: its backend fills the socket's buffers, then blocks
# sending the next notification, and every NOTIFY after its position stays
# queued until it reads or goes.  Senders never NOTIFY (the relay worker
# does), so they must not notice.
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end),
# database postgres (the relayed one).  An admin's channel (every event) is
# listened to twice: by test/bench/listener.c, which reads and counts, and
# by the stalled session.  pgbench sends as 4 customers for 5 s without the
# stalled session, then 5 s with it.  Checks: the senders commit every
# transaction both times (their rates are printed, not compared: a timed
# comparison would flake on a shared machine); while it is stalled the
# queue is not empty (relay_status().notify_queue_usage > 0) and the worker
# keeps relaying (events_relayed grows by the messages sent, no failed
# cycle); the reading listener gets every message, once; when the stalled
# session goes, the queue empties; nothing is left to relay.
#
# What this cannot show on PostgreSQL 15: the queue full.  Its size is
# fixed at 8 GB (max_notify_queue_pages came with PostgreSQL 17), so
# filling it takes millions of NOTIFYs and gigabytes of disk.  Then the
# relay's NOTIFYs fail at commit ("too many notifications in the NOTIFY
# queue"): the worker's cycle errs, relay_status() counts it in
# failed_cycles with the message in last_error, the worker backs off (up to
# 5 s) and recovers from the watermarks, so the events wait in the tables
# and nothing is lost; senders go on committing.  test/scripts/
# relay_crash.sh covers a cycle that errs and what recovery gives back.
#
# Usage: bash test/scripts/stalled_listener.sh [DBNAME] (DBNAME unused: the
# cluster is its own).  Output: TAP.  About 30 s.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_stalled.XXXXXX)
chmod 755 "$WORK"

cleanup() {
    stop_background
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
check() { if [ "$1" = true ]; then pass "$2"; else fail "$2"; [ -n "${3:-}" ] && echo "#   $3"; fi; }
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/err" 2>/dev/null | tail -5; exit 1; }

echo "1..8"
gcc -O2 -o "$WORK/listener" test/bench/listener.c -I"$("$PG_CONFIG" --includedir)" \
    -L"$("$PG_CONFIG" --libdir)" -lpq 2>"$WORK/err" || bail "listener.c does not build"
cluster_start >"$WORK/err" 2>&1 || bail "cannot start a cluster"
trap cleanup EXIT

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d postgres -c "$1" 2>>"$WORK/err"; }
q "CREATE EXTENSION stylist_chat" >/dev/null || bail "CREATE EXTENSION"
q "ALTER DATABASE postgres SET stylist_chat.booking_cards = off" >/dev/null
q "SELECT chat.upsert_profile('ad000000-0000-4000-8000-000000000001', 'admin', 'Admin'),
          chat.upsert_profile('5e000000-0000-4000-8000-000000000001', 'stylist', 'Leo')" >/dev/null || bail "profiles"
for i in 0 1 2 3; do
    c=$(printf 'c0000000-0000-4000-8000-%012d' "$i")
    q "SELECT chat.upsert_profile('$c', 'customer', 'Customer $i')" >/dev/null
    q "SELECT chat.act_as('$c'); SELECT chat.chat_with('5e000000-0000-4000-8000-000000000001')" >/dev/null ||
        bail "chat $i"
done
CHANNEL=$(q "SELECT chat.act_as('ad000000-0000-4000-8000-000000000001'); SELECT chat.listen_channel()" | tail -1)
[ -n "$CHANNEL" ] || bail "no admin channel"
# the relay picks up a new admin within a second
sleep 1.5

sent() { q "SELECT coalesce(sum(last_seq), 0) FROM chat.chats"; }
relayed() { q "SELECT events_relayed FROM chat.relay_status()"; }
send_for() {
    pgbench -n -M prepared -c 4 -j 2 -T "$1" -f test/bench/send.sql postgres >"$WORK/pgbench.out" 2>&1
    grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.out" && grep -q '^tps' "$WORK/pgbench.out"
}
tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out" | cut -d. -f1; }

"$WORK/listener" postgres "$CHANNEL" 120 >"$WORK/listener.out" 2>&1 &
LISTENER=$!
BGPIDS+=($LISTENER)
for _ in $(seq 100); do grep -q '^listening' "$WORK/listener.out" && break; sleep 0.05; done

sent0=$(sent)
send_for 5
ok_before=$?
tps_before=$(tps)

# the stalled subscriber: LISTEN, then it reads nothing
PGAPPNAME=stalled "$WORK/listener" postgres "$CHANNEL" 120 stall >"$WORK/stalled.out" 2>&1 &
STALLED=$!
BGPIDS+=($STALLED)
for _ in $(seq 100); do grep -q '^listening' "$WORK/stalled.out" && break; sleep 0.05; done
usage0=$(q "SELECT notify_queue_usage FROM chat.relay_status()")
relayed0=$(relayed)
failed0=$(q "SELECT failed_cycles FROM chat.relay_status()")
sent1=$(sent)
send_for 5
ok_during=$?
tps_during=$(tps)
sent2=$(sent)
# let the worker relay what was sent
for _ in $(seq 100); do
    [ "$(q "SELECT queued = 0 AND backlog = 0 FROM chat.relay_status()")" = t ] && break
    sleep 0.1
done
read -r usage1 relayed1 failed1 <<<"$(q "SELECT notify_queue_usage, events_relayed, failed_cycles FROM chat.relay_status()" | tr '|' ' ')"
echo "# the stalled subscriber's backend: $(q "SELECT state || ', wait ' || coalesce(wait_event, '-') || ', backend_xmin ' || coalesce(backend_xmin::text, 'none')
                                             FROM pg_stat_activity WHERE application_name = 'stalled'")"

check "$( [ "$ok_before" = 0 ] && [ "$ok_during" = 0 ] && echo true)" \
    "the senders commit every transaction, without and with a stalled listener ($tps_before and $tps_during sends/s)" \
    "$(tail -3 "$WORK/pgbench.out" | tr '\n' ' ')"
echo "# sends/s with a stalled listener against without: $(awk -v a="$tps_during" -v b="$tps_before" 'BEGIN { if (b > 0) printf "%.2f", a / b }')x"
check "$(awk -v u="$usage1" -v u0="$usage0" 'BEGIN { print (u > u0 && u > 0) ? "true" : "false" }')" \
    "while it is stalled the notification queue holds what was sent (notify_queue_usage $usage0 -> $usage1)"
check "$( [ $((relayed1 - relayed0)) -ge $((sent2 - sent1)) ] && [ "$failed1" = "$failed0" ] && echo true)" \
    "the worker keeps relaying meanwhile: $((relayed1 - relayed0)) events for $((sent2 - sent1)) messages, no failed cycle" \
    "failed_cycles $failed0 -> $failed1"
notice=$(psql -X -q -d postgres -c "SELECT 1 FROM chat.relay_status()" 2>&1 >/dev/null)
echo "# relay_status() said: ${notice:-nothing}" | head -1

kill -TERM "$LISTENER"
wait "$LISTENER"
received=$(sed -n 's/^received //p' "$WORK/listener.out")
check "$( [ "$received" = "$((sent2 - sent0))" ] && echo true)" \
    "the listener that reads got every message once: $received of $((sent2 - sent0))"

# the stalled session goes: the queue empties
kill -TERM "$STALLED"
wait "$STALLED" 2>/dev/null
emptied=false
for _ in $(seq 100); do
    [ "$(q "SELECT notify_queue_usage = 0 FROM chat.relay_status()")" = t ] && { emptied=true; break; }
    # the queue's tail moves when a notification is next sent
    q "NOTIFY stylist_chat_test_tick" >/dev/null
    sleep 0.1
done
check "$emptied" "when the stalled session goes, the queue empties (notify_queue_usage 0)" \
    "notify_queue_usage $(q "SELECT notify_queue_usage FROM chat.relay_status()")"
# the same 5 s once more, with nobody stalled: a rate to compare with
send_for 5 && tps_after=$(tps)
echo "# sends/s: ${tps_before} without, ${tps_during} with a stalled listener, ${tps_after:-?} without again"
for _ in $(seq 100); do
    [ "$(q "SELECT queued = 0 AND backlog = 0 FROM chat.relay_status()")" = t ] && break
    sleep 0.1
done
sent2=$(sent)
check "$( [ "$(q "SELECT queued = 0 AND backlog = 0 FROM chat.relay_status()")" = t ] && echo true)" \
    "nothing is left to relay (queued 0, backlog 0)"
check "$( [ "$(q "SELECT count(*) FROM chat.chat_messages")" = "$sent2" ] && echo true)" \
    "every message sent is stored ($sent2)"
check "$( [ "$(q "SELECT failed_cycles = 0 AND last_error IS NULL FROM chat.relay_status()")" = t ] && echo true)" \
    "the worker had no failed cycle, and relay_status() says so (failed_cycles 0, last_error NULL)"
[ "$failed" -eq 0 ]
