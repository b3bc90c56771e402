#!/usr/bin/env bash
# Provision CloudWatch monitoring for the ECS service: a thin wrapper over `bellwatch aws setup`.
#
#   ./aws/setup-monitoring.sh                       # asks for the alert email
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
if [[ -x "$here/.venv/bin/python" ]]; then
    python="$here/.venv/bin/python"
else
    python="$(command -v python3)"
fi

has_email=false
for arg in "$@"; do
    case "$arg" in --email|--email=*|--help) has_email=true ;; esac
done

args=("$@")
if ! $has_email; then
    email="${ALERT_EMAIL:-}"
    if [[ -z "$email" ]]; then
        # bash shows the prompt only on a terminal; piped input is read all the same.
        read -r -p "Email address for CloudWatch alarm notifications: " email || true
    fi
    args+=(--email "$email")
fi

exec "$python" -m bellwatch.cli.aws setup "${args[@]}"
