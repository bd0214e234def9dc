"""Members joining and recovering: the writes behind one incident per event (people's
corrections, split and merge, are in :mod:`warehouse.incidents.regroup`).

People are paged once per event: a transaction that opens an incident tells ``incident.opened``
once, with every member it gathered; a join to an existing incident tells only when it raises
the severity (``incident.severity_raised``, naming the new members). Every other join is on the
timeline and in the next notification's body (the outbox lists the members).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warehouse.fingerprint import drift_group_fingerprint
from warehouse.incidents.members import (
    grouping,
    holder,
    members_of,
    refresh,
    severity_of,
)
from warehouse.incidents.moves import move
from warehouse.incidents.reads import LIVE, UNRESOLVED
from warehouse.incidents.requests import (
    Join,
    Outcome,
    Recover,
    Request,
    Touch,
    event,
    new_incident,
    seen,
)
from warehouse.lifecycle import Severity, Status
from warehouse.models import Incident, IncidentEvent, IncidentMember, utcnow
from warehouse.notifications.outbox import NotificationKind, outbox_row, record


@dataclass
class Ledger:
    """What one transaction's joins did to each incident, told once at its end."""

    opened: dict[int, Incident] = field(default_factory=dict)
    touched: dict[int, tuple[Incident, Severity]] = field(default_factory=dict)
    added: dict[int, list[str]] = field(default_factory=dict)
    actor: dict[int, str] = field(default_factory=dict)

    def saw(self, incident: Incident, *, opened: bool, actor: str) -> None:
        if opened:
            self.opened[incident.id] = incident
        elif incident.id not in self.opened and incident.id not in self.touched:
            self.touched[incident.id] = (incident, Severity(incident.severity))
        self.actor.setdefault(incident.id, actor)

    def tell(self, session: Session, only: int | None = None) -> None:
        """Write what was gathered (of incident ``only``, or of all) to the outbox."""
        now = utcnow()
        rows = [
            outbox_row(incident, NotificationKind.OPENED, now, self.actor[i])
            for i, incident in self.opened.items()
            if only in (None, i)
        ]
        for i, (incident, before) in self.touched.items():
            if only not in (None, i):
                continue
            if Severity(incident.severity).rank > before.rank:
                rows.append(
                    outbox_row(
                        incident,
                        NotificationKind.SEVERITY_RAISED,
                        now,
                        self.actor[i],
                        previous_severity=before.value,
                        new_members=self.added.get(i, []),
                    )
                )
        record(session, rows)
        for told in (self.opened, self.touched, self.added):
            for i in [i for i in told if only in (None, i)]:
                del told[i]


def _open_group(session: Session, request: Join) -> tuple[Incident, bool]:
    """The incident a breach of a feature no incident holds joins: the open one of its group's
    key, or a new one (linked to the key's previous incident)."""
    group_by = request.group_by or grouping(session, request.dataset)
    fingerprint = drift_group_fingerprint(request.dataset, request.feature, group_by)
    query = select(Incident).where(Incident.fingerprint == fingerprint, UNRESOLVED)
    found = session.scalars(query.with_for_update()).first()
    if found is not None:
        return found, False
    previous = session.scalar(
        select(func.max(Incident.id)).where(Incident.fingerprint == fingerprint, LIVE)
    )
    opening = Touch(
        fingerprint,
        title=f"Drift in {request.dataset}",  # refresh() names the members once they are in
        severity=severity_of(request.status),
        source=request.source,
        actor=request.actor,
        description=request.description,
        dataset=request.dataset,
        feature=request.feature,
    )
    incident = new_incident(opening, utcnow(), previous)
    session.add(incident)
    session.flush()  # a concurrent opener makes this raise IntegrityError → retry
    return incident, True


def _place(
    session: Session, incident: Incident, members: list[IncidentMember], request: Join
) -> bool:
    """Add or update the request's member of ``incident``; whether it was added."""
    now = utcnow()
    member = next((m for m in members if m.feature == request.feature), None)
    partition = request.partition
    since = min(filter(None, (request.since, partition)), default=None)
    if member is None:
        member = IncidentMember(
            incident_id=incident.id,
            dataset=request.dataset,
            feature=request.feature,
            status=request.status,
            psi=request.psi,
            first_partition=since,
            last_partition=partition,
            measures=dict(request.measures or {}),
            evidence=dict(request.evidence or {}),
            recovered=False,
            added_at=now,
            updated_at=now,
        )
        session.add(member)
        members.append(member)
        return True
    member.status = request.status
    if request.psi is not None or request.measures is not None:
        member.psi = request.psi
    if request.measures is not None:
        member.measures = dict(request.measures)
    if request.evidence is not None:
        member.evidence = dict(request.evidence)
    if partition is not None:
        member.first_partition = min(filter(None, (member.first_partition, since)))
        member.last_partition = max(filter(None, (member.last_partition, partition)))
    member.recovered, member.recovered_at, member.updated_at = False, None, now
    return False


def join(session: Session, request: Join, ledger: Ledger) -> Outcome:
    if seen(session, request.dedup_key):
        return Outcome(None, duplicate=True)
    incident = holder(session, request.dataset, request.feature)
    opened = False
    if incident is None:
        incident, opened = _open_group(session, request)
    ledger.saw(incident, opened=opened, actor=request.actor)
    members = members_of(session, incident.id)
    added = _place(session, incident, members, request)
    now = utcnow()
    if request.update_evidence is not None:
        incident.evidence = request.update_evidence(dict(incident.evidence or {}))
    wanted = severity_of(request.status)
    if wanted.rank > Severity(incident.severity).rank:
        incident.severity = wanted.value
    if not opened:
        incident.occurrences += 1
        incident.last_seen_at = now
    incident.updated_at = now
    refresh(incident, members)
    said = f": {request.note}" if request.note else ""
    if opened:
        last = incident.previous_incident_id
        again = f" (recurrence of incident {last})" if last else ""
        kind, note = "opened", f"{request.feature} opened it{again}{said}"
    elif added:
        kind, note = "member_added", f"{request.feature} joined{said}"
        ledger.added.setdefault(incident.id, []).append(request.feature)
    else:
        kind, note = "touched", f"{request.feature}{said or f': occurrence {incident.occurrences}'}"
    session.add(
        event(
            incident,
            actor=request.actor,
            kind=kind,
            at=now,
            to_status=Status.OPEN.value if opened else None,
            note=note,
            dedup_key=request.dedup_key,
        )
    )
    session.flush()
    return Outcome(incident, opened=opened, touched=not opened)


def recover(session: Session, request: Recover, ledger: Ledger) -> Outcome:
    if seen(session, request.dedup_key):
        return Outcome(None, duplicate=True)
    incident = holder(session, request.dataset, request.feature)
    if incident is None:
        return Outcome(None)
    now = utcnow()
    if request.update_evidence is not None:
        incident.evidence = request.update_evidence(dict(incident.evidence or {}))
        incident.updated_at = now
    members = members_of(session, incident.id)
    member = next(m for m in members if m.feature == request.feature)
    if request.only_if is not None and not request.only_if(dict(incident.evidence or {})):
        note = f"{request.feature} kept: {request.note}" if request.note else "kept open"
        session.add(
            event(incident, actor=request.actor, kind="touched", at=now, note=note,
                  dedup_key=request.dedup_key)
        )  # fmt: skip
        session.flush()
        return Outcome(incident, touched=True)
    if member.recovered:
        return Outcome(incident)
    member.recovered, member.recovered_at, member.updated_at = True, now, now
    incident.updated_at = now
    note = f"{request.feature} recovered: {request.note}".rstrip(": ")
    session.add(
        event(
            incident,
            actor=request.actor,
            kind="member_recovered",
            at=now,
            note=note,
            dedup_key=request.dedup_key,
        )
    )
    session.flush()
    if all(m.recovered for m in members):
        ledger.tell(session, only=incident.id)  # its opening is told before its resolution
        names = ", ".join(m.feature for m in members)
        move(session, incident, Status.RESOLVED, request.actor, f"every member recovered: {names}")
        return Outcome(incident, resolved=True)
    return Outcome(incident, touched=True)


def settle_unheld(
    session: Session, requests: Sequence[Request], outcomes: list[Outcome | None]
) -> None:
    """Answer, in two queries, every :class:`Recover` whose feature no not-resolved incident
    holds — a sensor tick over a large day is mostly those: healthy features of no incident.
    What :func:`recover` would answer one by one: a duplicate if its key was applied, else
    nothing. A feature that a ``Join`` of the same batch may make held, or a key another
    request of the batch carries, goes the long way."""
    joined = {(r.dataset, r.feature) for r in requests if isinstance(r, Join)}
    keys = Counter(r.dedup_key for r in requests if r.dedup_key is not None)
    waiting = [
        (i, r)
        for i, r in enumerate(requests)
        if isinstance(r, Recover)
        and (r.dataset, r.feature) not in joined
        and (r.dedup_key is None or keys[r.dedup_key] == 1)  # else an earlier one may apply it
    ]
    if not waiting:
        return
    datasets = {r.dataset for _, r in waiting}
    features = {r.feature for _, r in waiting}
    held_query = (
        select(IncidentMember.dataset, IncidentMember.feature)
        .join(Incident, Incident.id == IncidentMember.incident_id)
        .where(
            IncidentMember.dataset.in_(datasets), IncidentMember.feature.in_(features), UNRESOLVED
        )
    )
    held = {(dataset, feature) for dataset, feature in session.execute(held_query)}
    unheld = [(i, r) for i, r in waiting if (r.dataset, r.feature) not in held]
    asked = {r.dedup_key for _, r in unheld if r.dedup_key is not None}
    applied = set()
    if asked:
        query = select(IncidentEvent.dedup_key).where(IncidentEvent.dedup_key.in_(asked))
        applied = set(session.scalars(query))
    for i, request in unheld:
        outcomes[i] = Outcome(None, duplicate=request.dedup_key in applied)
