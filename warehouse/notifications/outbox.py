"""Which incident changes people are told about, and the outbox row each one writes.

The row is written by the same session, in the same transaction, as the change: a rollback
takes both away, a commit keeps both (the transactional outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import insert
from sqlalchemy.orm import Session

from warehouse.models import Incident, NotificationEvent


class NotificationKind(StrEnum):
    OPENED = "incident.opened"
    REOPENED = "incident.reopened"
    SEVERITY_RAISED = "incident.severity_raised"
    ACKNOWLEDGED = "incident.acknowledged"
    ASSIGNED = "incident.assigned"
    RESOLVED = "incident.resolved"


EVENTS: Final = tuple(kind.value for kind in NotificationKind)

_EVIDENCE_KEYS: Final = ("partition", "psi", "drift_ratio", "run_id", "run_url")


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


def record(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` in the session's transaction (one executemany)."""
    if rows:
        session.execute(insert(NotificationEvent), list(rows))
