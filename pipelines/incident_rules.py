"""From drift results to incidents: open or touch on a breach, resolve after N healthy
partitions. Pure of Dagster, so the sensor is a thin shell and this is tested directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from drift import Status
from pipelines.config import DriftwatchConfig
from warehouse.drift_results import DriftResultStore
from warehouse.fingerprint import drift_fingerprint
from warehouse.incidents import IncidentStore, Resolve, Touch
from warehouse.lifecycle import Severity, Source
from warehouse.models import DriftResult

ACTOR: Final = "dagster"
SEVERITY: Final[Mapping[str, Severity]] = {
    Status.CRITICAL: Severity.CRITICAL,
    Status.WARN: Severity.MEDIUM,
}
"""Drift status → incident severity."""
HEALTHY: Final = Status.OK


@dataclass
class Tally:
    last_id: int
    seen: int = 0
    opened: list[int] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.seen} drift results: opened {len(self.opened)}, touched "
            f"{len(self.touched)}, resolved {len(self.resolved)} incidents"
        )


def _evidence(result: DriftResult, webserver_url: str) -> dict[str, object]:
    return {
        "partition": result.partition,
        "status": result.status,
        "psi": result.psi,
        "drift_ratio": result.drift_ratio,
        "js_distance": result.js_distance,
        "missing_share_delta": result.missing_share_delta,
        "unseen_share": result.unseen_share,
        "message": result.message,
        "bins": result.bins,
        "run_id": result.run_id,
        "run_url": f"{webserver_url.rstrip('/')}/runs/{result.run_id}",
        "drift_result_id": result.id,
    }


def apply_results(
    results: Sequence[DriftResult],
    incidents: IncidentStore,
    store: DriftResultStore,
    config: DriftwatchConfig,
    last_id: int,
) -> Tally:
    """Act on ``results`` (in id order). Every write carries a key derived from the result id,
    so replaying a batch after a failure changes nothing that was already done."""
    tally = Tally(last_id=last_id)
    for result in results:
        tally.seen += 1
        fingerprint = drift_fingerprint(result.dataset, result.feature)
        if result.status in SEVERITY:
            outcome = incidents.apply_one(
                Touch(
                    fingerprint,
                    title=f"Drift in {result.dataset}.{result.feature} ({result.status})",
                    description=result.message,
                    severity=SEVERITY[result.status],
                    source=Source.DAGSTER,
                    actor=ACTOR,
                    dataset=result.dataset,
                    feature=result.feature,
                    evidence=_evidence(result, config.webserver_url),
                    dedup_key=f"dagster:result:{result.id}",
                    note=f"partition {result.partition}: {result.message}",
                )
            )
            if outcome.incident is not None and outcome.opened:
                tally.opened.append(outcome.incident.id)
            elif outcome.incident is not None and outcome.touched:
                tally.touched.append(outcome.incident.id)
        elif result.status == HEALTHY:
            dataset_cfg = config.datasets.get(result.dataset)
            needed = dataset_cfg.resolve_after if dataset_cfg else 2
            recent = store.recent_partitions(result.dataset, result.feature, needed)
            if len(recent) == needed and all(r.status == HEALTHY for r in recent):
                outcome = incidents.apply_one(
                    Resolve(
                        fingerprint,
                        actor=ACTOR,
                        dedup_key=f"dagster:resolve:{result.id}",
                        note=(
                            f"{needed} consecutive healthy partitions, latest {recent[0].partition}"
                        ),
                    )
                )
                if outcome.resolved and outcome.incident is not None:
                    tally.resolved.append(outcome.incident.id)
        tally.last_id = result.id
    return tally
