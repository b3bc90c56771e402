"""Calling CloudWatch Logs: throttling and transient failures retried with backoff and
jitter, every other failure turned into one sentence saying what to fix.

Used by :class:`~bellwatch.sources.cloudwatch.CloudWatchSource` for every API call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from bellwatch.aws.clients import error_code
from bellwatch.sources.base import SourceError

__all__ = ["explain", "with_retries"]

_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",  # start_query: too many concurrent queries
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
    }
)
_RETRYABLE_TYPES = frozenset(
    {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError"}
)


def explain(exc: BaseException, op: str, log_group: str, region: str | None) -> SourceError:
    """The one sentence a failed ``op`` on ``log_group`` gets: what to fix, when it is
    the user's to fix (credentials, region, a missing group, a rejected query)."""
    code, name = error_code(exc), type(exc).__name__
    if code == "ResourceNotFoundException":
        where = f" in {region}" if region else ""
        return SourceError(f"CloudWatch log group {log_group}{where}: {exc}")
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        return SourceError(f"CloudWatch Logs refused {op}: {exc} (check credentials/IAM)")
    if name == "NoRegionError":
        return SourceError("no AWS region: pass --region or set AWS_REGION/BELLWATCH_REGION")
    if name in ("NoCredentialsError", "ProfileNotFound"):
        return SourceError(f"AWS credentials: {exc} (aws configure, AWS_PROFILE, --profile)")
    if name == "ParamValidationError" or code in ("InvalidParameterException",
                                                  "MalformedQueryException"):  # fmt: skip
        return SourceError(f"CloudWatch Logs rejected {op}: {exc}")
    return SourceError(f"CloudWatch Logs {op} failed: {exc}")


def with_retries(
    call: Callable[[], Any],
    op: str,
    error: Callable[[BaseException, str], SourceError],
    *,
    retries: int,
    backoff: float,
    max_backoff: float,
    sleep: Callable[[float], None],
) -> Any:
    """``call()``, retried with backoff and jitter on throttling and transient errors;
    any other AWS failure, or the last one, is raised as one :class:`SourceError`."""
    delay = backoff
    for attempt in range(retries + 1):
        try:
            return call()
        except SourceError:
            raise
        except Exception as exc:
            if error_code(exc) is None and not type(exc).__module__.startswith("botocore"):
                raise  # a bug of ours or the caller's, not an AWS failure: show it
            retryable = (
                error_code(exc) in _RETRYABLE_CODES or type(exc).__name__ in _RETRYABLE_TYPES
            )
            if not retryable:
                raise error(exc, op) from None
            if attempt == retries:
                why = error_code(exc) or type(exc).__name__
                if op == "start_query" and why == "LimitExceededException":
                    raise SourceError(
                        "too many Logs Insights queries are running in this account and "
                        "region (interactive and scheduled queries share one quota): wait "
                        "for some to finish, or stop them, then run this again"
                    ) from None
                raise SourceError(
                    f"CloudWatch Logs kept refusing {op} ({why}) after {attempt + 1} "
                    "attempts; narrow --since/--until or retry later"
                ) from None
            # Equal jitter: never less than half the delay, so the backoff still grows.
            sleep(delay / 2 + random.uniform(0, delay / 2))
            delay = min(delay * 2, max_backoff)
    raise AssertionError("unreachable")  # pragma: no cover
