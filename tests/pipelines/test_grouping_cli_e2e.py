"""One incident per root event through Dagster's own command line, on SQLite and PostgreSQL:
``dagster asset materialize`` and ``dagster sensor preview drift_incident_sensor``, an
Alertmanager delivery joining the same event, and the notification worker sending to a real
receiver that counts the pages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from incident_api import create_app
from incident_api.services import services
from scripts.notify_sink import Sink
from tests.api.test_notifications import Harness
from tests.pipelines.conftest import DATASET, day, make_config, snapshot
from tests.pipelines.test_dagster_cli_e2e import Cli
from warehouse.db import Database
from warehouse.fingerprint import dataset_fingerprint
from warehouse.incidents import IncidentStore
from warehouse.migrate import upgrade
from warehouse.snapshots import SnapshotStore

SECRET = "a-webhook-secret-of-32-characters!"
WEBHOOK_TOKEN = "am-" + "t" * 40
PAGES = ("incident.opened", "incident.reopened", "incident.severity_raised")


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[SimpleNamespace]:
    """Days 1–5 healthy, 6–7 drifted (amount, device; day 7 also lost its rating column),
    8–9 healthy, 10 drifted again; a migrated store; the API; a worker and a receiver."""
    root = tmp_path / "warehouse"
    store = SnapshotStore(root)
    for n in range(1, 11):
        table = snapshot(n, drifted=n in (6, 7, 10))
        store.write(DATASET, day(n), table.drop_columns(["rating"]) if n == 7 else table)
    db = Database.from_url(database_url)
    upgrade(db.engine)
    sink = Sink(secret=SECRET)
    hook = f"http://127.0.0.1:{sink.start()}/hook"
    app = create_app(
        {
            "database_url": database_url,
            "jwt_secret_key": "w" * 48,
            "environment": "test",
            "alertmanager_webhook_token": WEBHOOK_TOKEN,
            "notify_webhook_urls": hook,
            "notify_webhook_secret": SECRET,
            "notify_min_severity": "low",
            "notify_backoff_seconds": 0.05,
        }
    )
    worker = Harness(app).worker  # the notification tests' worker: no jitter
    env = SimpleNamespace(root=root, database_url=database_url, config=make_config(), store=store)
    try:
        yield SimpleNamespace(
            cli=Cli(env, tmp_path),
            incidents=IncidentStore(db),
            app=app,
            sink=sink,
            worker=worker,
        )
    finally:
        sink.stop()
        with app.app_context():
            services().db.dispose()
        db.dispose()


def received(world: SimpleNamespace) -> list[dict[str, Any]]:
    """Every notification the receiver has verified, after the worker sent what is due."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with world.app.app_context():
            world.worker.step()
            pending = services().notifications.page(status="pending")
        if not pending:
            break
        time.sleep(0.05)
    return [arrival.json() for arrival in world.sink.accepted()]


def drift_incidents(world: SimpleNamespace) -> list[Any]:
    return [i for i in world.incidents.list().items if i.fingerprint.startswith("drift")]


def members(world: SimpleNamespace, incident_id: int) -> dict[str, Any]:
    return {m.feature: m for m in world.incidents.members([incident_id]).get(incident_id, [])}


def alert(status: str, feature: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "FeatureDriftWarning",
            "severity": "warning",
            "dataset": DATASET,
            "feature": feature,
        },
        "annotations": {"summary": f"Drift in {DATASET}.{feature}: warn"},
        "startsAt": "2026-01-07T01:00:00Z",
        "fingerprint": f"fp-{feature}",
    }


def deliver(world: SimpleNamespace, *alerts: dict[str, Any]) -> dict[str, Any]:
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "driftwatch",
        "alerts": list(alerts),
    }
    response = world.app.test_client().post(
        "/alerts/alertmanager",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def test_one_event_one_incident_one_page_through_the_dagster_cli(world):
    cli = world.cli
    cli.materialize("reference_profile")

    # Day 6 drifts amount and device: one incident, two members, one page naming both.
    cli.materialize("feature_drift", day(6).isoformat())
    cli.preview()
    (event,) = drift_incidents(world)
    assert event.fingerprint == dataset_fingerprint(DATASET)
    assert (event.status, event.severity) == ("open", "critical")
    assert set(members(world, event.id)) == {"amount", "device"}
    pages = received(world)
    assert [p["event"] for p in pages] == ["incident.opened"]
    assert {m["feature"] for m in pages[0]["incident"]["members"]} == {"amount", "device"}

    # Day 7 drifts again and loses rating: the schema break joins as an error member; the
    # severity stays critical, so nobody is paged again.
    cli.materialize("feature_drift", day(7).isoformat())
    cli.preview()
    assert [i.id for i in drift_incidents(world)] == [event.id]
    held = members(world, event.id)
    assert held["rating"].status == "error"
    assert held["amount"].last_partition == day(7).isoformat()
    title = world.incidents.get(event.id).title
    assert title.startswith(f"Drift and schema break in {DATASET}: 3 features since {day(6)}")
    kinds = [e.kind for e in world.incidents.events(event.id)]
    assert kinds.count("member_added") == 2  # device (day 6), rating (day 7)

    # Alertmanager's drift alert for quantity joins the same event as a member.
    assert deliver(world, alert("firing", "quantity"))["updated"] == 1
    assert set(members(world, event.id)) == {"amount", "device", "rating", "quantity"}
    assert [p["event"] for p in received(world)] == ["incident.opened"]  # still one page

    # Days 8 and 9 are healthy: every member recovers and the incident resolves.
    cli.materialize("feature_drift", day(8).isoformat())
    cli.preview()
    assert world.incidents.get(event.id).status == "open"  # one healthy day is not enough
    cli.materialize("feature_drift", day(9).isoformat())
    cli.preview()
    resolved = world.incidents.get(event.id)
    assert resolved.status == "resolved"
    assert all(m.recovered for m in members(world, event.id).values())
    assert [p["event"] for p in received(world)] == ["incident.opened", "incident.resolved"]

    # Day 10 drifts again: a new incident linked to the previous one, and a second page.
    cli.materialize("feature_drift", day(10).isoformat())
    cli.preview()
    recurrence = next(i for i in drift_incidents(world) if i.id != event.id)
    assert recurrence.previous_incident_id == event.id
    assert set(members(world, recurrence.id)) == {"amount", "device"}
    pages = [p for p in received(world) if p["event"] in PAGES]
    assert [p["incident"]["id"] for p in pages] == [event.id, recurrence.id]
