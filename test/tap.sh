# test/tap.sh: what the script tests (test/scripts/*.sh) share to print TAP,
# and to stop what they started in the background.  Source it after
# test/lib.sh.
#
#   pass DESCRIPTION, fail DESCRIPTION   one test; the counts are in n and failed
#   is GOT WANT DESCRIPTION              passes when GOT is WANT, else shows both
#   stop_background                      kills the pids in BGPIDS and waits
#   wait_until SECONDS COMMAND...        runs the command every 0.1 s until it
#                                        succeeds (0) or the time is up (1)

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
is() {
    if [ "$1" == "$2" ]; then pass "$3"; else fail "$3"; echo "#   got: $1" | head -c 2000; echo; echo "#  want: $2" | head -c 2000; echo; fi
}

BGPIDS=()
stop_background() {
    local p
    for p in "${BGPIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
}

wait_until() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.1
    done
}
