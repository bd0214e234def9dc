"""``GET /metrics``: HTTP metrics from prometheus-flask-exporter plus gauges read from the
warehouse at scrape time. The metric names are a contract (alert_rules/ reads them) and live
here only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics
from sqlalchemy.exc import SQLAlchemyError

from drift import Status
from incident_api.denylist import Denylist
from warehouse.incidents import IncidentStore
from warehouse.notifications import NotificationStore
from warehouse.present import PresentStore

FEATURE_PSI: Final = "ml_feature_psi"
FEATURE_DRIFT_RATIO: Final = "ml_feature_drift_ratio"
FEATURE_DRIFT_STATUS: Final = "driftwatch_feature_drift_status"
DATASET_DRIFT_STATUS: Final = "driftwatch_dataset_drift_status"
INCIDENTS_OPEN: Final = "driftwatch_incidents_open"
DENYLIST_UP: Final = "driftwatch_denylist_up"
LAST_EVALUATION: Final = "driftwatch_drift_last_evaluation_timestamp_seconds"
WAREHOUSE_UP: Final = "driftwatch_warehouse_up"
REFRESH_REUSE: Final = "driftwatch_refresh_token_reuse_total"
HTTP_DURATION: Final = "flask_http_request_duration_seconds"
HTTP_TOTAL: Final = "flask_http_request_total"
NOTIFICATIONS_PENDING: Final = "driftwatch_notifications_pending"
NOTIFICATIONS_OLDEST_AGE: Final = "driftwatch_notifications_oldest_pending_age_seconds"
NOTIFICATIONS_DEAD: Final = "driftwatch_notifications_dead"
NOTIFICATIONS_TOTAL: Final = "driftwatch_notifications_total"
"""Counted by the notification worker, served on its own ``--metrics-port``."""

EXPORTED: Final = frozenset(
    {
        FEATURE_PSI,
        FEATURE_DRIFT_RATIO,
        FEATURE_DRIFT_STATUS,
        DATASET_DRIFT_STATUS,
        INCIDENTS_OPEN,
        DENYLIST_UP,
        LAST_EVALUATION,
        WAREHOUSE_UP,
        REFRESH_REUSE,
        HTTP_DURATION,
        HTTP_TOTAL,
        NOTIFICATIONS_PENDING,
        NOTIFICATIONS_OLDEST_AGE,
        NOTIFICATIONS_DEAD,
    }
)
"""What the API's ``/metrics`` serves."""
WORKER_EXPORTED: Final = frozenset({NOTIFICATIONS_TOTAL})


class WarehouseCollector(Collector):
    """Read on every scrape, so values are never stale; the drift families come from the
    stored present, so a scrape costs datasets × features, not the history stored.
    ``only_not_ok`` leaves out the per-feature series of features that are ok (a feature's
    series vanishes when it recovers, which resolves its alert as a 0 would)."""

    def __init__(
        self,
        present: PresentStore,
        incidents: IncidentStore,
        denylist: Denylist,
        notifications: NotificationStore,
        *,
        only_not_ok: bool = False,
    ) -> None:
        self.present = present
        self.only_not_ok = only_not_ok
        self.incidents = incidents
        self.denylist = denylist
        self.notifications = notifications

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(WAREHOUSE_UP, "1 when the incident store answered this scrape")
        try:
            families = list(self._warehouse_families())
            up.add_metric([], 1)
        except SQLAlchemyError:
            families = []  # HTTP metrics and the denylist gauge still get scraped
            up.add_metric([], 0)
        yield from families
        yield up
        yield self._denylist_family()

    def _warehouse_families(self) -> Iterator[Metric]:
        labels = ["dataset", "feature"]
        psi = GaugeMetricFamily(FEATURE_PSI, "PSI of the newest evaluated partition", labels=labels)
        ratio = GaugeMetricFamily(
            FEATURE_DRIFT_RATIO,
            "Relative mean deviation of the newest evaluated partition",
            labels=labels,
        )
        status = GaugeMetricFamily(
            FEATURE_DRIFT_STATUS,
            "Drift status of the newest evaluated partition, graded with the dataset's and "
            "feature's thresholds: 0 ok, 1 warn, 2 critical, 3 error (a schema break)",
            labels=labels,
        )
        dataset_status = GaugeMetricFamily(
            DATASET_DRIFT_STATUS,
            "Worst drift status among the dataset's features in their newest evaluated "
            "partitions: 0 ok, 1 warn, 2 critical, 3 error",
            labels=["dataset"],
        )
        worst: dict[str, int] = {}
        last: dict[str, datetime] = {}
        for row in self.present.features():
            dataset, feature, psi_value, ratio_value = row[:2] + row[4:6]
            code = Status(row.status).code
            worst[dataset] = max(code, worst.get(dataset, 0))
            last[dataset] = max(row.last_evaluated_at, last.get(dataset, row.last_evaluated_at))
            if self.only_not_ok and code == 0:
                continue
            key = [dataset, feature]
            if psi_value is not None:
                psi.add_metric(key, psi_value)
            if ratio_value is not None:
                ratio.add_metric(key, ratio_value)
            status.add_metric(key, code)
        for dataset, code in worst.items():
            dataset_status.add_metric([dataset], code)
        yield psi
        yield ratio
        yield status
        yield dataset_status

        evaluated = GaugeMetricFamily(
            LAST_EVALUATION, "Unix time of the last successful drift evaluation", labels=["dataset"]
        )
        for dataset, at in last.items():
            evaluated.add_metric([dataset], at.timestamp())
        yield evaluated

        open_incidents = GaugeMetricFamily(
            INCIDENTS_OPEN, "Not-resolved incidents", labels=["severity"]
        )
        for severity, count in self.incidents.open_by_severity().items():
            open_incidents.add_metric([severity], count)
        yield open_incidents
        yield from self._notification_families()

    def _notification_families(self) -> Iterator[Metric]:
        stats = self.notifications.stats()
        yield GaugeMetricFamily(
            NOTIFICATIONS_PENDING,
            "Notifications not yet delivered: pending deliveries and events not yet fanned out",
            value=stats.pending,
        )
        yield GaugeMetricFamily(
            NOTIFICATIONS_OLDEST_AGE,
            "Age of the oldest notification not yet delivered (0 when none waits)",
            value=stats.oldest_pending_age_seconds,
        )
        yield GaugeMetricFamily(
            NOTIFICATIONS_DEAD,
            "Deliveries that ran out of attempts or failed for good; an admin retries them",
            value=stats.dead,
        )

    def _denylist_family(self) -> Metric:
        up = GaugeMetricFamily(
            DENYLIST_UP, "1 when the token denylist answers, else 0", labels=["backend"]
        )
        try:
            self.denylist.ping()
            up.add_metric([self.denylist.backend], 1)
        except Exception:
            up.add_metric([self.denylist.backend], 0)
        return up


class _GunicornMetrics(GunicornInternalPrometheusMetrics):  # type: ignore[misc]
    """The library builds a fresh registry per scrape in multiprocess mode, holding only the
    workers' files; ours adds the warehouse gauges to it (they are read live, not per worker)."""

    def __init__(self, app: Flask, collector: WarehouseCollector, **kwargs: Any) -> None:
        self.extra_collector = collector
        super().__init__(app, **kwargs)

    def generate_metrics(
        self, accept_header: str | None = None, names: list[str] | None = None
    ) -> tuple[str, str]:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self.extra_collector)
        source: Any = registry.restricted_registry(names) if names else registry
        encode, content_type = choose_encoder(accept_header or "")
        return encode(source).decode("utf-8"), content_type


_SECURITY_KEY: Final = "driftwatch.security-metrics"


def count_refresh_reuse() -> None:
    """One more rotated refresh token presented again (and its session revoked)."""
    counter: Counter = current_app.extensions[_SECURITY_KEY]
    counter.inc()


def _security_counters(app: Flask, registry: CollectorRegistry | None) -> None:
    # Under gunicorn the value lives in the shared directory and the per-scrape registry
    # reads it from there; otherwise it belongs to this app's own registry.
    app.extensions[_SECURITY_KEY] = Counter(
        REFRESH_REUSE.removesuffix("_total"),
        "Rotated refresh tokens presented again; each revoked its whole session",
        registry=registry,
    )


def init_metrics(app: Flask, collector: WarehouseCollector) -> PrometheusMetrics:
    """Under gunicorn (``PROMETHEUS_MULTIPROC_DIR`` set) every worker's counts are aggregated
    from the shared directory; otherwise a registry of this app's own."""
    common: dict[str, Any] = {"group_by": "url_rule", "excluded_paths": ["^/metrics$"]}
    metrics: PrometheusMetrics
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # gunicorn's master wipes and creates it; anything else started with the variable
        # set (the flask CLI, a one-off script) must not crash on its absence.
        Path(directory).mkdir(parents=True, exist_ok=True)
        metrics = _GunicornMetrics(app, collector, **common)
        _security_counters(app, None)
    else:
        metrics = PrometheusMetrics(app, registry=CollectorRegistry(), **common)
        metrics.registry.register(collector)
        _security_counters(app, metrics.registry)
    return metrics
