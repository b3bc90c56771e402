"""What the runtime reports: the ``/metrics`` document (JSON and Prometheus), the
health verdict, the dashboard's series, the cluster refresh before a scrape.

Readings never raise: a component that cannot answer gives an empty section and
counts an internal error.
"""

from __future__ import annotations

from typing import Any

from .._guard import counters, record_internal_error, suppress_internal_errors
from ..monitor.document import metrics_document, prometheus_text
from ..monitor.monitor import Monitor
from ..verdict import verdict
from .components import Components

__all__ = ["Readings"]

_EMPTY_ERRORS: dict[str, Any] = {
    "total_unique_errors": 0,
    "total_error_count": 0,
    "by_severity": {},
    "top_errors": [],
}


class Readings(Components):
    """The reads of :class:`Runtime` (a mixin over its components)."""

    def errors_section(self) -> dict[str, Any]:
        """The ``errors`` section of ``/metrics``; empty if the aggregator cannot answer.

        Each top error carries ``users``: the distinct users it affected (the cluster's
        with a current Redis copy, else this process's; ``None``: not counted).
        """
        try:
            stats = self.aggregator().stats()
        except Exception as exc:
            record_internal_error(exc)
            return dict(_EMPTY_ERRORS)
        if not isinstance(stats, dict):
            return dict(_EMPTY_ERRORS)
        with suppress_internal_errors():
            affected = self.error_users([e["hash"] for e in stats.get("top_errors", ())])
            for entry in stats.get("top_errors", ()):
                entry["users"] = None if affected is None else affected.get(entry["hash"], 0)
        return dict(stats)

    def error_users(self, fingerprints: list[str]) -> dict[str, int] | None:
        """Distinct users affected per fingerprint: the cluster's when current, else this
        process's; ``None`` when users are not counted."""
        users = self.users()
        if users is None:
            return None
        cluster = users.shared.cluster() if users.shared is not None else None
        if cluster is not None:
            return dict(cluster["errors"])
        return users.error_users(fingerprints)

    def users_section(self) -> dict[str, Any]:
        """The ``users`` section of ``/metrics``.

        ``source`` is ``cluster`` when a current Redis copy gave the distinct counts
        (``process`` then holds this process's own, with the per-user numbers, which are
        per process), else ``local``. ``error`` is the distinct counts' relative error at
        95% (the sketches' documented bound). Without the ``users`` extra (or with
        ``user_analytics`` off): ``{"counted": false, "reason": ...}``.
        """
        users = self.users()
        if users is None:
            return {"counted": False, "reason": self.users_missing}
        try:
            mine = users.section()
            cluster = users.shared.cluster() if users.shared is not None else None
        except Exception as exc:
            record_internal_error(exc)
            return {"counted": False, "reason": f"failed: {type(exc).__name__}"}
        out: dict[str, Any] = {"counted": True, "error": round(users.error, 4)}
        if cluster is None:
            out |= {"source": "local", **mine}
        else:
            shown = {k: v for k, v in cluster.items() if k != "errors"}
            out |= {"source": "cluster", **mine, **shown}
        if users.shared is not None:
            out["process"] = mine
        return out

    def _shared(self, monitor: Monitor | None) -> list[Any]:
        """The stores whose reads come from a cluster copy (Redis): the monitor's, the errors'."""
        holders = (monitor if monitor is not None else self._monitor, self._aggregator)
        stores = [getattr(holder, "store", None) for holder in holders]
        return [store for store in stores if callable(getattr(store, "current", None))]

    def metrics(self, monitor: Monitor | None = None) -> dict[str, Any]:
        """The ``/metrics`` document of ``monitor`` (the process-wide one by default).

        With a shared store, ``stale`` says whether the cluster's numbers could not be
        had (Redis down, or not yet fetched): ``source`` is then ``local``.
        """
        monitor = monitor if monitor is not None else self.monitor()
        snapshot = monitor.snapshot()
        # A shared store also reports this process's own numbers, shown under "process".
        local_of = getattr(monitor.store, "local_snapshot", None)
        local = local_of(monitor.clock()) if callable(local_of) else None
        shared = self._shared(monitor)
        return metrics_document(
            snapshot,
            self.errors_section(),
            business=self.ratios.section(snapshot.counters),
            local=local,
            health_ok=self.checks.last_ok,
            slow_threshold=monitor.slow_threshold,
            process=self.process_section(),
            stale=not all(store.current() for store in shared) if shared else None,
            websockets=monitor.websockets.section(),
            users=self.users_section(),
        )

    def verdict(self) -> str:
        """The one health word (:mod:`bellwatch.verdict`) for the rolling window, now."""
        monitor = self.monitor()
        recent = monitor.snapshot().totals(windowed=True)
        rate = 100.0 * recent.errors / recent.count if recent.count else 0.0
        p95 = recent.quantile(0.95) if recent.count else None
        return verdict(rate, p95, monitor.slow_threshold, checks_ok=self.checks.last_ok)

    def refresh(self) -> bool:
        """Ship this process's buffers and read the cluster's numbers again, now.

        For a scrape (``/metrics``): whichever worker answers, its cluster numbers are
        at least as new as those of any earlier answer, so counters never go back.
        Whether every shared store answered; bounded by the Redis timeout; never raises.
        """
        fresh = True
        with suppress_internal_errors():
            self.deferred.drain()  # requests still deferred ship with this round too
        for store in self._shared_stores().values():
            try:
                fresh = bool(store.flush()) and fresh
            except Exception as exc:
                record_internal_error(exc)
                fresh = False
        return fresh

    @property
    def shared(self) -> bool:
        """Whether numbers are shared through a store (Redis) in this process."""
        return bool(self._shared_stores())

    def process_section(self) -> dict[str, Any]:
        """What ``/metrics`` shows under ``process`` besides the numbers: the worker's id,
        bellwatch's own counters, the shared stores' state, the alert channels' counts."""
        stores = {
            name: {
                "degraded": store.shipper.degraded,
                "overflowed": store.overflowed,
                "resent": store.shipper.resent,
                "unrecoverable": store.shipper.unrecoverable,
            }
            for name, store in self._shared_stores().items()
        }
        agg = self._aggregator
        alerts: dict[str, Any] = {"channels": {}, "limited": 0}
        if agg is not None:
            alerts = {"channels": agg.alerter.channel_counts(), "limited": agg.alerter.limited}
        own = counters.as_dict()
        own.pop("last_error", None)
        return {"worker": self.worker, "bellwatch": own, "stores": stores, "alerts": alerts}

    def prometheus(self, monitor: Monitor | None = None, *, cluster: bool = True) -> str:
        """``/metrics`` as Prometheus text: cluster and process numbers under their scopes.

        ``cluster=False`` (the refresh before it failed) leaves the cluster samples out
        rather than show a copy older than one another worker may have shown.
        """
        monitor = monitor if monitor is not None else self.monitor()
        snapshot = monitor.snapshot()
        local_of = getattr(monitor.store, "local_snapshot", None)
        local = local_of(monitor.clock()) if callable(local_of) else None
        if not cluster and local is not None:
            snapshot, local = local, None
        errors: dict[str, Any] | None = self.errors_section()
        scope = "process"
        shared = self._shared_stores().get("errors")
        if shared is not None:
            # Cluster counts only from a current cluster copy; else no error samples at all.
            copy = getattr(shared, "_cluster", None) if cluster else None
            scope = "cluster"
            if copy is None:
                errors = None  # absent, never a smaller number under the same series
            else:
                patterns, total, by_severity = copy
                errors = {"total_unique_errors": len(patterns), "by_severity": by_severity,
                          "total_error_count": total}  # fmt: skip
        users = self.users_section() if self.users() is not None else None
        if users is not None and not cluster and users.get("source") == "cluster":
            users = {**users, "source": "local", **users["process"]}  # no older cluster copy
        return prometheus_text(snapshot, errors, local=local, worker=self.worker,
                               process=self.process_section(), errors_scope=scope,
                               users=users)  # fmt: skip

    def series(self) -> dict[str, Any] | None:
        """What ``/metrics?series=1`` adds for the dashboard; ``None`` without a timeline."""
        timeline = self._timeline
        if timeline is None:
            return None
        self.deferred.drain()  # requests still deferred count in their buckets
        return timeline.section()
