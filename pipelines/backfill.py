"""Scoring a range of daily partitions in one run, pure of Dagster.

A backfill of a year is 365 partitions; as 365 runs it pays a run's start-up 365 times. Here one
run walks the range in order: the next partitions' snapshots are read and profiled in worker
threads while the current one is compared and written, so reading overlaps with scoring. Each
partition's results are still written in one transaction, in partition order, so the incident
sensor (which reads results in id order) sees the year in order. A partition that cannot be
scored (no snapshot) does not stop the others; the caller fails the run afterwards, naming it.
A database that restarts or drops its connections between two partitions is waited for: the
partition's transaction is retried, never half-written, never written twice (a retry whose
earlier commit did get through, only its acknowledgement did not, finds the rows and keeps them).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Final, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from drift import Profile
from drift.errors import DriftInputError
from pipelines.config import DatasetConfig
from pipelines.references import References
from pipelines.scoring import PartitionScored, ScoringError, record_scores
from pipelines.shares import READ_AHEAD, ShareOfRange, merge_shares, profile_partition
from warehouse.drift_results import DriftResultStore
from warehouse.snapshots import SnapshotStore

PART_WORKERS: Final = 2
"""Shares of a day profiled at once, in threads, when it has several row groups (then
merged); partitions are profiled :data:`~pipelines.shares.READ_AHEAD` ahead of the one being
written, which on two cores keeps both busy."""
RECONNECT_WAIT: Final = 60.0
"""Seconds a partition's write waits, in all, for the database to come back."""

T = TypeVar("T")


@dataclass
class RangeScored:
    """What a range run did: the scored partitions in order, and why the others were not."""

    scored: list[tuple[str, PartitionScored]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Partitions the runs ``recorded_by`` had already recorded (skipped, not repeated)."""


def score_range(
    store: SnapshotStore,
    results: DriftResultStore,
    dataset: str,
    cfg: DatasetConfig,
    *,
    partitions: Sequence[str],
    run_id: str,
    references: References,
    on_scored: Callable[[str, PartitionScored], None] = lambda _p, _d: None,
    recorded_by: Collection[str] = (),
    read_ahead: int = READ_AHEAD,
    reconnect_wait: float = RECONNECT_WAIT,
) -> RangeScored:
    """Score ``partitions`` in order; ``on_scored`` hears of each as soon as it is written.
    Partitions the runs ``recorded_by`` already wrote (the failed run a re-execution retries,
    or this run when its step starts over on another worker) are skipped, so a retry finishes
    the range without counting a day twice."""
    outcome, todo = _unrecorded(results, dataset, partitions, recorded_by)

    def profile(partition: str) -> Profile:
        day = date.fromisoformat(partition)
        return profile_partition(store, dataset, cfg, day, references.grid, workers=PART_WORKERS)

    recorder = _Recorder(results, dataset, cfg, run_id, references, on_scored, reconnect_wait)
    recorder.record(_read_ahead(todo, profile, read_ahead), outcome)
    return outcome


def record_shares(
    store: SnapshotStore,
    results: DriftResultStore,
    dataset: str,
    cfg: DatasetConfig,
    *,
    partitions: Sequence[str],
    shares: Sequence[ShareOfRange],
    run_id: str,
    references: References,
    on_scored: Callable[[str, PartitionScored], None] = lambda _p, _d: None,
    recorded_by: Collection[str] = (),
    reconnect_wait: float = RECONNECT_WAIT,
) -> RangeScored:
    """:func:`score_range` for a range whose days were profiled in shares (one Dagster step
    each): each day's shares are merged in order, then graded and written as there. A day a
    share could not read is read whole here, so that re-executing this step alone picks up a
    snapshot that landed after the shares ran."""
    outcome, todo = _unrecorded(results, dataset, partitions, recorded_by)

    def merged(partition: str) -> Profile:
        try:
            return merge_shares(partition, shares)
        except ScoringError:
            day = date.fromisoformat(partition)
            grid = references.grid
            return profile_partition(store, dataset, cfg, day, grid, workers=PART_WORKERS)

    merged_days = ((partition, partial(merged, partition)) for partition in todo)
    recorder = _Recorder(results, dataset, cfg, run_id, references, on_scored, reconnect_wait)
    recorder.record(merged_days, outcome)
    return outcome


def _unrecorded(
    results: DriftResultStore, dataset: str, partitions: Sequence[str], runs: Collection[str]
) -> tuple[RangeScored, list[str]]:
    outcome = RangeScored()
    recorded = results.partitions_recorded_by(dataset, runs)
    outcome.skipped = [p for p in partitions if p in recorded]
    return outcome, [p for p in partitions if p not in recorded]


def _read_ahead(
    partitions: Sequence[str], profile: Callable[[str], Profile], depth: int
) -> Iterator[tuple[str, Callable[[], Profile]]]:
    """Each partition with a way to get its profile, the next ``depth`` being profiled in
    threads meanwhile."""
    pending: deque[tuple[str, Future[Profile]]] = deque()
    upcoming = iter(partitions)
    with ThreadPoolExecutor(max_workers=max(1, depth), thread_name_prefix="profile") as pool:

        def top_up() -> None:
            while len(pending) < max(1, depth):
                partition = next(upcoming, None)
                if partition is None:
                    return
                pending.append((partition, pool.submit(profile, partition)))

        top_up()
        while pending:
            partition, future = pending.popleft()
            top_up()
            yield partition, future.result


@dataclass(frozen=True)
class _Recorder:
    """Grades and writes a range's profiles in partition order, one transaction each."""

    results: DriftResultStore
    dataset: str
    cfg: DatasetConfig
    run_id: str
    references: References
    on_scored: Callable[[str, PartitionScored], None]
    reconnect_wait: float

    def record(
        self, profiles: Iterable[tuple[str, Callable[[], Profile]]], outcome: RangeScored
    ) -> None:
        for partition, current in profiles:
            try:
                profile = current()
                # the window is read after the partitions before it were written (in order)
                baseline = self.references.baseline(partition)
            except (ScoringError, DriftInputError) as exc:
                outcome.failed[partition] = str(exc)
                continue
            self.references.keep(partition, profile)
            write = partial(
                record_scores,
                self.results,
                self.dataset,
                self.cfg,
                partition=partition,
                run_id=self.run_id,
                baseline=baseline,
                current=profile,
                min_rows=self.cfg.min_rows,
            )
            done = retry_on_disconnect(write, self.reconnect_wait)
            outcome.scored.append((partition, done))
            self.on_scored(partition, done)


def score_partition(
    store: SnapshotStore,
    results: DriftResultStore,
    dataset: str,
    cfg: DatasetConfig,
    *,
    partition: str,
    run_id: str,
    references: References,
) -> PartitionScored:
    """One day, as a range of one: compared with its reference and written in one
    transaction; a day that cannot be scored raises its :class:`ScoringError`."""
    outcome = score_range(
        store,
        results,
        dataset,
        cfg,
        partitions=[partition],
        run_id=run_id,
        references=references,
        read_ahead=1,
    )
    if outcome.failed:
        raise ScoringError(outcome.failed[partition])
    return outcome.scored[0][1]


def retry_on_disconnect(write: Callable[[], T], wait: float) -> T:
    """``write()``, again after a lost or refused database connection until ``wait`` seconds
    have passed. Safe because a failed transaction wrote nothing; any other error is raised."""
    deadline = time.monotonic() + wait
    pause = 0.2
    while True:
        try:
            return write()
        except DBAPIError as exc:
            # Invalidated: the connection died. OperationalError: none could be made (the
            # server is down or restarting), or a lock timed out — all worth another try.
            lost = exc.connection_invalidated or isinstance(exc, OperationalError)
            if not lost or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 5.0)
