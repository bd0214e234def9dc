"""The outbox: each told-about change writes its event in the same transaction, and deliveries
are fanned out, leased, settled and retried correctly — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from warehouse.db import Database
from warehouse.fingerprint import drift_fingerprint
from warehouse.incidents import IncidentStore, Resolve, Touch
from warehouse.lifecycle import Severity, Source, Status
from warehouse.models import Incident, NotificationDelivery, NotificationEvent, utcnow
from warehouse.notifications import NotificationStore, NotRetryable, Route
from warehouse.notifications import outbox as outbox_module

ALL = [Route("webhook-1", Severity.LOW)]


def _events(db: Database) -> list[tuple[str, int, dict]]:
    with db.reads() as session:
        rows = session.execute(
            select(
                NotificationEvent.event, NotificationEvent.incident_id, NotificationEvent.payload
            ).order_by(NotificationEvent.id)
        ).all()
    return [tuple(row) for row in rows]


def _touch(severity: Severity = Severity.MEDIUM, key: str | None = None, **extra) -> Touch:
    return Touch(
        drift_fingerprint("shop", "price"),
        title="Drift in shop.price (warn)",
        severity=severity,
        source=Source.DAGSTER,
        actor="dagster",
        dataset="shop",
        feature="price",
        evidence={"psi": 0.31, "partition": "2026-12-01", "run_url": "http://dagster/runs/r1"},
        dedup_key=key,
        **extra,
    )


def test_every_told_change_writes_its_event(database):
    store = IncidentStore(database)
    opened = store.apply_one(_touch(key="a")).incident
    assert opened is not None
    store.apply_one(_touch(key="b"))  # same severity: a touch people are not told about
    store.apply_one(_touch(Severity.HIGH, key="c"))  # raised by a new occurrence
    store.update(opened.id, {"severity": "critical"}, actor="ann")
    store.update(opened.id, {"severity": "low"}, actor="ann")  # lowered: not told
    store.update(opened.id, {"assignee": "bob"}, actor="ann")
    store.update(opened.id, {"title": "renamed"}, actor="ann")  # not told
    store.transition(opened.id, Status.ACKNOWLEDGED, actor="bob")
    store.transition(opened.id, Status.RESOLVED, actor="bob", note="fixed upstream")
    store.transition(opened.id, Status.OPEN, actor="ann")
    store.apply_one(Resolve(drift_fingerprint("shop", "price"), actor="dagster", note="ok again"))

    events = _events(database)
    assert [e for e, _, _ in events] == [
        "incident.opened",
        "incident.severity_raised",
        "incident.severity_raised",
        "incident.assigned",
        "incident.acknowledged",
        "incident.resolved",
        "incident.reopened",
        "incident.resolved",
    ]
    assert {incident for _, incident, _ in events} == {opened.id}
    first = events[0][2]
    assert first["actor"] == "dagster"
    assert first["incident"]["psi"] == 0.31
    assert first["incident"]["run_url"] == "http://dagster/runs/r1"
    assert first["incident"]["status"] == "open"
    assert events[1][2]["change"] == {"previous_severity": "medium"}
    assert events[1][2]["incident"]["severity"] == "high"
    assert events[2][2]["change"] == {"previous_severity": "high"}
    assert events[3][2]["incident"]["assignee"] == "bob"
    assert events[5][2]["change"] == {"note": "fixed upstream"}
    assert events[7][2]["actor"] == "dagster"  # the automatic resolution is told too


def test_a_change_that_rolls_back_leaves_no_event(database):
    store = IncidentStore(database)

    def boom(_evidence):
        raise RuntimeError("the second request fails")

    other = Touch(
        drift_fingerprint("shop", "qty"),
        title="t",
        severity=Severity.HIGH,
        source=Source.DAGSTER,
        actor="dagster",
        update_evidence=boom,
    )
    with pytest.raises(RuntimeError):
        store.apply([_touch(key="x"), other])  # the first one opened, then all rolled back
    assert _events(database) == []
    with database.reads() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


def test_an_event_that_cannot_be_written_undoes_the_change(database, monkeypatch):
    store = IncidentStore(database)
    incident = store.apply_one(_touch(key="a")).incident
    assert incident is not None
    real = outbox_module.outbox_row

    def broken(*args, **kwargs):
        row = real(*args, **kwargs)
        row["event"] = None  # NOT NULL: the outbox insert fails inside the transaction
        return row

    monkeypatch.setattr("warehouse.notifications.outbox.outbox_row", broken)
    with pytest.raises(Exception, match=r"(?i)null"):
        store.transition(incident.id, Status.ACKNOWLEDGED, actor="bob")
    assert store.get(incident.id).status == "open"  # no change without its event
    assert [e for e, _, _ in _events(database)] == ["incident.opened"]


def test_dispatch_routes_by_severity_and_only_once(database):
    store, outbox = IncidentStore(database), NotificationStore(database)
    store.apply_one(_touch(Severity.LOW, key="a"))
    routes = [Route("webhook-1", Severity.LOW), Route("slack", Severity.HIGH)]
    assert outbox.dispatch(routes) == 1
    assert outbox.dispatch(routes) == 0  # already fanned out
    rows = outbox.page()
    assert [(r.channel, r.status, r.event) for r in rows] == [
        ("webhook-1", "pending", "incident.opened")
    ]


class Clock:
    """``utcnow`` for the store, moved forward by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self):
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def test_claim_leases_and_an_expired_lease_is_claimed_again(database, monkeypatch):
    from warehouse.notifications import store as store_module

    clock = Clock()
    monkeypatch.setattr(store_module, "utcnow", clock)
    IncidentStore(database).apply_one(_touch(key="a"))
    outbox = NotificationStore(database)
    outbox.dispatch(ALL)
    first = outbox.claim("w1", lease_seconds=30, limit=10)
    assert len(first) == 1 and first[0].attempts == 1
    assert outbox.claim("w2", lease_seconds=30, limit=10) == []  # leased to w1
    clock.advance(29)
    assert outbox.claim("w2", lease_seconds=30, limit=10) == []  # a second of its lease left
    clock.advance(2)  # w1 "died" holding it: its lease ran out
    again = outbox.claim("w2", lease_seconds=30, limit=10)
    assert [(c.delivery_id, c.attempts) for c in again] == [(first[0].delivery_id, 2)]
    assert not outbox.delivered(first[0].id, "w1")  # w1's lease is gone: it settles nothing
    assert outbox.delivered(again[0].id, "w2")
    assert outbox.get(again[0].id).status == "delivered"


def test_failures_back_off_then_die_and_an_admin_retry_revives(database):
    IncidentStore(database).apply_one(_touch(key="a"))
    outbox = NotificationStore(database)
    outbox.dispatch(ALL)
    (claimed,) = outbox.claim("w", lease_seconds=30, limit=10)
    later = utcnow() + timedelta(hours=1)
    assert outbox.failed(claimed.id, "w", error="HTTP 503", retry_at=later)
    assert outbox.claim("w", lease_seconds=30, limit=10) == []  # not due yet
    row = outbox.get(claimed.id)
    assert (row.status, row.last_error, row.next_attempt_at) == ("pending", "HTTP 503", later)

    revived = outbox.retry(claimed.id)  # "retry now"
    (claimed,) = outbox.claim("w", lease_seconds=30, limit=10)
    assert claimed.attempts == 1  # a fresh budget
    assert outbox.failed(claimed.id, "w", error="HTTP 404", retry_at=None)
    assert outbox.get(claimed.id).status == "dead"
    assert outbox.stats().dead == 1
    revived = outbox.retry(claimed.id)
    assert (revived.status, revived.attempts, revived.delivery_id) == (
        "pending",
        0,
        claimed.delivery_id,
    )
    (claimed,) = outbox.claim("w", lease_seconds=30, limit=10)
    assert outbox.delivered(claimed.id, "w")
    with pytest.raises(NotRetryable):
        outbox.retry(claimed.id)


def test_stats_count_waiting_events_and_their_age(database, monkeypatch):
    outbox = NotificationStore(database)
    assert outbox.stats().pending == 0
    assert outbox.stats().oldest_pending_age_seconds == 0
    IncidentStore(database).apply_one(_touch(key="a"))
    from warehouse.notifications import reads as reads_module

    clock = Clock()
    clock.advance(5)
    monkeypatch.setattr(reads_module, "utcnow", clock)
    stats = outbox.stats()
    assert stats.pending == 1 and 5 <= stats.oldest_pending_age_seconds < 60  # not fanned out
    outbox.dispatch([*ALL, Route("slack", Severity.LOW)])
    assert outbox.stats().pending == 2  # one per channel
    for claimed in outbox.claim("w", lease_seconds=30, limit=10):
        outbox.delivered(claimed.id, "w")
    assert outbox.stats() == type(stats)(pending=0, oldest_pending_age_seconds=0.0, dead=0)


def test_prune_forgets_old_delivered_events_and_keeps_dead_ones(database):
    store, outbox = IncidentStore(database), NotificationStore(database)
    incident = store.apply_one(_touch(key="a")).incident
    assert incident is not None
    store.transition(incident.id, Status.ACKNOWLEDGED, actor="bob")
    outbox.dispatch(ALL)
    delivered, dead = outbox.claim("w", lease_seconds=30, limit=10)
    outbox.delivered(delivered.id, "w")
    outbox.failed(dead.id, "w", error="HTTP 410", retry_at=None)
    assert outbox.prune(utcnow() - timedelta(days=1)) == 0  # too young
    assert outbox.prune(utcnow() + timedelta(seconds=1)) == 1
    assert [r.status for r in outbox.page()] == ["dead"]


def test_concurrent_claims_never_share_a_delivery(database):
    store, outbox = IncidentStore(database), NotificationStore(database)
    for n in range(40):
        store.apply_one(
            Touch(
                drift_fingerprint("shop", f"f{n}"),
                title=f"t{n}",
                severity=Severity.HIGH,
                source=Source.DAGSTER,
                actor="dagster",
            )
        )
    dispatched = []
    barrier = threading.Barrier(4)

    def dispatch() -> None:
        barrier.wait()
        dispatched.append(outbox.dispatch(ALL, limit=7))

    threads = [threading.Thread(target=dispatch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while outbox.dispatch(ALL, limit=7):
        pass
    with database.reads() as session:
        assert session.scalar(select(func.count()).select_from(NotificationDelivery)) == 40

    taken: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def claim(n: int) -> None:
        barrier.wait()
        while batch := outbox.claim(f"w{n}", lease_seconds=60, limit=3):
            taken[n].extend(c.id for c in batch)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in taken for i in ids]
    assert len(every) == 40 and len(set(every)) == 40
