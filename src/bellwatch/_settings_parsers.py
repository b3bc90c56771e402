"""The value parsers of the settings: an argument or a ``BELLWATCH_*`` value, as given,
to its typed value, or :class:`ConfigError` naming the key as it was given.

Each parser is ``(key, raw) -> value``; :mod:`bellwatch._settings` names one per setting
in its table and re-exports :class:`ConfigError` and :func:`service_name`. May import the
standard library only: it is the lowest layer, below ``_settings`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "ConfigError",
    "boolean",
    "choice",
    "level",
    "long_secret",
    "names",
    "namespace",
    "number",
    "optional_string",
    "redis_url",
    "secret",
    "service_name",
    "string",
    "uid_key",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


# Raised here but documented, imported and caught as bellwatch._settings.ConfigError (and
# bellwatch.ConfigError): name that home in reprs, tracebacks and pickles.
ConfigError.__module__ = "bellwatch._settings"


def boolean(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key}: expected a boolean (1/0, true/false), got {raw!r}")


def number(kind: type[int] | type[float], low: float, high: float) -> Callable[[str, object], Any]:
    def parse(key: str, raw: object) -> int | float:
        try:
            value = kind(raw)  # type: ignore[call-overload,arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {kind.__name__}, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{key}: {value} is outside [{low}, {high}]")
        return value

    return parse


def choice(*options: str) -> Callable[[str, object], str]:
    def parse(key: str, raw: object) -> str:
        text = str(raw).strip().lower()
        if text not in options:
            raise ConfigError(f"{key}: expected one of {', '.join(options)}, got {raw!r}")
        return text

    return parse


# The standard library's aliases and numbers, as logging.getLevelName reads them: an app
# passes logging.DEBUG (10) as readily as "DEBUG".
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
_LEVEL_NUMBERS = {"10": "DEBUG", "20": "INFO", "30": "WARNING", "40": "ERROR", "50": "CRITICAL"}


def level(key: str, raw: object) -> str:
    if isinstance(raw, bool):  # an int, but never a level
        raise ConfigError(f"{key}: expected one of {', '.join(_LEVELS)}, got {raw!r}")
    text = str(raw).strip().upper()
    text = _LEVEL_ALIASES.get(text) or _LEVEL_NUMBERS.get(text) or text
    if text not in _LEVELS:
        raise ConfigError(
            f"{key}: expected one of {', '.join(_LEVELS)} (or 10, 20, 30, 40, 50), got {raw!r}"
        )
    return text


def string(key: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{key}: expected a string, got {type(raw).__name__}")
    return raw


def optional_string(key: str, raw: object) -> str | None:
    if raw is None:
        return None
    text = string(key, raw).strip()
    return text or None


def secret(key: str, raw: object) -> str | None:
    # An empty or blank token would silently mean "no token", i.e. an open /metrics.
    if isinstance(raw, str) and not raw.strip():
        raise ConfigError(f"{key}: is empty or blank; unset it for no token, or set a real one")
    return optional_string(key, raw)


def long_secret(key: str, raw: object) -> str | None:
    # A token that opens the logs to any caller who has it: too short is guessable.
    text = secret(key, raw)
    if text is not None and len(text) < 16:
        raise ConfigError(
            f"{key}: expected at least 16 characters, got {len(text)} "
            "(openssl rand -hex 16 makes one)"
        )
    return text


# CloudWatch's namespace rule: 1-255 of these characters, not blank, not starting with a
# colon, and "AWS/" is Amazon's. A namespace breaking it loses every EMF metric silently.
_NAMESPACE = re.compile(r"(?!AWS/)[0-9A-Za-z._/#\- ][0-9A-Za-z._/#:\- ]{0,254}")


def namespace(key: str, raw: object) -> str:
    text = string(key, raw)
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
    text = string(key, raw)
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


def redis_url(key: str, raw: object) -> str | None:
    """A Redis URL whose scheme redis-py reads, checked here so the error names the key
    as it was given (``BELLWATCH_REDIS_URL``), not when the store first connects."""
    text = optional_string(key, raw)
    if text is not None and not text.lower().startswith(_REDIS_SCHEMES):
        raise ConfigError(
            f"{key}: expected a URL starting with {', '.join(_REDIS_SCHEMES)}, got "
            f"{text.split('://', 1)[0] + '://...' if '://' in text else 'no scheme'}"
        )
    return text


def uid_key(key: str, raw: object) -> str | None:
    # BLAKE2b takes keys of up to 64 bytes; fewer than 16 could be guessed.
    text = secret(key, raw)
    if text is not None and not 16 <= len(text.encode("utf-8")) <= 64:
        raise ConfigError(f"{key}: expected 16 to 64 bytes, got {len(text.encode('utf-8'))}")
    return text


def names(key: str, raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        items = raw.split(",")
    elif isinstance(raw, list | tuple | set | frozenset):
        items = [str(x) for x in raw]
    else:
        raise ConfigError(f"{key}: expected a comma-separated list, got {raw!r}")
    return tuple(x.strip().lower() for x in items if x.strip())
