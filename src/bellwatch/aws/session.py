"""The one place boto3 is imported."""

from __future__ import annotations

from typing import Any

__all__ = ["MissingExtra", "client"]


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


def client(service: str, *, region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 client; honours ``AWS_ENDPOINT_URL`` (so the same code runs against moto).

    Raises:
        MissingExtra: boto3 is not installed.
    """
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise MissingExtra("AWS support needs boto3: pip install 'bellwatch[aws]'") from exc
    session = boto3.session.Session(profile_name=profile, region_name=region)
    return session.client(service)  # type: ignore[call-overload]
