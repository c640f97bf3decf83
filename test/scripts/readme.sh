#!/usr/bin/env bash
# test/scripts/readme.sh: README.md's SQL examples run as written and give
# the results they show.
#
# What it tests: every ```sql block of README.md, in the order of the file,
# as one psql script on a database that has nothing of the chat yet (the
# extension is dropped first, so that README's own CREATE EXTENSION runs).
# One TAP test per block: ok when each statement of the block ran as shown.
#
# The convention of README's examples (README says it in one sentence at the
# top of its API reference):
#   - only blocks tagged ```sql run; any other tag (or none) is prose;
#   - a ```sql block whose first line is "-- (not run: why)" is not run (a
#     bind parameter of a driver, say); it is reported as a TAP skip;
#   - a statement ends with ";" at the end of a line, or with a psql \g,
#     \gset or \gx; one statement a line at most; a line that is a psql
#     meta-command (\set) stands alone and may carry no comment;
#   - "-- → text" is one row of the statement's output as psql prints it
#     unaligned, tuples only, NULL as NULL (psql -At -P null=NULL; columns
#     separated by "|"); a statement with "→" lines must print exactly those
#     rows, in that order.  "-- ~ regex" is such a row that changes from run
#     to run (a token, a channel name): the row must match the POSIX
#     extended regular expression, anchored at both ends;
#   - "-- ERROR: SQLSTATE" (anything may follow the code) is an error the
#     statement must raise with that SQLSTATE; any other statement must
#     succeed (psql's SQLSTATE 00000);
#   - these comments go at the end of the statement's last line or on lines
#     of their own right after it.  Any other comment is prose.
# The session is the test cluster's superuser with
# stylist_chat.session_identity off (the default a reader's server has; the
# test cluster turns it on for its superuser), so README's examples switch
# roles with SET ROLE themselves where they mean to.  The database is not
# the relayed one: nothing in README waits for the relay worker.
#
# How: an awk program reads README.md and writes the psql script, with a
# marker before each statement and its SQLSTATE after it, and the list of
# what each statement must give; psql runs the script once, and bash
# compares.  A failing block is shown with its README line numbers, what
# differed, and psql's output and messages for that block.  The roles
# README creates are dropped at the end, whatever the end (only those this
# run created).
#
# Usage: bash test/scripts/readme.sh DBNAME, with PGHOST, PGPORT and PGUSER
# of a superuser set.  Output: TAP.  KEEP_WORK=DIR keeps the psql script it
# made and psql's output there.
set -uo pipefail

DB=${1:?usage: readme.sh DBNAME}
cd "$(dirname "$0")/../.."
README=$PWD/README.md
WORK=$(mktemp -d /tmp/stylist_chat_readme.XXXXXX)
README_ROLES="app_backend chat_gateway mobile_direct"
CREATED_ROLES=

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)

cleanup() {
    local r
    for r in $CREATED_ROLES; do
        "${PSQL[@]}" -d "$DB" -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
    done
    [ -n "${KEEP_WORK:-}" ] && cp -r "$WORK" "$KEEP_WORK"; rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# extract: README.md -> $WORK/script.psql, $WORK/blocks, $WORK/expect
#   blocks: block <TAB> first line <TAB> last line <TAB> run|skip <TAB> title
#           <TAB> its first statement, or why it is not run
#   expect: block <TAB> statement <TAB> line <TAB> kind <TAB> value, with kind
#           stmt (value empty: the statement is there), row, re or error
# ---------------------------------------------------------------------------
awk -v script="$WORK/script.psql" -v blocks="$WORK/blocks" -v expect="$WORK/expect" '
function fail(msg) {
    printf "README.md:%d: %s\n", NR, msg > "/dev/stderr"
    failed = 1
    exit 1
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
# split line into code and comment (after the first -- outside quotes);
# inq carries an open string literal over to the next line; a $$-quoted
# body (of a DO block) is a string too, and may hold semicolons
function split_line(line,    i, c, n) {
    code = line; comment = ""; has_comment = 0; semis = 0
    n = length(line)
    for (i = 1; i <= n; i++) {
        c = substr(line, i, 1)
        if (indollar) { if (c == "$" && substr(line, i + 1, 1) == "$") { indollar = 0; i++ }; continue }
        if (inq) { if (c == "\047") inq = 0; continue }
        if (indq) { if (c == "\"") indq = 0; continue }
        if (c == "$" && substr(line, i + 1, 1) == "$") { indollar = 1; i++; continue }
        if (c == "\047") { inq = 1; continue }
        if (c == "\"") { indq = 1; continue }
        if (c == ";") semis++
        if (c == "-" && substr(line, i + 1, 1) == "-") {
            code = substr(line, 1, i - 1)
            comment = trim(substr(line, i + 2))
            has_comment = 1
            return
        }
    }
}
# is a comment a result to check?  (one that looks like it but is not
# readable is an error, not prose)
function is_result(text) {
    if (text ~ /^(→ |~ |ERROR: [0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z])/) return 1
    if (text ~ /^(→|~|ERROR)/) fail("a result comment this test cannot read: -- " text)
    return 0
}
# write down a result comment of statement s
function expectation(s, text) {
    if (text ~ /^→ /)
        printf "%d\t%d\t%d\trow\t%s\n", block, s, NR, trim(substr(text, length("→ ") + 1)) > expect
    else if (text ~ /^~ /)
        printf "%d\t%d\t%d\tre\t%s\n", block, s, NR, trim(substr(text, 3)) > expect
    else
        printf "%d\t%d\t%d\terror\t%s\n", block, s, NR, substr(text, 8, 5) > expect
}
# BEGIN, act_as and the like do not name a block well
function dull(stmt_text) { return stmt_text ~ /^(BEGIN|COMMIT|SET ROLE|SELECT chat\.act_as\()/ }
function end_statement() {
    print "\\echo @@state :SQLSTATE" > script
    open = 0
    last = stmt
}
/^#+ / && !inblock && !infence { title = $0; sub(/^#+ +/, "", title) }
!inblock && /^[ \t]*```sql[ \t]*$/ {
    inblock = 1; block++; first = NR; stmt = 0; last = 0; open = 0; inq = 0; indq = 0; indollar = 0
    match($0, /^[ \t]*/); indent = RLENGTH
    skip = -1          # not known until the first line that is not blank
    head = ""; headdull = 0
    print "\\echo @@block " block > script
    print "\\warn @@block " block > script
    next
}
inblock && /^[ \t]*```[ \t]*$/ {
    if (open) fail("the statement that starts at line " start " does not end in its block")
    if (inq || indollar) fail("a string literal does not end in its block")
    printf "%d\t%d\t%d\t%s\t%s\t%s\n", block, first, NR, skip == 1 ? "skip" : "run", title, head > blocks
    inblock = 0
    next
}
!inblock && /^[ \t]*```/ { infence = !infence; next }
!inblock { next }
{
    line = $0
    if (substr(line, 1, indent) ~ /^[ \t]*$/) line = substr(line, indent + 1)
    if (skip == -1 && line !~ /^[ \t]*$/) {
        skip = (line ~ /^-- \(not run: .*\)/) ? 1 : 0
        if (skip) { head = line; sub(/^-- \(/, "", head); sub(/\)[^)]*$/, "", head) }
    }
    if (skip == 1) next

    split_line(line)
    c = trim(code)
    if (!open && c == "") {
        # a line of comment: a result of the statement before it, or prose
        if (has_comment && is_result(comment)) {
            if (!last) fail("a result comment with no statement before it in its block")
            expectation(last, comment)
        }
        next
    }
    if (!open && substr(c, 1, 1) == "\\") {
        if (has_comment) fail("a comment on a psql meta-command line (psql would take it as arguments)")
        print line > script
        next
    }
    if (!open) {
        stmt++; open = 1; start = NR
        # the block is named by its first statement, but BEGIN and the like
        if (head == "" || (headdull && !dull(c))) { head = c; headdull = dull(c) }
        printf "%d\t%d\t%d\tstmt\t\n", block, stmt, NR > expect
        print "\\echo @@stmt " block " " stmt > script
    }
    print line > script
    if (has_comment && is_result(comment)) expectation(stmt, comment)
    if (inq || indollar) next
    if (c ~ /\\g[a-z]*( +[^ ]+)?$/) {
        if (has_comment) fail("a comment on a line that ends with a psql \\g command")
        end_statement()
    } else if (c ~ /;$/) {
        if (semis > 1)
            fail("more than one statement on a line")
        end_statement()
    } else if (semis > 0) {
        fail("more than one statement on a line")
    }
}
END {
    if (failed) exit 1
    if (inblock) fail("a ```sql block does not end")
}
' "$README" 2>"$WORK/extract.err"
if [ $? -ne 0 ]; then
    echo "1..1"
    echo "not ok 1 - README.md's examples can be read"
    sed 's/^/#   /' "$WORK/extract.err"
    exit 1
fi

nblocks=$(wc -l <"$WORK/blocks")
echo "1..$nblocks"

# ---------------------------------------------------------------------------
# run: the roles README creates must not exist yet (they would not be ours to
# drop), and the extension goes, so that README's CREATE EXTENSION runs
# ---------------------------------------------------------------------------
for r in $README_ROLES; do
    if [ -n "$("${PSQL[@]}" -d "$DB" -c "SELECT 1 FROM pg_roles WHERE rolname = '$r'")" ]; then
        echo "# role $r exists already: README creates it" >&2
    else
        CREATED_ROLES+=" $r"
    fi
done
"${PSQL[@]}" -d "$DB" -c "DROP EXTENSION IF EXISTS stylist_chat" >"$WORK/setup.err" 2>&1 ||
    { sed 's/^/#   /' "$WORK/setup.err"; }

PGOPTIONS="${PGOPTIONS:-} -c stylist_chat.session_identity=off" \
    psql -X -q -At -P null=NULL -v ON_ERROR_STOP=0 -d "$DB" -f "$WORK/script.psql" \
    >"$WORK/out" 2>"$WORK/err"

# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------
declare -A OUT STATE BLOCK_OUT BLOCK_ERR

# psql's output: the rows of each statement, and its SQLSTATE
b=0; key=
while IFS= read -r l; do
    case $l in
        "@@block "*) b=${l#@@block }; key= ;;
        "@@stmt "*) key=${l#@@stmt }; key=${key/ /.}; OUT[$key]=
                    BLOCK_OUT[$b]+="-- statement ${key#*.}"$'\n' ;;
        "@@state "*) [ -n "$key" ] && STATE[$key]=${l#@@state }; key= ;;
        *) if [ -n "$key" ]; then OUT[$key]+=$l$'\n'; fi
           BLOCK_OUT[$b]+=$l$'\n' ;;
    esac
done <"$WORK/out"

# psql's messages (errors, notices, warnings), by block
b=0
while IFS= read -r l; do
    case $l in
        "@@block "*) b=${l#@@block } ;;
        *) BLOCK_ERR[$b]+=${l#"psql:$WORK/script.psql:"*": "}$'\n' ;;
    esac
done <"$WORK/err"

# what each statement must give
declare -A LINE WANT_ROWS WANT_ERROR STMTS
while IFS=$'\t' read -r b s ln kind value; do
    k=$b.$s
    case $kind in
        stmt) LINE[$k]=$ln; STMTS[$b]+=" $s" ;;
        row) WANT_ROWS[$k]+="=$value"$'\n' ;;
        re) WANT_ROWS[$k]+="~$value"$'\n' ;;
        error) WANT_ERROR[$k]=$value ;;
    esac
done <"$WORK/expect"

# check_statement KEY: empty when the statement gave what README shows,
# else what differs
check_statement() {
    local k=$1 want_state=${WANT_ERROR[$1]:-00000} got_state=${STATE[$1]:-}
    local -a want got
    local i w g
    if [ -z "$got_state" ]; then
        echo "psql did not run it to the end"
        return
    fi
    if [ "$got_state" != "$want_state" ]; then
        if [ "$want_state" = 00000 ]; then
            echo "failed with SQLSTATE $got_state"
        else
            echo "SQLSTATE $got_state, README shows ERROR: $want_state"
        fi
        return
    fi
    [ -n "${WANT_ROWS[$k]:-}" ] || return
    mapfile -t want < <(printf '%s' "${WANT_ROWS[$k]}")
    mapfile -t got < <(printf '%s' "${OUT[$k]:-}")
    if [ ${#want[@]} -ne ${#got[@]} ]; then
        echo "${#got[@]} rows, README shows ${#want[@]}"
    fi
    for ((i = 0; i < ${#want[@]} || i < ${#got[@]}; i++)); do
        w=${want[i]:-}; g=${got[i]-(no row)}
        if [ $i -ge ${#want[@]} ]; then
            echo "row $((i + 1)): $g (README shows no such row)"
        elif [ "${w:0:1}" = "=" ]; then
            [ "$g" == "${w:1}" ] || echo "row $((i + 1)): $g (README shows → ${w:1})"
        else
            [[ $g =~ ^(${w:1})$ ]] || echo "row $((i + 1)): $g (README shows ~ ${w:1}, which it does not match)"
        fi
    done
}

n=0
failed=0
while IFS=$'\t' read -r b first last mode title head; do
    n=$((n + 1))
    if [ "$mode" = skip ]; then
        echo "ok $n - README.md:$first ($title) # SKIP $head"
        continue
    fi
    desc="README.md:$first ($title): $head"
    desc=${desc//#/\\#}       # a "#" would start a TAP directive
    problems=
    for s in ${STMTS[$b]:-}; do
        p=$(check_statement "$b.$s")
        [ -n "$p" ] && problems+="statement $s (README.md:${LINE[$b.$s]}): "${p//$'\n'/$'\n'    }$'\n'
    done
    if [ -z "$problems" ]; then
        echo "ok $n - $desc"
    else
        failed=$((failed + 1))
        echo "not ok $n - $desc"
        {
            printf '%s' "$problems"
            echo "the block:"
            awk -v a="$first" -v z="$last" 'NR >= a && NR <= z { printf "%5d  %s\n", NR, $0 }' "$README"
            echo "psql's output:"
            printf '%s' "${BLOCK_OUT[$b]:-}"
            echo "psql's messages:"
            printf '%s' "${BLOCK_ERR[$b]:-}"
        } | sed 's/^/#   /'
    fi
done <"$WORK/blocks"

[ "$n" -eq "$nblocks" ] && [ "$failed" -eq 0 ]
