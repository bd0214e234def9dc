"""The drift results tables: the append-only history (one row per feature per evaluated
partition) and the stored present that summarizes it, so reads of "now" cost what the present
holds (datasets × features), never what history holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.base import Base, JSONType, UTCDateTime


class DriftResult(Base):
    """One feature of one evaluated partition (append-only; a re-run adds rows)."""

    __tablename__ = "drift_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(128))
    feature: Mapped[str] = mapped_column(String(200))
    partition: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    psi: Mapped[float | None] = mapped_column(Float)
    drift_ratio: Mapped[float | None] = mapped_column(Float)
    mean_shift_std: Mapped[float | None] = mapped_column(Float)
    js_distance: Mapped[float | None] = mapped_column(Float)
    missing_share_delta: Mapped[float | None] = mapped_column(Float)
    unseen_share: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    bins: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    schema_break: Mapped[str | None] = mapped_column(String(16))
    """missing | all_null | retyped | unreadable when the status is error for that reason."""
    chi2_statistic: Mapped[float | None] = mapped_column(Float)
    chi2_pvalue: Mapped[float | None] = mapped_column(Float)
    wasserstein: Mapped[float | None] = mapped_column(Float)
    """The opt-in measures, where the dataset grades with them."""
    levels: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """``{measure: {"warn", "critical"}}`` the result was graded with; null before 0012."""
    segments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    """Segment hints, most-explaining first (:class:`drift.results.SegmentHint` with its
    bins); null without ``segment_by`` and before 0013."""
    multivariate: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """On a dataset's ``(multivariate)`` row: the reconstruction error, the reference's mean
    and spread, the levels and the columns whose error grew most (0014)."""

    __table_args__ = (
        # the newest partitions of a feature first, a re-run's latest row first within one
        Index("ix_drift_results_feature_partition_id", "dataset", "feature", "partition", "id"),
        Index("ix_drift_results_dataset_evaluated", "dataset", "evaluated_at"),
        Index("ix_drift_results_dataset_partition_run", "dataset", "partition", "run_id"),
    )


class DriftReference(Base):
    """What one evaluated partition (of one run) was compared with: ``{"kind": "fixed",
    "start", "end"}`` or ``{"kind": "rolling", "rolling_days", "same_weekday",
    "exclude_breaches", "partitions": [...]}`` (the partitions merged)."""

    __tablename__ = "drift_references"

    dataset: Mapped[str] = mapped_column(String(128), primary_key=True)
    partition: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[dict[str, Any]] = mapped_column(JSONType)


class DriftPresent(Base):
    """Per (dataset, feature), its newest evaluated partition's latest result (the present the
    gauges, the datasets pages and the sensor mean), written in the transaction of the results
    it summarizes. A backfill of an older partition moves only ``last_evaluated_at``."""

    __tablename__ = "drift_present"

    dataset: Mapped[str] = mapped_column(String(128), primary_key=True)
    feature: Mapped[str] = mapped_column(String(200), primary_key=True)
    result_id: Mapped[int] = mapped_column(Integer)
    partition: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    psi: Mapped[float | None] = mapped_column(Float)
    drift_ratio: Mapped[float | None] = mapped_column(Float)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """When the present result was written."""
    last_evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    """When any result of this feature was last written, backfills included."""
