#!/usr/bin/env bash
# Debian packages that make's targets run for real. With no arguments: what the test suite
# needs (redis-server, chromium). Else: ensure-system-deps.sh WHO COMMAND[:PACKAGE]...
# (bench/ensure-deps.sh passes the benchmarks' tools). Installs what is missing when we are
# root; otherwise says what to install.
set -euo pipefail
if [ $# -eq 0 ]; then
  set -- "the tests" redis-server chromium
fi
who=$1
shift
missing=()
for want in "$@"; do
  command -v "${want%%:*}" >/dev/null 2>&1 || missing+=("${want#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages $who run)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "$who need: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
