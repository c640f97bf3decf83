#!/usr/bin/env bash
# test/run.sh: every test of stylist_chat, on a throwaway cluster (make test).
#
# 1. installs missing packages (test/deps.sh), builds with -Werror, installs;
# 2. starts a cluster with stylist_chat preloaded (test/lib.sh), removed on exit;
# 3. runs the suites, each in a fresh database:
#      pg_regress   sql/*.sql against expected/*.out
#      pgTAP        test/pgtap/*.sql through pg_prove
#      libpq        test/libpq/*.c, built here; each prints TAP
#      scripts      test/scripts/*.sh; each prints TAP.  They get the
#                   database name as $1, the cluster in PGHOST/PGPORT/PGUSER,
#                   and the built test/chat_client.c as $CHAT_CLIENT; a
#                   script that must crash or reconfigure a server starts
#                   its own with test/lib.sh
#      fuzz         test/fuzz/run.sh: libFuzzer on the token parser, 60 s
# 4. prints "N passed, N failed" over every test of every suite and exits
#    non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash test/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
source test/lib.sh

passed=0
failed=0

# count_tap FILE RC: add the TAP results in FILE to the totals; tests a plan
# announced but never reported, and a non-zero exit with no failure
# reported, count as failures
count_tap() {
    local file=$1 rc=$2 ok notok plan
    ok=$(grep -cE '^ *ok [0-9]+' "$file")
    notok=$(grep -cE '^ *not ok [0-9]+' "$file")
    plan=$(grep -m1 -oE '^ *1\.\.[0-9]+' "$file" | sed 's/.*\.\.//')
    if [ -n "$plan" ] && [ $((ok + notok)) -lt "$plan" ]; then
        notok=$((plan - ok))
    fi
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        notok=1
    fi
    passed=$((passed + ok))
    failed=$((failed + notok))
    echo "    $ok passed, $notok failed"
}

fresh_db() {
    local db=$1
    dropdb --if-exists "$db" >/dev/null 2>&1
    createdb "$db" && psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
        -c "CREATE EXTENSION IF NOT EXISTS pgtap" -c "CREATE EXTENSION stylist_chat" >/dev/null
}

echo "== build"
if ! build_and_install; then
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

LOGDIR=$(mktemp -d /tmp/stylist_chat_tests.XXXXXX)
chmod 755 "$LOGDIR"
cluster_start || { echo "0 passed, 1 failed"; exit 1; }

echo "== pg_regress"
make -s PG_CONFIG="$PG_CONFIG" installcheck >"$LOGDIR/regress.out" 2>&1
rc=$?
grep -E '^test |^     [a-z_]+ +\.\.\.|\.\.\. (ok|FAILED)' "$LOGDIR/regress.out" | sed 's/^/    /'
r_ok=$(grep -cE '\.\.\. ok' "$LOGDIR/regress.out")
r_fail=$(grep -cE '\.\.\. FAILED' "$LOGDIR/regress.out")
if [ $rc -ne 0 ] && [ "$r_fail" -eq 0 ]; then
    r_fail=1
    cat "$LOGDIR/regress.out"
fi
[ -f regression.diffs ] && head -200 regression.diffs
passed=$((passed + r_ok)); failed=$((failed + r_fail))
echo "    $r_ok passed, $r_fail failed"

echo "== pgTAP"
for t in test/pgtap/*.sql; do
    [ -e "$t" ] || continue
    echo "  $t"
    fresh_db chat_tap || { failed=$((failed + 1)); echo "    could not create database chat_tap"; continue; }
    pg_prove -v -d chat_tap "$t" >"$LOGDIR/tap.out" 2>&1
    rc=$?
    grep -E '^ *not ok|^#' "$LOGDIR/tap.out" | head -40 | sed 's/^/    /'
    count_tap "$LOGDIR/tap.out" $rc
done

# the chat client of test/chat_client.c, for the script tests and the demo
build_client() {
    gcc -O2 -Wall -Wextra -Werror -o "$1" test/chat_client.c -I"$("$PG_CONFIG" --includedir)" \
        -L"$("$PG_CONFIG" --libdir)" -lpq
}
export CHAT_CLIENT=$LOGDIR/chat_client
if [ -f test/chat_client.c ] && ! build_client "$CHAT_CLIENT"; then
    echo "test/chat_client.c does not build"
    failed=$((failed + 1))
fi

echo "== libpq"
for src in test/libpq/*.c; do
    [ -e "$src" ] || continue
    bin=$LOGDIR/$(basename "${src%.c}")
    echo "  $src"
    if ! gcc -O2 -Wall -Wextra -Werror -o "$bin" "$src" -I"$("$PG_CONFIG" --includedir)" \
            -L"$("$PG_CONFIG" --libdir)" -lpq -lpthread; then
        failed=$((failed + 1)); echo "    build failed"; continue
    fi
    fresh_db chat_libpq || { failed=$((failed + 1)); echo "    could not create database chat_libpq"; continue; }
    timeout 600 "$bin" chat_libpq >"$LOGDIR/libpq.out" 2>&1
    rc=$?
    grep -E '^ *not ok|^#' "$LOGDIR/libpq.out" | head -40 | sed 's/^/    /'
    count_tap "$LOGDIR/libpq.out" $rc
done

echo "== scripts"
for t in test/scripts/*.sh; do
    [ -e "$t" ] || continue
    echo "  $t"
    fresh_db chat_script || { failed=$((failed + 1)); echo "    could not create database chat_script"; continue; }
    timeout 600 bash "$t" chat_script >"$LOGDIR/script.out" 2>&1
    rc=$?
    grep -E '^ *not ok|^#' "$LOGDIR/script.out" | head -40 | sed 's/^/    /'
    count_tap "$LOGDIR/script.out" $rc
done

echo "== fuzz"
if [ -f test/fuzz/run.sh ]; then
    echo "  test/fuzz/run.sh"
    bash test/fuzz/run.sh >"$LOGDIR/fuzz.out" 2>&1
    rc=$?
    grep -E '^ *(not )?ok|^#' "$LOGDIR/fuzz.out" | head -20 | sed 's/^/    /'
    count_tap "$LOGDIR/fuzz.out" $rc
fi

if [ "$failed" -ne 0 ]; then
    echo "server log (tail):"
    tail -50 "$CLUSTER_DIR/server.log"
fi
rm -rf "$LOGDIR"
cluster_stop
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
