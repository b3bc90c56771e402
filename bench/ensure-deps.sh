#!/usr/bin/env bash
# Debian tools the benchmarks run: wrk (load), jq and ripgrep (the query peers), redis-server.
# Installs what is missing when we are root; otherwise says what to install.
set -euo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages the benchmarks run)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "the benchmarks need: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
