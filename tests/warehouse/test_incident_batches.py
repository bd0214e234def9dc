"""``IncidentStore.apply``: a batch in one transaction ends exactly where applying its requests
one by one would, on SQLite (a property over random batches) and on the real PostgreSQL
(concurrent overlapping batches neither deadlock nor double anything)."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from warehouse.db import Database
from warehouse.incidents import IncidentStore, Join, Outcome, Recover, Resolve, Touch
from warehouse.lifecycle import Severity, Source
from warehouse.models import Base, Incident, IncidentEvent

FINGERPRINTS = ("drift:a", "drift:b", "drift:c")


def _firing(evidence: dict[str, Any]) -> dict[str, Any]:
    return {**evidence, "firing": evidence.get("firing", 0) + 1}


def _quiet(evidence: dict[str, Any]) -> bool:
    return int(evidence.get("firing", 0)) < 3


touches = st.builds(
    Touch,
    st.sampled_from(FINGERPRINTS),
    title=st.just("t"),
    severity=st.sampled_from(list(Severity)),
    source=st.just(Source.ALERTMANAGER),
    actor=st.just("test"),
    dedup_key=st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3", "k4"])),
    update_evidence=st.sampled_from([None, _firing]),
)
resolves = st.builds(
    Resolve,
    st.sampled_from(FINGERPRINTS),
    actor=st.just("test"),
    dedup_key=st.one_of(st.none(), st.sampled_from(["k1", "k2", "r1", "r2"])),
    only_if=st.sampled_from([None, _quiet]),
)
joins = st.builds(  # drift breaches: members of the dataset's incident
    Join,
    st.just("shop"),
    st.sampled_from(["a", "b", "c"]),
    status=st.sampled_from(["warn", "critical"]),
    source=st.just(Source.DAGSTER),
    actor=st.just("test"),
    dedup_key=st.one_of(st.none(), st.sampled_from(["j1", "j2", "k1"])),
)
recovers = st.builds(  # held or not: a batch answers the unheld ones up front
    Recover,
    st.just("shop"),
    st.sampled_from(["a", "b", "c", "d"]),
    actor=st.just("test"),
    dedup_key=st.one_of(st.none(), st.sampled_from(["v1", "v2", "k2", "j1"])),
)
batches = st.lists(st.one_of(touches, touches, resolves, joins, recovers), max_size=12)


def _fresh_store(directory: Path, name: str) -> IncidentStore:
    db = Database.from_url(f"sqlite:///{directory / name}")
    Base.metadata.create_all(db.engine)
    return IncidentStore(db)


def _state(store: IncidentStore) -> list[tuple[Any, ...]]:
    """Every incident with its timeline, without ids or clocks (which legitimately differ)."""
    with store.db.reads() as session:
        incidents = list(session.scalars(select(Incident).order_by(Incident.id)))
        events = list(session.scalars(select(IncidentEvent).order_by(IncidentEvent.id)))
    by_fingerprint: dict[str, list[tuple[Any, ...]]] = {}
    for incident in incidents:
        timeline = [
            (e.kind, e.from_status, e.to_status, e.dedup_key)
            for e in events
            if e.incident_id == incident.id
        ]
        by_fingerprint.setdefault(incident.fingerprint, []).append(
            (
                incident.status,
                incident.severity,
                incident.occurrences,
                incident.evidence,
                incident.previous_incident_id is not None,
                timeline,
            )
        )
    return sorted((fp, rows) for fp, rows in by_fingerprint.items())


def _summary(outcomes: list[Outcome]) -> list[tuple[Any, ...]]:
    return [(o.incident is None, o.opened, o.touched, o.resolved, o.duplicate) for o in outcomes]


@settings(max_examples=150, deadline=None)
@given(history=batches, batch=batches)
def test_a_batch_equals_its_requests_one_by_one(history, batch):
    with tempfile.TemporaryDirectory() as directory:
        batched = _fresh_store(Path(directory), "batched.db")
        one_by_one = _fresh_store(Path(directory), "one_by_one.db")
        for store in (batched, one_by_one):  # the same earlier state in both
            for request in history:
                store.apply([request])
        together = batched.apply(batch)
        separately = [one_by_one.apply([request])[0] for request in batch]
        assert _summary(together) == _summary(separately)
        assert _state(batched) == _state(one_by_one)
        batched.db.dispose()
        one_by_one.db.dispose()


def _delivery(fingerprints: list[str], tag: str) -> list[Touch | Resolve]:
    return [
        Touch(
            fp,
            title="load",
            severity=Severity.MEDIUM,
            source=Source.ALERTMANAGER,
            actor="test",
            dedup_key=f"{tag}:{fp}",
        )
        for fp in fingerprints
    ]


def test_concurrent_overlapping_batches_on_postgres_neither_deadlock_nor_double():
    """Eight batches of the same 100 fingerprints, half in reverse order, at once: one incident
    per fingerprint, every batch counted once (occurrences 8), and no deadlock error."""
    from tests.services import postgres_database
    from warehouse.migrate import upgrade

    keys = [f"alert:{i:03d}" for i in range(100)]
    with postgres_database() as db:
        upgrade(db.engine)
        store = IncidentStore(db)
        deliveries = [_delivery(keys if n % 2 else list(reversed(keys)), f"d{n}") for n in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(store.apply, deliveries))
        assert sum(o.opened for r in results for o in r) == 100
        assert sum(o.touched for r in results for o in r) == 700
        with db.reads() as session:
            incidents = list(session.scalars(select(Incident)))
        assert len(incidents) == 100
        assert {i.occurrences for i in incidents} == {8}
        # The same deliveries again: all duplicates, nothing changes.
        again = [store.apply(d) for d in deliveries[:2]]
        assert all(o.duplicate for r in again for o in r)
        with db.reads() as session:
            assert {i.occurrences for i in session.scalars(select(Incident))} == {8}


def test_a_failing_batch_leaves_nothing(database):
    """All or nothing: an error in the last request rolls back the ones before it."""
    store = IncidentStore(database)
    good = _delivery(["alert:1", "alert:2"], "ok")

    def boom(_evidence: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("evidence update failed")

    bad = Touch(
        "alert:3",
        title="x",
        severity=Severity.LOW,
        source=Source.ALERTMANAGER,
        actor="test",
        update_evidence=boom,
    )
    try:
        store.apply([*good, bad])
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failing request did not raise")
    with database.reads() as session:
        assert session.scalar(select(Incident.id)) is None
        assert session.scalar(select(IncidentEvent.id)) is None
