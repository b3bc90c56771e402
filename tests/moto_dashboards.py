"""CloudWatch dashboards as AWS keeps them, patched into moto for the AWS tests.

moto 5.2 keeps dashboards per region and refuses to tag them. AWS keeps them per
account, whatever the region of the client, and tags them:

- PutDashboard: "All dashboards in your account are global, not region-specific."
  Its ``Tags`` apply "only when creating a new dashboard"; on an update they are ignored.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html
- TagResource: "the only CloudWatch resources that can be tagged are alarms,
  dashboards, metric streams and Contributor Insights rules"; a dashboard's ARN,
  ``arn:aws:cloudwatch::account-id:dashboard/dashboard-name``, has no region.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_TagResource.html

The patch works in-process, so it covers ``mock_aws`` and the ``ThreadedMotoServer``
the setup-script test starts alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from moto.cloudwatch import models, responses


def global_dashboards(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Make moto's dashboards one namespace per account, with tags; returns that store."""
    store: dict[str, dict[str, Any]] = {}  # account -> name -> moto Dashboard
    tags: dict[str, dict[str, str]] = {}  # dashboard ARN -> tags
    backend = models.CloudWatchBackend

    def account(self: Any) -> dict[str, Any]:
        return store.setdefault(self.account_id, {})

    def put_dashboard(self: Any, name: str, body: str) -> Any:
        found = account(self).get(name)
        if found is not None:
            found.body = body
            return found
        account(self)[name] = models.Dashboard(self.account_id, self.region_name, name, body)
        return account(self)[name]

    def list_dashboards(self: Any, prefix: str = "") -> Iterable[Any]:
        return [d for n, d in sorted(account(self).items()) if n.startswith(prefix)]

    def delete_dashboards(self: Any, dashboards: list[str]) -> str | None:
        missing = [d for d in dashboards if d not in account(self)]
        if missing:
            return f"The specified dashboard does not exist. [{', '.join(missing)}]"
        for name in dashboards:
            tags.pop(account(self).pop(name).arn, None)
        return None

    def get_dashboard(self: Any, dashboard: str) -> Any:
        return account(self).get(dashboard)

    real_tag, real_list = backend.tag_resource, backend.list_tags_for_resource

    def tag_resource(self: Any, arn: str, new: dict[str, str]) -> None:
        if ":dashboard/" not in arn:
            return real_tag(self, arn, new)
        if not any(d.arn == arn for d in account(self).values()):
            raise models.ResourceNotFoundException
        tags.setdefault(arn, {}).update(new)
        return None

    def list_tags_for_resource(self: Any, arn: str) -> dict[str, str]:
        if ":dashboard/" not in arn:
            return dict(real_list(self, arn))
        return dict(tags.get(arn, {}))

    real_put = responses.CloudWatchResponse.put_dashboard

    def put_dashboard_response(self: Any) -> Any:
        name = self._get_param("DashboardName")
        new = name not in account(self.cloudwatch_backend)
        result = real_put(self)
        if new:  # tags count on creation only
            given = {t["Key"]: t["Value"] for t in self._get_param("Tags", [])}
            tags[account(self.cloudwatch_backend)[name].arn] = given
        return result

    for method in (put_dashboard, list_dashboards, delete_dashboards, get_dashboard,
                   tag_resource, list_tags_for_resource):  # fmt: skip
        monkeypatch.setattr(backend, method.__name__, method)
    monkeypatch.setattr(responses.CloudWatchResponse, "put_dashboard", put_dashboard_response)
    return store
