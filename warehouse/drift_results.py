"""Drift results: one row per feature per evaluated partition, written by the pipelines and
read by the incident sensor (cursor = id), the console and the results API. Every write also
folds its rows into the stored present (:mod:`warehouse.present`), in its own transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, column, func, select, true, values
from sqlalchemy.orm import aliased

from drift.thresholds import Status
from warehouse.db import Database
from warehouse.models import DriftReference, DriftResult, utcnow
from warehouse.present import record

BREACHES = [s.value for s in Status if s.breach]


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
    levels: dict[str, dict[str, float]] | None = None
    """``{measure: {"warn", "critical"}}`` the result was graded with."""
    segments: list[dict[str, Any]] | None = None
    """Segment hints, most-explaining first."""
    multivariate: dict[str, Any] | None = None
    """The ``(multivariate)`` row's result: error, reference mean and spread, levels, top
    columns."""


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
            record(session, rows)
            return [row.id for row in rows]

    def add_once(
        self,
        results: Iterable[NewResult],
        *,
        at: datetime | None = None,
        reference: dict[str, Any] | None = None,
    ) -> list[int]:
        """:meth:`add` for one partition of one run, unless that run already wrote it: then
        the ids it wrote. A write retried after a lost connection may find its first commit
        went through; the partition must not be counted twice. ``reference`` (what the
        partition was compared with) is stored once for the partition and run."""
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
            if reference is not None:
                session.add(
                    DriftReference(
                        dataset=dataset, partition=partition, run_id=run_id, reference=reference
                    )
                )
            session.flush()
            record(session, new)
            return [row.id for row in new]

    def after(self, last_id: int, limit: int = 1000) -> list[DriftResult]:
        """Results newer than ``last_id`` in id order (the sensor's cursor)."""
        query = select(DriftResult).where(DriftResult.id > last_id).order_by(DriftResult.id)
        with self.db.reads() as session:
            return list(session.scalars(query.limit(limit)))

    def recent_partitions(self, dataset: str, feature: str, count: int) -> list[DriftResult]:
        """The latest result of each of the ``count`` newest partitions, newest first. Read
        down one index, newest partition first, stopping at ``count``: its cost does not grow
        with the history stored."""
        base = (
            select(DriftResult)
            .where(DriftResult.dataset == dataset, DriftResult.feature == feature)
            .order_by(DriftResult.partition.desc(), DriftResult.id.desc())
        )
        found: list[DriftResult] = []
        with self.db.reads() as session:
            while len(found) < count:
                query = base
                if found:
                    query = base.where(DriftResult.partition < found[-1].partition)
                # a re-run adds rows to its partition: read twice what is missing at a time
                limit = 2 * (count - len(found))
                rows = list(session.scalars(query.limit(limit)))
                for row in rows:  # the first row of a partition is its latest
                    if len(found) < count and (not found or row.partition != found[-1].partition):
                        found.append(row)
                if len(rows) < limit:
                    break
        return found

    def recent_partitions_many(
        self, keys: Iterable[tuple[str, str]], count: int
    ) -> dict[tuple[str, str], list[DriftResult]]:
        """:meth:`recent_partitions` of many ``(dataset, feature)`` at once: on PostgreSQL one
        query (a lateral index walk per key), so a sensor tick over a thousand results is not a
        thousand round trips; elsewhere one query per key."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        if self.db.engine.dialect.name != "postgresql":
            return {key: self.recent_partitions(*key, count) for key in wanted}
        asked = values(column("dataset", String), column("feature", String), name="asked").data(
            wanted
        )
        walked = aliased(DriftResult, name="walked")
        newest = (
            select(walked.id)
            .where(walked.dataset == asked.c.dataset, walked.feature == asked.c.feature)
            .distinct(walked.partition)  # DISTINCT ON: a partition's latest row
            .order_by(walked.partition.desc(), walked.id.desc())
            .limit(count)
            .correlate(asked)
            .lateral("newest")
        )
        query = (
            select(DriftResult)
            .select_from(asked)
            .join(newest, true())
            .join(DriftResult, DriftResult.id == newest.c.id)
        )
        found: dict[tuple[str, str], list[DriftResult]] = {key: [] for key in wanted}
        with self.db.reads() as session:
            for row in session.scalars(query):
                found[(row.dataset, row.feature)].append(row)
        for rows in found.values():
            rows.sort(key=lambda r: r.partition, reverse=True)
        return found

    def grid(
        self, dataset: str, partitions: int, features: Sequence[str]
    ) -> tuple[list[str], dict[str, dict[str, str]]]:
        """The ``partitions`` newest evaluated partitions of ``dataset`` (newest last) and, for
        each of ``features`` (one page of them), the status of its latest result in each
        (absent: not evaluated)."""
        newest = (
            select(DriftResult.partition)
            .where(DriftResult.dataset == dataset)
            .distinct()
            .order_by(DriftResult.partition.desc())
            .limit(partitions)
        )
        days = sorted(self.db.read(lambda c: list(c.scalars(newest))))
        if not days or not features:
            return days, {}
        latest = (
            select(func.max(DriftResult.id))
            .where(
                DriftResult.dataset == dataset,
                DriftResult.feature.in_(list(features)),
                DriftResult.partition.in_(days),
            )
            .group_by(DriftResult.feature, DriftResult.partition)
        )
        query = select(DriftResult.feature, DriftResult.partition, DriftResult.status).where(
            DriftResult.id.in_(latest)
        )
        cells: dict[str, dict[str, str]] = {feature: {} for feature in features}
        for feature, partition, status in self.db.read(lambda c: c.execute(query).all()):
            cells[feature][partition] = status
        return days, cells

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

    def reference(self, dataset: str, partition: str, run_id: str) -> dict[str, Any] | None:
        """What that run compared the partition with (None: recorded before 0012)."""
        query = select(DriftReference.reference).where(
            DriftReference.dataset == dataset,
            DriftReference.partition == partition,
            DriftReference.run_id == run_id,
        )
        return self.db.read(lambda c: c.scalars(query).first())

    def breached_partitions(self, dataset: str, partitions: Sequence[str]) -> set[str]:
        """Those of ``partitions`` whose latest result of some feature breached (warn,
        critical or error): what a rolling window with ``exclude_breaches`` leaves out."""
        if not partitions:
            return set()
        latest = (
            select(func.max(DriftResult.id))
            .where(DriftResult.dataset == dataset, DriftResult.partition.in_(list(partitions)))
            .group_by(DriftResult.partition, DriftResult.feature)
        )
        query = (
            select(DriftResult.partition)
            .where(DriftResult.id.in_(latest), DriftResult.status.in_(BREACHES))
            .distinct()
        )
        return set(self.db.read(lambda c: list(c.scalars(query))))

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
