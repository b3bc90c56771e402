"""The one place boto3 is imported."""

from __future__ import annotations

from typing import Any

__all__ = ["MissingExtra", "client"]


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


def client(
    service: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    max_attempts: int | None = None,
) -> Any:
    """A boto3 client; honours ``AWS_ENDPOINT_URL`` (so the same code runs against moto).

    ``max_attempts`` caps botocore's own retries (1 = no retry), for callers that run
    their own backoff and want to say exactly how often they tried.

    Raises:
        MissingExtra: boto3 is not installed.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise MissingExtra("AWS support needs boto3: pip install 'bellwatch[aws]'") from exc
    session = boto3.session.Session(profile_name=profile, region_name=region)
    config = None
    if max_attempts is not None:
        config = Config(retries={"total_max_attempts": max_attempts, "mode": "standard"})
    return session.client(service, config=config)  # type: ignore[call-overload]
