"""What the webhook and the sensor ask of the store (:class:`Touch`, :class:`Resolve`), what
it did (:class:`Outcome`), and the rows those requests turn into."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.orm import Session

from warehouse.fingerprint import GroupBy
from warehouse.lifecycle import Severity, Source, Status
from warehouse.models import Incident, IncidentEvent

EvidenceUpdate: TypeAlias = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    """What a :class:`Touch` or :class:`Resolve` did."""

    incident: Incident | None
    opened: bool = False
    touched: bool = False
    resolved: bool = False
    noted: bool = False
    duplicate: bool = False
    """The delivery's dedup key was seen before: nothing changed."""


@dataclass(frozen=True)
class Touch:
    """Open the incident for ``fingerprint``, or count one more occurrence of the open one.

    ``update_evidence`` derives the evidence from what is stored, inside the same locked
    transaction (instead of replacing it with ``evidence``); a seen ``dedup_key`` makes the
    request a duplicate that changes nothing.
    """

    fingerprint: str
    title: str
    severity: Severity
    source: Source
    actor: str
    description: str = ""
    dataset: str | None = None
    feature: str | None = None
    assignee: str | None = None
    evidence: Mapping[str, Any] | None = None
    dedup_key: str | None = None
    note: str = ""
    update_evidence: EvidenceUpdate | None = None


@dataclass(frozen=True)
class Resolve:
    """Resolve the not-resolved incident for ``fingerprint``, if there is one. With
    ``only_if``, the (updated) evidence decides: when it says no, the incident stays open and
    the request is recorded as a touch (e.g. another alert still fires)."""

    fingerprint: str
    actor: str
    note: str = ""
    dedup_key: str | None = None
    update_evidence: EvidenceUpdate | None = None
    only_if: Callable[[dict[str, Any]], bool] | None = None
    record_kept: bool = True
    """Whether an incident ``only_if`` keeps open gets a "kept open" event (a poller asking
    every few seconds should leave no trace until it resolves)."""


def member_key(dataset: str, feature: str) -> str:
    """What names one member in a batch and in dedup keys: ``(dataset, feature)``."""
    return f"member:{dataset}\x1f{feature}"


@dataclass(frozen=True)
class Join:
    """A breach of ``(dataset, feature)``: update that member of the incident that holds it,
    or add it as a member of the dataset's open incident (``group_by`` decides which key opens
    one; None: the dataset's published grouping), or open one. ``status`` is the drift status
    (warn | critical | error); ``evidence`` what the console draws for this member."""

    dataset: str
    feature: str
    status: str
    source: Source
    actor: str
    group_by: GroupBy | None = None
    psi: float | None = None
    partition: str | None = None
    since: str | None = None
    """Where the breach's streak began (earlier than ``partition`` when the days before it
    breached too): the member's first partition reaches back to it."""
    measures: Mapping[str, Any] | None = None
    evidence: Mapping[str, Any] | None = None
    description: str = ""
    dedup_key: str | None = None
    note: str = ""
    update_evidence: EvidenceUpdate | None = None
    """Applied to the incident's evidence (e.g. the state of Alertmanager's alerts)."""

    @property
    def fingerprint(self) -> str:
        """Requests are batched by fingerprint; a join never goes in bulk, so any unique key."""
        return member_key(self.dataset, self.feature)


@dataclass(frozen=True)
class Recover:
    """``(dataset, feature)`` is healthy again: mark it recovered on the incident that holds it,
    and resolve that incident once every member has. With ``only_if``, the (updated) evidence
    decides whether the member recovers (e.g. another alert about it still fires)."""

    dataset: str
    feature: str
    actor: str
    note: str = ""
    dedup_key: str | None = None
    update_evidence: EvidenceUpdate | None = None
    only_if: Callable[[dict[str, Any]], bool] | None = None

    @property
    def fingerprint(self) -> str:
        return member_key(self.dataset, self.feature)


@dataclass(frozen=True)
class Note:
    """Append a ``history`` event to the newest incident of ``fingerprint``, whatever its
    status, and change nothing else (nothing at all when there is no incident): a result that
    belongs on the timeline but must not move the present, such as a backfilled partition."""

    fingerprint: str
    actor: str
    note: str
    dedup_key: str | None = None
    member: tuple[str, str] | None = None
    """``(dataset, feature)``: the newest incident holding that member, not the fingerprint's."""


Request: TypeAlias = Touch | Resolve | Note | Join | Recover


def seen(session: Session, dedup_key: str | None) -> bool:
    """Whether a delivery with ``dedup_key`` was applied before (its event carries the key)."""
    if dedup_key is None:
        return False
    found = session.scalar(select(IncidentEvent.id).where(IncidentEvent.dedup_key == dedup_key))
    return found is not None


def event_row(
    incident: Incident,
    *,
    actor: str,
    kind: str,
    at: datetime,
    note: str = "",
    from_status: str | None = None,
    to_status: str | None = None,
    dedup_key: str | None = None,
) -> dict[str, Any]:
    """A timeline event's columns, for :func:`event` or a bulk insert."""
    return dict(
        incident_id=incident.id,
        at=at,
        actor=actor,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
        dedup_key=dedup_key,
    )


def event(incident: Incident, **fields: Any) -> IncidentEvent:
    return IncidentEvent(**event_row(incident, **fields))


def touch_event(
    incident: Incident, request: Touch | Resolve, now: datetime, default: str
) -> dict[str, Any]:
    return event_row(
        incident,
        actor=request.actor,
        kind="touched",
        at=now,
        dedup_key=request.dedup_key,
        note=request.note or default,
    )


def touch(incident: Incident, request: Touch, now: datetime) -> dict[str, Any]:
    """Count one more occurrence of ``incident``; returns the timeline event to insert."""
    incident.occurrences += 1
    incident.last_seen_at = now
    incident.updated_at = now
    if Severity(request.severity).rank > Severity(incident.severity).rank:
        incident.severity = Severity(request.severity).value
    if request.update_evidence is not None:
        incident.evidence = request.update_evidence(dict(incident.evidence or {}))
    elif request.evidence is not None:
        incident.evidence = dict(request.evidence)
    return touch_event(incident, request, now, f"occurrence {incident.occurrences}")


def new_incident(request: Touch, now: datetime, previous: int | None) -> Incident:
    """The incident a :class:`Touch` opens (``previous``: the last one of its fingerprint)."""
    evidence = (
        request.update_evidence({})
        if request.update_evidence is not None
        else dict(request.evidence or {})
    )
    return Incident(
        title=request.title,
        description=request.description,
        severity=Severity(request.severity).value,
        status=Status.OPEN.value,
        source=Source(request.source).value,
        dataset=request.dataset,
        feature=request.feature,
        fingerprint=request.fingerprint,
        occurrences=1,
        first_seen_at=now,
        last_seen_at=now,
        evidence=evidence,
        assignee=request.assignee,
        created_by=request.actor,
        created_at=now,
        updated_at=now,
        previous_incident_id=previous,
    )


def opened_event(incident: Incident, request: Touch, now: datetime) -> dict[str, Any]:
    """The ``opened`` event of an incident a :class:`Touch` opened."""
    last = incident.previous_incident_id
    note = request.note or (f"recurrence of incident {last}" if last else "opened")
    return event_row(
        incident,
        actor=request.actor,
        kind="opened",
        at=now,
        to_status="open",
        note=note,
        dedup_key=request.dedup_key,
    )
