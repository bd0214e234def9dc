"""Drift results: one row per feature per evaluated partition, written by the pipelines and
read by the incident sensor (cursor = id) and the API's metrics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select

from warehouse.db import Database
from warehouse.models import DriftResult, utcnow


@dataclass(frozen=True)
class NewResult:
    dataset: str
    feature: str
    partition: str
    run_id: str
    status: str
    psi: float | None = None
    drift_ratio: float | None = None
    mean_shift_std: float | None = None
    js_distance: float | None = None
    missing_share_delta: float | None = None
    unseen_share: float | None = None
    message: str = ""
    bins: dict[str, Any] | None = None
    schema_break: str | None = None
    chi2_statistic: float | None = None
    chi2_pvalue: float | None = None
    wasserstein: float | None = None


def _aware(value: datetime | str) -> datetime:
    """``max()`` over a UTC column comes back naive (or as text on SQLite): make it UTC."""
    from datetime import UTC

    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


class DriftResultStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, results: Iterable[NewResult], *, at: datetime | None = None) -> list[int]:
        """Write a partition's results in one transaction; returns their ids."""
        when = at or utcnow()
        rows = [DriftResult(evaluated_at=when, **r.__dict__) for r in results]
        with self.db.transaction() as session:
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def add_once(self, results: Iterable[NewResult], *, at: datetime | None = None) -> list[int]:
        """:meth:`add` for one partition of one run, unless that run already wrote it: then
        the ids it wrote. A write retried after a lost connection may find its first commit
        went through; the partition must not be counted twice."""
        rows = list(results)
        keys = {(r.dataset, r.partition, r.run_id) for r in rows}
        if len(keys) != 1:
            raise ValueError("add_once takes the results of one partition of one run")
        ((dataset, partition, run_id),) = keys
        written = (
            select(DriftResult.id)
            .where(
                DriftResult.dataset == dataset,
                DriftResult.partition == partition,
                DriftResult.run_id == run_id,
            )
            .order_by(DriftResult.id)
        )
        when = at or utcnow()
        with self.db.transaction() as session:
            ids = list(session.scalars(written))
            if ids:
                return ids
            new = [DriftResult(evaluated_at=when, **r.__dict__) for r in rows]
            session.add_all(new)
            session.flush()
            return [row.id for row in new]

    def after(self, last_id: int, limit: int = 1000) -> list[DriftResult]:
        """Results newer than ``last_id`` in id order (the sensor's cursor)."""
        query = select(DriftResult).where(DriftResult.id > last_id).order_by(DriftResult.id)
        with self.db.reads() as session:
            return list(session.scalars(query.limit(limit)))

    def recent_partitions(self, dataset: str, feature: str, count: int) -> list[DriftResult]:
        """The latest result of each of the ``count`` newest partitions, newest first."""
        latest = (
            select(func.max(DriftResult.id))
            .where(DriftResult.dataset == dataset, DriftResult.feature == feature)
            .group_by(DriftResult.partition)
        )
        query = (
            select(DriftResult)
            .where(DriftResult.id.in_(latest))
            .order_by(DriftResult.partition.desc())
            .limit(count)
        )
        with self.db.reads() as session:
            return list(session.scalars(query))

    def present_per_feature(self) -> list[DriftResult]:
        """Per (dataset, feature), the latest result of its newest evaluated partition: the
        present, which gauges show. A result for an older partition (a backfill, a re-run) is
        history, however recently it was written."""
        newest = (
            select(
                DriftResult.dataset,
                DriftResult.feature,
                func.max(DriftResult.partition).label("partition"),
            )
            .group_by(DriftResult.dataset, DriftResult.feature)
            .subquery()
        )
        latest = (
            select(func.max(DriftResult.id))
            .join(
                newest,
                and_(
                    DriftResult.dataset == newest.c.dataset,
                    DriftResult.feature == newest.c.feature,
                    DriftResult.partition == newest.c.partition,
                ),
            )
            .group_by(DriftResult.dataset, DriftResult.feature)
        )
        with self.db.reads() as session:
            return list(session.scalars(select(DriftResult).where(DriftResult.id.in_(latest))))

    def last_evaluation_per_dataset(self) -> dict[str, datetime]:
        query = select(DriftResult.dataset, func.max(DriftResult.evaluated_at)).group_by(
            DriftResult.dataset
        )
        with self.db.reads() as session:
            rows = session.execute(query).all()
        return {dataset: _aware(at) for dataset, at in rows if at is not None}

    def datasets(self) -> list[str]:
        query = select(DriftResult.dataset).distinct().order_by(DriftResult.dataset)
        return self.db.read(lambda c: list(c.scalars(query)))

    def grid(self, dataset: str, partitions: int) -> tuple[list[str], dict[str, dict[str, str]]]:
        """The ``partitions`` newest evaluated partitions of ``dataset`` (newest last) and,
        per feature, the status of its latest result in each (absent: not evaluated)."""
        newest = (
            select(DriftResult.partition)
            .where(DriftResult.dataset == dataset)
            .distinct()
            .order_by(DriftResult.partition.desc())
            .limit(partitions)
        )
        latest = (
            select(func.max(DriftResult.id))
            .where(DriftResult.dataset == dataset, DriftResult.partition.in_(newest))
            .group_by(DriftResult.feature, DriftResult.partition)
        )
        query = select(DriftResult.feature, DriftResult.partition, DriftResult.status).where(
            DriftResult.id.in_(latest)
        )
        rows = self.db.read(lambda c: c.execute(query).all())
        cells: dict[str, dict[str, str]] = {}
        for feature, partition, status in rows:
            cells.setdefault(feature, {})[partition] = status
        days = sorted({partition for _, partition, _ in rows})
        return days, dict(sorted(cells.items()))

    def latest(self, dataset: str, feature: str, partition: str) -> DriftResult | None:
        """The latest result of one feature in one partition (a re-run supersedes)."""
        query = (
            select(DriftResult)
            .where(
                DriftResult.dataset == dataset,
                DriftResult.feature == feature,
                DriftResult.partition == partition,
            )
            .order_by(DriftResult.id.desc())
            .limit(1)
        )
        with self.db.reads() as session:
            return session.scalars(query).first()

    def partitions_recorded_by(self, dataset: str, run_ids: Iterable[str]) -> set[str]:
        """The partitions of ``dataset`` these runs recorded (a partition's results are one
        transaction, so one row means all of them)."""
        runs = list(run_ids)
        if not runs:
            return set()
        query = (
            select(DriftResult.partition)
            .where(DriftResult.dataset == dataset, DriftResult.run_id.in_(runs))
            .distinct()
        )
        with self.db.reads() as session:
            return set(session.scalars(query))

    def for_partition(self, dataset: str, partition: str) -> Sequence[DriftResult]:
        query = (
            select(DriftResult)
            .where(DriftResult.dataset == dataset, DriftResult.partition == partition)
            .order_by(DriftResult.id)
        )
        with self.db.reads() as session:
            return list(session.scalars(query))
