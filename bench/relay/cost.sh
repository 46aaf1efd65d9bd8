#!/usr/bin/env bash
# Where a proxy's CPU goes per request: one HAProxy or relay process between wrk and nginx, on loopback only.
# usage: bench/relay/cost.sh [--target haproxy|cutover] [--mode close|keep] [--perf]   (needs: npm run build; nginx, haproxy, wrk, perf)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f packages/relay/dist/main.js ] && [ -f packages/testkit/dist/index.js ] || npm run build >/dev/null
exec node bench/relay/cost.mjs "$@"
