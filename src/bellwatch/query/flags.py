"""1-or-0 flags for Logs Insights ``fields`` and ``stats``, built from documented functions only.

The queries bellwatch sends count lines by condition: requests among all lines, 5xx
among requests, bad signatures among Twilio failures. The AWS page "Boolean, comparison,
numeric, datetime, and other functions" allows comparison operators only "in the filter
command and as arguments for other functions", and Insights has no ``if()``; arithmetic
and the numeric and string functions are documented in ``fields`` as well. So a flag is
arithmetic over those functions, never ``status >= 500 as is_error``: the same text then
runs in any account, in the console's dashboard widget, and in the local engine
(:mod:`.insights`), which gives the same numbers the comparison would.

Each builder returns expression text, to be named with ``as`` in a ``fields`` command.
A flag of a missing field is null (``sum`` and ``avg`` skip it), as the comparison's
false would count nothing, unless the builder says otherwise.
"""

from __future__ import annotations

import re

__all__ = ["at_least", "between", "equals", "non_empty"]

_PLAIN = re.compile(r"[A-Za-z0-9_.:-]+")


def at_least(field: str, number: int) -> str:
    """1 when ``field >= number`` (a positive integer), else 0: ``floor(field / number)``
    is 0 from 0 up to it, at least 1 from it, and negative below 0."""
    if number <= 0:
        raise ValueError(f"at_least: {number} is not a positive number")
    return f"greatest(least(floor({field} / {number}), 1), 0)"


def between(field: str, low: int, high: int) -> str:
    """1 when ``low <= field < high`` (``400, 500``: a 4xx status), else 0."""
    if not 0 < low < high:
        raise ValueError(f"between: expected 0 < low < high, got {low}, {high}")
    return f"{at_least(field, low)} - {at_least(field, high)}"


def equals(field: str, text: str) -> str:
    """1 when ``field`` is exactly ``text``, else 0: it contains ``text`` and is as long.

    ``strcontains`` alone would also count a longer value (``request_completed`` for
    ``request_complete``); ``strlen`` counts code points, as Python's ``len`` does.
    """
    if not _PLAIN.fullmatch(text):
        # a name of the schema's: quoting rules for anything else are not needed
        raise ValueError(f"equals: {text!r} is not a plain name (letters, digits, _ . - :)")
    return f'strcontains({field}, "{text}") * (1 - least(abs(strlen({field}) - {len(text)}), 1))'


def non_empty(field: str) -> str:
    """1 when the line has ``field`` with a value other than ``""``, else 0: ``isempty``
    is documented as 1 for a missing field or an empty string (``ispresent`` is a
    Boolean, documented for ``filter`` and as a function's argument, and the length
    of a missing field is not documented)."""
    return f"1 - isempty({field})"
