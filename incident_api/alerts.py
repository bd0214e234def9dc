"""``POST /alerts/alertmanager``: Alertmanager's webhook (payload version 4) → incidents.

Each entry of ``alerts[]`` counts on its own (the top-level status is "firing" when any is).
An alert with ``dataset`` and ``feature`` labels is about a member of the dataset's drift
incident: firing, it joins (or touches) that member exactly as the Dagster sensor's breach
does; resolved, it marks the member recovered (once no alert about it fires), and the incident
resolves when every member has. Any other alert lands on Alertmanager's own fingerprint.
Alertmanager retries with identical bodies, so every delivery is keyed by (key, alert
fingerprint, startsAt, status) and a redelivery changes nothing. Nothing is ever resolved
because an alert is absent. A delivery is one transaction (``IncidentStore.apply``): all of its
alerts count or, on a database error (503), none do, and Alertmanager's retry then counts each
once.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, Final, Literal

import structlog
from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field

from incident_api.bodies import NoNul
from incident_api.openapi import documented
from incident_api.problems import ApiProblem
from incident_api.responses import json_body
from incident_api.services import services
from incident_api.validation import parse_body
from warehouse.fingerprint import alert_fingerprint
from warehouse.incidents import (
    TITLE_LENGTH,
    Join,
    Recover,
    Request,
    Resolve,
    Touch,
    clip_title,
    member_key,
)
from warehouse.lifecycle import Severity, Source

ACTOR: Final = "alertmanager"
SEVERITY_LABELS: Final[dict[str, Severity]] = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "major": Severity.HIGH,
    "p2": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "warn": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "p3": Severity.MEDIUM,
    "info": Severity.LOW,
    "low": Severity.LOW,
    "minor": Severity.LOW,
    "none": Severity.LOW,
}
"""The ``severity`` label onto critical|high|medium|low (unknown or missing: medium)."""
MEMBER_STATUS: Final[dict[str, str]] = {
    "FeatureDriftWarning": "warn",
    "FeatureDriftCritical": "critical",
    "FeatureSchemaBreak": "error",
}
"""The drift rules (alert_rules/) → the member status their alert stands for; another alert
with ``dataset`` and ``feature`` labels stands for its ``severity`` label's."""
_STATUS_OF_SEVERITY: Final = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warn",
    Severity.LOW: "warn",
}

log = structlog.get_logger("incident_api.alerts")
bp = Blueprint("alerts", __name__, url_prefix="/alerts")


class _Lenient(NoNul):
    """Fields Alertmanager may add later are ignored; the ones we use are required."""

    model_config = ConfigDict(extra="ignore")


class Alert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # noqa: N815 — Alertmanager's field names
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = Field(min_length=1, max_length=128)


class AlertmanagerPayload(_Lenient):
    version: Literal["4"]
    groupKey: str = ""  # noqa: N815
    truncatedAlerts: int = Field(0, ge=0)  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    alerts: list[Alert] = Field(max_length=10_000)


class WebhookResult(BaseModel):
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    ignored: int = 0
    truncated: int = Field(0, description="alerts Alertmanager left out (truncatedAlerts)")


def severity_of(labels: dict[str, str]) -> Severity:
    return SEVERITY_LABELS.get(labels.get("severity", "").strip().lower(), Severity.MEDIUM)


def member_of(alert: Alert) -> tuple[str, str] | None:
    """``(dataset, feature)`` when the alert is about a drift incident's member (names longer
    than the store keeps are no dataset's: such an alert is filed as any other)."""
    dataset, feature = alert.labels.get("dataset"), alert.labels.get("feature")
    if not dataset or not feature or max(len(dataset), len(feature)) > TITLE_LENGTH:
        return None
    return dataset, feature


def member_status(alert: Alert) -> str:
    known = MEMBER_STATUS.get(alert.labels.get("alertname", ""))
    return known or _STATUS_OF_SEVERITY[severity_of(alert.labels)]


def _authorised() -> None:
    expected = services().settings.alertmanager_webhook_token
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.strip().encode(), expected.encode())
    ):
        raise ApiProblem(
            401,
            "a valid webhook credential is required",
            headers={"WWW-Authenticate": 'Bearer realm="alertmanager"'},
        )


def _alert_state(alert: Alert, status: str) -> Any:
    def update(evidence: dict[str, Any]) -> dict[str, Any]:
        alerts = dict(evidence.get("alerts", {}))
        alerts[alert.fingerprint] = {
            "status": status,
            "alertname": alert.labels.get("alertname", ""),
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": alert.startsAt.isoformat(),
            "generatorURL": alert.generatorURL,
        }
        return {**evidence, "alerts": alerts}

    return update


def _nothing_firing(evidence: dict[str, Any]) -> bool:
    return all(a.get("status") != "firing" for a in evidence.get("alerts", {}).values())


def _nothing_firing_about(dataset: str, feature: str) -> Any:
    def check(evidence: dict[str, Any]) -> bool:
        return all(
            a.get("status") != "firing"
            for a in evidence.get("alerts", {}).values()
            if a.get("labels", {}).get("dataset") == dataset
            and a.get("labels", {}).get("feature") == feature
        )

    return check


def _member_request(alert: Alert, dataset: str, feature: str) -> Join | Recover:
    key = member_key(dataset, feature)
    dedup = f"am:{key}:{alert.fingerprint}:{alert.startsAt.isoformat()}:{alert.status}"
    name = alert.labels.get("alertname", "alert")
    if alert.status == "firing":
        return Join(
            dataset,
            feature,
            status=member_status(alert),
            source=Source.ALERTMANAGER,
            actor=ACTOR,
            description=alert.annotations.get("description", ""),
            dedup_key=dedup,
            note=f"{name} firing since {alert.startsAt.isoformat()}",
            update_evidence=_alert_state(alert, "firing"),
        )
    return Recover(
        dataset,
        feature,
        actor=ACTOR,
        note=f"{name} resolved by Alertmanager",
        dedup_key=dedup,
        update_evidence=_alert_state(alert, "resolved"),
        only_if=_nothing_firing_about(dataset, feature),
    )


def _request_for(alert: Alert) -> Request:
    member = member_of(alert)
    if member is not None:
        return _member_request(alert, *member)
    key = alert_fingerprint(alert.fingerprint)
    dedup = f"am:{key}:{alert.fingerprint}:{alert.startsAt.isoformat()}:{alert.status}"
    name = alert.labels.get("alertname", "alert")
    if alert.status == "firing":
        # the title column keeps 200 characters; the whole summary stays in the evidence
        return Touch(
            key,
            title=clip_title(alert.annotations.get("summary") or name),
            description=alert.annotations.get("description", ""),
            severity=severity_of(alert.labels),
            source=Source.ALERTMANAGER,
            actor=ACTOR,
            dataset=(alert.labels.get("dataset") or "")[:TITLE_LENGTH] or None,
            dedup_key=dedup,
            note=f"{name} firing since {alert.startsAt.isoformat()}",
            update_evidence=_alert_state(alert, "firing"),
        )
    return Resolve(
        key,
        actor=ACTOR,
        note=f"{name} resolved by Alertmanager",
        dedup_key=dedup,
        update_evidence=_alert_state(alert, "resolved"),
        only_if=_nothing_firing,
    )


@bp.post("/alertmanager")
@documented(
    "Alertmanager webhook (version 4): firing alerts open or touch incidents, resolved "
    "ones resolve them",
    tag="alerts",
    body=AlertmanagerPayload,
    responses={200: WebhookResult},
    auth="alertmanager",
    problems={401, 503},
)
def alertmanager() -> Response:
    _authorised()
    payload = parse_body(AlertmanagerPayload)
    requests = [_request_for(alert) for alert in payload.alerts]
    outcomes = services().incidents.apply(requests)
    result = WebhookResult(truncated=payload.truncatedAlerts)
    for outcome in outcomes:
        if outcome.duplicate or outcome.incident is None:
            result.ignored += 1
        elif outcome.opened:
            result.opened += 1
        elif outcome.resolved:
            result.resolved += 1
        else:
            result.updated += 1
    if payload.truncatedAlerts:
        log.warning(
            "alertmanager_truncated",
            truncated=payload.truncatedAlerts,
            group_key=payload.groupKey,
            received=len(payload.alerts),
        )
    log.info(
        "alertmanager_delivery",
        **result.model_dump(),
        status=payload.status,
        receiver=payload.receiver,
    )
    return json_body(result)
