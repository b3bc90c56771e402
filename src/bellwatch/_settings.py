"""Settings: explicit argument > ``BELLWATCH_*`` environment variable > default.

Resolved once, at configure time, in this one module. A bad value raises
:class:`ConfigError` naming the key, so a typo fails the deploy instead of the
first request.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENV_PREFIX", "ConfigError", "ConfigWarning", "Settings", "resolve"]

ENV_PREFIX = "BELLWATCH_"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


class ConfigWarning(UserWarning):
    """A ``BELLWATCH_*`` environment variable that is no setting (a typo, most often):
    it changes nothing, so it is said once, with the setting it most resembles."""


def _bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key}: expected a boolean (1/0, true/false), got {raw!r}")


def _number(kind: type[int] | type[float], low: float, high: float) -> Callable[[str, object], Any]:
    def parse(key: str, raw: object) -> int | float:
        try:
            value = kind(raw)  # type: ignore[call-overload,arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {kind.__name__}, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{key}: {value} is outside [{low}, {high}]")
        return value

    return parse


def _choice(*options: str) -> Callable[[str, object], str]:
    def parse(key: str, raw: object) -> str:
        text = str(raw).strip().lower()
        if text not in options:
            raise ConfigError(f"{key}: expected one of {', '.join(options)}, got {raw!r}")
        return text

    return parse


def _level(key: str, raw: object) -> str:
    text = str(raw).strip().upper()
    if text == "WARN":
        text = "WARNING"
    if text not in _LEVELS:
        raise ConfigError(f"{key}: expected one of {', '.join(_LEVELS)}, got {raw!r}")
    return text


def _text(key: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{key}: expected a string, got {type(raw).__name__}")
    return raw


def _optional_text(key: str, raw: object) -> str | None:
    if raw is None:
        return None
    text = _text(key, raw).strip()
    return text or None


def _secret(key: str, raw: object) -> str | None:
    # An empty or blank token would silently mean "no token", i.e. an open /metrics.
    if isinstance(raw, str) and not raw.strip():
        raise ConfigError(f"{key}: is empty or blank; unset it for no token, or set a real one")
    return _optional_text(key, raw)


def _long_secret(key: str, raw: object) -> str | None:
    # A token that opens the logs to any caller who has it: too short is guessable.
    text = _secret(key, raw)
    if text is not None and len(text) < 16:
        raise ConfigError(
            f"{key}: expected at least 16 characters, got {len(text)} "
            "(openssl rand -hex 16 makes one)"
        )
    return text


# CloudWatch's namespace rule: 1-255 of these characters, not blank, not starting with a
# colon, and "AWS/" is Amazon's. A namespace breaking it loses every EMF metric silently.
_NAMESPACE = re.compile(r"(?!AWS/)[0-9A-Za-z._/#\- ][0-9A-Za-z._/#:\- ]{0,254}")


def _namespace(key: str, raw: object) -> str:
    text = _text(key, raw)
    if not text.strip() or not _NAMESPACE.fullmatch(text):
        raise ConfigError(
            f"{key}: expected a CloudWatch namespace (1-255 of letters, digits, space and "
            f"._/#:-, not starting with ':' or 'AWS/'), got {text!r}"
        )
    return text


# A ':' in a service (its Redis namespace, bellwatch:<service>:) would put its keys inside
# another's ("a" resetting deletes "a:e"'s), a glob character would match other services,
# and a '/' or NUL would move or break its log file (<log_dir>/<service>.jsonl).
_NOT_IN_SERVICE = frozenset(":*?[]\\/\0")


def service_name(key: str, raw: object) -> str:
    """``raw`` as a service name, or :class:`ConfigError`: no ``:`` nor ``* ? [ ] \\ /``
    nor NUL, and not ``.`` or ``..``: it names the Redis key namespace and the log file."""
    text = _text(key, raw)
    if bad := sorted(set(text) & _NOT_IN_SERVICE):
        raise ConfigError(
            f"{key}: a service name may hold any character but : * ? [ ] \\ / and NUL (it is "
            f"the Redis key namespace bellwatch:<service>: and the log file <log_dir>/<service>"
            f".jsonl), got {text!r} with {' '.join(map(repr, bad))}"
        )
    if text.strip(".") == "":
        raise ConfigError(f"{key}: a service name names the log file; got {text!r}")
    return text


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what redis-py's from_url accepts


def _redis_url(key: str, raw: object) -> str | None:
    """A Redis URL whose scheme redis-py reads, checked here so the error names the key
    as it was given (``BELLWATCH_REDIS_URL``), not when the store first connects."""
    text = _optional_text(key, raw)
    if text is not None and not text.lower().startswith(_REDIS_SCHEMES):
        raise ConfigError(
            f"{key}: expected a URL starting with {', '.join(_REDIS_SCHEMES)}, got "
            f"{text.split('://', 1)[0] + '://...' if '://' in text else 'no scheme'}"
        )
    return text


def _uid_key(key: str, raw: object) -> str | None:
    # BLAKE2b takes keys of up to 64 bytes; fewer than 16 could be guessed.
    text = _secret(key, raw)
    if text is not None and not 16 <= len(text.encode("utf-8")) <= 64:
        raise ConfigError(f"{key}: expected 16 to 64 bytes, got {len(text.encode('utf-8'))}")
    return text


def _names(key: str, raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        items = raw.split(",")
    elif isinstance(raw, list | tuple | set | frozenset):
        items = [str(x) for x in raw]
    else:
        raise ConfigError(f"{key}: expected a comma-separated list, got {raw!r}")
    return tuple(x.strip().lower() for x in items if x.strip())


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
    "env": _choice("prod", "dev"),
    "level": _level,
    "max_line": _number(int, 100, 1_000_000),
    "error_line_max": _number(int, 100, 1_000_000),
    "timestamp": _choice("ms", "iso"),
    "stdout": _bool,
    "log_file": _bool,
    "log_dir": _text,
    "log_max_bytes": _number(int, 4096, 1 << 40),
    "log_backups": _number(int, 0, 1000),
    "log_flush": _number(float, 0.0, 60.0),
    "log_blocked": _choice("drop", "block"),
    "redact_keys": _names,
    "redact_builtin_keys": _names,
    "mask_phones": _bool,
    "mask_emails": _bool,
    "capture_stdlib": _bool,
    "slow_threshold": _number(float, 0.0, 3600.0),
    "cid_headers": _names,
    "cid_response_header": _text,
    "cid_max_length": _number(int, 8, 256),
    "cid_bytes": _number(int, 4, 32),
    "metrics_token": _secret,
    "dashboard_session_ttl": _number(float, 60.0, 30 * 86_400.0),
    "session_window": _number(float, 1.0, 86_400.0),
    "emf": _bool,
    "emf_namespace": _namespace,
    "user_analytics": _bool,
    "hash_uid": _bool,
    "uid_key": _uid_key,
    "error_mode": _choice("every_n", "window"),
    "error_every": _number(int, 1, 1_000_000),
    "error_window": _number(float, 0.001, 86_400.0),
    "error_ttl": _number(float, 0.001, 30 * 86_400.0),
    "error_max_patterns": _number(int, 1, 10_000_000),
    "spike_threshold": _number(int, 1, 1_000_000),
    "spike_window": _number(float, 1.0, 86_400.0),
    "alert_webhook": _optional_text,
    "alert_sns_topic": _optional_text,
    "alert_interval": _number(float, 0.0, 86_400.0),
    "alert_low": _bool,
    "redis_url": _redis_url,
    "flush_interval": _number(float, 0.01, 3600.0),
    "buffer_max": _number(int, 1, 100_000_000),
    "log_group": _optional_text,
    "region": _optional_text,
    "url": _text,
    "mcp_token": _long_secret,
}

_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))
assert set(_PARSERS) == _FIELDS, "every setting needs a parser"


# One line per setting, for the README table (tests keep the two in step).
DOCS: dict[str, str] = {
    "service": "service name; the local log file is `<log_dir>/<service>.jsonl` and Redis keys "
    "live under `bellwatch:<service>:` (so no `:`, `/` or NUL, none of `*?[]\\`, not `.` or `..`)",
    "env": "`prod` (compact JSON) or `dev` (coloured console at DEBUG)",
    "level": "minimum level; filtered calls are no-ops",
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
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.warn(
                f"{name} is not a bellwatch setting{hint}", ConfigWarning, stacklevel=_caller()
            )


def _resembles(name: str) -> str:
    """``name``, with the setting it most resembles: ``slow_treshold (did you mean
    slow_threshold?)``, as a mistyped variable's warning names the variable."""
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
