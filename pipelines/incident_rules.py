"""From drift results to incidents. Pure of Dagster, so the sensor is a thin shell and this is
tested directly.

The present of a ``(dataset, feature)`` is its newest evaluated partitions: the last
``resolve_after`` of them (the latest result of each), newest first. A result inside that
window judges the present — a breach in it opens or touches the feature's incident, a window of
healthy partitions resolves it — so the end state is the same whatever order partitions were
evaluated in. A result outside it (a backfill of an old day, a superseded re-run) is history:
it goes on the incident's timeline and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from drift import SchemaBreak, Status
from drift.thresholds import OPT_IN_FIELDS
from pipelines.config import Watched
from warehouse.drift_results import DriftResultStore
from warehouse.fingerprint import drift_fingerprint, pipeline_fingerprint
from warehouse.incidents import IncidentStore, Note, Outcome, Resolve, Touch
from warehouse.lifecycle import Severity, Source
from warehouse.models import DriftResult

ACTOR: Final = "dagster"
SEVERITY: Final[Mapping[str, Severity]] = {
    Status.CRITICAL: Severity.CRITICAL,
    Status.ERROR: Severity.HIGH,  # the feature could not be scored: a schema break
    Status.WARN: Severity.MEDIUM,
}
"""Drift status → incident severity (every status but ok is a breach)."""
SCHEMA_CASES: Final[Mapping[str, str]] = {
    SchemaBreak.MISSING: "column missing",
    SchemaBreak.ALL_NULL: "column entirely null",
    SchemaBreak.RETYPED: "column changed type",
    SchemaBreak.UNREADABLE: "column cannot be read",
}
DEFAULT_RESOLVE_AFTER: Final = 2


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


def title(result: DriftResult) -> str:
    name = f"{result.dataset}.{result.feature}"
    if result.status == Status.ERROR:
        case = SCHEMA_CASES.get(result.schema_break or "", "cannot be scored")
        return f"Schema break in {name}: {case}"
    return f"Drift in {name} ({result.status})"


def _levels(result: DriftResult, config: Watched) -> dict[str, dict[str, float]]:
    """The warn/critical levels the result was graded with, for charts that draw them."""
    dataset = config.datasets.get(result.dataset)
    if dataset is None:
        return {}
    found = {}
    for measure in ("psi", "drift_ratio"):
        level = dataset.thresholds.level(result.feature, measure)
        if level is not None:
            found[measure] = {"warn": level.warn, "critical": level.critical}
    return found


def _evidence(result: DriftResult, config: Watched) -> dict[str, object]:
    webserver_url = config.webserver_url
    return {
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
    }


def breach_touch(breach: DriftResult, config: Watched) -> Touch:
    """Open or touch the feature's incident for ``breach``; keyed by the result, so a breach
    counts once however often it is judged."""
    return Touch(
        drift_fingerprint(breach.dataset, breach.feature),
        title=title(breach),
        description=breach.message,
        severity=SEVERITY[breach.status],
        source=Source.DAGSTER,
        actor=ACTOR,
        dataset=breach.dataset,
        feature=breach.feature,
        evidence=_evidence(breach, config),
        dedup_key=f"dagster:result:{breach.id}",
        note=f"partition {breach.partition}: {breach.message}",
    )


def history_note(result: DriftResult, present: DriftResult) -> Note:
    what = result.message or result.status
    return Note(
        drift_fingerprint(result.dataset, result.feature),
        actor=ACTOR,
        note=(
            f"history: partition {result.partition} evaluated {result.status} ({what}); "
            f"the present is partition {present.partition}"
        ),
        dedup_key=f"dagster:history:{result.id}",
    )


def judge(
    result: DriftResult, window: Sequence[DriftResult], needed: int, config: Watched
) -> Touch | Resolve | Note | None:
    """What ``result`` asks of the incident store, given the present ``window``."""
    if all(r.id != result.id for r in window):
        return history_note(result, window[0])
    if Status(result.status).breach:
        return breach_touch(result, config)
    breaches = [r for r in window if Status(r.status).breach]
    if breaches:  # healthy now, but a breach in the window keeps (or makes) the incident open
        return breach_touch(breaches[0], config)
    if len(window) < needed:
        return None
    return Resolve(
        drift_fingerprint(result.dataset, result.feature),
        actor=ACTOR,
        dedup_key=f"dagster:resolve:{result.id}",
        note=f"{needed} consecutive healthy partitions, latest {window[0].partition}",
    )


def apply_results(
    results: Sequence[DriftResult],
    incidents: IncidentStore,
    store: DriftResultStore,
    config: Watched,
    last_id: int,
) -> Tally:
    """Act on ``results`` (in id order). Every write carries a key derived from a result id,
    so replaying a batch after a failure changes nothing that was already done."""
    tally = Tally(last_id=last_id)
    for result in results:
        tally.seen += 1
        dataset = config.datasets.get(result.dataset)
        needed = dataset.resolve_after if dataset else DEFAULT_RESOLVE_AFTER
        window = store.recent_partitions(result.dataset, result.feature, needed)
        request = judge(result, window, needed, config)
        if request is not None:
            tally.count(incidents.apply_one(request))
        tally.last_id = result.id
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
