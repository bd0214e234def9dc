"""A rolling dataset's stored partition profiles, beside its snapshots.

``<root>/<dataset>/_profiles/partitions/<day>.json.gz``: each scored partition's profile,
kept for the windows of the partitions after it. ``_profiles/grid.json``: the sketch grid they
are all built on — each column's anchor (or kind), taken from the first partition that had the
column and never changed afterwards, so any set of stored profiles merges exactly. A column
the configuration gains later is added to the grid, under a lock, by the first run that meets
it; a run that started at the same time reads the grid that run wrote.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Final

from drift import Profile
from drift.errors import DriftInputError
from drift.profile import CategoricalProfile, ColumnProfile, UnsupportedProfile
from warehouse.snapshots import SnapshotStore

CACHED_PROFILES: Final = 64
"""Stored profiles a range run keeps parsed: each is read once as its window slides by."""


def grid_of(profile: Profile) -> Profile:
    """A profile's grid alone: every numeric column's anchor (0 for one with no value yet, so
    later partitions still share one grid), every other column's kind, and its segment
    columns' levels (the levels every later partition is cut by); no counts."""
    columns: dict[str, ColumnProfile] = dict(
        Profile.grid({n: c.anchor or 0.0 for n, c in profile.numeric().items()}).columns
    )
    for name, column in profile.columns.items():
        if isinstance(column, CategoricalProfile):
            columns[name] = replace(column, rows=0, missing=0, levels={}, other=0)
        elif isinstance(column, UnsupportedProfile):
            columns[name] = replace(column, rows=0)
    segments = None
    if profile.segments is not None:
        empty = Profile(rows=0, columns={})
        segments = {name: dict.fromkeys(levels, empty) for name, levels in profile.segments.items()}
    return Profile(
        source="grid",
        rows=0,
        columns=dict(sorted(columns.items())),
        segments=segments,
        segment_top_k=profile.segment_top_k,
    )


@dataclass
class StoredProfiles:
    """One dataset's stored partition profiles and their grid, each profile parsed at most
    once while a run's window slides over it (thread-safe: a range run profiles ahead in
    threads)."""

    store: SnapshotStore
    dataset: str
    _cache: OrderedDict[date, Profile | None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _path(self, day: date) -> Path:
        name = f"partitions/{day.isoformat()}"
        return self.store.profile_path(self.dataset, name).with_suffix(".json.gz")

    def grid_path(self) -> Path:
        return self.store.profile_path(self.dataset, "grid")

    def grid(self) -> Profile | None:
        path = self.grid_path()
        return Profile.load(path) if path.exists() else None

    def extend_grid(self, found: Profile) -> Profile:
        """The stored grid with the columns of ``found`` it lacks (all of them when there is
        none yet); columns it has keep their anchors whatever ``found`` says."""
        with self._grid_lock():
            stored = self.grid()
            known = stored.columns if stored is not None else {}
            new = {n: c for n, c in found.columns.items() if n not in known}
            segmented = stored.segments is not None if stored is not None else False
            if stored is not None and not new and (segmented or found.segments is None):
                return stored
            kept = stored if stored is not None and segmented else found
            grid = Profile(
                source="grid",
                rows=0,
                columns=dict(sorted({**known, **new}.items())),
                segments=kept.segments,
                segment_top_k=kept.segment_top_k,
            )
            partial = self.grid_path().with_suffix(f".{os.getpid()}.tmp")
            grid.save(partial)
            partial.replace(self.grid_path())
            return grid

    @contextmanager
    def _grid_lock(self) -> Iterator[None]:
        path = self.grid_path().with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
            yield

    def save(self, day: date, profile: Profile) -> None:
        """Store the partition's profile (written aside and renamed: readers never see half)."""
        path = self._path(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(gzip.compress(profile.to_json().encode(), compresslevel=1))
        partial.replace(path)
        with self._lock:
            self._cache[day] = profile

    def load(self, day: date) -> Profile | None:
        with self._lock:
            if day in self._cache:
                self._cache.move_to_end(day)
                return self._cache[day]
        path = self._path(day)
        try:
            found: Profile | None = Profile.from_json(
                gzip.decompress(path.read_bytes()), origin=str(path)
            )
        except FileNotFoundError:
            found = None
        except (OSError, EOFError) as exc:
            raise DriftInputError(f"{path}: cannot read stored profile ({exc})") from None
        with self._lock:
            self._cache[day] = found
            while len(self._cache) > CACHED_PROFILES:
                self._cache.popitem(last=False)
        return found
