"""People correcting the grouping: members split out into an incident of their own, and two
incidents of one dataset merged back into one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warehouse.fingerprint import SPLIT_PREFIX, split_fingerprint
from warehouse.incidents.members import (
    GroupingConflict,
    UnknownMembers,
    members_of,
    refresh,
    severity_of,
    worst_severity,
)
from warehouse.incidents.moves import move
from warehouse.incidents.reads import LIVE, IncidentNotFound
from warehouse.incidents.requests import event
from warehouse.lifecycle import Severity, Status
from warehouse.models import Incident, IncidentMember, utcnow
from warehouse.notifications.outbox import NotificationKind, outbox_row, record


def _locked_live(session: Session, incident_id: int) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id, LIVE).with_for_update()
    return session.scalars(query).first()


def _timeline(session: Session, incident: Incident, actor: str, kind: str, note: str) -> None:
    session.add(event(incident, actor=actor, kind=kind, at=utcnow(), note=note))


def split(session: Session, incident: Incident, features: Sequence[str], actor: str) -> Incident:
    """Move ``features`` of ``incident`` (locked) into a new incident linked to it."""
    if incident.status == Status.RESOLVED.value:
        raise GroupingConflict(f"incident {incident.id} is resolved; reopen it to split it")
    members = members_of(session, incident.id)
    if not members:
        raise GroupingConflict(f"incident {incident.id} has no members to split")
    names = {m.feature for m in members}
    wanted = list(dict.fromkeys(features))
    unknown = [f for f in wanted if f not in names]
    if unknown:
        raise UnknownMembers(incident.id, unknown)
    if len(wanted) == len(members):
        raise GroupingConflict("splitting every member would leave the incident empty")
    moving = [m for m in members if m.feature in set(wanted)]
    staying = [m for m in members if m.feature not in set(wanted)]
    now = utcnow()
    new = Incident(
        title=incident.title,
        description=incident.description,
        severity=worst_severity(moving).value,
        status=Status.OPEN.value,
        source=incident.source,
        dataset=incident.dataset,
        fingerprint=split_fingerprint(),
        occurrences=1,
        first_seen_at=now,
        last_seen_at=now,
        evidence={},
        created_by=actor,
        created_at=now,
        updated_at=now,
        previous_incident_id=incident.id,
    )
    session.add(new)
    session.flush()
    for member in moving:
        member.incident_id, member.updated_at = new.id, now
    refresh(new, moving)
    refresh(incident, staying)
    incident.severity = worst_severity(staying).value
    incident.updated_at = now
    listed = ", ".join(wanted)
    _timeline(session, incident, actor, "split", f"moved {listed} to incident {new.id}")
    session.add(
        event(
            new,
            actor=actor,
            kind="opened",
            at=now,
            to_status=Status.OPEN.value,
            note=f"split from incident {incident.id}: {listed}",
        )
    )
    session.flush()
    record(session, [outbox_row(new, NotificationKind.OPENED, now, actor, split_from=incident.id)])
    return new


def _combine(into: IncidentMember, other: IncidentMember) -> None:
    """One member of the same feature from both incidents: the worse status, both spans."""
    if severity_of(other.status).rank > severity_of(into.status).rank:
        into.status, into.psi, into.measures = other.status, other.psi, other.measures
        into.evidence = other.evidence
    spans = [p for p in (into.first_partition, other.first_partition) if p]
    into.first_partition = min(spans, default=None)
    ends = [p for p in (into.last_partition, other.last_partition) if p]
    into.last_partition = max(ends, default=None)
    into.recovered = into.recovered and other.recovered


def merge(session: Session, into_id: int, from_id: int, actor: str) -> Incident:
    """Move the members of incident ``from_id`` into ``into_id`` and resolve it as merged."""
    if into_id == from_id:
        raise GroupingConflict("an incident cannot be merged into itself")
    locked = {i: _locked_live(session, i) for i in sorted((into_id, from_id))}
    into, other = locked[into_id], locked[from_id]
    if into is None or other is None:
        raise IncidentNotFound(into_id if into is None else from_id)
    for incident in (into, other):
        if incident.status == Status.RESOLVED.value:
            raise GroupingConflict(f"incident {incident.id} is resolved")
    if into.dataset is None or into.dataset != other.dataset:
        raise GroupingConflict(
            f"incidents {into.id} and {other.id} are about different datasets "
            f"({into.dataset or 'none'}, {other.dataset or 'none'})"
        )
    members, theirs = members_of(session, into.id), members_of(session, other.id)
    if not members or not theirs:
        raise GroupingConflict("only drift incidents with members can be merged")
    before = Severity(into.severity)
    now = utcnow()
    mine = {m.feature: m for m in members}
    for member in theirs:
        if member.feature in mine:
            _combine(mine[member.feature], member)
            session.delete(member)
        else:
            member.incident_id, member.updated_at = into.id, now
            members.append(member)
    session.flush()
    if Severity(other.severity).rank > before.rank:
        into.severity = other.severity
    into.occurrences += other.occurrences
    into.first_seen_at = min(into.first_seen_at, other.first_seen_at)
    into.last_seen_at = max(into.last_seen_at, other.last_seen_at)
    into.updated_at = now
    refresh(into, members)
    names = ", ".join(m.feature for m in theirs)
    _timeline(
        session, into, actor, "merged", f"merged incident {other.id} ({other.title}): {names}"
    )
    _timeline(session, other, actor, "merged_into", f"members {names} moved to incident {into.id}")
    session.flush()
    move(session, other, Status.RESOLVED, actor, f"merged into incident {into.id}")
    if into.fingerprint.startswith(SPLIT_PREFIX) and not other.fingerprint.startswith(SPLIT_PREFIX):
        into.fingerprint = other.fingerprint  # new breaches of the dataset join it from now on
    if Severity(into.severity).rank > before.rank:
        kind = NotificationKind.SEVERITY_RAISED
        change: dict[str, Any] = {"previous_severity": before.value, "merged_from": other.id}
        record(session, [outbox_row(into, kind, now, actor, **change)])
    session.flush()
    return into
