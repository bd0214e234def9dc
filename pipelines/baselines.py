"""The references a run compares its partitions with, for either kind of dataset: the saved
profile of a fixed window, or rolling windows over stored partition profiles (whose grid the
first partition ever profiled sets)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from itertools import islice

from drift import Profile, profile_batches
from drift.chain import SourceChain
from drift.errors import DriftInputError
from pipelines.config import DatasetConfig
from pipelines.references import FixedReferences, References, RollingReferences
from pipelines.scoring import ScoringError, load_reference, scan_options
from pipelines.shares import open_day
from warehouse.drift_results import DriftResultStore
from warehouse.profiles import StoredProfiles, grid_of
from warehouse.snapshots import SnapshotStore


def references_for(
    store: SnapshotStore,
    results: DriftResultStore,
    dataset: str,
    cfg: DatasetConfig,
    *,
    partitions: Sequence[str],
    asset_name: str,
) -> References:
    """The fixed reference (``asset_name`` must have been materialized), or rolling windows
    whose grid is set, from the first of ``partitions`` that can be read, if none is yet."""
    rolling = cfg.rolling
    if rolling is None:
        return FixedReferences.of(load_reference(store, dataset, asset_name), cfg)
    stored = StoredProfiles(store, dataset)
    grid = stored.grid()
    if grid is None or any(f not in grid.columns for f in cfg.features) or _unsegmented(grid, cfg):
        grid = _grid_with(stored, cfg, partitions, grid)
    if grid.segments is not None and list(grid.segments) != cfg.segment_by:
        raise ScoringError(
            f"segment_by of {dataset} is {', '.join(cfg.segment_by) or 'empty'}, but its stored "
            f"profiles are segmented by {', '.join(grid.segments)}: remove "
            f"{stored.grid_path()} and backfill the window to segment them anew"
        )
    options = scan_options(cfg, cfg.thresholds)
    return RollingReferences(stored, results, cfg, options, grid, rolling)


def _unsegmented(grid: Profile, cfg: DatasetConfig) -> bool:
    """Whether segments were configured after the grid was set (it then gains them)."""
    return bool(cfg.segment_by) and grid.segments is None


def _grid_with(
    stored: StoredProfiles, cfg: DatasetConfig, partitions: Sequence[str], grid: Profile | None
) -> Profile:
    """The grid with the configured features it lacks, from the first partition of the run
    that can be read (every run then profiles on the grid that is stored). A feature no
    partition has yet stays out, to be added by the run that first meets it."""
    problem = f"no partition of {stored.dataset} to set its profiles' grid from"
    for partition in partitions:
        try:
            sources = open_day(stored.store, stored.dataset, date.fromisoformat(partition))
            profile = _first_row_group(SourceChain(sources), cfg)
        except (ScoringError, DriftInputError) as exc:
            problem = str(exc)
            continue
        return stored.extend_grid(grid_of(profile))
    if grid is not None:
        return grid  # nothing read: the features missing stay missing
    raise ScoringError(problem)


def _first_row_group(day: SourceChain, cfg: DatasetConfig) -> Profile:
    """The profile of a day's first row group: a column's anchor is taken from its first
    values, so this sets the grid a whole day's profile would, at a row group's cost (share
    steps of a big day each look for it)."""
    present = [f for f in cfg.features if f in day.schema.names]
    read = list(dict.fromkeys([*present, *cfg.segment_by]))
    first = islice(day.row_groups(read), 1)
    return profile_batches(
        first,
        day.schema,
        columns=present,
        top_k=cfg.top_k,
        segment_by=cfg.segment_by,
        segment_top_k=cfg.segment_top_k,
    )
