#!/usr/bin/env bash
# test/fuzz/run.sh: libFuzzer on the token parser (test/fuzz/token_fuzz.c)
# and on the gateway's frame parser (test/fuzz/frame_fuzz.c).
#
# Builds src/token.c with -DTOKEN_FUZZ (without its SQL-callable functions)
# and the target with clang -fsanitize=fuzzer,address,undefined, linked with
# PostgreSQL's libpgcommon.a and libpgport.a (HMAC-SHA256, timingsafe_bcmp)
# and OpenSSL, which libpgcommon's HMAC uses on Debian.  Then runs it for
# FUZZ_SECONDS (default 60) on a copy of test/fuzz/corpus.  Then builds
# gateway/frame.c and gateway/requests.c with frame_fuzz.c, linked with
# jansson, and runs it as long on a copy of test/fuzz/frame_corpus.  No
# server is needed.  Output: TAP, two tests; exit status 0 only when both
# passed.  Needs: clang, libclang-rt-14-dev (the libFuzzer runtime),
# libssl-dev, postgresql-server-dev-15, libjansson-dev.
set -uo pipefail
cd "$(dirname "$0")/../.."

SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config)
CC=${FUZZ_CC:-$(command -v clang || command -v clang-14)}
WORK=$(mktemp -d /tmp/stylist_chat_fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "1..2"
if [ -z "$CC" ]; then
    echo "not ok 1 - token parser fuzzing: clang is not installed"
    echo "not ok 2 - frame parser fuzzing: clang is not installed"
    exit 1
fi

LIBDIR=$("$PG_CONFIG" --pkglibdir)
PGLIBS=()
for lib in libpgcommon.a libpgport.a; do
    for dir in "$LIBDIR" "$("$PG_CONFIG" --libdir)"; do
        if [ -f "$dir/$lib" ]; then PGLIBS+=("$dir/$lib"); break; fi
    done
done

if ! "$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Wno-ignored-attributes -DTOKEN_FUZZ \
        -I"$("$PG_CONFIG" --includedir-server)" -Isrc \
        -o "$WORK/token_fuzz" test/fuzz/token_fuzz.c src/token.c \
        "${PGLIBS[@]}" -lssl -lcrypto >"$WORK/build.log" 2>&1; then
    echo "not ok 1 - token parser fuzzing: the target does not build"
    grep -E 'error|undefined' "$WORK/build.log" | head -20 | sed 's/^/#   /'
    token_built=false
else
    token_built=true
fi

# run_fuzzer N NAME BINARY CORPUS MAX_LEN: run a built target, print its TAP line
run_fuzzer() {
    local num=$1 name=$2 bin=$3 corpus=$4 max_len=$5 rc runs took f
    mkdir "$WORK/$bin.corpus"
    cp "$corpus"/* "$WORK/$bin.corpus/"
    (cd "$WORK" && "./$bin" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$bin-" "$bin.corpus") \
        >"$WORK/$bin.log" 2>&1
    rc=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$WORK/$bin.log" | grep -oE '[0-9]+$')
    took=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$WORK/$bin.log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+')
    if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
        echo "ok $num - $name survived $runs runs in ${took:-$SECONDS_TO_RUN} s"
        grep -E 'DONE|cov:' "$WORK/$bin.log" | tail -1 | sed 's/^/# /'
        return 0
    fi
    echo "not ok $num - $name fuzzing: libFuzzer exited with $rc"
    grep -E "$bin:|ERROR|SUMMARY|^    #[0-9]" "$WORK/$bin.log" | head -30 | sed 's/^/#   /'
    # keep the crashing input for the record
    for f in "$WORK/$bin"-crash-* "$WORK/$bin"-leak-* "$WORK/$bin"-timeout-*; do
        [ -e "$f" ] || continue
        echo "#   input: $(basename "$f"): $(od -An -c "$f" | head -3 | tr -s ' ')"
    done
    return 1
}

status=0
if $token_built; then
    run_fuzzer 1 "token parser" token_fuzz test/fuzz/corpus 256 || status=1
else
    status=1
fi

if ! "$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Igateway -o "$WORK/frame_fuzz" test/fuzz/frame_fuzz.c gateway/frame.c gateway/requests.c \
        -ljansson >"$WORK/frame_build.log" 2>&1; then
    echo "not ok 2 - frame parser fuzzing: the target does not build"
    grep -E 'error|undefined' "$WORK/frame_build.log" | head -20 | sed 's/^/#   /'
    exit 1
fi
run_fuzzer 2 "gateway frame parser" frame_fuzz test/fuzz/frame_corpus 70000 || status=1
exit $status
