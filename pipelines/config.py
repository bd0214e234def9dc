"""driftwatch.yaml: which datasets to watch, their features, reference window and thresholds.

The path comes from ``DRIFTWATCH_CONFIG`` (default ./driftwatch.yaml). It is validated when the
Dagster definitions load, so a mistake is one clear error naming the field, not a failed run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import Final, Protocol, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from drift import ALL_MEASURES, MEASURES, Binning, Thresholds
from drift.profile import DEFAULT_BINS, DEFAULT_TOP_K
from drift.segments import DEFAULT_SEGMENT_TOP_K, MAX_SEGMENT_TOP_K, over_cap
from warehouse.fingerprint import GroupBy

DEFAULT_PATH: Final = "driftwatch.yaml"


class ConfigError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferenceWindow(_Strict):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("reference end is before its start")
        return self

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


class RollingReference(_Strict):
    """The reference of partition D is the merge of the stored profiles of the evaluated
    partitions in the ``rolling_days`` days before D (only D's weekday with ``same_weekday``)."""

    rolling_days: int = Field(ge=2, le=731)
    same_weekday: bool = Field(
        default=False, description="only the partitions on D's weekday (weekends against weekends)"
    )
    exclude_breaches: bool = Field(
        default=False, description="leave out partitions that breached (warn, critical or error)"
    )

    @model_validator(mode="after")
    def _two_partitions_fit(self) -> Self:
        if self.same_weekday and self.rolling_days < 14:
            raise ValueError(
                "same_weekday needs rolling_days of at least 14: a window holds one partition "
                "of each weekday per week, and a reference needs two"
            )
        return self


class WatchPolicy(_Strict):
    """How a dataset's features are graded and its incidents resolved: what the drift asset,
    its checks and the incident sensor need, wherever the data comes from (the snapshot store
    or another asset, see :mod:`pipelines.monitor`)."""

    features: list[str] = Field(min_length=1)
    binning: Binning = Binning.QUANTILE
    bins: int = Field(DEFAULT_BINS, ge=2, le=1000)
    top_k: int = Field(DEFAULT_TOP_K, ge=1)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    measures: list[str] = Field(
        default_factory=lambda: list(MEASURES),
        min_length=1,
        description="the measures that grade a feature; chi2 and wasserstein are opt-in",
    )
    resolve_after: int = Field(2, ge=1, description="healthy partitions that resolve an incident")
    group_by: GroupBy = Field(
        GroupBy.DATASET,
        description="dataset: one incident per event, the breaching features its members; "
        "feature: one incident per feature",
    )
    segment_by: list[str] = Field(
        default_factory=list,
        description="categorical or integer columns whose levels get profiles of their own: "
        "each drifted feature says which segments explain its drift",
    )
    multivariate: bool = Field(
        False,
        description="also grade the rows' PCA reconstruction error against the reference's: "
        "relationships between columns (a shuffled column, a broken join) no single one shows",
    )
    segment_top_k: int = Field(
        DEFAULT_SEGMENT_TOP_K,
        ge=1,
        le=MAX_SEGMENT_TOP_K,
        description="levels of each segment column with a segment of their own; the rest OTHER",
    )

    @field_validator("measures")
    @classmethod
    def _known_measures(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in ALL_MEASURES]
        if unknown:
            raise ValueError(
                f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(ALL_MEASURES)}"
            )
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if len(set(self.features)) != len(self.features):
            raise ValueError("features are listed twice")
        if self.binning is Binning.EVIDENTLY:
            raise ValueError("binning evidently cannot be pinned on a reference profile")
        if len(set(self.segment_by)) != len(self.segment_by):
            raise ValueError("segment_by names a column twice")
        problem = over_cap(len(self.segment_by), self.segment_top_k, len(self.features))
        if problem:
            raise ValueError(problem)
        return self


DEFAULT_MIN_ROWS: Final = 100
"""Rows below which a partition is recorded ``insufficient`` rather than graded: under a
hundred rows, a day's PSI over ten bins is mostly sampling noise."""


class DatasetConfig(WatchPolicy):
    """A dataset of the snapshot store, as driftwatch.yaml describes it."""

    reference: ReferenceWindow | RollingReference
    partitions_start: date
    min_rows: int = Field(
        DEFAULT_MIN_ROWS,
        ge=0,
        description="partitions with fewer rows are recorded insufficient, not graded",
    )
    profile_steps: int = Field(
        1,
        ge=1,
        le=64,
        description="Dagster steps that profile each day in shares of its row groups, merged "
        "bit for bit by one scoring step; 1: the whole drift asset is one step",
    )
    snapshot_deadline: time | None = Field(
        None,
        description="UTC time of day by which the previous day's snapshot must have landed; "
        "unset: no freshness check",
    )

    @model_validator(mode="after")
    def _calibration_has_a_window(self) -> Self:
        if self.thresholds.calibrate and not isinstance(self.reference, RollingReference):
            raise ValueError(
                "thresholds.calibrate needs a rolling reference (reference: {rolling_days: N}): "
                "levels are calibrated on the window's partitions"
            )
        return self

    @property
    def rolling(self) -> RollingReference | None:
        return self.reference if isinstance(self.reference, RollingReference) else None

    @field_validator("snapshot_deadline", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 23:30 as the number 1410, which would pass as seconds.
        if value is not None and not isinstance(value, str | time):
            raise ValueError('give the deadline as a quoted "HH:MM" (UTC), e.g. "06:00"')
        return value


class Watched(Protocol):
    """What the incident rules and sensors read: each watched dataset's policy, and where the
    Dagster UI is (for run links)."""

    @property
    def datasets(self) -> Mapping[str, WatchPolicy]: ...

    @property
    def webserver_url(self) -> str: ...

    @property
    def sensor_interval_seconds(self) -> int: ...


class DriftwatchConfig(_Strict):
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    sensor_interval_seconds: int = Field(30, ge=5)
    webserver_url: str = "http://127.0.0.1:3000"


def problems(exc: ValidationError) -> str:
    """Every validation problem as ``field.path: message``, on one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
    )


def config_path() -> Path:
    return Path(os.environ.get("DRIFTWATCH_CONFIG") or DEFAULT_PATH)


def load_config(path: str | Path | None = None) -> DriftwatchConfig:
    source = Path(path) if path is not None else config_path()
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read driftwatch config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from None
    try:
        return DriftwatchConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {problems(exc)}") from None
