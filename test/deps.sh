#!/usr/bin/env bash
# test/deps.sh: install what building and testing stylist_chat needs, if missing.
#
# Debian 12 packages: the PostgreSQL 15 server and headers, pgTAP, pg_prove
# and libpq; clang, its libFuzzer runtime and the OpenSSL headers for the
# token fuzzer (test/fuzz); pg_cron for the retention test (test/scripts/
# retention.sh); PgBouncer for the pooler test (test/scripts/
# pooler.sh), which runs its own instance on a private unix socket;
# libwebsockets, libev and jansson for the WebSocket gateway (gateway/), Node.js
# and npm for its test drivers (test/gateway/), Chromium and fonts for the
# browser test.  Node.js counts as present when node and npm run, however
# they were installed.  apt-get update runs only when something is missing.
#
# The pgbouncer package would start and enable a system service listening
# on localhost:6432.  The tests need none: while it is installed here a
# policy-rc.d (unless the machine has one already) forbids starting it,
# and afterwards the service is disabled, so that it does not start at the
# next boot either.
set -euo pipefail

packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl libpq-dev gcc make
          clang libclang-rt-14-dev libssl-dev pgbouncer postgresql-15-cron
          libwebsockets-dev libev-dev libjansson-dev chromium fonts-dejavu-core fonts-noto-color-emoji)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

policy=/usr/sbin/policy-rc.d
if [[ " ${missing[*]} " == *" pgbouncer "* ]] && [ ! -e "$policy" ]; then
    trap 'rm -f "$policy"' EXIT
    cat >"$policy" <<'EOF'
#!/bin/sh
# test/deps.sh: the pgbouncer service does not start while packages install
for a in "$@"; do
    case $a in pgbouncer | pgbouncer.*) exit 101 ;; esac
done
exit 0
EOF
    chmod 755 "$policy"
fi

apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null

if [[ " ${missing[*]} " == *" pgbouncer "* ]]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now pgbouncer.service pgbouncer.socket >/dev/null 2>&1 || true
    fi
    update-rc.d pgbouncer disable >/dev/null 2>&1 || true
fi
