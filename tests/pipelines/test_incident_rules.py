"""From drift results to incidents, on SQLite and PostgreSQL: schema breaks are breaches, the
newest partitions rule the present (backfills are history), and any order of evaluating
partitions ends where evaluating them in date order does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from pipelines.incident_rules import apply_results
from tests.pipelines.conftest import DATASET, make_config
from tests.services import postgres_database
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore, NewResult
from warehouse.incidents import IncidentFilter, IncidentRow, IncidentStore
from warehouse.migrate import upgrade
from warehouse.models import DriftPresent, DriftResult, Incident, IncidentEvent, IncidentMember
from warehouse.present import PresentStore

DAY0 = date(2026, 1, 1)


def partition(n: int) -> str:
    return (DAY0 + timedelta(days=n - 1)).isoformat()


class World:
    """A warehouse, the drift results written into it, and the sensor's cursor."""

    def __init__(self, db: Database, resolve_after: int = 2) -> None:
        self.db = db
        self.results = DriftResultStore(db)
        self.incidents = IncidentStore(db)
        self.config = make_config(resolve_after=resolve_after)
        self.cursor = 0

    def evaluate(self, day: int, feature: str, status: str, **fields: object) -> None:
        """A materialization's result for one feature of partition ``day``."""
        psi = {"ok": 0.01, "warn": 0.15, "critical": 0.4}.get(status)
        self.results.add(
            [NewResult(DATASET, feature, partition(day), "run", status, psi=psi, **fields)]
        )

    def tick(self) -> None:
        batch = self.results.after(self.cursor)
        self.cursor = apply_results(
            batch, self.incidents, self.results, self.config, self.cursor
        ).last_id

    def open_incident(self, feature: str) -> IncidentRow | None:
        """The not-resolved incident that holds ``feature`` as a member."""
        for incident in self.incidents.list(IncidentFilter(feature=feature), limit=200).items:
            if incident.status != "resolved":
                return incident
        return None

    def active(self, feature: str) -> bool:
        """Whether ``feature`` is a member of a not-resolved incident and not recovered."""
        incident = self.open_incident(feature)
        if incident is None:
            return False
        members = self.incidents.members([incident.id])[incident.id]
        return any(m.feature == feature and not m.recovered for m in members)

    def present(self) -> dict[str, tuple[str, str]]:
        return {r.feature: (r.partition, r.status) for r in PresentStore(self.db).features()}

    def reset(self) -> None:
        with self.db.transaction() as session:
            for model in (IncidentMember, IncidentEvent, Incident, DriftResult, DriftPresent):
                session.execute(delete(model))
        self.cursor = 0


@contextmanager
def database(kind: str, tmp_path) -> Iterator[Database]:
    if kind == "postgresql":
        with postgres_database() as db:
            upgrade(db.engine)
            yield db
        return
    db = Database.from_url(f"sqlite:///{tmp_path / 'rules.db'}")
    upgrade(db.engine)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path) -> Iterator[World]:
    with database(request.param, tmp_path) as db:
        yield World(db)


SCHEMA_CASES = [
    ("missing", "column missing in the current snapshot", "column missing"),
    ("all_null", "no non-missing values in the current snapshot", "column entirely null"),
    ("retyped", "type changed double → string (numeric → categorical)", "column changed type"),
    ("unreadable", "type timestamp[s] cannot be scored", "column cannot be read"),
]


@pytest.mark.parametrize(("case", "message", "words"), SCHEMA_CASES)
def test_a_schema_break_opens_a_high_schema_incident_and_resolves_like_drift(
    world, case, message, words
):
    world.evaluate(1, "amount", "ok")
    world.evaluate(2, "amount", "error", message=message, schema_break=case)
    world.tick()
    incident = world.open_incident("amount")
    assert incident is not None
    assert incident.severity == "high"
    assert "schema" in incident.title.lower() and words in incident.title
    assert incident.evidence["schema_break"] == case
    assert incident.evidence["message"] == message
    world.evaluate(3, "amount", "ok")  # the column is back …
    world.tick()
    assert world.open_incident("amount") is not None  # … one healthy partition is not enough
    world.evaluate(4, "amount", "ok")
    world.tick()
    assert world.open_incident("amount") is None
    events = world.incidents.events(incident.id)
    recovered = f"amount recovered: 2 consecutive healthy partitions, latest {partition(4)}"
    assert (events[-2].kind, events[-2].note) == ("member_recovered", recovered)
    assert (events[-1].to_status, events[-1].note) == ("resolved", "every member recovered: amount")


def test_a_schema_break_on_a_drifting_feature_touches_its_incident(world):
    world.evaluate(1, "amount", "critical")
    world.tick()
    drifting = world.open_incident("amount")
    world.evaluate(2, "amount", "error", message="column missing", schema_break="missing")
    world.tick()
    same = world.open_incident("amount")
    assert same.id == drifting.id and same.occurrences == 2
    assert same.severity == "critical"  # severity only goes up


def test_a_backfilled_old_day_is_history_only(world):
    """Drift on days 6–7, healthy 8–9 resolve it; re-running day 6 afterwards neither reopens
    it nor opens a new one nor moves the present, and shows on its timeline."""
    for day, status in ((5, "ok"), (6, "critical"), (7, "critical"), (8, "ok"), (9, "ok")):
        world.evaluate(day, "amount", status)
        world.tick()
    resolved = world.incidents.list().items[0]
    assert resolved.status == "resolved"
    world.evaluate(6, "amount", "critical")  # the backfill
    before_backfill = world.cursor
    world.tick()
    assert world.open_incident("amount") is None
    assert [i.id for i in world.incidents.list().items] == [resolved.id]
    assert world.present() == {"amount": (partition(9), "ok")}
    history = world.incidents.events(resolved.id)[-1]
    assert history.kind == "history"
    assert history.note.startswith(f"history: amount partition {partition(6)} evaluated critical")
    assert history.note.endswith(f"the present is partition {partition(9)}")
    timeline = len(world.incidents.events(resolved.id))
    world.cursor = before_backfill
    world.tick()  # the backfill's tick replayed from its cursor: no second history note
    assert len(world.incidents.events(resolved.id)) == timeline


def test_re_running_the_newest_partition_updates_the_present(world):
    world.evaluate(1, "amount", "ok")
    world.evaluate(2, "amount", "critical")
    world.tick()
    assert world.open_incident("amount") is not None
    assert world.present() == {"amount": (partition(2), "critical")}
    world.evaluate(2, "amount", "ok")  # day 2 re-run with fixed data
    world.tick()
    assert world.present() == {"amount": (partition(2), "ok")}
    world.evaluate(3, "amount", "ok")
    world.tick()
    assert world.open_incident("amount") is None  # days 2 (re-run) and 3 are healthy


FEATURES = ("amount", "device")
statuses = st.sampled_from(["ok", "ok", "warn", "critical", "error"])


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, dict[tuple[int, str], str], list[int], list[bool]]:
    days = draw(st.integers(1, 6))
    grades = {(d, f): draw(statuses) for d in range(1, days + 1) for f in FEATURES}
    order = draw(st.permutations(list(range(1, days + 1))))
    ticks = draw(st.lists(st.booleans(), min_size=days, max_size=days))
    return draw(st.integers(1, 3)), grades, order, ticks


def _play(world: World, grades, order, ticks) -> tuple[dict[str, bool], dict[str, tuple]]:
    for day, tick in zip(order, ticks, strict=True):
        for feature in FEATURES:
            grade = grades[(day, feature)]
            extra = {"schema_break": "missing"} if grade == "error" else {}
            world.evaluate(day, feature, grade, **extra)
        if tick:
            world.tick()
    world.tick()
    return {f: world.active(f) for f in FEATURES}, world.present()


def _property(world: World, history) -> None:
    resolve_after, grades, order, ticks = history
    world.config = make_config(resolve_after=resolve_after)
    days = sorted(order)
    world.reset()
    expected = _play(world, grades, days, [True] * len(days))
    world.reset()
    assert _play(world, grades, order, ticks) == expected


@settings(max_examples=80, deadline=None)
@given(history=histories())
def test_any_evaluation_order_ends_like_date_order_on_sqlite(tmp_path_factory, history):
    path = tmp_path_factory.getbasetemp() / "property.db"
    db = Database.from_url(f"sqlite:///{path}")
    upgrade(db.engine)
    try:
        _property(World(db), history)
    finally:
        db.dispose()


@settings(max_examples=15, deadline=None)
@given(history=histories())
def test_any_evaluation_order_ends_like_date_order_on_postgres(history):
    with postgres_database() as db:
        upgrade(db.engine)
        _property(World(db), history)


def test_a_member_reaches_back_to_where_its_breach_streak_began(world):
    """The present is the newest days, but the member says since when the feature breaches:
    a backfill that evaluates days 3–6 at once (3 healthy, 4–6 drifted) opens one incident
    whose member starts on day 4."""
    for day, status in ((3, "ok"), (4, "warn"), (5, "critical"), (6, "critical")):
        world.evaluate(day, "amount", status)
    world.tick()
    incident = world.open_incident("amount")
    assert incident is not None
    (member,) = world.incidents.members([incident.id])[incident.id]
    assert (member.first_partition, member.last_partition) == (partition(4), partition(6))
    assert f"since {partition(4)}" in incident.title


def test_insufficient_partitions_neither_alarm_nor_recover(world):
    world.evaluate(1, "amount", "insufficient", message="60 rows, fewer than min_rows 100")
    world.tick()
    assert world.open_incident("amount") is None
    levels = {
        "psi": {"warn": 0.31, "critical": 0.47},
        "drift_ratio": {"warn": 0.2, "critical": 0.4},
    }
    world.evaluate(2, "amount", "critical", levels=levels)
    world.tick()
    incident = world.open_incident("amount")
    assert incident is not None
    (member,) = world.incidents.members([incident.id])[incident.id]
    assert member.evidence["levels"] == levels  # as graded (calibrated), not as configured
    # two partitions after the breach, one of them insufficient: not two healthy ones
    world.evaluate(3, "amount", "ok")
    world.evaluate(4, "amount", "insufficient", message="too few")
    world.tick()
    assert world.active("amount")
    world.evaluate(5, "amount", "ok")
    world.tick()
    assert world.active("amount")  # the window (4, 5) still holds the insufficient day
    world.evaluate(6, "amount", "ok")
    world.tick()
    assert not world.active("amount")
