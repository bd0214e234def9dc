"""Warn and critical levels per drift measure — the one home of the default thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from drift.errors import STRICT_FIELDS, DriftInputError, first_problem

if TYPE_CHECKING:
    from pydantic import TypeAdapter


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    ERROR = "error"
    INSUFFICIENT = "insufficient"
    """Not graded: too few rows, or a rolling reference with too few usable partitions."""

    @property
    def rank(self) -> int:
        """Order of severity among graded statuses; ``error`` (not graded) is below them all,
        and ``insufficient`` (nothing to grade) below that."""
        return _RANK[self]

    @property
    def code(self) -> int:
        """The status as a number: 0 ok, 1 warn, 2 critical, 3 error, −1 insufficient (the
        metrics' gauge; below ok, so no rule on 1, 2 or 3 fires for it)."""
        return _CODE[self]

    @property
    def breach(self) -> bool:
        """Whether this status is one people must hear about: warn, critical or error (an
        insufficient partition is visible, never an alarm)."""
        return self in _BREACHES


_RANK: Final = {
    Status.OK: 0,
    Status.WARN: 1,
    Status.CRITICAL: 2,
    Status.ERROR: -1,
    Status.INSUFFICIENT: -2,
}
_CODE: Final = {
    Status.OK: 0,
    Status.WARN: 1,
    Status.CRITICAL: 2,
    Status.ERROR: 3,
    Status.INSUFFICIENT: -1,
}
_BREACHES: Final = frozenset({Status.WARN, Status.CRITICAL, Status.ERROR})


class SchemaBreak(StrEnum):
    """Why a feature could not be scored because the data's shape changed."""

    MISSING = "missing"
    """The column is absent (from the current snapshot, or from the reference)."""
    ALL_NULL = "all_null"
    """The column has no non-missing value."""
    RETYPED = "retyped"
    """The column's kind changed (numeric ↔ categorical)."""
    UNREADABLE = "unreadable"
    """The column's type cannot be scored (e.g. a list or a timestamp)."""


MEASURES: Final = (
    "psi",
    "drift_ratio",
    "mean_shift_std",
    "js_distance",
    "missing_share_delta",
    "unseen_share",
)
"""Measures computed and graded by default; each is compared by absolute value."""

OPT_IN_MEASURES: Final = ("chi2", "wasserstein")
"""Measures computed only when asked for (they load scipy): ``chi2`` grades the chi-square
test's p-value (lower is worse), ``wasserstein`` the distance in reference σ."""

ALL_MEASURES: Final = (*MEASURES, *OPT_IN_MEASURES)

FIELDS_OF_OPT_IN: Final = {
    "chi2": ("chi2_statistic", "chi2_pvalue"),
    "wasserstein": ("wasserstein",),
}
"""The result fields each opt-in measure fills (null where not asked for)."""

OPT_IN_FIELDS: Final = tuple(f for fields in FIELDS_OF_OPT_IN.values() for f in fields)

GRADED_FIELD: Final = {
    **{m: m for m in MEASURES},
    "chi2": "chi2_pvalue",
    "wasserstein": "wasserstein",
}
"""The result field each measure grades."""

LOWER_IS_WORSE: Final = frozenset({"chi2"})
"""Measures whose levels are upper bounds of a p-value: at or below ``warn`` warns."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Level:
    """Warn and critical levels of one measure; their order is checked where the measure is
    known (:class:`Thresholds`), since a p-value's critical level lies below its warn level.

    A plain dataclass, like the profiles: a scan grades without importing pydantic, which
    validates levels only where they come from a file or a config."""

    __pydantic_config__ = STRICT_FIELDS
    warn: float
    critical: float

    def __post_init__(self) -> None:
        for name in ("warn", "critical"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be at least 0")

    def grade(self, value: float, *, lower_is_worse: bool = False) -> Status:
        if lower_is_worse:
            if value <= self.critical:
                return Status.CRITICAL
            return Status.WARN if value <= self.warn else Status.OK
        magnitude = abs(value)
        if magnitude >= self.critical:
            return Status.CRITICAL
        if magnitude >= self.warn:
            return Status.WARN
        return Status.OK


def _check_order(measure: str, level: Level) -> None:
    if measure in LOWER_IS_WORSE:
        if level.critical > level.warn:
            raise ValueError(f"{measure}: a p-value's critical level must be at most its warn")
    elif level.critical < level.warn:
        raise ValueError(f"{measure}: critical must be at least warn")


DEFAULT_LEVELS: Final[dict[str, Level]] = {
    "psi": Level(warn=0.1, critical=0.25),
    "drift_ratio": Level(warn=0.1, critical=0.25),
    "mean_shift_std": Level(warn=0.2, critical=0.5),
    # For small shifts JS distance (base 2) ≈ √(PSI / (8 ln 2)): these match PSI's 0.1 / 0.25.
    "js_distance": Level(warn=0.13, critical=0.21),
    "missing_share_delta": Level(warn=0.05, critical=0.15),
    "unseen_share": Level(warn=0.01, critical=0.05),
    # p-values: the customary 5 % and 1 %; at a million rows trivial shifts fall below both.
    "chi2": Level(warn=0.05, critical=0.01),
    # In reference σ, like mean_shift_std: Evidently's default threshold for it is 0.1.
    "wasserstein": Level(warn=0.1, critical=0.25),
}


CALIBRATION_FLOOR: Final[dict[str, Level]] = {
    measure: level
    if measure in LOWER_IS_WORSE
    else Level(warn=level.warn / 2, critical=level.critical / 2)
    for measure, level in DEFAULT_LEVELS.items()
}
"""The lowest levels calibration gives (half the defaults): a window of exact copies has no
spread at all, an exact copy of it must still read ok, and on large quiet partitions a shift
too small to matter must not alarm. For a p-value (chi2) the customary levels are the laxest
calibration gives: it only makes them stricter, where the window's p-values run low."""
DEFAULT_WARN_SIGMAS: Final = 4.0
DEFAULT_CRITICAL_SIGMAS: Final = 6.0
"""Calibrated levels are the mean of the window's own values plus this many of their spreads
(values of each reference partition scored against the merge of the others)."""
MIN_RELATIVE_SPREAD: Final = 0.75
"""The spread calibration uses is at least this share of the values' mean: a few partitions
can agree by chance, and a measure that is an absolute value or a sum of squares spreads
about as much as its mean under sampling noise alone."""


def known_measures(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` without repeats, every one a measure drift knows (else an input error)."""
    chosen = tuple(dict.fromkeys(names))
    unknown = [name for name in chosen if name not in ALL_MEASURES]
    if not chosen or unknown:
        raise DriftInputError(
            f"unknown measure(s) {', '.join(repr(n) for n in unknown) or 'none given'}; "
            f"known: {', '.join(ALL_MEASURES)}"
        )
    return chosen


def parse_measures(text: str) -> tuple[str, ...]:
    """``psi,chi2,wasserstein`` → the measures to compute and grade (unknown names refused)."""
    return known_measures([name.strip() for name in text.split(",")])


@dataclass(frozen=True, kw_only=True, slots=True)
class Thresholds:
    """Default levels per measure, overridable per feature (``{"features": {"age": {"psi":
    {"warn": 0.2, "critical": 0.4}}}}``). With ``calibrate`` the defaults are derived from a
    rolling reference window's own spread (:mod:`drift.calibrate`); per-feature levels still
    win."""

    __pydantic_config__ = STRICT_FIELDS
    defaults: dict[str, Level] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    features: dict[str, dict[str, Level]] = field(default_factory=dict)
    calibrate: bool = False
    warn_sigmas: float = DEFAULT_WARN_SIGMAS
    critical_sigmas: float = DEFAULT_CRITICAL_SIGMAS

    def __post_init__(self) -> None:
        if not 0 < self.warn_sigmas <= self.critical_sigmas:
            raise ValueError("calibration needs 0 < warn_sigmas ≤ critical_sigmas")
        names = set(self.defaults).union(*(set(m) for m in self.features.values()))
        unknown = sorted(names - set(ALL_MEASURES))
        if unknown:
            raise ValueError(
                f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(ALL_MEASURES)}"
            )
        for levels in (self.defaults, *self.features.values()):
            for measure, level in levels.items():
                _check_order(measure, level)

    def level(self, feature: str, measure: str) -> Level | None:
        override = self.features.get(feature, {}).get(measure)
        if override is not None:
            return override
        return self.defaults.get(measure, DEFAULT_LEVELS.get(measure))

    def used(self, feature: str, measures: Sequence[str]) -> dict[str, dict[str, float]]:
        """The levels ``measures`` of ``feature`` are graded with (stored with each result)."""
        found = {}
        for measure in measures:
            level = self.level(feature, measure)
            if level is not None:
                found[measure] = {"warn": level.warn, "critical": level.critical}
        return found

    @classmethod
    def load(cls, path: str | Path) -> Thresholds:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise DriftInputError(f"{path}: cannot read thresholds ({exc.strerror})") from None
        from pydantic import ValidationError

        try:
            loaded = _adapter().validate_json(text)
        except ValidationError as exc:
            raise DriftInputError(f"{path}: invalid thresholds ({first_problem(exc)})") from None
        if loaded.calibrate:
            raise DriftInputError(
                f"{path}: calibrate needs a rolling reference window (driftwatch.yaml's "
                "reference: {rolling_days: N}); a scan of two snapshots has none"
            )
        # Defaults given in the file replace only the measures they name.
        return cls(defaults={**DEFAULT_LEVELS, **loaded.defaults}, features=loaded.features)


@cache
def _adapter() -> TypeAdapter[Thresholds]:
    from pydantic import TypeAdapter

    return TypeAdapter(Thresholds)
