"""What each partition is compared with, pure of Dagster: a fixed reference profile, or a
rolling window merged from the partitions' own stored profiles.

A rolling dataset stores every scored partition's profile (:mod:`warehouse.profiles`), all on
one sketch grid, so any set of them merges exactly. The reference of day D is the merge of the
usable stored profiles of the window's days: no raw data is read again. A window with fewer
than two usable partitions grades nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Final, Protocol

from drift import Profile, ScanOptions, Thresholds
from drift.calibrate import calibrate
from drift.errors import DriftInputError
from drift.multivariate import with_part_errors
from drift.window import RunningTotals, pinned
from pipelines.config import DatasetConfig, RollingReference
from warehouse.drift_results import DriftResultStore
from warehouse.profiles import StoredProfiles

MIN_PARTITIONS: Final = 2
"""Usable partitions a rolling window needs: one alone has no spread to calibrate on, and a
single day is a noisy reference."""


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


def _judged_by_partitions(reference: Profile, window: list[Profile]) -> Profile:
    """A window's reference whose multivariate error is judged by its partitions' own."""
    moments = reference.multivariate
    parts = [p.multivariate for p in window if p.multivariate is not None]
    if moments is None or len(parts) != len(window):
        return replace(reference, multivariate=None) if moments is not None else reference
    try:
        return replace(reference, multivariate=with_part_errors(moments, parts))
    except DriftInputError:  # too few varying columns: no spread, graded insufficient
        return reference


def _off_grid(profile: Profile, grid: Profile) -> bool:
    """Whether a numeric column of ``profile`` has an anchor the grid does not (a profile that
    would not merge with the others)."""
    anchors = grid.anchors
    return any(
        column.anchor is not None and name in anchors and column.anchor != anchors[name]
        for name, column in profile.numeric().items()
    )


@dataclass
class RollingReferences:
    """Each partition's rolling reference (and calibrated levels) from the stored profiles of
    its window; each scored partition's profile is kept for the windows after it."""

    profiles: StoredProfiles
    results: DriftResultStore
    cfg: DatasetConfig
    options: ScanOptions
    grid: Profile
    rolling: RollingReference
    totals: RunningTotals = field(default_factory=RunningTotals)

    def keep(self, partition: str, profile: Profile) -> None:
        self.profiles.save(date.fromisoformat(partition), profile)

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
        strays = [d.isoformat() for d in usable if _off_grid(stored[d], self.grid)]
        if strays:
            raise DriftInputError(
                f"reference window of {partition}: the stored profiles of {', '.join(strays)} "
                f"were built on another grid than {self.profiles.grid_path()}; score those "
                "partitions again"
            )
        try:
            whole = self.totals.total(usable, window)
            reference = _judged_by_partitions(pinned(whole, self.options), window)
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
