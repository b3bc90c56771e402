#!/usr/bin/env bash
# The monitoring guide's debug script, as a thin wrapper over the `bellwatch` CLI.
#
#   ./scripts/debug-logs.sh COMMAND [options]    (tail, errors, slow, trace, filter, ...)
#
# Every bellwatch command is forwarded with its arguments, e.g.
#   ./scripts/debug-logs.sh errors --since 1h
#   ./scripts/debug-logs.sh slow --threshold 2 -l 'logs/*.jsonl*'
#   ./scripts/debug-logs.sh insights 'stats count(*) as n by path | sort n desc'
#   ./scripts/debug-logs.sh trace 3f9a1c7e2b4d
#   ./scripts/debug-logs.sh errors --log-group /ecs/bella-prod --since 1h   # CloudWatch
#   ./scripts/debug-logs.sh health --source aws                             # ECS + targets
# BELLWATCH_LOG_GROUP=/ecs/bella-prod makes every command read CloudWatch.
# Run from a checkout, it uses the checkout's .venv; otherwise `bellwatch` on PATH.
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    echo
    echo "Commands: tail trace filter insights errors slow endpoints twilio summary users"
    echo "          cost metrics health mcp demo aws (bellwatch --help says what each does)"
}

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" || "$1" == "help" ]]; then
    usage
    exit 0
fi

# Follow links to the script itself (~/bin/debug-logs -> checkout/scripts/debug-logs.sh), so
# the checkout's .venv is found from anywhere; readlink without -f, as macOS's has none.
src="${BASH_SOURCE[0]}"
while [[ -L "$src" ]]; do
    dir="$(cd "$(dirname "$src")" && pwd)"
    src="$(readlink "$src")"
    [[ "$src" == /* ]] || src="$dir/$src"
done
here="$(cd "$(dirname "$src")" && pwd)"
root="$(dirname "$here")"
if [[ -x "$root/.venv/bin/bellwatch" ]]; then
    bellwatch="$root/.venv/bin/bellwatch"
elif command -v bellwatch >/dev/null 2>&1; then
    bellwatch="$(command -v bellwatch)"
elif [[ -x "$root/.venv/bin/python" ]]; then
    bellwatch="$root/.venv/bin/python -m bellwatch.cli"
elif [[ -f "$root/Makefile" ]]; then
    # a fresh checkout: `make demo` creates .venv (the README's first step)
    echo "debug-logs.sh: bellwatch not found; run 'make demo' (or 'make test') in $root first" >&2
    exit 2
else
    echo "debug-logs.sh: bellwatch not found; pip install 'bellwatch[cli]'" >&2
    exit 2
fi

# Every command goes to bellwatch, which says (exit 2) when it knows no such command.
# shellcheck disable=SC2086  # "python -m bellwatch.cli" must split into words
exec $bellwatch "$@"
