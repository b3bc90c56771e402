#!/usr/bin/env bash
# Provision CloudWatch monitoring for the ECS service: a thin wrapper over `bellwatch aws setup`.
#
#   ./aws/setup-monitoring.sh                       # asks for the alert email (not with --dry-run)
#   ./aws/setup-monitoring.sh --email ops@example.com --dry-run
#   ALERT_EMAIL=ops@example.com ./aws/setup-monitoring.sh --cluster bella-prod --service bella-api
#   ./aws/setup-monitoring.sh --email ops@example.com --config monitoring.toml --set cpu-high.threshold=90
#   ./aws/setup-monitoring.sh --email ops@example.com --export cloudformation -o monitoring.json
#
# Every option of `bellwatch aws setup --help` passes through. Safe to re-run: it changes only
# what differs, and never an existing log retention unless --retention is given. An empty email
# is allowed, but then the alarms reach nobody (the plan says so). Undo with
# `bellwatch aws teardown --name <service>`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The `bellwatch` console script, as installed (the checkout's .venv first, then PATH): the
# one entry point, which turns a missing extra or a bad option into one line, never a
# traceback.
if [[ -x "$here/.venv/bin/bellwatch" ]]; then
    bellwatch="$here/.venv/bin/bellwatch"
elif command -v bellwatch >/dev/null 2>&1; then
    bellwatch="$(command -v bellwatch)"
else
    echo "setup-monitoring.sh: the bellwatch command is not installed: pip install 'bellwatch[cli,aws]'" >&2
    exit 2
fi

has_email=false
dry_run=false
for arg in "$@"; do
    case "$arg" in
        --email|--email=*|--help|-h) has_email=true ;;
        --dry-run|--export|--export=*) dry_run=true ;;
    esac
done

args=("$@")
if ! $has_email; then
    email="${ALERT_EMAIL:-}"
    # A dry run (or an export) never asks: without an email its plan says the alarms
    # would reach nobody. Otherwise ask on a terminal, or read one line of piped input.
    if [[ -z "$email" ]] && ! $dry_run; then
        # bash shows the prompt only on a terminal; piped input is read all the same.
        # Nothing to read at all (no terminal, nothing piped: a CI job) is not an answer:
        # bellwatch then says to pass --email, rather than make alarms that notify nobody.
        if ! read -r -p "Email address for CloudWatch alarm notifications: " email \
            && [[ -z "$email" ]]; then
            exec "$bellwatch" aws setup "${args[@]}"
        fi
    fi
    args+=(--email "$email")
fi

exec "$bellwatch" aws setup "${args[@]}"
