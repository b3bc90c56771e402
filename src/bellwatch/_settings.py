"""Settings: explicit argument > ``BELLWATCH_*`` environment variable > default.

Resolved once, at configure time, in this one module. A bad value raises
:class:`ConfigError` naming the key, so a typo fails the deploy instead of the
first request.

Here: every setting (:class:`Settings`, its parser, its line of documentation) and
:func:`resolve`. The value parsers themselves, and :class:`ConfigError`, live in
:mod:`bellwatch._settings_parsers` (re-exported here, where every caller imports them).
May import ``_settings_parsers`` and the standard library only.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._settings_parsers import (
    ConfigError,
    boolean,
    choice,
    level,
    long_secret,
    names,
    namespace,
    number,
    optional_string,
    redis_url,
    secret,
    service_name,
    string,
    uid_key,
)

# service_name is re-exported: the store checks a service's Redis namespace with it.
__all__ = ["ENV_PREFIX", "ConfigError", "ConfigWarning", "Settings", "resolve", "service_name"]

ENV_PREFIX = "BELLWATCH_"


class ConfigWarning(UserWarning):
    """A ``BELLWATCH_*`` environment variable that is no setting (a typo, most often):
    it changes nothing, so it is said once, with the setting it most resembles."""


# Keys whose values never reach a line: a key matches when its last words are one of
# these, whatever its case and separators (``clientSecret`` = ``client_secret``, and
# ``db_password`` ends with ``password``). Compounds such as ``client_secret`` are
# listed too, so that their glued spelling (``clientsecret``) matches. ``redact_keys``
# adds to this list; ``redact_builtin_keys`` replaces it. The README lists it (tests
# keep them in step).
DEFAULT_REDACT_KEYS = (
    # credentials
    "authorization",
    "auth",
    "cookie",
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "passcode",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "session_token",
    "api_key",
    "access_key",
    "secret_key",
    "secret_access_key",
    "private_key",
    "credentials",
    "credential",
    "signature",
    "jwt",
    # personal data
    "pin",
    "otp",
    "cvv",
    "cvc",
    "ssn",
    "card_number",
    "security_code",
)

DEFAULT_CID_HEADERS = ("x-request-id", "x-correlation-id", "x-amzn-trace-id", "traceparent")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every bellwatch setting, resolved once. Field name ``x`` reads ``BELLWATCH_X``."""

    # logging pipeline
    service: str = "app"
    env: str = "prod"
    level: str = "INFO"
    max_line: int = 200
    error_line_max: int = 600
    timestamp: str = "ms"
    stdout: bool = True
    log_file: bool = False
    log_dir: str = "logs"
    log_max_bytes: int = 20 * 1024 * 1024
    log_backups: int = 5
    log_flush: float = 0.2
    log_blocked: str = "drop"
    redact_keys: tuple[str, ...] = ()
    redact_builtin_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    mask_phones: bool = True
    mask_emails: bool = False
    capture_stdlib: bool = True
    # request monitoring
    slow_threshold: float = 2.0
    cid_headers: tuple[str, ...] = DEFAULT_CID_HEADERS
    cid_response_header: str = "x-request-id"
    cid_max_length: int = 64
    cid_bytes: int = 6
    metrics_token: str | None = None
    dashboard_session_ttl: float = 12 * 3600.0
    session_window: float = 300.0
    emf: bool = False
    emf_namespace: str = "Bellwatch"
    # user analytics
    user_analytics: bool = True
    hash_uid: bool = False
    uid_key: str | None = None
    # error aggregation
    error_mode: str = "every_n"
    error_every: int = 10
    error_window: float = 60.0
    error_ttl: float = 3600.0
    error_max_patterns: int = 10_000
    spike_threshold: int = 10
    spike_window: float = 300.0
    alert_webhook: str | None = None
    alert_sns_topic: str | None = None
    alert_interval: float = 600.0
    alert_low: bool = False
    # cluster state
    redis_url: str | None = None
    flush_interval: float = 1.0
    buffer_max: int = 100_000
    # CLI and AWS
    log_group: str | None = None
    region: str | None = None
    url: str = "http://127.0.0.1:8000"
    mcp_token: str | None = None

    @property
    def dev(self) -> bool:
        return self.env == "dev"


_PARSERS: dict[str, Callable[[str, object], Any]] = {
    "service": service_name,
    "env": choice("prod", "dev"),
    "level": level,
    "max_line": number(int, 100, 1_000_000),
    "error_line_max": number(int, 100, 1_000_000),
    "timestamp": choice("ms", "iso"),
    "stdout": boolean,
    "log_file": boolean,
    "log_dir": string,
    "log_max_bytes": number(int, 4096, 1 << 40),
    "log_backups": number(int, 0, 1000),
    "log_flush": number(float, 0.0, 60.0),
    "log_blocked": choice("drop", "block"),
    "redact_keys": names,
    "redact_builtin_keys": names,
    "mask_phones": boolean,
    "mask_emails": boolean,
    "capture_stdlib": boolean,
    "slow_threshold": number(float, 0.0, 3600.0),
    "cid_headers": names,
    "cid_response_header": string,
    "cid_max_length": number(int, 8, 256),
    "cid_bytes": number(int, 4, 32),
    "metrics_token": secret,
    "dashboard_session_ttl": number(float, 60.0, 30 * 86_400.0),
    "session_window": number(float, 1.0, 86_400.0),
    "emf": boolean,
    "emf_namespace": namespace,
    "user_analytics": boolean,
    "hash_uid": boolean,
    "uid_key": uid_key,
    "error_mode": choice("every_n", "window"),
    "error_every": number(int, 1, 1_000_000),
    "error_window": number(float, 0.001, 86_400.0),
    "error_ttl": number(float, 0.001, 30 * 86_400.0),
    "error_max_patterns": number(int, 1, 10_000_000),
    "spike_threshold": number(int, 1, 1_000_000),
    "spike_window": number(float, 1.0, 86_400.0),
    "alert_webhook": optional_string,
    "alert_sns_topic": optional_string,
    "alert_interval": number(float, 0.0, 86_400.0),
    "alert_low": boolean,
    "redis_url": redis_url,
    "flush_interval": number(float, 0.01, 3600.0),
    "buffer_max": number(int, 1, 100_000_000),
    "log_group": optional_string,
    "region": optional_string,
    "url": string,
    "mcp_token": long_secret,
}

_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))
assert set(_PARSERS) == _FIELDS, "every setting needs a parser"


# One line per setting, for the README table (tests keep the two in step).
DOCS: dict[str, str] = {
    "service": "service name; the local log file is `<log_dir>/<service>.jsonl` and Redis keys "
    "live under `bellwatch:<service>:` (so no `:`, `/` or NUL, none of `*?[]\\`, not `.` or `..`)",
    "env": "`prod` (compact JSON) or `dev` (coloured console at DEBUG)",
    "level": "minimum level (a name, or the standard library's number: logging.DEBUG); "
    "filtered calls are no-ops",
    "max_line": "character budget of one line (>= 100)",
    "error_line_max": "character budget of the first line of each error fingerprint, which "
    "carries its route, status and traceback (>= 100; 600 holds 5 app frames)",
    "timestamp": "`ms` (epoch milliseconds, fewest tokens) or `iso`",
    "stdout": "write lines to standard output (what ECS awslogs ships)",
    "log_file": "also write the size-rotated local JSONL file the CLI reads",
    "log_dir": "directory of the local log files",
    "log_max_bytes": "rotate the local file past this size",
    "log_backups": "rotated files kept (`.1` ... `.N`)",
    "log_flush": "seconds INFO lines may wait to be written to the local file together, "
    "and plain requests to be counted and logged in a batch (WARNING and worse go at once; "
    "0 does everything at once)",
    "log_blocked": "when stdout's reader or the log file's disk stalls: `drop` lines past a "
    "1 MiB buffer (counted in `stdout_dropped`/`file_dropped`) or `block` the caller until it "
    "takes them",
    "redact_keys": "more keys whose values are masked (comma list), added to the built-in list",
    "redact_builtin_keys": "the built-in secret keys (see Logging); set it to replace that list",
    "mask_phones": "keep only the last 4 digits of phone numbers in any value",
    "mask_emails": "mask e-mail addresses to `a***@domain` (off: support finds users by them)",
    "capture_stdlib": "route stdlib `logging` (uvicorn, botocore, httpx) through the pipeline",
    "slow_threshold": "seconds after which a request is slow (WARNING, counted)",
    "cid_headers": "inbound correlation-id headers, in order of preference",
    "cid_response_header": "response header that carries the correlation id",
    "cid_max_length": "longest inbound id accepted",
    "cid_bytes": "random bytes in a generated id (6 = 12 hex)",
    "metrics_token": "bearer token required by /metrics and /dashboard",
    "dashboard_session_ttl": "seconds a browser's dashboard session lasts (a new token ends all)",
    "session_window": "seconds a session key counts as active",
    "emf": "write CloudWatch Embedded Metric Format lines each minute",
    "emf_namespace": "CloudWatch namespace of the EMF metrics (up to 255 of letters, digits, "
    "space, `._/#:-`; not `AWS/...`)",
    "user_analytics": "count distinct users, new and returning ones, users per error and slow "
    "route from the bound `uid` (needs the `users` extra; without it: not counted)",
    "hash_uid": "replace every bound `uid` by its keyed BLAKE2 hash (16 hex) before it is "
    "logged, counted or sent to Redis (needs `uid_key`)",
    "uid_key": "the secret key of `hash_uid`, 16 to 64 bytes; set it in the environment, the "
    "same in every task, and never in code (a new key gives every user a new hash)",
    "error_mode": "`every_n` (log 1st, then every Nth) or `window` (one line per window)",
    "error_every": "N of every-Nth",
    "error_window": "seconds of one window in window mode",
    "error_ttl": "seconds an idle error pattern is kept",
    "error_max_patterns": "most error patterns kept (least recently seen go first)",
    "spike_threshold": "occurrences within spike_window that escalate severity",
    "spike_window": "seconds of the spike window",
    "alert_webhook": "JSON webhook (Slack-compatible) for in-process alerts",
    "alert_sns_topic": "SNS topic ARN for in-process alerts",
    "alert_interval": "seconds between two alerts of one fingerprint",
    "alert_low": "also page when a low-severity pattern (validation errors, 4xx) spikes",
    "redis_url": "shared store for cluster-wide numbers (`redis://...`)",
    "flush_interval": "seconds between flushes to the shared store",
    "buffer_max": "updates kept in memory while the shared store is down",
    "log_group": "CloudWatch log group for `--source cloudwatch`",
    "region": "AWS region",
    "url": "base URL of the running service for `bellwatch metrics/health` and `mcp`",
    "mcp_token": "bearer token `bellwatch mcp --http` requires of every request (16 characters "
    "or more)",
}


def markdown_table() -> str:
    """Every setting as a Markdown table: env var, default, meaning."""
    rows = ["| environment variable | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        default = f.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        if len(str(shown)) > 40:
            shown = "(see `_settings.py`)"
        rows.append(f"| `{env_name(f.name)}` | `{shown}` | {DOCS[f.name]} |")
    return "\n".join(rows)


def env_name(field_name: str) -> str:
    """The environment variable that sets ``field_name``."""
    return ENV_PREFIX + field_name.upper()


def resolve(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from arguments, then ``BELLWATCH_*``, then defaults.

    Raises:
        ConfigError: an unknown key or an invalid value, naming the key.
    """
    env = os.environ if environ is None else environ
    _warn_unknown(env)
    unknown = set(overrides) - _FIELDS
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(map(_resembles, sorted(unknown)))}")
    values: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        if overrides.get(name) is not None:
            values[name] = parse(name, overrides[name])
        elif env_name(name) in env:
            values[name] = parse(env_name(name), env[env_name(name)])
    if "level" not in values and values.get("env") == "dev":
        values["level"] = "DEBUG"
    if values.get("hash_uid") and not values.get("uid_key"):
        raise ConfigError(
            f"hash_uid: needs a key: set {env_name('uid_key')} (16 to 64 bytes) in the environment"
        )
    return Settings(**values)


_ENV_NAMES = frozenset(env_name(name) for name in _FIELDS)
# BELLWATCH_* names that are no setting but are ours: never warned about.
_NOT_SETTINGS = frozenset({"BELLWATCH_BENCH_QUICK"})


def _warn_unknown(env: Mapping[str, str]) -> None:
    """Warn about each ``BELLWATCH_*`` variable no setting reads.

    A typo (``BELLWATCH_LOGFILE=1``) would otherwise change nothing, silently. A
    warning, not an error: an unknown variable breaks nothing, and a deploy must not
    fail on one. It names the caller's line, so Python's own filters show it once
    there however often settings are resolved.
    """
    known = _ENV_NAMES
    for name in env:
        if name.startswith(ENV_PREFIX) and name not in known and name not in _NOT_SETTINGS:
            import difflib  # only for a name that is no setting

            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.warn(
                f"{name} is not a bellwatch setting{hint}", ConfigWarning, stacklevel=_caller()
            )


def _resembles(name: str) -> str:
    """``name``, with the setting it most resembles: ``slow_treshold (did you mean
    slow_threshold?)``, as a mistyped variable's warning names the variable."""
    import difflib  # only for a name that is no setting

    close = difflib.get_close_matches(name, sorted(_FIELDS), n=1)
    return f"{name} (did you mean {close[0]}?)" if close else name


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _caller() -> int:
    """The ``stacklevel`` of the first frame outside bellwatch: the warning names the
    user's ``configure()`` (or whatever call resolved the settings), not our code."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


assert set(DOCS) == _FIELDS, "every setting needs a line of documentation"
