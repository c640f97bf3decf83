#!/usr/bin/env bash
# test/demo_web.sh: the chat in the browser (make demo-web).
#
# Starts a throwaway cluster (test/lib.sh), creates the extension in the
# relayed database (postgres), a login for the gateway that is a member of
# chat_user only, Mia (a customer) and Leo (a stylist) with two bookings
# and a few messages; builds and starts the WebSocket gateway (gateway/) on
# 127.0.0.1, port $DEMO_PORT (default 8765); mints a token for each (12
# hours) and prints the two addresses to open, one per browser window.
# The token travels in the address's fragment (after #), which a browser
# never sends to a server; the page keeps it in the tab's sessionStorage.
# Runs until Ctrl-C, then stops the gateway and removes the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

bash test/deps.sh
source test/lib.sh
build_and_install
make -s gateway PG_CONFIG="$PG_CONFIG"
cluster_start

PORT=${DEMO_PORT:-8765}
GW_PID=
stop_all() {
    [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    cluster_stop
}
trap stop_all EXIT
trap 'exit 0' INT TERM

psql -X -q -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION stylist_chat;
CREATE ROLE demo_gateway LOGIN IN ROLE chat_user;
CREATE ROLE demo_app LOGIN IN ROLE chat_service;
SET ROLE demo_app;
SELECT chat.upsert_profile('a1000000-0000-4000-8000-000000000001', 'customer', 'Mia');
SELECT chat.upsert_profile('b2000000-0000-4000-8000-000000000002', 'stylist', 'Leo');
SELECT chat.upsert_booking('c3000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000001',
                           'b2000000-0000-4000-8000-000000000002', 'Haircut', now() - interval '40 days', 'completed');
SELECT chat.upsert_booking('c3000000-0000-4000-8000-000000000004', 'a1000000-0000-4000-8000-000000000001',
                           'b2000000-0000-4000-8000-000000000002', 'Colour', now() + interval '3 days', 'confirmed');
BEGIN;
SELECT chat.act_as('a1000000-0000-4000-8000-000000000001');
SELECT chat.send_message(chat.chat_with('b2000000-0000-4000-8000-000000000002'),
                         'Hi Leo! Could we go a bit shorter than last time?',
                         booking_id => 'c3000000-0000-4000-8000-000000000004');
SELECT chat.send_message(chat.chat_with('b2000000-0000-4000-8000-000000000002'), '',
                         attachments => '[{"storage_key": "uploads/mia/bob.jpg", "content_type": "image/jpeg",
                                           "byte_size": 204800, "width": 1080, "height": 1350}]');
COMMIT;
BEGIN;
SELECT chat.act_as('b2000000-0000-4000-8000-000000000002');
SELECT chat.send_message(chat.chat_with('a1000000-0000-4000-8000-000000000001'),
                         'Love it. A chin-length bob, then. See you on the day!', reply_to_seq => 2);
SELECT chat.pin(chat.chat_with('a1000000-0000-4000-8000-000000000001'), 1, 'shorter than last time');
COMMIT;
SQL
mia=$(psql -X -At -d postgres -c "SELECT chat.issue_token('a1000000-0000-4000-8000-000000000001', interval '12 hours')")
leo=$(psql -X -At -d postgres -c "SELECT chat.issue_token('b2000000-0000-4000-8000-000000000002', interval '12 hours')")

gateway/stylist_chat_gateway --host 127.0.0.1 --port "$PORT" \
    --db "host=$PGHOST port=$PGPORT dbname=postgres user=demo_gateway" \
    --origin "http://127.0.0.1:$PORT" --origin "http://localhost:$PORT" \
    2>"$CLUSTER_DIR/gateway.log" &
GW_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

cat <<EOM

The gateway listens on http://127.0.0.1:$PORT/ (its log: $CLUSTER_DIR/gateway.log).
Open each address in its own browser window (a private window for the second):

  Mia, a customer:  http://127.0.0.1:$PORT/#token=$mia
  Leo, her stylist: http://127.0.0.1:$PORT/#token=$leo

Write in one, watch it arrive in the other. Ctrl-C stops the gateway and removes the cluster.
EOM
wait "$GW_PID"
