"""Which incident changes people are told about, and the outbox row each one writes.

The row is written by the same session, in the same transaction, as the change: a rollback
takes both away, a commit keeps both (the transactional outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from warehouse.lifecycle import Severity, Status
from warehouse.models import Incident, IncidentMember, NotificationEvent


class NotificationKind(StrEnum):
    OPENED = "incident.opened"
    REOPENED = "incident.reopened"
    SEVERITY_RAISED = "incident.severity_raised"
    ACKNOWLEDGED = "incident.acknowledged"
    ASSIGNED = "incident.assigned"
    RESOLVED = "incident.resolved"


_TRANSITIONS: Final = {
    (Status.RESOLVED, Status.OPEN): NotificationKind.REOPENED,
    (Status.OPEN, Status.ACKNOWLEDGED): NotificationKind.ACKNOWLEDGED,
    (Status.OPEN, Status.RESOLVED): NotificationKind.RESOLVED,
    (Status.ACKNOWLEDGED, Status.RESOLVED): NotificationKind.RESOLVED,
}
"""Every allowed status change is told (warehouse.lifecycle.ALLOWED)."""

_EVIDENCE_KEYS: Final = ("partition", "psi", "drift_ratio", "run_id", "run_url", "where")


def _snapshot(incident: Incident) -> dict[str, Any]:
    """The incident as every channel renders it (no URL: the worker knows the public one)."""
    evidence = incident.evidence or {}
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "source": incident.source,
        "dataset": incident.dataset,
        "feature": incident.feature,
        "assignee": incident.assignee,
        "occurrences": incident.occurrences,
        "previous_incident_id": incident.previous_incident_id,
        "first_seen_at": incident.first_seen_at.isoformat(),
        "last_seen_at": incident.last_seen_at.isoformat(),
        **{key: evidence.get(key) for key in _EVIDENCE_KEYS},
    }


def outbox_row(
    incident: Incident, kind: NotificationKind, at: datetime, actor: str, **change: Any
) -> dict[str, Any]:
    """The outbox columns for ``kind`` happening to ``incident`` (already flushed, so it has
    its id); ``change`` adds what changed, e.g. ``previous_severity``."""
    return {
        "event": kind.value,
        "incident_id": incident.id,
        "severity": incident.severity,
        "dataset": incident.dataset,
        "payload": {"incident": _snapshot(incident), "actor": actor, "change": change},
        "created_at": at,
        "dispatched_at": None,
    }


def transition_row(
    incident: Incident, current: Status, to: Status, at: datetime, actor: str, note: str
) -> dict[str, Any]:
    return outbox_row(incident, _TRANSITIONS[current, to], at, actor, note=note)


def update_rows(
    incident: Incident, changed: list[str], before: Severity, at: datetime, actor: str
) -> list[dict[str, Any]]:
    """What an edit tells: a raised severity (never a lowered one) and a new assignee."""
    rows = []
    if "severity" in changed and Severity(incident.severity).rank > before.rank:
        kind = NotificationKind.SEVERITY_RAISED
        rows.append(outbox_row(incident, kind, at, actor, previous_severity=before.value))
    if "assignee" in changed and incident.assignee:
        rows.append(outbox_row(incident, NotificationKind.ASSIGNED, at, actor))
    return rows


def _members(session: Session, incident_ids: set[int]) -> dict[int, list[dict[str, Any]]]:
    """The members of drift incidents as every notification lists them, worst first."""
    session.flush()
    query = (
        select(IncidentMember)
        .where(IncidentMember.incident_id.in_(incident_ids))
        .order_by(IncidentMember.incident_id, IncidentMember.id)
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for member in session.scalars(query):
        found.setdefault(member.incident_id, []).append(
            {
                "feature": member.feature,
                "status": member.status,
                "psi": member.psi,
                "first_partition": member.first_partition,
                "last_partition": member.last_partition,
                "recovered": member.recovered,
                "where": (member.evidence or {}).get("where") or None,
            }
        )
    return found


def record(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` in the session's transaction (one executemany); a drift incident's
    snapshot lists its members as they are now, so a member that joined quietly is in the next
    notification's body."""
    if not rows:
        return
    members = _members(session, {row["incident_id"] for row in rows})
    for row in rows:
        listed = members.get(row["incident_id"])
        if listed is not None:
            row["payload"]["incident"]["members"] = listed
    session.execute(insert(NotificationEvent), list(rows))
