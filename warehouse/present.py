"""The stored present: per (dataset, feature), its newest evaluated partition's latest result.

Written by :func:`record` in the transaction of the results it summarizes, so a read of "now"
(the gauges, the datasets pages) costs what the present holds, never what history holds. The
rule is one comparison: a result replaces the present when its partition is newer, or the
same partition and a later row (a re-run). A backfill of an older partition only moves
``last_evaluated_at``. Concurrent writers cannot lose an update: the upsert compares against
the row as committed, and the largest ``(partition, id)`` wins whatever the commit order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Final, cast

from sqlalchemy import Table, and_, case, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from drift.thresholds import Status
from warehouse.base import utc
from warehouse.db import Database
from warehouse.result_tables import DriftPresent, DriftResult

PRESENT: Final = cast(Table, DriftPresent.__table__)
FOLLOWS_PRESENT: Final = ("result_id", "partition", "status", "psi", "drift_ratio", "evaluated_at")
"""The columns that follow the present result; ``last_evaluated_at`` follows every write."""
STATUS_CODE: Final[ColumnElement[int]] = case(
    {status.value: status.code for status in Status}, value=PRESENT.c.status, else_=-1
)
"""The status as the gauges' number (0 ok … 3 error), in SQL: the worst is the largest."""


def _row(result: DriftResult) -> dict[str, Any]:
    return {
        "dataset": result.dataset,
        "feature": result.feature,
        "result_id": result.id,
        "partition": result.partition,
        "status": result.status,
        "psi": result.psi,
        "drift_ratio": result.drift_ratio,
        "evaluated_at": result.evaluated_at,
        "last_evaluated_at": result.evaluated_at,
    }


def _newest_per_feature(results: Iterable[DriftResult]) -> list[dict[str, Any]]:
    """One row per (dataset, feature) — an upsert may touch a row once — sorted, so that
    concurrent writers lock the present's rows in one order and cannot deadlock."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        key, row = (result.dataset, result.feature), _row(result)
        held = best.get(key)
        if held is None:
            best[key] = row
            continue
        touched = max(held["last_evaluated_at"], row["last_evaluated_at"])
        if (row["partition"], row["result_id"]) > (held["partition"], held["result_id"]):
            held = row
        best[key] = {**held, "last_evaluated_at": touched}
    return [best[key] for key in sorted(best)]


@cache
def _upsert(dialect: str) -> Any:
    """The upsert, built once per dialect and run with one parameter set per row (SQLAlchemy
    batches them into one multi-row statement, compiled once: a ``values(rows)`` statement
    is compiled anew on every write)."""
    upsert = (postgresql if dialect == "postgresql" else sqlite).insert(PRESENT)
    new = upsert.excluded
    newer = or_(
        new.partition > PRESENT.c.partition,
        and_(new.partition == PRESENT.c.partition, new.result_id > PRESENT.c.result_id),
    )
    changes: dict[str, Any] = {
        name: case((newer, new[name]), else_=PRESENT.c[name]) for name in FOLLOWS_PRESENT
    }
    changes["last_evaluated_at"] = case(
        (new.last_evaluated_at > PRESENT.c.last_evaluated_at, new.last_evaluated_at),
        else_=PRESENT.c.last_evaluated_at,
    )
    return upsert.on_conflict_do_update(index_elements=["dataset", "feature"], set_=changes)


def record(session: Session, results: Sequence[DriftResult]) -> None:
    """Fold flushed ``results`` (ids assigned) into the present, in ``session``'s transaction."""
    rows = _newest_per_feature(results)
    if rows:
        session.execute(_upsert(session.get_bind().dialect.name), rows)


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset's present at a glance: the datasets page's row and ``GET /datasets``'s item."""

    dataset: str
    features: int
    worst: str
    counts: dict[str, int]
    newest_partition: str
    last_evaluated_at: datetime


_WORST_FIRST: Final = sorted(Status, key=lambda s: s.code, reverse=True)
_BY_CODE: Final = {s.code: s for s in Status}


def _summary(row: Any) -> DatasetSummary:
    return DatasetSummary(
        dataset=row.dataset,
        features=int(row.features),
        worst=_BY_CODE[int(row.worst)].value,
        counts={s.value: int(getattr(row, s.value)) for s in _WORST_FIRST},
        newest_partition=row.newest,
        last_evaluated_at=utc(row.last),
    )


def _summary_query(search: str | None, worst: Status | None, after: str | None = None) -> Any:
    """Worst first then by name; by name only, after ``after``, when ``after`` is given (the
    API's keyset pages, stable while statuses change)."""
    worst_code = func.max(STATUS_CODE).label("worst")
    per_status = [
        func.sum(case((PRESENT.c.status == s.value, 1), else_=0)).label(s.value) for s in Status
    ]
    query = select(
        PRESENT.c.dataset,
        func.count().label("features"),
        worst_code,
        *per_status,
        func.max(PRESENT.c.partition).label("newest"),
        func.max(PRESENT.c.last_evaluated_at).label("last"),
    ).group_by(PRESENT.c.dataset)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(PRESENT.c.dataset.ilike(f"%{escaped}%", escape="\\"))
    if worst is not None:
        query = query.having(func.max(STATUS_CODE) == worst.code)
    if after is not None:
        return query.where(PRESENT.c.dataset > after).order_by(PRESENT.c.dataset)
    return query.order_by(worst_code.desc(), PRESENT.c.dataset)


class PresentStore:
    """Reads of the stored present; their cost grows with datasets × features only."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def features(self) -> list[Any]:
        """Every (dataset, feature)'s present: rows with dataset, feature, partition, status,
        psi, drift_ratio, last_evaluated_at (plain rows: a scrape reads tens of thousands)."""
        query = select(
            PRESENT.c.dataset,
            PRESENT.c.feature,
            PRESENT.c.partition,
            PRESENT.c.status,
            PRESENT.c.psi,
            PRESENT.c.drift_ratio,
            PRESENT.c.last_evaluated_at,
        )
        return self.db.read(lambda c: list(c.execute(query).all()))  # one fetchall, not 50k

    def datasets(self) -> list[str]:
        query = select(PRESENT.c.dataset).distinct().order_by(PRESENT.c.dataset)
        return self.db.read(lambda c: list(c.scalars(query)))

    def summaries(
        self,
        *,
        search: str | None = None,
        worst: Status | None = None,
        limit: int = 50,
        offset: int = 0,
        after: str | None = None,
    ) -> list[DatasetSummary]:
        """Datasets worst first (then by name), ``limit`` from ``offset``; or, given ``after``
        (a dataset's name, "" for the first page), by name from the one after it."""
        query = _summary_query(search, worst, after).limit(limit).offset(offset)
        with self.db.reads() as session:
            return [_summary(row) for row in session.execute(query)]

    def summary(self, dataset: str) -> DatasetSummary | None:
        query = _summary_query(None, None).where(PRESENT.c.dataset == dataset)
        with self.db.reads() as session:
            row = session.execute(query).first()
        return None if row is None else _summary(row)

    def feature_page(self, dataset: str, *, limit: int, offset: int = 0) -> list[str]:
        """One page of ``dataset``'s features, worst first, then by name."""
        query = (
            select(PRESENT.c.feature)
            .where(PRESENT.c.dataset == dataset)
            .order_by(STATUS_CODE.desc(), PRESENT.c.feature)
            .limit(limit)
            .offset(offset)
        )
        return self.db.read(lambda c: list(c.scalars(query)))

    def rebuild(self) -> int:
        """Recompute the whole present from history (after a restore, or a manual fix of
        results), in one transaction; returns the number of (dataset, feature) rows."""
        newest = (
            select(
                DriftResult.dataset,
                DriftResult.feature,
                func.max(DriftResult.partition).label("partition"),
                func.max(DriftResult.evaluated_at).label("touched"),
            )
            .group_by(DriftResult.dataset, DriftResult.feature)
            .subquery()
        )
        present_ids = (
            select(func.max(DriftResult.id).label("id"), newest.c.touched)
            .join(
                newest,
                and_(
                    DriftResult.dataset == newest.c.dataset,
                    DriftResult.feature == newest.c.feature,
                    DriftResult.partition == newest.c.partition,
                ),
            )
            .group_by(DriftResult.dataset, DriftResult.feature, newest.c.touched)
            .subquery()
        )
        source = select(
            DriftResult.dataset,
            DriftResult.feature,
            DriftResult.id,
            DriftResult.partition,
            DriftResult.status,
            DriftResult.psi,
            DriftResult.drift_ratio,
            DriftResult.evaluated_at,
            present_ids.c.touched,
        ).join(present_ids, DriftResult.id == present_ids.c.id)
        columns = ["dataset", "feature", "result_id", "partition", "status", "psi"]
        columns += ["drift_ratio", "evaluated_at", "last_evaluated_at"]
        with self.db.transaction() as session:
            session.execute(delete(PRESENT))
            session.execute(insert(PRESENT).from_select(columns, source))
            return int(session.scalar(select(func.count()).select_from(PRESENT)) or 0)
