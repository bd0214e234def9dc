"""The incident repository: the only code that writes incidents and their timeline."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Final, TypeAlias, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Table,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from warehouse.db import Database, custom_plans
from warehouse.fingerprint import manual_fingerprint
from warehouse.lifecycle import (
    ReopenConflict,
    Severity,
    Source,
    Status,
    check_transition,
)
from warehouse.models import Incident, IncidentEvent, utcnow

MAX_PAGE: Final = 200
MAX_ID: Final = 2**31 - 1
"""Ids are 32-bit integers in the schema; a larger one cannot exist (and must not reach the
driver, which would overflow rather than find nothing)."""
_RETRIES: Final = 8
_RETRY_SQLSTATES: Final = ("40P01", "40001")  # deadlock detected, serialization failure
T = TypeVar("T")
EvidenceUpdate = Callable[[dict[str, Any]], dict[str, Any]]

IncidentRow: TypeAlias = Row[Any]
"""A stored incident as read: its columns as attributes (``row.title``), no ORM state."""
EventRow: TypeAlias = Row[Any]
"""A timeline event as read: its columns as attributes."""

_INCIDENTS: Final = cast(Table, Incident.__table__)
_EVENTS: Final = cast(Table, IncidentEvent.__table__)
_INCIDENT_BY_ID: Final = select(_INCIDENTS).where(_INCIDENTS.c.id == bindparam("id"))
_EVENTS_OF: Final = (
    select(_EVENTS).where(_EVENTS.c.incident_id == bindparam("id")).order_by(_EVENTS.c.id)
)


_PAGE_FILTERS: Final[dict[str, Callable[[BindParameter[Any]], ColumnElement[bool]]]] = {
    "status": lambda value: _INCIDENTS.c.status == value,
    "severity": lambda value: _INCIDENTS.c.severity == value,
    "source": lambda value: _INCIDENTS.c.source == value,
    "dataset": lambda value: _INCIDENTS.c.dataset == value,
    "feature": lambda value: _INCIDENTS.c.feature == value,
    "created_after": lambda value: _INCIDENTS.c.created_at >= value,
    "created_before": lambda value: _INCIDENTS.c.created_at < value,
}
"""The condition each :class:`IncidentFilter` field puts on a page, given its bound value."""


@lru_cache(maxsize=1 << (len(_PAGE_FILTERS) + 1))  # every combination of filters and cursor
def _page_statement(bound: frozenset[str]) -> Select[Any]:
    """A page's statement for the parameters in ``bound``, built once per combination: built
    afresh for each request, a statement (and its cache key) cost about a third of a filtered
    page's read in SQLAlchemy (docs/benchmarks.md)."""
    query = select(_INCIDENTS)
    for name, condition in _PAGE_FILTERS.items():
        if name in bound:
            query = query.where(condition(bindparam(name)))
    if "before_id" in bound:
        query = query.where(_INCIDENTS.c.id < bindparam("before_id"))
    return query.order_by(_INCIDENTS.c.id.desc()).limit(bindparam("limit", type_=Integer))


class IncidentNotFound(LookupError):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} does not exist")
        self.incident_id = incident_id


class InvalidCursor(ValueError):
    """A pagination cursor this store did not hand out."""


@dataclass(frozen=True)
class IncidentFilter:
    status: Status | None = None
    severity: Severity | None = None
    source: Source | None = None
    dataset: str | None = None
    feature: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class Page:
    items: list[IncidentRow]
    next_cursor: str | None


@dataclass(frozen=True)
class Outcome:
    """What a :class:`Touch` or :class:`Resolve` did."""

    incident: Incident | None
    opened: bool = False
    touched: bool = False
    resolved: bool = False
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


def _touch(incident: Incident, request: Touch, now: datetime) -> dict[str, Any]:
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
    return _touch_event(incident, request, now, f"occurrence {incident.occurrences}")


def _touch_event(
    incident: Incident, request: Touch | Resolve, now: datetime, default: str
) -> dict[str, Any]:
    return _event_row(
        incident,
        actor=request.actor,
        kind="touched",
        at=now,
        dedup_key=request.dedup_key,
        note=request.note or default,
    )


def _new_incident(request: Touch, now: datetime, previous: int | None) -> Incident:
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


def _check_id(incident_id: int) -> None:
    if not 1 <= incident_id <= MAX_ID:
        raise IncidentNotFound(incident_id)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "id" or not value.isdigit() or int(value) > MAX_ID + 1:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("not a cursor from this API") from None


def _event_row(
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
    """A timeline event's columns, for :func:`_event` or a bulk insert."""
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


def _event(incident: Incident, **fields: Any) -> IncidentEvent:
    return IncidentEvent(**_event_row(incident, **fields))


class IncidentStore:
    """Incidents and their append-only timeline, on any database :class:`Database` serves."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- internals ---------------------------------------------------------------------------

    def _retrying(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a transaction, again when a concurrent writer won a unique index
        or PostgreSQL chose this transaction as a deadlock's victim."""
        for attempt in range(_RETRIES):
            try:
                with self.db.transaction() as session:
                    return work(session)
            except (IntegrityError, OperationalError) as exc:
                retryable = isinstance(exc, IntegrityError) or (
                    getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES
                )
                if not retryable or attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _open_for(session: Session, fingerprint: str) -> Incident | None:
        query = (
            select(Incident)
            .where(Incident.fingerprint == fingerprint, Incident.status != Status.RESOLVED.value)
            .with_for_update()
        )
        return session.scalars(query).first()

    @staticmethod
    def _seen(session: Session, dedup_key: str | None) -> bool:
        if dedup_key is None:
            return False
        found = session.scalar(select(IncidentEvent.id).where(IncidentEvent.dedup_key == dedup_key))
        return found is not None

    @staticmethod
    def _locked(session: Session, incident_id: int) -> Incident:
        _check_id(incident_id)
        incident = session.scalars(
            select(Incident).where(Incident.id == incident_id).with_for_update()
        ).first()
        if incident is None:
            raise IncidentNotFound(incident_id)
        return incident

    # -- writes ------------------------------------------------------------------------------

    def create(
        self,
        *,
        title: str,
        severity: Severity,
        actor: str,
        description: str = "",
        dataset: str | None = None,
        feature: str | None = None,
        assignee: str | None = None,
        evidence: Mapping[str, Any] | None = None,
    ) -> Incident:
        """A manual incident: a key of its own, never merged with another."""
        outcome = self.apply_one(
            Touch(
                manual_fingerprint(uuid.uuid4().hex),
                title=title,
                severity=severity,
                source=Source.MANUAL,
                actor=actor,
                description=description,
                dataset=dataset,
                feature=feature,
                assignee=assignee,
                evidence=evidence,
            )
        )
        if outcome.incident is None:  # a fresh random key cannot be a duplicate
            raise RuntimeError("the manual incident was not created")
        return outcome.incident

    def apply_one(self, request: Touch | Resolve) -> Outcome:
        """:meth:`apply` for one request."""
        return self.apply([request])[0]

    def apply(self, requests: Sequence[Touch | Resolve]) -> list[Outcome]:
        """Apply ``requests`` in one transaction — all of them or, on an error, none — and
        return their outcomes in order. The result equals applying them one by one.

        Touches whose fingerprint and dedup key occur once in ``requests`` go in bulk: one query
        for the seen dedup keys, one locking the open incidents (in fingerprint order, so
        concurrent batches cannot deadlock), one for predecessors, one insert of the new
        incidents; the rest go one by one, in order, in the same transaction.
        """

        def work(session: Session) -> list[Outcome]:
            custom_plans(session.connection())
            outcomes: list[Outcome | None] = [None] * len(requests)
            fingerprints = Counter(r.fingerprint for r in requests)
            dedup_keys = Counter(r.dedup_key for r in requests if r.dedup_key is not None)
            single = [
                (i, r)
                for i, r in enumerate(requests)
                if isinstance(r, Touch)
                and fingerprints[r.fingerprint] == 1
                and (r.dedup_key is None or dedup_keys[r.dedup_key] == 1)
            ]
            if single:
                self._touch_many(session, single, outcomes)
            for i, request in enumerate(requests):
                if outcomes[i] is not None:
                    continue
                if isinstance(request, Touch):
                    self._touch_many(session, [(i, request)], outcomes)
                else:
                    outcomes[i] = self._resolve(session, request)
            return [o for o in outcomes if o is not None]  # all are set by now

        return self._retrying(work)

    def _touch_many(
        self,
        session: Session,
        items: Sequence[tuple[int, Touch]],
        outcomes: list[Outcome | None],
    ) -> None:
        """Touch or open for ``items`` (distinct fingerprints), writing into ``outcomes``."""
        keys = [r.dedup_key for _, r in items if r.dedup_key is not None]
        seen = set(
            session.scalars(
                select(IncidentEvent.dedup_key).where(IncidentEvent.dedup_key.in_(keys))
            )
            if keys
            else ()
        )
        fingerprints = sorted({r.fingerprint for _, r in items})
        open_now = {
            incident.fingerprint: incident
            for incident in session.scalars(
                select(Incident)
                .where(
                    Incident.fingerprint.in_(fingerprints),
                    Incident.status != Status.RESOLVED.value,
                )
                .order_by(Incident.fingerprint)
                .with_for_update()
            )
        }
        now = utcnow()
        fresh: list[tuple[int, Touch]] = []
        events: list[dict[str, Any]] = []
        for i, request in items:
            incident = open_now.get(request.fingerprint)
            if request.dedup_key is not None and request.dedup_key in seen:
                outcomes[i] = Outcome(incident, duplicate=True)
            elif incident is not None:
                events.append(_touch(incident, request, now))
                outcomes[i] = Outcome(incident, touched=True)
            else:
                fresh.append((i, request))
        if fresh:
            previous: dict[str, int] = {
                fingerprint: last
                for fingerprint, last in session.execute(
                    select(Incident.fingerprint, func.max(Incident.id))
                    .where(Incident.fingerprint.in_([r.fingerprint for _, r in fresh]))
                    .group_by(Incident.fingerprint)
                )
            }
            opened = [_new_incident(r, now, previous.get(r.fingerprint)) for _, r in fresh]
            session.add_all(opened)
            session.flush()  # a concurrent opener makes this raise IntegrityError → retry
            for (i, request), incident in zip(fresh, opened, strict=True):
                last = incident.previous_incident_id
                note = request.note or (f"recurrence of incident {last}" if last else "opened")
                events.append(
                    _event_row(
                        incident,
                        actor=request.actor,
                        kind="opened",
                        at=now,
                        to_status="open",
                        note=note,
                        dedup_key=request.dedup_key,
                    )
                )
                outcomes[i] = Outcome(incident, opened=True)
        session.flush()
        if events:
            # One executemany, no RETURNING (nothing reads the events' ids here): as ORM objects
            # they went out as one INSERT of 100 rows × 8 parameters with RETURNING — a quarter
            # of a 100-alert delivery's time, half of it psycopg re-parsing the statement, too
            # long for its cache (docs/benchmarks.md).
            session.execute(insert(_EVENTS), events)

    def _resolve(self, session: Session, request: Resolve) -> Outcome:
        if request.dedup_key is not None and self._seen(session, request.dedup_key):
            return Outcome(None, duplicate=True)
        incident = self._open_for(session, request.fingerprint)
        if incident is None:
            return Outcome(None)
        if request.update_evidence is not None:
            incident.evidence = request.update_evidence(dict(incident.evidence or {}))
        if request.only_if is not None and not request.only_if(dict(incident.evidence or {})):
            now = utcnow()
            incident.updated_at = now
            session.add(IncidentEvent(**_touch_event(incident, request, now, "kept open")))
            session.flush()
            return Outcome(incident, touched=True)
        self._move(
            session, incident, Status.RESOLVED, request.actor, request.note, request.dedup_key
        )
        return Outcome(incident, resolved=True)

    def _move(
        self,
        session: Session,
        incident: Incident,
        to: Status,
        actor: str,
        note: str,
        dedup_key: str | None = None,
    ) -> None:
        current = Status(incident.status)
        check_transition(current, to)
        now = utcnow()
        if to is Status.OPEN:
            clash = session.scalar(
                select(Incident.id).where(
                    Incident.fingerprint == incident.fingerprint,
                    Incident.status != Status.RESOLVED.value,
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
            _event(
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

    def transition(self, incident_id: int, to: Status, *, actor: str, note: str = "") -> Incident:
        def work(session: Session) -> Incident:
            incident = self._locked(session, incident_id)
            self._move(session, incident, to, actor, note)
            return incident

        return self._retrying(work)

    def update(self, incident_id: int, changes: Mapping[str, Any], *, actor: str) -> Incident:
        """Change title, description, severity or assignee; one ``updated`` event."""
        allowed = {"title", "description", "severity", "assignee"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update {', '.join(sorted(unknown))}")

        def work(session: Session) -> Incident:
            incident = self._locked(session, incident_id)
            changed = []
            for name, value in changes.items():
                stored = Severity(value).value if name == "severity" else value
                if getattr(incident, name) != stored:
                    changed.append(name)
                    setattr(incident, name, stored)
            if changed:
                now = utcnow()
                incident.updated_at = now
                session.add(
                    _event(
                        incident,
                        actor=actor,
                        kind="updated",
                        at=now,
                        note="changed " + ", ".join(changed),
                    )
                )
                session.flush()
            return incident

        return self._retrying(work)

    def delete(self, incident_id: int) -> None:
        with self.db.transaction() as session:
            session.delete(self._locked(session, incident_id))

    # -- reads (Core rows on one connection: no Session, no identity map) ---------------------

    def get(self, incident_id: int) -> IncidentRow:
        _check_id(incident_id)
        row = self.db.read(lambda c: c.execute(_INCIDENT_BY_ID, {"id": incident_id}).first())
        if row is None:
            raise IncidentNotFound(incident_id)
        return row

    def events(self, incident_id: int) -> list[EventRow]:
        _check_id(incident_id)

        def work(connection: Connection) -> list[EventRow] | None:
            if connection.execute(_INCIDENT_BY_ID, {"id": incident_id}).first() is None:
                return None
            return list(connection.execute(_EVENTS_OF, {"id": incident_id}))

        events = self.db.read(work)
        if events is None:
            raise IncidentNotFound(incident_id)
        return events

    @staticmethod
    def page_query(
        flt: IncidentFilter, limit: int, cursor: str | None
    ) -> tuple[Select[Any], dict[str, Any]]:
        """The statement behind :meth:`list` and its parameters: one row more than ``limit``
        tells whether a next page exists."""
        values = {name: getattr(flt, name) for name in _PAGE_FILTERS}
        params: dict[str, Any] = {
            name: value.value if isinstance(value, Enum) else value
            for name, value in values.items()
            if value is not None
        }
        if cursor is not None:
            params["before_id"] = decode_cursor(cursor)
        params["limit"] = limit + 1
        return _page_statement(frozenset(params)), params

    def list(
        self, flt: IncidentFilter | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """Newest first, keyset-paginated on id (stable while incidents are added)."""
        limit = max(1, min(limit, MAX_PAGE))
        query, params = self.page_query(flt or IncidentFilter(), limit, cursor)
        rows = self.db.read(lambda c: c.execute(query, params).all())
        more = len(rows) > limit
        items = list(rows[:limit])
        return Page(items, encode_cursor(items[-1].id) if more and items else None)

    def open_by_severity(self) -> dict[str, int]:
        """Not-resolved incidents per severity (every severity present, zeros included)."""
        query = (
            select(Incident.severity, func.count())
            .where(Incident.status != Status.RESOLVED.value)
            .group_by(Incident.severity)
        )
        with self.db.reads() as session:
            counts = {severity: int(n) for severity, n in session.execute(query)}
        return {s.value: counts.get(s.value, 0) for s in Severity}
