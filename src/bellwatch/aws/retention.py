"""The retention periods CloudWatch Logs accepts, shared by ``aws setup`` and ``cost``.

No boto3 here: ``bellwatch cost`` checks ``--retention`` without the ``aws`` extra.
"""

from __future__ import annotations

__all__ = ["RETENTION_DAYS", "retention_problem"]

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)  # fmt: skip
"""The values PutRetentionPolicy accepts for ``retentionInDays`` (anything else is an
InvalidParameterException)."""


def retention_problem(days: int) -> str | None:
    """Why ``days`` is not a CloudWatch retention, or None when it is one."""
    if days in RETENTION_DAYS:
        return None
    allowed = ", ".join(map(str, RETENTION_DAYS))
    return f"{days} is not a CloudWatch retention; use one of {allowed}"
