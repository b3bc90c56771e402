"""The one place boto3 is imported."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["MissingExtra", "client", "configured_region"]

# botocore parses each service's JSON model (~0.3 s for ecs or ec2) once per loader, and
# every new Session brings a new loader. One shared loader keeps that to once per process,
# while each client still gets a fresh Session (credentials, region and endpoint read now).
_loader: Any = None


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
    global _loader
    try:
        import boto3
        import botocore.loaders
        import botocore.session
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise MissingExtra("AWS support needs boto3: pip install 'bellwatch[aws]'") from exc
    core = botocore.session.get_session()
    if _loader is None:
        _loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _loader)
    region = region or _env_region()
    session = boto3.session.Session(botocore_session=core, profile_name=profile, region_name=region)
    paths = _loader.search_paths  # boto3 appends its data path per Session: keep it once
    paths[:] = dict.fromkeys(paths)
    config = None
    if max_attempts is not None:
        config = Config(retries={"total_max_attempts": max_attempts, "mode": "standard"})
    return session.client(service, config=config)  # type: ignore[call-overload]


def _env_region() -> str | None:
    # The SDKs' and AWS CLI v2's variable (ECS sets it too): botocore reads only
    # AWS_DEFAULT_REGION, so a shell with AWS_REGION alone got "You must specify a region".
    return os.environ.get("AWS_REGION") or None


def configured_region(profile: str | None = None) -> str | None:
    """The region a client gets for ``profile``: ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
    then the profile's ``region`` in the AWS config file (as the AWS CLI orders them),
    read with no network call.

    None when nothing sets one, or when boto3 is not installed (pricing works without it).

    Raises:
        ValueError: ``profile`` is not in the AWS config files.
    """
    try:
        import botocore.session
    except ImportError:  # pragma: no cover - exercised without the extra
        return None
    try:
        value = botocore.session.Session(profile=profile).get_config_variable("region")
    except Exception as exc:
        if type(exc).__name__ == "ProfileNotFound":
            raise ValueError(f"AWS profile {profile!r} not found in the AWS config files") from None
        raise
    value = _env_region() or value
    return str(value) if value else None
