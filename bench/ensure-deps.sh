#!/usr/bin/env bash
# Debian tools the benchmarks run: wrk (load), jq and ripgrep (the query peers), redis-server.
# The one installer is scripts/ensure-system-deps.sh; this names what the benchmarks need.
set -euo pipefail
exec bash "$(dirname "$0")/../scripts/ensure-system-deps.sh" "the benchmarks" \
  wrk jq rg:ripgrep redis-server
