#!/usr/bin/env bash
# Installs the Debian packages the platform needs, only those that are absent.
#   system-deps.sh run   -> what `make run` needs (the CJK and Latin TrueType fonts of the reports)
#   system-deps.sh test  -> plus Chromium, PostgreSQL, pdftotext and Janus for the test suite, and nginx,
#                           coturn and openssl for the cluster tests (deploy/debian.py), and wrk, the load
#                           generator of bench/cluster.py
set -euo pipefail
want=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need() { have_pkg "$1" || want+=("$1"); }

need fonts-wqy-zenhei
need fonts-dejavu-core
if [ "${1:-run}" = test ]; then
    command -v chromium >/dev/null || need chromium
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need postgresql
    command -v pdftotext >/dev/null || need poppler-utils
    [ -x /usr/sbin/nginx ] || need nginx
    command -v turnserver >/dev/null || need coturn
    command -v openssl >/dev/null || need openssl
    command -v wrk >/dev/null || need wrk              # bench/cluster.py's 50 users, in native code
    command -v janus >/dev/null || need janus          # the consult tests' second media backend
    command -v janus-pp-rec >/dev/null || need janus-tools
fi
[ ${#want[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${want[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${want[@]}"
