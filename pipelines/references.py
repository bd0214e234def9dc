"""What each partition is compared with, pure of Dagster: a fixed reference profile, or a
rolling window merged from the partitions' own stored profiles.

A rolling dataset stores every scored partition's profile in the snapshot store
(``_profiles/partitions/<day>.json.gz``), all on one sketch grid (``_profiles/grid.json``: the
anchors of the first partition profiled, fixed for good, so any set of them merges exactly).
The reference of day D is the merge of the usable stored profiles of the window's days: no raw
data is read again. A window with fewer than two usable partitions grades nothing.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from drift import Profile, ScanOptions, Thresholds
from drift.calibrate import calibrate, pinned, total
from drift.errors import DriftInputError
from pipelines.config import DatasetConfig, RollingReference
from warehouse.drift_results import DriftResultStore
from warehouse.snapshots import SnapshotStore

MIN_PARTITIONS: Final = 2
"""Usable partitions a rolling window needs: one alone has no spread to calibrate on, and a
single day is a noisy reference."""
CACHED_PROFILES: Final = 64
"""Stored profiles a range run keeps parsed: each is read once as its window slides by."""


@dataclass(frozen=True)
class Baseline:
    """What one partition is graded against: a reference profile and levels, or (``profile``
    None) why it cannot be graded; ``record`` is stored with its results."""

    profile: Profile | None
    thresholds: Thresholds
    record: dict[str, Any]
    shortfall: str = ""


class References(Protocol):
    """What a range run compares its partitions with."""

    @property
    def grid(self) -> Profile:
        """Partitions are profiled like it (on its sketch grid)."""

    def baseline(self, partition: str) -> Baseline: ...

    def keep(self, partition: str, profile: Profile) -> None:
        """A scored partition's profile, for the windows of later partitions."""


@dataclass(frozen=True)
class FixedReferences:
    """Every partition against the one reference profile of a fixed window."""

    reference: Profile
    thresholds: Thresholds
    record: dict[str, Any]

    @classmethod
    def of(cls, reference: Profile, cfg: DatasetConfig) -> FixedReferences:
        window = cfg.reference
        record: dict[str, Any] = {"kind": "fixed"}
        if not isinstance(window, RollingReference):
            record |= {"start": window.start.isoformat(), "end": window.end.isoformat()}
        return cls(reference, cfg.thresholds, record)

    @property
    def grid(self) -> Profile:
        return self.reference

    def baseline(self, partition: str) -> Baseline:
        return Baseline(self.reference, self.thresholds, self.record)

    def keep(self, partition: str, profile: Profile) -> None:
        pass


def window_days(day: date, rolling: RollingReference) -> list[date]:
    """The days of ``day``'s window, oldest first: the ``rolling_days`` before it (only its
    weekday with ``same_weekday``)."""
    days = [day - timedelta(days=n) for n in range(rolling.rolling_days, 0, -1)]
    if rolling.same_weekday:
        return [d for d in days if d.weekday() == day.weekday()]
    return days


def grid_of(profile: Profile) -> Profile:
    """A profile's sketch grid alone: every numeric column's anchor (0 for a column with no
    value yet, so later partitions still share one grid), no counts."""
    return Profile.grid({name: col.anchor or 0.0 for name, col in profile.numeric().items()})


@dataclass
class StoredProfiles:
    """A rolling dataset's stored partition profiles and their grid, parsed at most once per
    run (thread-safe: a range run profiles ahead in threads)."""

    store: SnapshotStore
    dataset: str
    _cache: OrderedDict[date, Profile | None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _path(self, day: date) -> Path:
        return self.store.profile_path(self.dataset, f"partitions/{day.isoformat()}").with_suffix(
            ".json.gz"
        )

    def grid_path(self) -> Path:
        return self.store.profile_path(self.dataset, "grid")

    def grid(self) -> Profile | None:
        path = self.grid_path()
        return Profile.load(path) if path.exists() else None

    def publish_grid(self, grid: Profile) -> Profile:
        """Store ``grid`` unless one is stored already; the stored one either way (two runs
        that profile a new dataset's first days at once agree on the first to land)."""
        path = self.grid_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        grid.save(partial)
        try:
            os.link(partial, path)  # fails when a grid is there: the first one stays
        except FileExistsError:
            pass
        finally:
            partial.unlink()
        return Profile.load(path)

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


@dataclass
class RollingReferences:
    """Each partition's rolling reference (and calibrated levels) from the stored profiles of
    its window; each scored partition's profile is kept for the windows after it."""

    profiles: StoredProfiles
    results: DriftResultStore
    cfg: DatasetConfig
    options: ScanOptions
    grid: Profile

    def keep(self, partition: str, profile: Profile) -> None:
        self.profiles.save(date.fromisoformat(partition), profile)

    @property
    def rolling(self) -> RollingReference:
        assert isinstance(self.cfg.reference, RollingReference)
        return self.cfg.reference

    def baseline(self, partition: str) -> Baseline:
        rolling, day = self.rolling, date.fromisoformat(partition)
        days = window_days(day, rolling)
        stored = {d: p for d in days if (p := self.profiles.load(d)) is not None}
        usable = [d for d, p in stored.items() if p.rows >= self.cfg.min_rows]
        if rolling.exclude_breaches and usable:
            breached = self.results.breached_partitions(
                self.profiles.dataset, [d.isoformat() for d in usable]
            )
            usable = [d for d in usable if d.isoformat() not in breached]
        record = {
            "kind": "rolling",
            "rolling_days": rolling.rolling_days,
            "same_weekday": rolling.same_weekday,
            "exclude_breaches": rolling.exclude_breaches,
            "partitions": [d.isoformat() for d in usable],
            "calibrated": False,
        }
        if len(usable) < MIN_PARTITIONS:
            return Baseline(None, self.cfg.thresholds, record, self._shortfall(day, len(usable)))
        window = [stored[d] for d in usable]
        try:
            whole = total(window)
            reference = pinned(whole, self.options)
            thresholds = self.cfg.thresholds
            if thresholds.calibrate:
                thresholds = calibrate(window, self.options, self.cfg.features, whole)
                record["calibrated"] = True
        except ValueError as exc:  # a column retyped within the window
            raise DriftInputError(f"reference window of {partition}: {exc}") from None
        return Baseline(reference, thresholds, record)

    def _shortfall(self, day: date, usable: int) -> str:
        rolling = self.rolling
        which = f" on {day:%A}s" if rolling.same_weekday else ""
        return (
            f"rolling reference: {usable} usable partition(s){which} in the "
            f"{rolling.rolling_days} days before {day.isoformat()} (needs {MIN_PARTITIONS}): "
            "not graded"
        )
