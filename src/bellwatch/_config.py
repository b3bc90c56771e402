"""Deprecated name of :mod:`bellwatch._settings` (kept while branches merge)."""

from ._settings import *  # noqa: F403 - a plain alias
from ._settings import DEFAULT_REDACT_KEYS, DOCS, env_name, markdown_table  # noqa: F401
