"""The incident store, on SQLite and on the real PostgreSQL (the ``database`` fixture)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from warehouse.fingerprint import alert_fingerprint, drift_fingerprint
from warehouse.incidents import (
    IncidentFilter,
    IncidentNotFound,
    IncidentStore,
    InvalidCursor,
    Resolve,
    Touch,
)
from warehouse.lifecycle import InvalidTransition, ReopenConflict, Severity, Source, Status
from warehouse.models import Incident, utcnow

FP = drift_fingerprint("orders", "amount")


def _open(store, fp=FP, severity=Severity.HIGH, **kw):
    return store.apply_one(
        Touch(
            fp,
            title="drift on amount",
            severity=severity,
            source=Source.DAGSTER,
            actor="sensor",
            dataset="orders",
            feature="amount",
            **kw,
        )
    )


def test_open_then_touch_counts_occurrences_and_escalates(database):
    store = IncidentStore(database)
    first = _open(store, severity=Severity.MEDIUM, evidence={"psi": 0.12})
    assert first.opened
    again = _open(store, severity=Severity.CRITICAL, evidence={"psi": 0.4})
    assert again.touched and not again.opened
    incident = store.get(first.incident.id)
    assert incident.occurrences == 2
    assert incident.severity == "critical"
    assert incident.evidence == {"psi": 0.4}
    assert incident.last_seen_at >= incident.first_seen_at
    lower = _open(store, severity=Severity.LOW)
    assert store.get(lower.incident.id).severity == "critical"  # never de-escalates
    assert [e.kind for e in store.events(incident.id)] == ["opened", "touched", "touched"]


def test_same_dedup_key_counts_once(database):
    store = IncidentStore(database)
    first = _open(store, dedup_key="am:abc:2026-11-26T00:00:00Z:firing")
    repeat = _open(store, dedup_key="am:abc:2026-11-26T00:00:00Z:firing")
    assert first.opened and repeat.duplicate
    assert store.get(first.incident.id).occurrences == 1


def test_resolve_by_fingerprint_and_recurrence_links_previous(database):
    store = IncidentStore(database)
    first = _open(store).incident
    resolved = store.apply_one(Resolve(FP, actor="sensor", note="2 healthy partitions"))
    assert resolved.resolved and resolved.incident.id == first.id
    assert store.get(first.id).status == "resolved"
    assert store.get(first.id).resolved_at is not None
    assert store.apply_one(Resolve(FP, actor="sensor")).incident is None  # nothing open
    second = _open(store).incident
    assert second.id != first.id
    assert second.previous_incident_id == first.id
    assert store.events(second.id)[0].note == f"recurrence of incident {first.id}"
    last = store.events(first.id)[-1]
    assert (last.kind, last.from_status, last.to_status, last.note) == (
        "transition",
        "open",
        "resolved",
        "2 healthy partitions",
    )


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["acknowledged"], True),
        (["resolved"], True),
        (["acknowledged", "resolved"], True),
        (["resolved", "open"], True),
        (["resolved", "acknowledged"], False),
        (["acknowledged", "open"], False),
        (["acknowledged", "acknowledged"], False),
        (["open"], False),
    ],
)
def test_lifecycle(database, path, allowed):
    store = IncidentStore(database)
    incident = store.create(title="manual", severity=Severity.LOW, actor="alice")
    *ok_steps, last = [Status(s) for s in path]
    for step in ok_steps:
        store.transition(incident.id, step, actor="alice")
    if allowed:
        moved = store.transition(incident.id, last, actor="alice", note="why")
        assert moved.status == last.value
        event = store.events(incident.id)[-1]
        assert (event.actor, event.to_status, event.note) == ("alice", last.value, "why")
    else:
        before = len(store.events(incident.id))
        with pytest.raises(InvalidTransition):
            store.transition(incident.id, last, actor="alice")
        assert len(store.events(incident.id)) == before  # nothing written


def test_reopen_refuses_a_second_open_incident_for_one_key(database):
    store = IncidentStore(database)
    old = _open(store).incident
    store.apply_one(Resolve(FP, actor="sensor"))
    new = _open(store).incident
    with pytest.raises(ReopenConflict) as caught:
        store.transition(old.id, Status.OPEN, actor="alice")
    assert caught.value.open_id == new.id


def test_database_enforces_one_open_incident_per_fingerprint(database):
    _open(IncidentStore(database))
    now = utcnow()
    row = dict(
        title="dup",
        description="",
        severity="low",
        status="acknowledged",
        source="manual",
        fingerprint=FP,
        occurrences=1,
        first_seen_at=now,
        last_seen_at=now,
        evidence={},
        created_by="x",
        created_at=now,
        updated_at=now,
    )
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.execute(insert(Incident).values(**row))
    with database.transaction() as session:  # a resolved one with the same key is fine
        session.execute(insert(Incident).values(**{**row, "status": "resolved"}))


def test_update_records_changed_fields(database):
    store = IncidentStore(database)
    incident = store.create(title="a", severity=Severity.LOW, actor="alice")
    store.update(incident.id, {"title": "b", "severity": "high", "assignee": None}, actor="bob")
    changed = store.get(incident.id)
    assert (changed.title, changed.severity) == ("b", "high")
    assert store.events(incident.id)[-1].note == "changed title, severity"
    with pytest.raises(ValueError, match="cannot update status"):
        store.update(incident.id, {"status": "resolved"}, actor="bob")


def test_missing_incidents(database):
    store = IncidentStore(database)
    for call in (
        lambda: store.get(999),
        lambda: store.events(999),
        lambda: store.transition(999, Status.RESOLVED, actor="a"),
        lambda: store.delete(999, actor="a"),
    ):
        with pytest.raises(IncidentNotFound):
            call()


def test_delete_hides_the_incident_but_keeps_it_for_the_audit(database):
    store = IncidentStore(database)
    incident = store.create(title="x", severity=Severity.HIGH, actor="a")
    kept = store.create(title="y", severity=Severity.HIGH, actor="a")
    store.delete(incident.id, actor="root")
    for read in (store.get, store.events):
        with pytest.raises(IncidentNotFound):
            read(incident.id)
    with pytest.raises(IncidentNotFound):  # and no write reaches it
        store.transition(incident.id, Status.RESOLVED, actor="a")
    with pytest.raises(IncidentNotFound):
        store.delete(incident.id, actor="root")
    assert [i.id for i in store.list().items] == [kept.id]
    assert store.open_by_severity()["high"] == 1
    trail = list(store.audit_events(incident_id=incident.id))
    assert [(e.kind, e.actor) for e in trail] == [("opened", "a"), ("deleted", "root")]


def test_a_deleted_incident_frees_its_fingerprint(database):
    store = IncidentStore(database)
    first = _open(store, "orders/amount")
    store.delete(first.incident.id, actor="root")
    again = _open(store, "orders/amount")
    assert again.opened and again.incident.id != first.incident.id
    assert again.incident.previous_incident_id is None  # never points at a hidden one


def test_audit_events_page_through_everything_in_order(database, monkeypatch):
    import warehouse.incidents.reads as reads

    monkeypatch.setattr(reads, "AUDIT_BATCH", 3)
    store = IncidentStore(database)
    ids = [store.create(title=f"t{i}", severity=Severity.LOW, actor="a").id for i in range(4)]
    store.transition(ids[0], Status.ACKNOWLEDGED, actor="b")
    events = list(store.audit_events())
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert len(events) == 5
    assert [e.kind for e in store.audit_events(incident_id=ids[0])] == ["opened", "transition"]
    since = events[-1].at
    assert [e.id for e in store.audit_events(since=since)][-1] == events[-1].id


def test_filters_and_keyset_pagination(database):
    store = IncidentStore(database)
    for i in range(7):
        _open(
            store,
            fp=alert_fingerprint(f"a{i}"),
            severity=Severity.CRITICAL if i % 2 else Severity.LOW,
        )
    store.create(title="manual", severity=Severity.LOW, actor="alice", dataset="other")
    seen: list[int] = []
    cursor = None
    while True:
        page = store.list(IncidentFilter(source=Source.DAGSTER), limit=3, cursor=cursor)
        seen.extend(i.id for i in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 7 and len(set(seen)) == 7 and seen == sorted(seen, reverse=True)
    critical = store.list(IncidentFilter(severity=Severity.CRITICAL)).items
    assert len(critical) == 3 and {i.severity for i in critical} == {"critical"}
    assert [i.title for i in store.list(IncidentFilter(dataset="other")).items] == ["manual"]
    future = utcnow() + timedelta(hours=1)
    assert store.list(IncidentFilter(created_after=future)).items == []
    assert len(store.list(IncidentFilter(created_before=future)).items) == 8
    assert store.open_by_severity() == {"critical": 3, "high": 0, "medium": 0, "low": 5}
    with pytest.raises(InvalidCursor):
        store.list(cursor="bm9wZQ")


def test_concurrent_open_or_touch_makes_one_incident(database):
    """20 callers at once: exactly one incident, every occurrence counted."""
    store = IncidentStore(database)

    def hit(_):
        return _open(store)

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(hit, range(20)))
    assert sum(o.opened for o in outcomes) == 1
    assert sum(o.touched for o in outcomes) == 19
    (incident,) = store.list().items
    assert incident.occurrences == 20
    assert len(store.events(incident.id)) == 20
