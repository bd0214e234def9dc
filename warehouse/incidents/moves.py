"""A status change: checked against the lifecycle, stamped, on the timeline and in the outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from warehouse.incidents.reads import UNRESOLVED
from warehouse.incidents.requests import event
from warehouse.lifecycle import ReopenConflict, Status, check_transition
from warehouse.models import Incident, utcnow
from warehouse.notifications.outbox import record, transition_row


def move(
    session: Session,
    incident: Incident,
    to: Status,
    actor: str,
    note: str,
    dedup_key: str | None = None,
) -> None:
    """Move ``incident`` (locked by the caller) to ``to``."""
    current = Status(incident.status)
    check_transition(current, to)
    now = utcnow()
    if to is Status.OPEN:
        clash = session.scalar(
            select(Incident.id).where(
                Incident.fingerprint == incident.fingerprint,
                UNRESOLVED,
                Incident.id != incident.id,
            )
        )
        if clash is not None:
            raise ReopenConflict(incident.fingerprint, clash)
        incident.resolved_at = None
        incident.acknowledged_at = None
    elif to is Status.ACKNOWLEDGED:
        incident.acknowledged_at = now
    elif to is Status.RESOLVED:
        incident.resolved_at = now
    incident.status = to.value
    incident.updated_at = now
    session.add(
        event(
            incident,
            actor=actor,
            kind="transition",
            at=now,
            from_status=current.value,
            to_status=to.value,
            note=note,
            dedup_key=dedup_key,
        )
    )
    session.flush()
    record(session, [transition_row(incident, current, to, now, actor, note)])
