"""Per-feature results and their grading: the shape every reader of a scan sees (the CLI's
JSON, drift results in the warehouse, Dagster's checks) and the one place a status is given."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from drift.thresholds import (
    FIELDS_OF_OPT_IN,
    GRADED_FIELD,
    LOWER_IS_WORSE,
    MEASURES,
    SchemaBreak,
    Status,
    Thresholds,
)


@dataclass(frozen=True)
class BinTable:
    """Reference vs current shares per bin: the evidence behind PSI and JS."""

    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class BinnedPsi:
    """Bins and PSI computed elsewhere (Evidently compatibility mode)."""

    bins: BinTable
    psi: float


@dataclass(frozen=True)
class SegmentHint:
    """How much of a feature's drift one segment explains (:mod:`drift.hints`)."""

    column: str
    value: str
    share_reference: float
    """The segment's share of the reference's rows."""
    share_current: float
    psi_within: float | None
    """PSI of the segment's own reference and current, on the whole's bins."""
    explained: float
    """Its share of the whole's PSI (the segments of one column add up to 1)."""
    kind: str
    """``within`` (the segment's data changed) or ``mix`` (its share of the rows did)."""
    hidden: bool = False
    """The whole is ok but this segment is critical on its own, with enough rows and above
    its own sampling noise (the feature is then graded warn)."""
    bins: BinTable | None = None
    """The segment's own reference vs current shares per bin."""


@dataclass(frozen=True)
class FeatureResult:
    feature: str
    kind: str
    status: Status
    psi: float | None = None
    drift_ratio: float | None = None
    mean_shift_std: float | None = None
    js_distance: float | None = None
    missing_share_delta: float | None = None
    unseen_share: float | None = None
    message: str = ""
    bins: BinTable | None = None
    schema_break: SchemaBreak | None = None
    """Set when the status is ``error`` because the column's shape changed."""
    chi2_statistic: float | None = None
    chi2_pvalue: float | None = None
    wasserstein: float | None = None
    """Wasserstein-1 distance in reference σ (numeric features)."""
    segments: list[SegmentHint] | None = None
    """The most-explaining segments first; None when the profiles have no segments."""

    def as_dict(
        self, *, with_bins: bool = False, measures: tuple[str, ...] = MEASURES
    ) -> dict[str, object]:
        """The result as JSON-ready data; the opt-in measures' fields only when ``measures``
        names them."""
        data = asdict(self)
        data["status"] = self.status.value
        data["schema_break"] = self.schema_break.value if self.schema_break else None
        if not with_bins:
            data.pop("bins")
            for hint in data["segments"] or []:
                hint.pop("bins")
        if self.segments is None:
            data.pop("segments")
        for measure, fields in FIELDS_OF_OPT_IN.items():
            if measure not in measures:
                for name in fields:
                    del data[name]
        return data


def error_result(
    feature: str, kind: str, message: str, schema_break: SchemaBreak | None = None
) -> FeatureResult:
    return FeatureResult(
        feature=feature, kind=kind, status=Status.ERROR, message=message, schema_break=schema_break
    )


def grade(
    result: FeatureResult, thresholds: Thresholds, measures: tuple[str, ...], notes: list[str]
) -> FeatureResult:
    """The worst status ``measures`` reach on their levels, and a message saying which."""
    status = Status.OK
    tripped: list[str] = []
    for measure in measures:
        value = getattr(result, GRADED_FIELD[measure])
        level = thresholds.level(result.feature, measure)
        if value is None or level is None:
            continue
        lower = measure in LOWER_IS_WORSE
        graded = level.grade(value, lower_is_worse=lower)
        if graded is not Status.OK:
            bound = level.critical if graded is Status.CRITICAL else level.warn
            said = f"{measure} p {value:.4g} ≤" if lower else f"{measure} {value:.4g} ≥"
            tripped.append(f"{said} {bound:g} ({graded.value})")
        if graded.rank > status.rank:
            status = graded
    return replace(result, status=status, message="; ".join([*tripped, *notes]))
