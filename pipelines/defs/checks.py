"""The drift asset's checks: one aggregate check and one per feature. A run of one partition
grades that day; a run over a range (a backfill) grades the range — a check fails when any of
its days breached, and says which."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
import re
from collections.abc import Iterator

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from drift import FeatureResult, Status
from drift.hints import where
from drift.multivariate import MultivariateResult
from drift.thresholds import OPT_IN_FIELDS
from pipelines.backfill import RangeScored
from pipelines.config import ConfigError
from pipelines.scoring import PartitionScored

GRAPHED = ("psi", "drift_ratio", "mean_shift_std", "js_distance")
"""Measures a feature's check carries as floats (Dagster plots them across partitions)."""
CHECK_NAME = "drift_within_thresholds"
"""The aggregate check; each feature also has a check of its own (:func:`feature_check_name`)."""
MULTIVARIATE_CHECK = "multivariate"
"""A dataset's check of its rows' reconstruction error (``multivariate: true``)."""
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_]")
_SEVERITY = {
    Status.WARN: AssetCheckSeverity.WARN,
    Status.CRITICAL: AssetCheckSeverity.ERROR,
    Status.ERROR: AssetCheckSeverity.ERROR,
}


def feature_check_name(feature: str) -> str:
    """A feature's check is named after it (Dagster allows letters, digits and ``_`` only)."""
    return _NOT_A_NAME.sub("_", feature)


def check_names(name: str, features: list[str]) -> None:
    """Each feature needs a check name of its own, distinct from the aggregate's."""
    names = [feature_check_name(f) for f in features]
    reserved = (CHECK_NAME, MULTIVARIATE_CHECK)
    clashes = sorted({n for n in names if names.count(n) > 1 or n in reserved})
    if clashes:
        raise ConfigError(
            f"datasets.{name}.features: these names give clashing Dagster check names "
            f"(only letters, digits and _ are kept): {', '.join(clashes)}"
        )


def drift_check(done: PartitionScored, partition: str) -> AssetCheckResult:
    """WARN when a feature reaches its warn level; ERROR at critical or when a feature could not
    be scored (a schema break)."""
    critical, warn = done.features(Status.CRITICAL), done.features(Status.WARN)
    errors = done.features(Status.ERROR)
    return AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not (critical or warn or errors),
        severity=AssetCheckSeverity.ERROR if critical or errors else AssetCheckSeverity.WARN,
        description=f"partition {partition}",
        metadata={
            "critical_features": MetadataValue.json(critical),
            "warn_features": MetadataValue.json(warn),
            "error_features": MetadataValue.json(errors),
            "partition": MetadataValue.text(partition),
        },
    )


def feature_check(result: FeatureResult, partition: str) -> AssetCheckResult:
    """One feature's grade: its measures, its status and, for an error, the schema break."""
    measures = {
        name: MetadataValue.float(value)
        for name in (*GRAPHED, *OPT_IN_FIELDS)
        if (value := getattr(result, name)) is not None
    }
    return AssetCheckResult(
        check_name=feature_check_name(result.feature),
        passed=not result.status.breach,  # insufficient: shown, never an alarm
        severity=_SEVERITY.get(result.status, AssetCheckSeverity.WARN),
        description=f"partition {partition}: {result.status.value}",
        metadata={
            **measures,
            "status": MetadataValue.text(result.status.value),
            "schema_break": MetadataValue.text(
                result.schema_break.value if result.schema_break else "—"
            ),
            "message": MetadataValue.text(result.message or "—"),
            "partition": MetadataValue.text(partition),
            **(
                {"where": MetadataValue.text(where(result.status, result.segments) or "—")}
                if result.segments is not None
                else {}
            ),
        },
    )


def multivariate_check(
    result: MultivariateResult, partition: str, **metadata: MetadataValue
) -> AssetCheckResult:
    """The rows' reconstruction error against the reference's parts: WARN at its warn level,
    ERROR at critical (an insufficient partition passes)."""
    numbers = {
        name: MetadataValue.float(value)
        for name in ("reconstruction_error", "reference_mean", "reference_std", "warn", "critical")
        if (value := getattr(result, name)) is not None
    }
    return AssetCheckResult(
        check_name=MULTIVARIATE_CHECK,
        passed=not result.status.breach,
        severity=_SEVERITY.get(result.status, AssetCheckSeverity.WARN),
        description=f"partition {partition}: {result.status.value}",
        metadata={
            **numbers,
            "status": MetadataValue.text(result.status.value),
            "top_columns": MetadataValue.json(result.top_columns),
            "message": MetadataValue.text(result.message or "—"),
            "partition": MetadataValue.text(partition),
            **metadata,
        },
    )


def drift_check_specs(
    key: AssetKey, features: list[str], *, multivariate: bool = False
) -> list[AssetCheckSpec]:
    """The aggregate check and one check per feature, on the drift asset ``key`` (and the
    multivariate check)."""
    extra = [AssetCheckSpec(MULTIVARIATE_CHECK, asset=key, description=multivariate_check.__doc__)]
    return [
        *(extra if multivariate else []),
        AssetCheckSpec(CHECK_NAME, asset=key, description=drift_check.__doc__),
        *(
            AssetCheckSpec(
                feature_check_name(feature),
                asset=key,
                description=f"{feature} within its warn and critical levels, and scorable",
            )
            for feature in features
        ),
    ]


def range_checks(outcome: RangeScored) -> Iterator[AssetCheckResult]:
    """The checks of a run: those of its one partition, or, over a range, the aggregate check
    failing if any day breached (listing those days) and each feature's check carrying its
    worst day (the newest of equals)."""
    if not outcome.scored:
        return
    if len(outcome.scored) == 1:
        ((partition, done),) = outcome.scored
        yield drift_check(done, partition)
        for result in done.results:
            yield feature_check(result, partition)
        if done.multivariate is not None:
            yield multivariate_check(done.multivariate, partition)
        return
    yield _range_drift_check(outcome.scored)
    yield from _range_multivariate_check(outcome.scored)
    worst: dict[str, tuple[str, FeatureResult]] = {}
    breached: dict[str, int] = {}
    for partition, done in outcome.scored:
        for result in done.results:
            kept = worst.get(result.feature)
            if kept is None or _badness(result) >= _badness(kept[1]):
                worst[result.feature] = (partition, result)
            breached[result.feature] = breached.get(result.feature, 0) + result.status.breach
    span = _span(outcome.scored)
    for feature, (partition, result) in worst.items():
        check = feature_check(result, partition)
        yield check.with_metadata(
            {
                **check.metadata,
                "partitions": MetadataValue.text(span),
                "breached_partitions": MetadataValue.int(breached[feature]),
            }
        )


def _range_multivariate_check(
    scored: list[tuple[str, PartitionScored]],
) -> Iterator[AssetCheckResult]:
    """The worst day's multivariate check over a range (the newest of equals)."""
    graded = [(p, done.multivariate) for p, done in scored if done.multivariate is not None]
    if not graded:
        return
    partition, worst = max(reversed(graded), key=lambda item: item[1].status.rank)
    breached = sum(result.status.breach for _, result in graded)
    yield multivariate_check(
        worst, partition, partitions=MetadataValue.text(_span(scored)),
        breached_partitions=MetadataValue.int(breached),
    )  # fmt: skip


def _badness(result: FeatureResult) -> int:
    """ERROR (unscorable) ranks with CRITICAL: both fail the check at ERROR severity."""
    return 2 if result.status is Status.ERROR else result.status.rank


def _span(scored: list[tuple[str, PartitionScored]]) -> str:
    return f"{scored[0][0]}…{scored[-1][0]}"


def _range_drift_check(scored: list[tuple[str, PartitionScored]]) -> AssetCheckResult:
    days = {
        status: [p for p, done in scored if done.features(status)]
        for status in (Status.CRITICAL, Status.WARN, Status.ERROR)
    }
    severe = days[Status.CRITICAL] or days[Status.ERROR]
    return AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not any(days.values()),
        severity=AssetCheckSeverity.ERROR if severe else AssetCheckSeverity.WARN,
        description=f"partitions {_span(scored)} ({len(scored)})",
        metadata={
            "critical_partitions": MetadataValue.json(days[Status.CRITICAL]),
            "warn_partitions": MetadataValue.json(days[Status.WARN]),
            "error_partitions": MetadataValue.json(days[Status.ERROR]),
            "partitions": MetadataValue.text(_span(scored)),
        },
    )
