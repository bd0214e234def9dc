"""A day's snapshot profiled whole or in shares, pure of Dagster.

A day bigger than one worker is split into shares: its row groups, in file order, cut into
consecutive runs as even as they split (a day of many files splits between files, one big file
between its row groups). Each share is profiled on its own — in a thread, or in a Dagster step
of its own on another worker — and the shares are merged in order. Counts add and the moments'
sums are kept exactly, so the merged profile equals the one-pass profile bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import reduce
from typing import Final

from drift import Profile, merge
from drift.chain import SourceChain
from drift.errors import DriftInputError
from drift.parquet import ParquetSource
from pipelines.config import DatasetConfig
from pipelines.scoring import ScoringError, profile_features
from warehouse.snapshots import SnapshotStore

READ_AHEAD: Final = 2
"""Days a share step profiles at once (one thread each): reading overlaps with profiling."""


@dataclass(frozen=True)
class DayShare:
    """One share of one day: its profile (``None`` when the day has too few row groups to give
    this share any), and the day's files as the share saw them, so that shares cut from
    different states of a day (a file landed in between) are never merged."""

    profile: Profile | None
    layout: tuple[tuple[str, int], ...]


ShareOfRange = dict[str, DayShare | str]
"""What one share step hands on, per partition: its share of the day, or why the day could not
be read."""


def open_day(store: SnapshotStore, dataset: str, day: date) -> list[ParquetSource]:
    """The day's files, opened (footers read) in the store's order."""
    paths = store.files(dataset, day)
    if not paths:
        raise ScoringError(f"no snapshot of {dataset} for {day.isoformat()}")
    try:
        return [ParquetSource(path) for path in paths]
    except DriftInputError as exc:
        raise ScoringError(str(exc)) from None


def split(sources: Sequence[ParquetSource], count: int) -> list[list[ParquetSource]]:
    """The row groups of ``sources``, in order, in at most ``count`` runs of consecutive row
    groups as even as they split; each run as the pieces of the files it spans."""
    groups = [(source, index) for source in sources for index in range(source.num_row_groups)]
    count = max(1, min(count, len(groups)))
    if len(groups) <= 1:
        return [list(sources)]
    size, extra = divmod(len(groups), count)
    runs, start = [], 0
    for i in range(count):
        end = start + size + (i < extra)
        runs.append(_pieces(groups[start:end]))
        start = end
    return runs


def _pieces(groups: list[tuple[ParquetSource, int]]) -> list[ParquetSource]:
    """Consecutive (file, row group) pairs as one piece per file."""
    pieces: list[ParquetSource] = []
    first = 0
    for i in range(1, len(groups) + 1):
        if i == len(groups) or groups[i][0] is not groups[first][0]:
            source = groups[first][0]
            pieces.append(source.part(range(groups[first][1], groups[i - 1][1] + 1)))
            first = i
    return pieces


def profile_sources(
    sources: Sequence[ParquetSource], cfg: DatasetConfig, reference: Profile
) -> Profile:
    """The profile of ``sources`` read as one snapshot, on the reference's grid."""
    return profile_features(SourceChain(sources), cfg, like=reference, top_k=cfg.top_k)[0]


def profile_partition(
    store: SnapshotStore,
    dataset: str,
    cfg: DatasetConfig,
    day: date,
    reference: Profile,
    *,
    workers: int = 1,
) -> Profile:
    """The day's profile on the reference's grid, streamed one row group at a time; with
    ``workers`` > 1, as that many shares profiled in threads and merged in order."""
    shares = split(open_day(store, dataset, day), workers)
    if len(shares) == 1:
        return profile_sources(shares[0], cfg, reference)
    with ThreadPoolExecutor(max_workers=len(shares), thread_name_prefix="share") as pool:
        return reduce(merge, pool.map(lambda s: profile_sources(s, cfg, reference), shares))


def profile_share(
    store: SnapshotStore,
    dataset: str,
    cfg: DatasetConfig,
    day: date,
    reference: Profile,
    *,
    share: int,
    shares: int,
) -> DayShare:
    """Share ``share`` (from 0) of the day cut in ``shares``."""
    sources = open_day(store, dataset, day)
    layout = tuple((source.path.name, source.num_row_groups) for source in sources)
    runs = split(sources, shares)
    profile = profile_sources(runs[share], cfg, reference) if share < len(runs) else None
    return DayShare(profile, layout)


def profile_share_of_range(
    store: SnapshotStore,
    dataset: str,
    cfg: DatasetConfig,
    reference: Profile,
    *,
    partitions: Sequence[str],
    share: int,
    shares: int,
    read_ahead: int = READ_AHEAD,
) -> ShareOfRange:
    """One share of every day of a range: a day that cannot be read is reported, not raised,
    so that the other days are still scored."""

    def one(partition: str) -> DayShare | str:
        try:
            day = date.fromisoformat(partition)
            return profile_share(store, dataset, cfg, day, reference, share=share, shares=shares)
        except ScoringError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, read_ahead), thread_name_prefix="share") as pool:
        return dict(zip(partitions, pool.map(one, partitions), strict=True))


def merge_shares(partition: str, outputs: Sequence[ShareOfRange]) -> Profile:
    """The day's profile from its shares, merged in share order (as the one pass reads)."""
    found = [output.get(partition, f"no share of {partition} was profiled") for output in outputs]
    problems = [item for item in found if isinstance(item, str)]
    if problems:
        raise ScoringError(problems[0])
    shares = [item for item in found if isinstance(item, DayShare)]
    if len({share.layout for share in shares}) > 1:
        raise ScoringError(f"the snapshot of {partition} changed while its shares were profiled")
    profiles = [share.profile for share in shares if share.profile is not None]
    if not profiles:
        raise ScoringError(f"no share of {partition} was profiled")
    return reduce(merge, profiles)
