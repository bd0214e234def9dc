"""``GET /metrics``: HTTP metrics from prometheus-flask-exporter plus gauges read from the
warehouse at scrape time (their names: :mod:`incident_api.metric_names`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
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
from drift.multivariate import MULTIVARIATE
from incident_api.denylist import Denylist
from incident_api.feature_series import EOF, FeatureFamily, FeatureRow, render
from incident_api.metric_names import (
    DATASET_DRIFT_STATUS,
    DENYLIST_UP,
    FEATURE_DRIFT_RATIO,
    FEATURE_DRIFT_STATUS,
    FEATURE_PSI,
    INCIDENTS_OPEN,
    LAST_EVALUATION,
    MULTIVARIATE_DRIFT_STATUS,
    NOTIFICATIONS_DEAD,
    NOTIFICATIONS_OLDEST_AGE,
    NOTIFICATIONS_PENDING,
    REFRESH_REUSE,
    WAREHOUSE_UP,
)
from warehouse.incidents import IncidentStore
from warehouse.notifications import NotificationStore
from warehouse.present import PresentStore

FEATURE_FAMILIES: Final = (
    FeatureFamily(FEATURE_PSI, "PSI of the newest evaluated partition", 2),
    FeatureFamily(
        FEATURE_DRIFT_RATIO, "Relative mean deviation of the newest evaluated partition", 3
    ),
    FeatureFamily(
        FEATURE_DRIFT_STATUS,
        "Drift status of the newest evaluated partition, graded with the dataset's and "
        "feature's levels: 0 ok, 1 warn, 2 critical, 3 error (a schema break), -1 insufficient "
        "(not graded)",
        4,
    ),
)


@dataclass(frozen=True, eq=False)  # registered by identity
class Scrape(Collector):
    """One scrape's reading of the warehouse: its small families, and the per-feature rows
    :mod:`incident_api.feature_series` writes out."""

    families: list[Metric]
    features: list[FeatureRow]

    def collect(self) -> Iterator[Metric]:
        yield from self.families


class WarehouseCollector:
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

    def scrape(self) -> Scrape:
        """Everything the warehouse tells this scrape, read once (the present in one query)."""
        up = GaugeMetricFamily(WAREHOUSE_UP, "1 when the incident store answered this scrape")
        try:
            families, features = self._warehouse_families()
            up.add_metric([], 1)
        except SQLAlchemyError:
            families, features = [], []  # HTTP metrics and the denylist gauge still get scraped
            up.add_metric([], 0)
        return Scrape([*families, up, self._denylist_family()], features)

    def _warehouse_families(self) -> tuple[list[Metric], list[FeatureRow]]:
        dataset_status = GaugeMetricFamily(
            DATASET_DRIFT_STATUS,
            "Worst drift status among the dataset's features in their newest evaluated "
            "partitions: 0 ok, 1 warn, 2 critical, 3 error, -1 insufficient (nothing graded)",
            labels=["dataset"],
        )
        evaluated = GaugeMetricFamily(
            LAST_EVALUATION, "Unix time of the last successful drift evaluation", labels=["dataset"]
        )
        multivariate = GaugeMetricFamily(
            MULTIVARIATE_DRIFT_STATUS,
            "Grade of the rows' PCA reconstruction error in the dataset's newest evaluated "
            "partition (multivariate: true): 0 ok, 1 warn, 2 critical, 3 error, -1 insufficient",
            labels=["dataset"],
        )
        worst: dict[str, int] = {}
        last: dict[str, datetime] = {}
        features: list[FeatureRow] = []
        codes = {status.value: status.code for status in Status}
        for dataset, feature, _, graded, psi, ratio, touched in self.present.features():
            code = codes[graded]
            if dataset not in last or touched > last[dataset]:
                last[dataset] = touched
            if feature == MULTIVARIATE:  # the dataset's rows as a whole: a gauge of its own
                multivariate.add_metric([dataset], code)
                continue
            if code > worst.get(dataset, -1):
                worst[dataset] = code
            if code or not self.only_not_ok:
                features.append((dataset, feature, psi, ratio, code))
        for dataset, code in worst.items():
            dataset_status.add_metric([dataset], code)
        for dataset, at in last.items():
            evaluated.add_metric([dataset], at.timestamp())
        open_incidents = GaugeMetricFamily(
            INCIDENTS_OPEN, "Not-resolved incidents", labels=["severity"]
        )
        for severity, count in self.incidents.open_by_severity().items():
            open_incidents.add_metric([severity], count)
        families = [
            dataset_status,
            multivariate,
            evaluated,
            open_incidents,
            *self._notification_families(),
        ]
        return families, features

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


def exposition(
    base: CollectorRegistry,
    collector: WarehouseCollector,
    accept_header: str | None,
    names: list[str] | None,
) -> tuple[str, str]:
    """``/metrics``: ``base`` (the HTTP and security metrics), then one scrape of the
    warehouse, in the format the scraper asked for (one ``# EOF`` at the end in OpenMetrics)."""
    encode, content_type = choose_encoder(accept_header or "")
    scrape = collector.scrape()
    own = CollectorRegistry(auto_describe=True)
    own.register(scrape)
    parts = []
    for registry in (base, own):
        source: Any = registry.restricted_registry(names) if names else registry
        parts.append(encode(source).decode("utf-8").removesuffix(EOF))
    parts.append(render(FEATURE_FAMILIES, scrape.features, encode, names))
    if content_type.startswith("application/openmetrics-text"):
        parts.append(EOF)
    return "".join(parts), content_type


class _WarehouseExposition:
    """``generate_metrics`` for prometheus-flask-exporter's classes: their registry of HTTP
    metrics (:meth:`_base`), then one scrape of the warehouse."""

    warehouse: WarehouseCollector

    def __init__(self, app: Flask, collector: WarehouseCollector, **kwargs: Any) -> None:
        self.warehouse = collector
        super().__init__(app, **kwargs)  # type: ignore[call-arg]  # the exporter's class

    def _base(self) -> CollectorRegistry:
        raise NotImplementedError

    def generate_metrics(
        self, accept_header: str | None = None, names: list[str] | None = None
    ) -> tuple[str, str]:
        return exposition(self._base(), self.warehouse, accept_header, names)


class _AppMetrics(_WarehouseExposition, PrometheusMetrics):  # type: ignore[misc]
    """One process: the app's own registry."""

    def _base(self) -> CollectorRegistry:
        registry: CollectorRegistry = self.registry
        return registry


class _GunicornMetrics(_WarehouseExposition, GunicornInternalPrometheusMetrics):  # type: ignore[misc]
    """The library builds a fresh registry per scrape in multiprocess mode, holding only the
    workers' files; the warehouse follows it (read live, not per worker)."""

    def _base(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry


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
        metrics = _AppMetrics(app, collector, registry=CollectorRegistry(), **common)
        _security_counters(app, metrics.registry)
    return metrics
