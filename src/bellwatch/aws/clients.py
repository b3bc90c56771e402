"""Cached boto3 clients for one region/profile, and AWS error helpers."""

from __future__ import annotations

from typing import Any

from bellwatch.aws import session

__all__ = ["AwsError", "Clients", "error_code", "is_not_found"]

_NOT_FOUND = frozenset(
    {
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NotFound",
        "NotFoundException",
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "TargetGroupNotFound",
        "LoadBalancerNotFound",
    }
)


class AwsError(RuntimeError):
    """An AWS call failed in a way the user must act on; the message says what to do."""


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for anything else).

    Read from the exception's ``response`` so that botocore is imported only in
    :mod:`bellwatch.aws.session`.
    """
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def is_not_found(exc: BaseException) -> bool:
    """True when ``exc`` says the resource does not exist."""
    code = error_code(exc)
    return code is not None and (code in _NOT_FOUND or code.endswith("NotFound"))


class Clients:
    """One client per service, created on first use, for one region and profile."""

    def __init__(self, *, region: str | None = None, profile: str | None = None) -> None:
        self.region = region
        self.profile = profile
        self._cache: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        # Only called for attributes not found normally: logs, sns, cloudwatch, ecs, elbv2, sts.
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._cache:
            self._cache[service] = session.client(service, region=self.region, profile=self.profile)
        return self._cache[service]

    def account_arn_prefix(self, service: str) -> str:
        """``arn:<partition>:<service>:<region>:<account>`` for the caller's account."""
        ident = self.sts.get_caller_identity()
        partition = str(ident["Arn"]).split(":")[1]
        region = self.logs.meta.region_name
        return f"arn:{partition}:{service}:{region}:{ident['Account']}"
