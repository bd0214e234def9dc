"""A partition's multivariate result (``multivariate: true``) and the ``(multivariate)`` row
it is recorded as beside the features' results."""

from __future__ import annotations

from drift import Profile, Status
from drift.multivariate import MULTIVARIATE, MultivariateResult, compare_moments, not_graded
from pipelines.references import Baseline
from warehouse.drift_results import NewResult


def multivariate_of(baseline: Baseline, current: Profile, min_rows: int) -> MultivariateResult:
    """The partition's reconstruction error against its baseline, or why it has none."""
    reference = baseline.profile
    if current.rows < min_rows or reference is None:
        why = baseline.shortfall if reference is None else f"{current.rows} rows: not graded"
        return not_graded(Status.INSUFFICIENT, why)
    if reference.multivariate is None or current.multivariate is None:
        return not_graded(
            Status.INSUFFICIENT,
            "the reference was profiled without multivariate moments: materialize it again",
        )
    return compare_moments(reference.multivariate, current.multivariate)


def multivariate_row(
    dataset: str, partition: str, run_id: str, result: MultivariateResult
) -> NewResult:
    """The multivariate result as the dataset's ``(multivariate)`` row."""
    levels = None
    if result.warn is not None and result.critical is not None:
        levels = {"reconstruction_error": {"warn": result.warn, "critical": result.critical}}
    return NewResult(
        dataset=dataset,
        feature=MULTIVARIATE,
        partition=partition,
        run_id=run_id,
        status=result.status.value,
        message=result.message,
        levels=levels,
        multivariate=result.as_dict(),
    )
