#!/usr/bin/env bash
# Relay benchmark: direct vs socat vs HAProxy (TCP mode) vs the cutover relay, on loopback only.
# usage: bench/relay/run.sh [--reps 3] [--seconds 4]     (needs: npm run build; nginx, haproxy, socat, iperf3, wrk)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f packages/relay/dist/main.js ] && [ -f packages/testkit/dist/index.js ] || npm run build >/dev/null
exec node bench/relay/run.mjs "$@"
