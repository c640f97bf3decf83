#!/usr/bin/env bash
# test/deps.sh: install what building and testing stylist_chat needs, if missing.
#
# Debian 12 packages: the PostgreSQL 15 server and headers, pgTAP, pg_prove
# and libpq; clang, its libFuzzer runtime and the OpenSSL headers for the
# token fuzzer (test/fuzz).  apt-get update runs only when something is missing.
set -euo pipefail

packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl libpq-dev gcc make
          clang libclang-rt-14-dev libssl-dev)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
