"""Bodies of the drift results API (``GET /datasets``, ``GET /datasets/{dataset}/results``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from drift.thresholds import Status
from incident_api.bodies import Strict

DriftStatus = Literal["ok", "warn", "critical", "error", "insufficient"]
"""A feature's grade (:class:`drift.thresholds.Status`), named apart from an incident's status
in the OpenAPI document."""
if set(get_args(DriftStatus)) != {s.value for s in Status}:  # pragma: no cover — a contract
    raise ImportError("DriftStatus must list drift.thresholds.Status's values")

PARTITION = Field(None, max_length=32, description="a partition key, compared as text")


class DatasetQuery(Strict):
    q: str | None = Field(None, max_length=200, description="part of the name, any case")
    worst: DriftStatus | None = Field(None, description="only datasets whose worst feature is this")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the last page")


class DatasetOut(BaseModel):
    """A dataset's present: its features' statuses in their newest evaluated partitions."""

    model_config = ConfigDict(from_attributes=True)

    dataset: str
    features: int
    worst: DriftStatus
    counts: dict[str, int] = Field(description="features per status")
    newest_partition: str
    last_evaluated_at: datetime


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    next_cursor: str | None


class ResultQuery(Strict):
    feature: str | None = Field(None, max_length=200)
    from_: str | None = Field(None, alias="from", max_length=32, description="first partition")
    to: str | None = Field(None, max_length=32, description="last partition (inclusive)")
    status: DriftStatus | None = None
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(None, max_length=400, description="next_cursor of the last page")


class LevelOut(BaseModel):
    warn: float
    critical: float


class ReferenceOut(BaseModel):
    """What the partition was compared with: a fixed window (``start``, ``end``), or a rolling
    one and the partitions it merged."""

    kind: Literal["fixed", "rolling"]
    start: str | None = None
    end: str | None = None
    rolling_days: int | None = None
    same_weekday: bool | None = None
    exclude_breaches: bool | None = None
    partitions: list[str] | None = Field(None, description="the partitions merged (rolling)")
    calibrated: bool = Field(False, description="levels calibrated on the window's own spread")


class SegmentBinsOut(BaseModel):
    labels: list[str]
    reference: list[float]
    current: list[float]


class SegmentOut(BaseModel):
    """How much of the feature's drift one segment explains."""

    column: str
    value: str
    share_reference: float = Field(description="the segment's share of the reference's rows")
    share_current: float
    psi_within: float | None = Field(description="PSI of the segment's own data, on the "
                                     "feature's bins")  # fmt: skip
    explained: float = Field(description="its share of the feature's PSI (one column's "
                             "segments add up to 1)")  # fmt: skip
    kind: Literal["within", "mix"] = Field(
        description="within: the segment's data changed; mix: its share of the rows did"
    )
    hidden: bool = Field(
        False, description="the feature is ok as a whole but this segment is critical"
    )
    bins: SegmentBinsOut | None = None


class MultivariateOut(BaseModel):
    """A ``(multivariate)`` row's result: the rows' PCA reconstruction error and its levels."""

    status: DriftStatus
    reconstruction_error: float | None
    reference_mean: float | None
    reference_std: float | None = Field(description="the reference's spread, scaled to the rows")
    warn: float | None
    critical: float | None
    top_columns: list[str] = Field(description="the columns whose share of the error grew most")
    components: int | None = None
    message: str = ""


class ResultOut(BaseModel):
    """One feature of one evaluated partition, as the run that evaluated it recorded it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    feature: str
    partition: str
    run_id: str
    status: DriftStatus
    message: str
    schema_break: str | None
    evaluated_at: datetime
    measures: dict[str, float | None]
    levels: dict[str, LevelOut] | None = Field(
        description="the warn and critical level each measure was graded with (null: recorded "
        "before levels were kept)"
    )
    reference: ReferenceOut | None = Field(
        description="what the partition was compared with (null: recorded before references "
        "were kept)"
    )
    segments: list[SegmentOut] | None = Field(
        None,
        description="the segments that explain most of the drift, most first (null: the "
        "dataset has no segment_by)",
    )


class ResultPage(BaseModel):
    items: list[ResultOut]
    next_cursor: str | None
