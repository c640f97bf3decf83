#!/usr/bin/env bash
# test/scripts/retention.sh: retention runs beside senders without waiting
# for them, and runs for real through pg_cron, as README schedules it.
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end) with
# pg_cron preloaded (Debian's postgresql-15-cron), its jobs run by
# background workers in database postgres; stylist_chat.retention = '3
# years' for the database.  Two chats with messages of 4 years ago (one
# with an image) and of today.
#   1. a sender's transaction holds one chat (it sent a message and waits):
#      chat.apply_retention() returns at once, the held-up chat counted
#      busy and the other redacted; once the sender commits, the next run
#      redacts the first;
#   2. the job README shows, scheduled with cron.schedule(): within about
#      a minute pg_cron has run it (cron.job_run_details: succeeded), a
#      third chat's old messages are redacted, the recent ones kept, the
#      image queued for deletion, and chat.retention_status() shows the
#      run.
#
# Usage: bash test/scripts/retention.sh [DBNAME] (DBNAME unused: the
# cluster is its own).  Output: TAP.  About 70 s (pg_cron runs a job on
# the minute).
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_retention.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    stop_background
    cluster_stop
    rm -rf "$WORK"
}

source test/tap.sh
ok() { if [ "$1" == t ]; then pass "$2"; else fail "$2"; echo "#   $3"; fi; }
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/psql.err" 2>/dev/null | tail -5; exit 1; }

echo "1..9"

cluster_start "shared_preload_libraries = 'stylist_chat,pg_cron'" "cron.database_name = 'postgres'" \
    "cron.use_background_workers = on" "max_worker_processes = 16" || bail "cannot start a cluster"
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@" 2>"$WORK/psql.err"; }

q -c "CREATE EXTENSION stylist_chat" -c "CREATE EXTENSION pg_cron" >/dev/null || bail "cannot create the extensions"
q -c "ALTER DATABASE postgres SET stylist_chat.retention = '3 years'" >/dev/null || bail "cannot set the retention"
ALICE=c0000000-0000-4000-8000-000000000001
BOB=c0000000-0000-4000-8000-000000000002
SAM=50000000-0000-4000-8000-000000000001
q <<SQL >/dev/null || bail "cannot load the chats"
SET client_min_messages = warning;
SELECT chat.upsert_profile('$ALICE', 'customer', 'Alice');
SELECT chat.upsert_profile('$BOB', 'customer', 'Bob');
SELECT chat.upsert_profile('$SAM', 'stylist', 'Sam');
BEGIN;
SELECT chat.act_as('$ALICE');
SELECT chat.send_message(chat.chat_with('$SAM'), 'four years ago',
       attachments => '[{"storage_key": "old/alice.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}]');
SELECT chat.send_message(chat.chat_with('$SAM'), 'also four years ago');
SELECT chat.act_as('$BOB');
SELECT chat.send_message(chat.chat_with('$SAM'), 'bob, four years ago');
COMMIT;
UPDATE chat.chat_messages SET created_at = now() - interval '4 years' + seq * interval '1 hour';
BEGIN;
SELECT chat.act_as('$ALICE');
SELECT chat.send_message(chat.pair_chat_id('$ALICE', '$SAM'), 'today');
COMMIT;
SQL
ACHAT=$(q -c "SELECT chat.pair_chat_id('$ALICE', '$SAM')")
BCHAT=$(q -c "SELECT chat.pair_chat_id('$BOB', '$SAM')")

# 1. a sender holds bob's chat for 6 s
psql -X -q -At -d postgres >/dev/null 2>&1 <<SQL &
SET application_name = 'holder';
BEGIN;
SELECT chat.act_as('$BOB');
SELECT chat.send_message('$BCHAT', 'holding the chat');
SELECT pg_sleep(6);
COMMIT;
SQL
BGPIDS+=($!)
holder=$!
for _ in $(seq 1 100); do
    [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND query LIKE '%pg_sleep%'")" = 1 ] && break
    sleep 0.05
done
t0=$(date +%s%N)
out=$(q -c "SELECT redacted_messages, busy_chats FROM chat.apply_retention()")
ms=$((($(date +%s%N) - t0) / 1000000))
is "$out" "2|1" "with bob's chat held by a sender, a run redacts alice's two old messages and counts bob's chat busy"
ok "$([ "$ms" -lt 2000 ] && echo t)" "without waiting for the sender (${ms} ms; the sender holds the chat 6 s)" ""
is "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND state = 'active'")" 1 \
   "the sender was still there"
wait "$holder"
is "$(q -c "SELECT redacted_messages, busy_chats FROM chat.apply_retention()")" "1|0" \
   "once the sender committed, the next run redacts bob's old message"

# 2. through pg_cron, as README schedules it: carol's chat of 4 years ago
CAROL=c0000000-0000-4000-8000-000000000003
q <<SQL >/dev/null || bail "cannot add carol's chat"
SELECT chat.upsert_profile('$CAROL', 'customer', 'Carol');
BEGIN;
SELECT chat.act_as('$CAROL');
SELECT chat.send_message(chat.chat_with('$SAM'), 'for the cron job',
       attachments => '[{"storage_key": "old/cron.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}]');
SELECT chat.send_message(chat.chat_with('$SAM'), 'this one too');
COMMIT;
UPDATE chat.chat_messages SET created_at = now() - interval '4 years' + seq * interval '1 hour'
 WHERE chat_id = chat.pair_chat_id('$CAROL', '$SAM');
SQL
CCHAT=$(q -c "SELECT chat.pair_chat_id('$CAROL', '$SAM')")
q -c "SELECT cron.schedule('chat-retention', '* * * * *', \$\$SELECT chat.apply_retention(10000)\$\$)" >/dev/null ||
    bail "cannot schedule the job"
for _ in $(seq 1 90); do
    [ "$(q -c "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                WHERE j.jobname = 'chat-retention' AND d.status IN ('succeeded', 'failed')")" -ge 1 ] && break
    sleep 1
done
is "$(q -c "SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
             WHERE j.jobname = 'chat-retention' ORDER BY d.runid LIMIT 1")" succeeded \
   "pg_cron ran the job, which succeeded"
is "$(q -c "SELECT string_agg(seq || ':' || coalesce(body, '-'), ' ' ORDER BY chat_id = '$CCHAT', seq) FROM chat.chat_messages
             WHERE chat_id IN ('$ACHAT', '$CCHAT')")" \
   "1:- 2:- 3:today 1:- 2:-" "it redacted carol's two old messages; alice's message of today stays"
is "$(q -c "SELECT string_agg(storage_key || ':' || reason, ' ' ORDER BY id) FROM chat.orphaned_images")" \
   "old/alice.jpg:retention old/cron.jpg:retention" "both old images are queued for deletion"
is "$(q -c "SELECT (last_run->>'redacted_messages') || ' ' || (last_run->>'round_complete') FROM chat.retention_status()")" \
   "2 true" "retention_status() shows the job's run"
q -c "SELECT cron.unschedule('chat-retention')" >/dev/null
is "$(q -c "SELECT count(*) FROM cron.job")" 0 "the job is unscheduled"

[ "$failed" -eq 0 ]
