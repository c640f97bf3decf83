#!/usr/bin/env bash
# test/scripts/privacy.sh: an export of a long history works within
# bounded memory, and its lines are one JSON document.
#
# Database $1 of the test cluster (PGHOST/PGPORT/PGUSER).  A customer with
# a chat of 10,000 messages and one with a chat of 100,000 (bulk-loaded,
# one in ten with an image).  Each is exported as an admin
# (chat.export_profile), streamed to a file by psql, while this script
# samples the server process's private memory (RssAnon in
# /proc/PID/status) every 20 ms.  The document is checked whole (jq-free:
# the server parses it back), and the peak of the server's private memory
# during the 100,000-message export must not grow with the history: less
# than 2 x the 10,000-message export's peak growth + 16 MB, and well under
# the document's size.  Then erase_profile() on the long history: every
# message a tombstone, each image's key returned once.
#
# Usage: bash test/scripts/privacy.sh DBNAME.  Output: TAP.  About 30 s.
set -uo pipefail

DB=${1:?usage: privacy.sh DBNAME}
cd "$(dirname "$0")/../.." || exit 1
WORK=$(mktemp -d /tmp/stylist_chat_privacy.XXXXXX)
chmod 777 "$WORK"
cleanup() {
    stop_background
    rm -rf "$WORK"
}
trap cleanup EXIT

source test/tap.sh
ok() { if [ "$1" == t ]; then pass "$2"; else fail "$2"; echo "#   $3"; fi; }
bail() { echo "Bail out! $*"; sed "s/^/#   /" "$WORK/psql.err" 2>/dev/null | tail -5; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@" 2>"$WORK/psql.err"; }

ADA=adadadad-adad-4ada-8ada-adadadadadad
SHORT=c1000000-0000-4000-8000-000000000001
LONG=c1000000-0000-4000-8000-000000000002
STYLIST=51000000-0000-4000-8000-000000000001
echo "1..8"

# the two histories, loaded as the owner
q <<SQL >/dev/null || bail "cannot load the histories"
SET client_min_messages = warning;
BEGIN;
SELECT chat.upsert_profile('$ADA', 'admin', 'Ada');
SELECT chat.upsert_profile('$SHORT', 'customer', 'Short history');
SELECT chat.upsert_profile('$LONG', 'customer', 'Long history');
SELECT chat.upsert_profile('$STYLIST', 'stylist', 'Sam');
SELECT chat.act_as('$SHORT');
SELECT chat.chat_with('$STYLIST');
SELECT chat.act_as('$LONG');
SELECT chat.chat_with('$STYLIST');
INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, attachment_count, created_at)
SELECT chat.pair_chat_id(c, '$STYLIST'), k, CASE WHEN k % 2 = 0 THEN c ELSE '$STYLIST'::uuid END,
       'message ' || k || ': about the colour, the cut, and when to come again "soon"',
       CASE WHEN k % 10 = 0 THEN 1 ELSE 0 END, timestamptz '2024-01-01' + k * interval '1 minute'
  FROM (VALUES ('$SHORT'::uuid, 10000), ('$LONG'::uuid, 100000)) h(c, total), generate_series(1, total) k;
INSERT INTO chat.media (chat_id, seq, position, storage_key, content_type, byte_size, width, height)
SELECT m.chat_id, m.seq, 1, 'images/' || m.chat_id || '/' || m.seq || '.jpg', 'image/jpeg', 100000, 800, 600
  FROM chat.chat_messages m WHERE m.attachment_count = 1;
UPDATE chat.chats c SET last_seq = x.n, customer_read_seq = x.n, stylist_read_seq = x.n
  FROM (SELECT chat_id, max(seq) AS n FROM chat.chat_messages GROUP BY chat_id) x WHERE c.chat_id = x.chat_id;
COMMIT;
SQL

# export PROFILE NAME: the document into $WORK/NAME.json, and the peak of
# the server process's RssAnon (kB) above its value before, in $peak
export_of() {
    local profile=$1 name=$2 pid base top cur
    mkfifo "$WORK/$name.go"
    # the session: its pid, then it waits for the sampler to be ready
    { echo "SET stylist_chat.session_identity = on;"
      echo "SELECT pg_backend_pid();"
      echo "SELECT chat.act_as('$ADA', true);"
      read -r _ <"$WORK/$name.go"
      # (psql prints each line as it is: COPY's text format would escape
      # the backslashes of the JSON)
      echo "\\set FETCH_COUNT 1000"
      echo "\\o $WORK/$name.json"
      echo "SELECT * FROM chat.export_profile('$profile', 'bounded memory test');"
    } | psql -X -q -At -d "$DB" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local psqlpid=$!
    BGPIDS+=($psqlpid)
    for _ in $(seq 1 100); do
        pid=$(head -1 "$WORK/$name.out" 2>/dev/null)
        [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] || bail "the export session did not start"
    base=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status")
    top=$base
    echo go >"$WORK/$name.go"
    while kill -0 "$psqlpid" 2>/dev/null; do
        cur=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        [ -n "$cur" ] && [ "$cur" -gt "$top" ] && top=$cur
        sleep 0.02
    done
    wait "$psqlpid"
    peak=$((top - base))
}

export_of "$SHORT" short
short_peak=$peak
export_of "$LONG" long
long_peak=$peak
size=$(($(stat -c %s "$WORK/long.json") / 1024))
echo "# private memory of the server process during the export: +${short_peak} kB for 10,000 messages, +${long_peak} kB for 100,000 (the document: ${size} kB)"

ok "$([ ! -s "$WORK/long.err" ] && echo t)" "the export of 100,000 messages runs" "$(head -3 "$WORK/long.err")"
is "$(q -c "SELECT jsonb_array_length(pg_read_file('$WORK/long.json')::jsonb->'messages')")" 100000 \
   "its lines are one JSON document with the 100,000 messages"
is "$(q -c "SELECT count(*) FROM jsonb_array_elements(pg_read_file('$WORK/long.json')::jsonb->'messages') m
             WHERE jsonb_array_length(m->'attachments') = 1")" 10000 "and their 10,000 images"
ok "$([ "$long_peak" -lt $((2 * short_peak + 16384)) ] && echo t)" \
   "the server's memory does not grow with the history (+${long_peak} kB for 100,000 messages, +${short_peak} kB for 10,000)" ""
ok "$([ "$long_peak" -lt $((size / 2)) ] && echo t)" \
   "and stays well under the document's size (+${long_peak} kB against ${size} kB)" ""
is "$(q -c "SELECT count(*) FROM chat.privacy_requests WHERE action = 'export' AND reason = 'bounded memory test'")" 2 \
   "both exports are recorded"

# the long history erased
q -c "BEGIN" -c "SELECT chat.act_as('$ADA')" -c "SELECT item, count(*), count(DISTINCT storage_key) FROM chat.erase_profile('$LONG', 'test') GROUP BY item" -c "COMMIT" \
  >"$WORK/erase.out" || bail "erase_profile failed"
is "$(tail -1 "$WORK/erase.out")" "image|10000|10000" "erase_profile() returns the key of each of her 10,000 images, once"
is "$(q -c "SELECT count(*) FILTER (WHERE body IS NULL AND deleted_at IS NOT NULL) || ' ' || count(*) FILTER (WHERE body IS NOT NULL)
             FROM chat.chat_messages WHERE chat_id = chat.pair_chat_id('$LONG', '$STYLIST')")" "50000 50000" \
   "her 50,000 messages are tombstones, the stylist's 50,000 stay"

[ "$failed" -eq 0 ]
