"""/metrics, OpenTelemetry traces and structured request logs."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from incident_api import create_app
from incident_api.metric_names import EXPORTED
from incident_api.services import services
from tests.api.conftest import bearer, login
from tests.services import free_port
from warehouse.drift_results import DriftResultStore, NewResult
from warehouse.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def test_metrics_expose_http_and_warehouse_gauges(app, client, headers):
    with app.app_context():
        DriftResultStore(services().db).add(
            [
                NewResult(
                    "orders", "amount", "2026-11-26", "r1", "critical", psi=0.4, drift_ratio=0.3
                ),
                NewResult(
                    "orders", "amount", "2026-11-27", "r2", "warn", psi=0.15, drift_ratio=0.1
                ),
                NewResult("orders", "country", "2026-11-27", "r2", "ok", psi=0.01),
            ]
        )
    created = client.post(
        "/incidents", json={"title": "t", "severity": "high"}, headers=headers("responder")
    ).get_json()
    client.get(f"/incidents/{created['id']}", headers=headers("viewer"))
    text = client.get("/metrics").get_data(as_text=True)
    found = samples(text)
    psi = {s.labels["feature"]: s.value for s in found["ml_feature_psi"]}
    assert psi == {"amount": 0.15, "country": 0.01}  # the newest partition per feature
    ratio = {s.labels["feature"]: s.value for s in found["ml_feature_drift_ratio"]}
    assert ratio == {"amount": 0.1}
    status = {s.labels["feature"]: s.value for s in found["driftwatch_feature_drift_status"]}
    assert status == {"amount": 1, "country": 0}
    open_by = {s.labels["severity"]: s.value for s in found["driftwatch_incidents_open"]}
    assert open_by == {"critical": 0, "high": 1, "medium": 0, "low": 0}
    assert found["driftwatch_denylist_up"][0].value == 1
    assert found["driftwatch_drift_last_evaluation_timestamp_seconds"][0].value > 1.7e9
    counts = found["flask_http_request_duration_seconds_count"]
    rules = {s.labels["url_rule"] for s in counts}
    assert "/incidents/<int:incident_id>" in rules  # grouped by rule, not raw path
    assert f"/incidents/{created['id']}" not in rules
    assert {"method", "status", "url_rule"} <= set(counts[0].labels)
    assert "flask_http_request_duration_seconds_bucket" in found
    assert found["flask_http_request_total"][0].labels.keys() >= {"method", "status"}
    families = {f.name for f in text_string_to_metric_families(text)}
    # prometheus_client names counter families without their _total suffix.
    assert {n.removesuffix("_total") for n in EXPORTED} <= families


def test_denylist_down_shows_in_metrics(make_app, tmp_path):
    from tests.services import OwnRedis

    redis_server = OwnRedis()
    redis_server.start()
    app = make_app(redis_url=redis_server.url)
    redis_server.stop()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    (up,) = samples(text)["driftwatch_denylist_up"]
    assert (up.value, up.labels["backend"]) == (0, "redis")


def test_gunicorn_workers_add_up_in_multiprocess_mode(tmp_path):
    port = free_port()
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (multiproc / "counter_99999.db").write_bytes(b"stale")  # must be wiped at start
    db_url = f"sqlite:///{tmp_path / 'g.db'}"
    env = dict(
        os.environ,
        GUNICORN_WORKERS="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        DATABASE_URL=db_url,
        JWT_SECRET_KEY="m" * 20 + "n" * 20,
        ENVIRONMENT="test",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    from warehouse.db import Database

    upgrade(Database.from_url(db_url).engine)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "incident_api:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        for _ in range(60):  # fresh connections spread over both workers
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).close()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    found = samples(text)
    assert found["driftwatch_warehouse_up"][0].value == 1  # warehouse gauges served too
    assert {s.labels["severity"] for s in found["driftwatch_incidents_open"]} == {
        "critical",
        "high",
        "medium",
        "low",
    }
    health = [
        s
        for s in found["flask_http_request_duration_seconds_count"]
        if s.labels.get("url_rule") == "/health"
    ]
    assert sum(s.value for s in health) == 60
    pids = {re.search(r"_(\d+)\.db$", p.name).group(1) for p in multiproc.glob("*_*.db")}
    assert "99999" not in pids
    assert len(pids) == 2, pids  # both workers counted requests, and the sum above adds them


@pytest.fixture
def traced(make_app):
    exporter = InMemorySpanExporter()
    return make_app(span_exporter=exporter), exporter


def flushed(app, exporter):
    app.extensions["otel_provider"].force_flush()
    return exporter.get_finished_spans()


def test_trace_id_header_matches_the_exported_span(traced):
    app, exporter = traced
    client = app.test_client()
    token = login(client, "viewer")["access_token"]
    flushed(app, exporter)
    exporter.clear()
    response = client.get("/incidents", headers=bearer(token))
    spans = flushed(app, exporter)
    server = [s for s in spans if s.kind.name == "SERVER"]
    assert len(server) == 1
    trace_id = format(server[0].context.trace_id, "032x")
    assert response.headers["X-Trace-Id"] == trace_id
    queries = [s for s in spans if s.kind.name == "CLIENT"]
    assert queries, "SQLAlchemy calls appear as child spans"
    assert all(format(q.context.trace_id, "032x") == trace_id for q in queries)
    assert all(q.parent is not None for q in queries)


def test_excluded_routes_get_a_fresh_id_and_no_span(traced):
    app, exporter = traced
    client = app.test_client()
    exporter.clear()
    first = client.get("/health").headers["X-Trace-Id"]
    second = client.get("/ready").headers["X-Trace-Id"]
    client.get("/metrics")
    assert [s for s in flushed(app, exporter) if s.kind.name == "SERVER"] == []
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_tracing_is_a_no_op_without_endpoint_or_when_disabled(make_app, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert "otel_provider" not in make_app().extensions
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    app = make_app()
    assert "otel_provider" not in app.extensions
    assert re.fullmatch(r"[0-9a-f]{32}", app.test_client().get("/health").headers["X-Trace-Id"])


def test_metrics_survive_a_dead_database():
    app = create_app(
        {
            "environment": "test",
            "jwt_secret_key": "d" * 40,
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        }
    )
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    found = samples(response.get_data(as_text=True))
    assert found["driftwatch_warehouse_up"][0].value == 0
    assert "ml_feature_psi" not in found


def test_multiprocess_dir_is_created_when_missing(tmp_path, monkeypatch):
    missing = tmp_path / "not-yet" / "prom"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(missing))
    app = create_app(
        {
            "environment": "test",
            "jwt_secret_key": "p" * 40,
            "database_url": f"sqlite:///{tmp_path / 'p.db'}",
        }
    )
    assert missing.is_dir()
    assert app.test_client().get("/metrics").status_code == 200


def test_gauges_follow_the_newest_partition_not_the_newest_row(app, client):
    """A backfill of an old day is written last but is history: the gauges keep showing the
    newest partition; a re-run of the newest partition moves them; a schema break is 3."""
    results = DriftResultStore(app.extensions["driftwatch"].db)
    results.add([NewResult("orders", "amount", "2026-11-14", "r1", "ok", psi=0.0005)])
    results.add([NewResult("orders", "amount", "2026-11-10", "r2", "critical", psi=3.35)])

    def gauges() -> dict[str, float]:
        found = samples(client.get("/metrics").get_data(as_text=True))
        return {
            name: found[name][0].value
            for name in ("ml_feature_psi", "driftwatch_feature_drift_status")
            if name in found
        }

    assert gauges() == {"ml_feature_psi": 0.0005, "driftwatch_feature_drift_status": 0}
    results.add(
        [
            NewResult(
                "orders", "amount", "2026-11-14", "r3", "error", schema_break="missing"
            )  # the newest day re-run: the column has gone
        ]
    )
    assert gauges() == {"driftwatch_feature_drift_status": 3}


def _statuses(found, name):
    return {tuple(sorted(s.labels.values())): s.value for s in found.get(name, [])}


@pytest.mark.parametrize("series", ["all", "not_ok"])
def test_the_dataset_gauge_is_its_worst_feature_and_not_ok_drops_healthy_series(make_app, series):
    app = make_app(metrics_feature_series=series)
    results = DriftResultStore(app.extensions["driftwatch"].db)
    results.add(
        [
            NewResult("orders", "amount", "2026-11-14", "r1", "critical", psi=0.5),
            NewResult("orders", "country", "2026-11-14", "r1", "ok", psi=0.01, drift_ratio=0.0),
            NewResult("clicks", "device", "2026-11-14", "r1", "ok", psi=0.02),
            NewResult("views", "page", "2026-11-14", "r1", "warn", psi=0.15),
            NewResult("clicks", "(multivariate)", "2026-11-14", "r1", "critical"),
        ]
    )
    found = samples(app.test_client().get("/metrics").get_data(as_text=True))
    datasets = _statuses(found, "driftwatch_dataset_drift_status")
    assert datasets == {("orders",): 2, ("clicks",): 0, ("views",): 1}  # every dataset, always
    # the rows as a whole have a gauge of their own, apart from the features'
    assert _statuses(found, "driftwatch_multivariate_drift_status") == {("clicks",): 2}
    features = _statuses(found, "driftwatch_feature_drift_status")
    psi = _statuses(found, "ml_feature_psi")
    last = _statuses(found, "driftwatch_drift_last_evaluation_timestamp_seconds")
    assert set(last) == {("orders",), ("clicks",), ("views",)}
    if series == "all":
        assert features == {
            ("amount", "orders"): 2, ("country", "orders"): 0,
            ("clicks", "device"): 0, ("page", "views"): 1,
        }  # fmt: skip
        assert len(psi) == 4 and ("country", "orders") in _statuses(found, "ml_feature_drift_ratio")
    else:
        assert features == {("amount", "orders"): 2, ("page", "views"): 1}
        assert psi == {("amount", "orders"): 0.5, ("page", "views"): 0.15}
        assert "ml_feature_drift_ratio" not in found


def test_an_unknown_feature_series_setting_is_refused(make_app):
    from incident_api.settings import ConfigError

    refused = r"METRICS_FEATURE_SERIES: Input should be 'all' or 'not_ok'"
    with pytest.raises(ConfigError, match=refused):
        make_app(metrics_feature_series="some")


def test_per_feature_series_in_both_formats_escape_labels_and_honour_names(app, client):
    """The per-feature families are written out directly: the same samples in Prometheus text
    and OpenMetrics (one ``# EOF``), label values escaped, ``name[]`` honoured."""
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as openmetrics_families,
    )

    odd = 'we"ird\\na\nme'
    DriftResultStore(app.extensions["driftwatch"].db).add(
        [
            NewResult(odd, "amount", "2026-11-14", "r1", "warn", psi=0.15, drift_ratio=-2.5e-07),
            NewResult("orders", "amount", "2026-11-14", "r1", "ok", psi=float("inf")),
        ]
    )
    text = client.get("/metrics").get_data(as_text=True)
    plain = {
        (n, tuple(sorted(s.labels.items()))): s.value for n, ss in samples(text).items() for s in ss
    }
    assert plain[("ml_feature_psi", (("dataset", odd), ("feature", "amount")))] == 0.15
    assert plain[("ml_feature_drift_ratio", (("dataset", odd), ("feature", "amount")))] == -2.5e-07
    assert plain[("ml_feature_psi", (("dataset", "orders"), ("feature", "amount")))] == float("inf")
    assert (
        plain[("driftwatch_feature_drift_status", (("dataset", odd), ("feature", "amount")))] == 1
    )
    accept = {"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"}
    answer = client.get("/metrics", headers=accept)
    assert answer.content_type.startswith("application/openmetrics-text")
    body = answer.get_data(as_text=True)
    assert body.count("# EOF") == 1 and body.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(body)}
    statuses = {
        s.labels["dataset"]: s.value for s in families["driftwatch_feature_drift_status"].samples
    }
    assert statuses == {odd: 1, "orders": 0}
    only = client.get("/metrics?name[]=ml_feature_psi").get_data(as_text=True)
    assert set(samples(only)) == {"ml_feature_psi"}
