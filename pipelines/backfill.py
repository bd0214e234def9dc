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
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Final, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from drift import Profile
from pipelines.config import DatasetConfig
from pipelines.scoring import PartitionScored, ScoringError, profile_partition, record_scores
from warehouse.drift_results import DriftResultStore
from warehouse.snapshots import SnapshotStore

READ_AHEAD: Final = 2
"""Partitions profiled ahead of the one being written (one thread each): on two cores this
keeps both busy, and memory holds one row group per partition in flight."""
PART_WORKERS: Final = 2
"""Runs of a day's files profiled at once when the day is several files (then merged)."""
RECONNECT_WAIT: Final = 60.0
"""Seconds a partition's write waits, in all, for the database to come back."""

T = TypeVar("T")


@dataclass
class RangeScored:
    """What a range run did: the scored partitions in order, and why the others were not."""

    scored: list[tuple[str, PartitionScored]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Partitions an earlier run of the same re-execution group had already recorded."""


def score_range(
    store: SnapshotStore,
    results: DriftResultStore,
    dataset: str,
    cfg: DatasetConfig,
    *,
    partitions: Sequence[str],
    run_id: str,
    reference: Profile,
    on_scored: Callable[[str, PartitionScored], None] = lambda _p, _d: None,
    recorded_by: Collection[str] = (),
    read_ahead: int = READ_AHEAD,
    reconnect_wait: float = RECONNECT_WAIT,
) -> RangeScored:
    """Score ``partitions`` in order; ``on_scored`` hears of each as soon as it is written.
    Partitions the runs ``recorded_by`` (the failed run a re-execution retries) already wrote
    are skipped, so a retry finishes the range without counting a day twice."""
    outcome = RangeScored()
    recorded = results.partitions_recorded_by(dataset, recorded_by)
    outcome.skipped = [p for p in partitions if p in recorded]
    partitions = [p for p in partitions if p not in recorded]

    def profile(partition: str) -> Profile:
        day = date.fromisoformat(partition)
        return profile_partition(store, dataset, cfg, day, reference, workers=PART_WORKERS)

    pending: deque[tuple[str, Future[Profile]]] = deque()
    upcoming = iter(partitions)
    with ThreadPoolExecutor(max_workers=max(1, read_ahead), thread_name_prefix="profile") as pool:

        def top_up() -> None:
            while len(pending) < max(1, read_ahead):
                partition = next(upcoming, None)
                if partition is None:
                    return
                pending.append((partition, pool.submit(profile, partition)))

        top_up()
        while pending:
            partition, future = pending.popleft()
            top_up()
            try:
                current = future.result()
            except ScoringError as exc:
                outcome.failed[partition] = str(exc)
                continue
            write = partial(
                record_scores,
                results,
                dataset,
                cfg,
                partition=partition,
                run_id=run_id,
                reference=reference,
                current=current,
            )
            done = retry_on_disconnect(write, reconnect_wait)
            outcome.scored.append((partition, done))
            on_scored(partition, done)
    return outcome


def score_partition(
    store: SnapshotStore,
    results: DriftResultStore,
    dataset: str,
    cfg: DatasetConfig,
    *,
    partition: str,
    run_id: str,
    reference: Profile,
) -> PartitionScored:
    """One day, as a range of one: compared with the reference and written in one
    transaction; a day that cannot be scored raises its :class:`ScoringError`."""
    outcome = score_range(
        store,
        results,
        dataset,
        cfg,
        partitions=[partition],
        run_id=run_id,
        reference=reference,
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
