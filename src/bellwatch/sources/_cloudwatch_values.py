"""What the CloudWatch source hands back: Insights values typed as the local engine types them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bellwatch.schema import FIELDS
from bellwatch.sources.base import TIMESTAMP

__all__ = ["insights_value"]

_INT = re.compile(r"-?(0|[1-9]\d{0,17})")
_FLOAT = re.compile(r"-?(0|[1-9]\d*)\.\d+")
# Schema fields that are text even when they look like numbers (an all-digit error hash).
_TEXT_FIELDS = frozenset(f.key for f in FIELDS if f.type == "str")
_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")


def insights_value(field: str, value: str) -> Any:
    """An Insights value (always text) as the local engine has it: numbers, epoch ms."""
    # Insights returns every value as text; give back numbers, and @timestamp as epoch ms,
    # as the local engine does, so the CLI renders both alike.
    if field == TIMESTAMP and _STAMP.fullmatch(value):
        stamp = datetime.strptime(value + "+0000", "%Y-%m-%d %H:%M:%S.%f%z")
        return int(stamp.timestamp() * 1000)
    if field in _TEXT_FIELDS:
        return value
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value
