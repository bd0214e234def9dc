"""A day's snapshot missing after its deadline opens a freshness incident; it resolves when the
data lands. Dagster's own time-partition freshness check grades the drift asset alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time

import pytest
from dagster import build_sensor_context

from pipelines.config import DriftwatchConfig
from pipelines.definitions import build_definitions
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.freshness import due_day, freshness_request
from tests.pipelines.conftest import DATASET, day, make_config, snapshot
from tests.services import postgres_database
from warehouse.fingerprint import freshness_fingerprint
from warehouse.incidents import IncidentStore, Touch
from warehouse.migrate import upgrade

DEADLINE = time(6, 0)


def _config() -> DriftwatchConfig:
    return make_config(snapshot_deadline="06:00")


def _at(day_number: int, hour: int) -> datetime:
    """``hour`` o'clock UTC on test day ``day_number``."""
    return datetime.combine(day(day_number), time(hour), tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def incidents(request, env) -> Iterator[IncidentStore]:
    """The incident store the freshness requests go to, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield env.incidents
        return
    with postgres_database() as db:
        upgrade(db.engine)
        yield IncidentStore(db)


def test_a_day_is_due_the_next_day_at_the_deadline():
    cfg = _config().datasets[DATASET]
    assert due_day(cfg, _at(11, 5)) == day(9)  # before 06:00 on day 11: day 10 is not due yet
    assert due_day(cfg, _at(11, 6)) == day(10)
    assert due_day(cfg, _at(1, 12)) is None  # before the first partition
    assert due_day(make_config().datasets[DATASET], _at(11, 12)) is None  # no deadline set


def test_a_late_snapshot_opens_an_incident_that_resolves_when_it_lands(env, incidents):
    cfg = _config().datasets[DATASET]
    late = freshness_request(env.store, DATASET, cfg, _at(11, 7))  # day 10 is missing
    assert isinstance(late, Touch)
    opened = incidents.apply_one(late)
    assert opened.opened
    incident = incidents.get(opened.incident.id)
    assert incident.fingerprint == freshness_fingerprint(DATASET)
    assert incident.severity == "high"
    assert incident.title == f"Snapshot of {DATASET} for {day(10).isoformat()} has not landed"
    assert incidents.apply_one(late).duplicate  # the same late day counts once
    still = freshness_request(env.store, DATASET, cfg, _at(11, 8))
    assert incidents.apply_one(still).duplicate

    env.store.write(DATASET, day(10), snapshot(10, drifted=False))
    landed = freshness_request(env.store, DATASET, cfg, _at(11, 9))
    assert incidents.apply_one(landed).resolved
    events = incidents.events(incident.id)
    assert events[-1].to_status == "resolved"
    assert events[-1].note == f"snapshot of {day(10).isoformat()} landed"


def test_resolution_waits_for_the_day_that_was_late(env, incidents):
    """Day 10 never landed, day 11 did: the incident stays open, with no event per tick."""
    cfg = _config().datasets[DATASET]
    opened = incidents.apply_one(freshness_request(env.store, DATASET, cfg, _at(11, 7)))
    env.store.write(DATASET, day(11), snapshot(11, drifted=False))
    for hour in (7, 8, 9):
        incidents.apply_one(freshness_request(env.store, DATASET, cfg, _at(12, hour)))
    assert incidents.get(opened.incident.id).status == "open"
    assert len(incidents.events(opened.incident.id)) == 1  # only "opened": polling left no trace


def test_the_sensor_and_dagsters_freshness_policy_are_defined(env):
    defs = build_definitions(_config(), database=env.database_url, snapshots_root=str(env.root))
    drift = defs.resolve_assets_def([DATASET, "feature_drift"])
    policy = drift.specs_by_key[drift.key].freshness_policy
    assert policy is not None and policy.deadline_cron == "0 6 * * *"
    no_deadline = env.defs.resolve_assets_def([DATASET, "feature_drift"])
    assert no_deadline.specs_by_key[no_deadline.key].freshness_policy is None
    sensor = defs.resolve_sensor_def("snapshot_freshness_sensor")
    context = build_sensor_context(
        resources={
            "snapshots": SnapshotStoreResource(root=str(env.root)),
            "warehouse": WarehouseResource(database_url=env.database_url),
        }
    )
    result = sensor(context)  # today: every day since 2026 is due, and none has landed
    assert "late" in str(result.skip_message)
    (incident,) = env.incidents.list().items
    assert incident.fingerprint == freshness_fingerprint(DATASET)


def test_every_late_day_must_land_before_it_resolves(env, incidents):
    """Days 10 and 11 both late; day 11 landing alone leaves it open, day 10 landing resolves."""
    cfg = _config().datasets[DATASET]
    opened = incidents.apply_one(freshness_request(env.store, DATASET, cfg, _at(11, 7)))
    assert incidents.apply_one(freshness_request(env.store, DATASET, cfg, _at(12, 7))).touched
    incident = incidents.get(opened.incident.id)
    assert incident.evidence["late_days"] == [day(10).isoformat(), day(11).isoformat()]
    env.store.write(DATASET, day(11), snapshot(11, drifted=False))
    incidents.apply_one(freshness_request(env.store, DATASET, cfg, _at(12, 8)))
    assert incidents.get(incident.id).status == "open"
    env.store.write(DATASET, day(10), snapshot(10, drifted=False))
    assert incidents.apply_one(freshness_request(env.store, DATASET, cfg, _at(12, 9))).resolved
