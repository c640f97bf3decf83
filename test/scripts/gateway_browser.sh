#!/usr/bin/env bash
# test/scripts/gateway_browser.sh: the reference web page (gateway/www/) in
# Debian's Chromium, through the WebSocket gateway (test/gateway/browser.js
# says what it checks).
#
# Its own cluster (test/lib.sh; removed at the end, whatever the end),
# database postgres (the relayed one): the extension, a login for the
# gateway that is a member of chat_user only, Mia and Leo with two bookings,
# a conversation (a booking card, a photo, a reply, a pin, a reaction), and
# Eve, a customer of another stylist; tokens for the three, and one that
# has expired.  browser.js starts the gateway itself (it kills and restarts
# it) and saves screenshots of the pages (kept in $SHOTS_DIR when that is
# set, else removed with the rest).
#
# Usage: bash test/scripts/gateway_browser.sh [DBNAME] (DBNAME unused: the
# cluster is its own).  Output: TAP.  About a minute.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
source test/lib.sh
WORK=$(mktemp -d /tmp/stylist_chat_browser.XXXXXX)
chmod 755 "$WORK"

NODE_PID=
cleanup() {
    [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
    # browser.js stops the gateway it starts; should it have been killed first
    [ -n "${GATEWAY_PORT:-}" ] && pkill -f -- "stylist_chat_gateway --port $GATEWAY_PORT " 2>/dev/null
    cluster_stop
    rm -rf "$WORK"
}
bail() { echo "1..1"; echo "not ok 1 - $*"; sed 's/^/#   /' "$WORK/setup.err" 2>/dev/null | tail -20; exit 1; }

make -s gateway GATEWAY_WERROR=-Werror PG_CONFIG="$PG_CONFIG" >"$WORK/setup.err" 2>&1 || bail "the gateway does not build"
if [ ! -d test/gateway/node_modules ]; then
    (cd test/gateway && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/setup.err" 2>&1 ||
        bail "npm ci failed in test/gateway"
fi
cluster_start >"$WORK/setup.err" 2>&1 || bail "cannot start a cluster"
trap cleanup EXIT

MIA=a1000000-0000-4000-8000-000000000001
LEO=b2000000-0000-4000-8000-000000000002
EVE=e3000000-0000-4000-8000-000000000003
SAM=b4000000-0000-4000-8000-000000000004
psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null 2>"$WORK/setup.err" <<SQL || bail "cannot set up the database"
CREATE EXTENSION stylist_chat;
CREATE ROLE browser_gateway LOGIN IN ROLE chat_user;
SELECT chat.upsert_profile('$MIA', 'customer', 'Mia');
SELECT chat.upsert_profile('$LEO', 'stylist', 'Leo');
SELECT chat.upsert_profile('$EVE', 'customer', 'Eve');
SELECT chat.upsert_profile('$SAM', 'stylist', 'Sam');
SELECT chat.upsert_booking('c3000000-0000-4000-8000-000000000003', '$MIA', '$LEO', 'Haircut',
                           now() - interval '40 days', 'completed');
SELECT chat.upsert_booking('c3000000-0000-4000-8000-000000000004', '$MIA', '$LEO', 'Colour',
                           now() + interval '3 days', 'confirmed');
BEGIN;
SELECT chat.act_as('$MIA');
SELECT chat.send_message(chat.chat_with('$LEO'), 'Hi Leo! Could we go a bit shorter than last time?',
                         booking_id => 'c3000000-0000-4000-8000-000000000004');
SELECT chat.send_message(chat.chat_with('$LEO'), '', attachments => '[{"storage_key": "uploads/mia/bob.jpg",
    "content_type": "image/jpeg", "byte_size": 204800, "width": 1080, "height": 1350}]');
COMMIT;
BEGIN;
SELECT chat.act_as('$LEO');
SELECT chat.send_message(chat.chat_with('$MIA'), 'Love it. A chin-length bob, then!',
                         reply_to_seq => (SELECT max(seq) FROM chat.chat_messages WHERE body = ''));
SELECT chat.pin(chat.chat_with('$MIA'), (SELECT min(seq) FROM chat.chat_messages WHERE body LIKE 'Hi Leo%'),
                'shorter than last time');
SELECT chat.react(chat.chat_with('$MIA'), (SELECT min(seq) FROM chat.chat_messages WHERE body LIKE 'Hi Leo%'), '👍');
COMMIT;
BEGIN;
SELECT chat.act_as('$EVE');
SELECT chat.send_message(chat.chat_with('$SAM'), 'Hello Sam, do you do balayage?');
COMMIT;
SQL
token() { psql -X -qAt -d postgres -c "SELECT chat.issue_token('$1', interval '$2')"; }
export MIA_TOKEN LEO_TOKEN EVE_TOKEN EXPIRED_TOKEN CHAT_ID
MIA_TOKEN=$(token "$MIA" '1 hour')
LEO_TOKEN=$(token "$LEO" '1 hour')
EVE_TOKEN=$(token "$EVE" '1 hour')
EXPIRED_TOKEN=$(token "$MIA" '1 second')
CHAT_ID=$(psql -X -qAt -d postgres -c "SELECT chat.pair_chat_id('$MIA', '$LEO')")
sleep 1.5    # the last token expires

export GATEWAY_BIN=$PWD/gateway/stylist_chat_gateway
export GATEWAY_DB="host=$PGHOST port=$PGPORT dbname=postgres user=browser_gateway"
export GATEWAY_LOG=$WORK/gateway.log
export GATEWAY_PORT
GATEWAY_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
export SHOTS_DIR=${SHOTS_DIR:-$WORK}
mkdir -p "$SHOTS_DIR"

# in the background, so that a signal to this script is handled at once
timeout 300 node test/gateway/browser.js &
NODE_PID=$!
wait "$NODE_PID"
rc=$?
NODE_PID=
if [ $rc -ne 0 ]; then
    echo "# gateway log (tail):"
    tail -30 "$GATEWAY_LOG" | sed 's/^/#   /'
fi
exit $rc
