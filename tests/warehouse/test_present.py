"""The stored present equals the present computed from the whole history, whatever the order
the results were written in (backfills, re-runs, several partitions at once), on SQLite and
PostgreSQL; the upgrade fills it and ``rebuild`` recomputes it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from tests.services import postgres_database
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore, NewResult
from warehouse.migrate import downgrade, upgrade
from warehouse.models import DriftPresent, DriftResult
from warehouse.present import PresentStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)

writes = st.lists(  # each write: one add() call of up to 4 results
    st.lists(
        st.tuples(
            st.sampled_from(["shop", "clicks"]),
            st.sampled_from(["amount", "device", "rating"]),
            st.integers(1, 6),  # the partition's day: any order, so backfills and re-runs
            st.sampled_from(["ok", "warn", "critical", "error"]),
            st.integers(0, 500),  # minutes after T0 it is written: clocks need not agree
        ),
        min_size=1,
        max_size=4,
    ),
    min_size=1,
    max_size=12,
)


def _from_history(db: Database) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The present as its definition says, from every result ever written."""
    with db.reads() as session:
        rows = list(session.scalars(select(DriftResult)))
    present: dict[tuple[str, str], tuple[Any, ...]] = {}
    for key in {(r.dataset, r.feature) for r in rows}:
        mine = [r for r in rows if (r.dataset, r.feature) == key]
        newest = max(mine, key=lambda r: (r.partition, r.id))
        touched = max(r.evaluated_at for r in mine)
        present[key] = (newest.id, newest.partition, newest.status, newest.psi, touched)
    return present


def _stored(db: Database) -> dict[tuple[str, str], tuple[Any, ...]]:
    with db.reads() as session:
        rows = list(session.scalars(select(DriftPresent)))
    return {
        (p.dataset, p.feature): (p.result_id, p.partition, p.status, p.psi, p.last_evaluated_at)
        for p in rows
    }


def _write(store: DriftResultStore, batch: list[tuple[str, str, int, str, int]], n: int) -> None:
    rows = [
        NewResult(dataset, feature, f"2026-11-{day:02d}", f"run{n}", status, psi=day + n / 100)
        for dataset, feature, day, status, _ in batch
    ]
    at = T0 + timedelta(minutes=max(minute for *_, minute in batch))
    keys = {(r.dataset, r.partition) for r in rows}
    if len(keys) == 1 and len({r.feature for r in rows}) == len(rows):
        store.add_once(rows, at=at)  # one partition of one run: the pipelines' own write
    else:
        store.add(rows, at=at)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=writes)
def test_the_stored_present_equals_the_present_of_the_whole_history(database, history):
    with database.transaction() as session:
        session.execute(delete(DriftResult))
        session.execute(delete(DriftPresent))
    store = DriftResultStore(database)
    for n, batch in enumerate(history):
        _write(store, batch, n)
    expected = _from_history(database)
    assert _stored(database) == expected
    assert PresentStore(database).rebuild() == len(expected)
    assert _stored(database) == expected


def test_a_backfill_moves_only_the_last_evaluation_and_a_rerun_of_the_newest_replaces(database):
    store, present = DriftResultStore(database), PresentStore(database)
    store.add([NewResult("shop", "amount", "2026-11-05", "r1", "ok", psi=0.01)], at=T0)
    later = T0 + timedelta(hours=1)
    store.add([NewResult("shop", "amount", "2026-11-01", "r2", "critical", psi=0.9)], at=later)
    ((row,),) = [present.features()]
    assert (row.partition, row.status, row.psi, row.last_evaluated_at) == (
        "2026-11-05", "ok", 0.01, later,
    )  # fmt: skip
    store.add([NewResult("shop", "amount", "2026-11-05", "r3", "warn", psi=0.2)], at=T0)
    ((row,),) = [present.features()]
    assert (row.partition, row.status, row.psi, row.last_evaluated_at) == (
        "2026-11-05", "warn", 0.2, later,
    )  # fmt: skip
    (summary,) = present.summaries()
    assert (summary.dataset, summary.worst, summary.features) == ("shop", "warn", 1)
    assert summary.counts == {"error": 0, "critical": 0, "warn": 1, "ok": 0, "insufficient": 0}


def test_concurrent_writers_of_one_dataset_keep_the_newest_partition():
    """Eight runs write eight partitions of the same 50 features at once (a parallel
    backfill) on PostgreSQL (SQLite has one writer at a time): no deadlock, no lost update,
    the newest partition is the present."""
    with postgres_database() as database:
        upgrade(database.engine)
        _race(database)


def _race(database: Database) -> None:
    store = DriftResultStore(database)
    features = [f"f{n:02d}" for n in range(50)]
    failures: list[BaseException] = []

    def run(day: int) -> None:
        order = features if day % 2 else features[::-1]
        rows = [NewResult("shop", f, f"2026-11-{day:02d}", f"r{day}", "ok") for f in order]
        try:
            store.add_once(rows)
        except BaseException as exc:  # pragma: no cover — the assertion shows it
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(day,)) for day in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert {row.partition for row in PresentStore(database).features()} == {"2026-11-08"}
    assert _stored(database) == _from_history(database)


def test_the_upgrade_fills_the_present_from_the_results_already_stored(database):
    downgrade(database.engine, "0010")
    with database.transaction() as session:  # results as 0010 stored them: no present
        for n, (feature, day) in enumerate([("a", 3), ("a", 1), ("a", 3), ("b", 2), ("b", 1)]):
            session.add(
                DriftResult(
                    dataset="shop", feature=feature, partition=f"2026-11-{day:02d}",
                    run_id=f"r{n}", status="ok" if n != 2 else "critical", psi=float(n),
                    evaluated_at=T0 + timedelta(minutes=10 * n), message="",
                )
            )  # fmt: skip
    upgrade(database.engine)
    stored = _stored(database)
    assert stored == _from_history(database)
    assert stored[("shop", "a")][1:4] == ("2026-11-03", "critical", 2.0)
    assert stored[("shop", "b")][4] == T0 + timedelta(minutes=40)


def test_recent_partitions_reads_the_latest_of_each_despite_many_reruns(database):
    store = DriftResultStore(database)
    for day in range(1, 8):
        for run in range(4):  # every partition re-run four times: chunks end mid-partition
            store.add([NewResult("shop", "amount", f"2026-11-{day:02d}", f"r{run}", "ok")])
    recent = store.recent_partitions("shop", "amount", 5)
    assert [r.partition for r in recent] == [f"2026-11-{d:02d}" for d in range(7, 2, -1)]
    assert {r.run_id for r in recent} == {"r3"}
    assert len(store.recent_partitions("shop", "amount", 31)) == 7
    assert store.recent_partitions("shop", "nothing", 3) == []
