#!/bin/sh
# Start Janus with its admin secret from the environment (libconfig files cannot read it).
set -eu
: "${JANUS_ADMIN_SECRET:?set JANUS_ADMIN_SECRET}"
mkdir -p /run/janus
for f in /opt/telemed-janus/*.jcfg; do
    sed "s|@JANUS_ADMIN_SECRET@|${JANUS_ADMIN_SECRET}|" "$f" > "/run/janus/$(basename "$f")"
done
exec janus -F /run/janus -C /run/janus/janus.jcfg
