"""From drift results to incidents. Pure of Dagster, so the sensor is a thin shell and this is
tested directly.

The present of a ``(dataset, feature)`` is its newest evaluated partitions: the last
``resolve_after`` of them (the latest result of each), newest first. A result inside that
window judges the present — a breach in it joins the feature to its dataset's incident (or
touches the member that holds it), a window of healthy partitions marks the member recovered
(and the incident resolves when every member has) — so the end state is the same whatever
order partitions were evaluated in. A result outside it (a backfill of an old day, a superseded
re-run) is history: it goes on the timeline of the incident that holds the feature and changes
nothing else. A tick's requests go in one transaction, so a partition that breaks five features
opens one incident with five members and pages once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from drift import Status
from drift.hints import from_records, where
from drift.thresholds import MEASURES, OPT_IN_FIELDS
from pipelines.config import Watched
from warehouse.drift_results import DriftResultStore
from warehouse.fingerprint import GroupBy, drift_group_fingerprint, pipeline_fingerprint
from warehouse.incidents import (
    IncidentStore,
    Join,
    Note,
    Outcome,
    Recover,
    Request,
    Resolve,
)
from warehouse.lifecycle import Source
from warehouse.models import DriftResult

ACTOR: Final = "dagster"
DEFAULT_RESOLVE_AFTER: Final = 2
LOOKBACK: Final = 31
"""Evaluated partitions read back to find where a breach's streak began (a member's first
partition, which backfilled older days of the same streak would otherwise not move)."""
MEASURE_FIELDS: Final = (*MEASURES, *OPT_IN_FIELDS)
"""The measures a member carries (those a result has)."""


@dataclass
class Tally:
    last_id: int
    seen: int = 0
    opened: list[int] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    history: list[int] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        if outcome.incident is None or outcome.duplicate:
            return
        for happened, ids in (
            (outcome.opened, self.opened),
            (outcome.touched, self.touched),
            (outcome.resolved, self.resolved),
            (outcome.noted, self.history),
        ):
            if happened:
                ids.append(outcome.incident.id)

    def summary(self) -> str:
        return (
            f"{self.seen} drift results: opened {len(self.opened)}, touched "
            f"{len(self.touched)}, resolved {len(self.resolved)} incidents; "
            f"{len(self.history)} history notes"
        )


def _levels(result: DriftResult, config: Watched) -> dict[str, dict[str, float]]:
    """The warn/critical levels the result was graded with, for charts that draw them: as
    stored with it (calibrated levels differ per partition), else the configured ones."""
    if result.levels:
        return {m: dict(result.levels[m]) for m in ("psi", "drift_ratio") if m in result.levels}
    dataset = config.datasets.get(result.dataset)
    if dataset is None:
        return {}
    return dataset.thresholds.used(result.feature, ("psi", "drift_ratio"))


def measures(result: DriftResult) -> dict[str, Any]:
    found: dict[str, Any] = {
        name: value for name in MEASURE_FIELDS if (value := getattr(result, name)) is not None
    }
    if result.schema_break:
        found["schema_break"] = result.schema_break
    return found


def _evidence(result: DriftResult, config: Watched) -> dict[str, object]:
    webserver_url = config.webserver_url
    return {
        "feature": result.feature,
        "partition": result.partition,
        "status": result.status,
        "schema_break": result.schema_break,
        "psi": result.psi,
        "drift_ratio": result.drift_ratio,
        "js_distance": result.js_distance,
        "missing_share_delta": result.missing_share_delta,
        "unseen_share": result.unseen_share,
        **{name: value for name in OPT_IN_FIELDS if (value := getattr(result, name)) is not None},
        "message": result.message,
        "bins": result.bins,
        "run_id": result.run_id,
        "run_url": f"{webserver_url.rstrip('/')}/runs/{result.run_id}",
        "drift_result_id": result.id,
        "levels": _levels(result, config),
        "segments": result.segments,
        "where": where(Status(result.status), from_records(result.segments)),
    }


def group_by(dataset: str, config: Watched) -> GroupBy:
    policy = config.datasets.get(dataset)
    return policy.group_by if policy is not None else GroupBy.DATASET


def group_key(dataset: str, feature: str, config: Watched) -> str:
    """The fingerprint a breach of ``(dataset, feature)`` opens an incident under."""
    return drift_group_fingerprint(dataset, feature, group_by(dataset, config))


def streak_start(breach: DriftResult, recent: Sequence[DriftResult]) -> str:
    """The first partition of the run of breaching partitions that ends at ``breach``
    (``recent``: newest first)."""
    start = breach.partition
    for result in recent:
        if result.partition > breach.partition:
            continue
        if not Status(result.status).breach:
            break
        start = result.partition
    return start


def breach_join(breach: DriftResult, config: Watched, recent: Sequence[DriftResult] = ()) -> Join:
    """Join ``breach``'s feature to its dataset's incident; keyed by the result, so a breach
    counts once however often it is judged."""
    return Join(
        breach.dataset,
        breach.feature,
        status=breach.status,
        source=Source.DAGSTER,
        actor=ACTOR,
        group_by=group_by(breach.dataset, config),
        psi=breach.psi,
        partition=breach.partition,
        since=streak_start(breach, recent),
        measures=measures(breach),
        evidence=_evidence(breach, config),
        description=breach.message,
        dedup_key=f"dagster:result:{breach.id}",
        note=f"partition {breach.partition}: {breach.message}",
    )


def history_note(result: DriftResult, present: DriftResult, config: Watched) -> Note:
    what = result.message or result.status
    return Note(
        group_key(result.dataset, result.feature, config),
        actor=ACTOR,
        note=(
            f"history: {result.feature} partition {result.partition} evaluated "
            f"{result.status} ({what}); the present is partition {present.partition}"
        ),
        dedup_key=f"dagster:history:{result.id}",
        member=(result.dataset, result.feature),
    )


def judge(
    result: DriftResult, recent: Sequence[DriftResult], needed: int, config: Watched
) -> Request | None:
    """What ``result`` asks of the incident store, given the ``recent`` evaluated partitions
    (newest first), whose first ``needed`` are the present."""
    window = recent[:needed]
    if all(r.id != result.id for r in window):
        return history_note(result, window[0], config)
    if Status(result.status) is Status.INSUFFICIENT:
        return None  # nothing was graded: no alarm, and no sign of health either
    if Status(result.status).breach:
        return breach_join(result, config, recent)
    breaches = [r for r in window if Status(r.status).breach]
    if breaches:  # healthy now, but a breach in the window keeps (or makes) the member active
        return breach_join(breaches[0], config, recent)
    if len(window) < needed or any(Status(r.status) is not Status.OK for r in window):
        return None  # an insufficient partition in the window is not a healthy one
    return Recover(
        result.dataset,
        result.feature,
        actor=ACTOR,
        dedup_key=f"dagster:resolve:{result.id}",
        note=f"{needed} consecutive healthy partitions, latest {window[0].partition}",
    )


def _recent(
    store: DriftResultStore, results: Sequence[DriftResult], config: Watched
) -> dict[tuple[str, str], list[DriftResult]]:
    """Each result's present window (``resolve_after`` partitions, newest first), read back
    to :data:`LOOKBACK` partitions only where a breach needs its streak's start: most results
    of a large day are healthy, and their features read a few rows each. One read per
    ``resolve_after`` in the batch, not one per result."""
    by_need: dict[int, set[tuple[str, str]]] = {}
    for result in results:
        by_need.setdefault(_needed(result, config), set()).add((result.dataset, result.feature))
    recent: dict[tuple[str, str], list[DriftResult]] = {}
    for needed, keys in by_need.items():
        recent |= store.recent_partitions_many(keys, needed)
    longer = {
        key
        for key, rows in recent.items()
        if any(Status(r.status).breach for r in rows) and _needed(rows[0], config) < LOOKBACK
    }
    return recent | store.recent_partitions_many(longer, LOOKBACK)


def _needed(result: DriftResult, config: Watched) -> int:
    dataset = config.datasets.get(result.dataset)
    return dataset.resolve_after if dataset else DEFAULT_RESOLVE_AFTER


def apply_results(
    results: Sequence[DriftResult],
    incidents: IncidentStore,
    store: DriftResultStore,
    config: Watched,
    last_id: int,
) -> Tally:
    """Act on ``results`` (in id order), in one transaction. Every write carries a key derived
    from a result id, so replaying a batch after a failure changes nothing already done."""
    tally = Tally(last_id=last_id)
    requests: list[Request] = []
    windows = _recent(store, results, config)
    for result in results:
        tally.seen += 1
        recent = windows[(result.dataset, result.feature)]
        request = judge(result, recent, _needed(result, config), config)
        if request is not None:
            requests.append(request)
        tally.last_id = result.id
    for outcome in incidents.apply(requests) if requests else []:
        tally.count(outcome)
    return tally


def run_recovery(job: str, run_id: str, partition: str | None) -> Resolve:
    """A successful run of ``job`` resolves the incident of its failure when it ran the failed
    partition or a later one (the next scheduled day), or when neither had a partition."""

    def fixes(evidence: dict[str, Any]) -> bool:
        failed = evidence.get("partition")
        if failed is None or partition is None:
            return failed is None and partition is None
        return str(partition) >= str(failed)

    where = f" (partition {partition})" if partition else ""
    return Resolve(
        pipeline_fingerprint(job),
        actor=ACTOR,
        note=f"run {run_id}{where} succeeded: fixed",
        dedup_key=f"dagster:run-success:{run_id}",
        only_if=fixes,
    )
