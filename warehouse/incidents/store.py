"""The incident repository's writes: the only code that changes incidents and their timeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from warehouse.db import custom_plans
from warehouse.fingerprint import GroupBy, manual_fingerprint
from warehouse.incidents.batch import bulk_touchable, touch_many
from warehouse.incidents.grouping import Ledger, join, recover, settle_unheld
from warehouse.incidents.members import newest_holder, publish_groupings
from warehouse.incidents.moves import move
from warehouse.incidents.reads import LIVE, UNRESOLVED, IncidentNotFound, IncidentReads, check_id
from warehouse.incidents.regroup import merge, split
from warehouse.incidents.requests import (
    Join,
    Note,
    Outcome,
    Recover,
    Request,
    Resolve,
    Touch,
    event,
    seen,
    touch_event,
)
from warehouse.lifecycle import Severity, Source, Status
from warehouse.models import Incident, IncidentEvent, utcnow
from warehouse.notifications.outbox import record, update_rows

T = TypeVar("T")
_RETRIES: Final = 8
_RETRY_SQLSTATES: Final = ("40P01", "40001")  # deadlock detected, serialization failure
_UPDATABLE: Final = frozenset({"title", "description", "severity", "assignee"})


def _open_for(session: Session, fingerprint: str) -> Incident | None:
    query = (
        select(Incident).where(Incident.fingerprint == fingerprint, UNRESOLVED).with_for_update()
    )
    return session.scalars(query).first()


def _note(session: Session, request: Note) -> Outcome:
    if seen(session, request.dedup_key):
        return Outcome(None, duplicate=True)
    if request.member is not None:
        incident = newest_holder(session, *request.member)
    else:
        newest = (
            select(Incident)
            .where(Incident.fingerprint == request.fingerprint, LIVE)
            .order_by(Incident.id.desc())
            .limit(1)
            .with_for_update()
        )
        incident = session.scalars(newest).first()
    if incident is None:
        return Outcome(None)
    at = utcnow()
    history = event(
        incident,
        actor=request.actor,
        kind="history",
        at=at,
        note=request.note,
        dedup_key=request.dedup_key,
    )
    session.add(history)
    session.flush()
    return Outcome(incident, noted=True)


def _locked(session: Session, incident_id: int) -> Incident:
    check_id(incident_id)
    incident = session.scalars(
        select(Incident).where(Incident.id == incident_id, LIVE).with_for_update()
    ).first()
    if incident is None:
        raise IncidentNotFound(incident_id)
    return incident


class IncidentStore(IncidentReads):
    """Incidents and their append-only timeline, on any database :class:`Database` serves."""

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

    def apply_one(self, request: Request) -> Outcome:
        """:meth:`apply` for one request."""
        return self.apply([request])[0]

    def apply(self, requests: Sequence[Request]) -> list[Outcome]:
        """Apply ``requests`` in one transaction — all of them or, on an error, none — and
        return their outcomes in order. The result equals applying them one by one.

        Touches whose fingerprint and dedup key occur once in ``requests`` go in bulk: one query
        for the seen dedup keys, one locking the open incidents (in fingerprint order, so
        concurrent batches cannot deadlock), one for predecessors, one insert of the new
        incidents; the rest go one by one, in order, in the same transaction.
        """

        def work(session: Session) -> list[Outcome]:
            custom_plans(session.connection())
            ledger = Ledger()
            outcomes: list[Outcome | None] = [None] * len(requests)
            single = bulk_touchable(requests)
            if single:
                touch_many(session, single, outcomes)
            settle_unheld(session, requests, outcomes)
            for i, request in enumerate(requests):
                if outcomes[i] is not None:
                    continue
                if isinstance(request, Touch):
                    touch_many(session, [(i, request)], outcomes)
                elif isinstance(request, Join):
                    outcomes[i] = join(session, request, ledger)
                elif isinstance(request, Recover):
                    outcomes[i] = recover(session, request, ledger)
                elif isinstance(request, Resolve):
                    outcomes[i] = self._resolve(session, request)
                else:
                    outcomes[i] = _note(session, request)
            ledger.tell(session)
            return [o for o in outcomes if o is not None]  # all are set by now

        return self._retrying(work)

    def _resolve(self, session: Session, request: Resolve) -> Outcome:
        if request.dedup_key is not None and seen(session, request.dedup_key):
            return Outcome(None, duplicate=True)
        incident = _open_for(session, request.fingerprint)
        if incident is None:
            return Outcome(None)
        if request.update_evidence is not None:
            incident.evidence = request.update_evidence(dict(incident.evidence or {}))
        if request.only_if is not None and not request.only_if(dict(incident.evidence or {})):
            if not request.record_kept:
                return Outcome(incident)
            now = utcnow()
            incident.updated_at = now
            kept = touch_event(incident, request, now, "")
            kept["note"] = f"kept open: {request.note}" if request.note else "kept open"
            session.add(IncidentEvent(**kept))
            session.flush()
            return Outcome(incident, touched=True)
        move(session, incident, Status.RESOLVED, request.actor, request.note, request.dedup_key)
        return Outcome(incident, resolved=True)

    def split(self, incident_id: int, features: Sequence[str], *, actor: str) -> Incident:
        """Move ``features`` into a new incident linked to ``incident_id``; returns the new one."""

        def work(session: Session) -> Incident:
            return split(session, _locked(session, incident_id), features, actor)

        return self._retrying(work)

    def merge(self, incident_id: int, other_id: int, *, actor: str) -> Incident:
        """Move ``other_id``'s members into ``incident_id`` and resolve it as merged."""
        check_id(incident_id)
        check_id(other_id)
        return self._retrying(lambda session: merge(session, incident_id, other_id, actor))

    def publish_groupings(self, groupings: Mapping[str, GroupBy]) -> None:
        """Record each dataset's ``group_by``, which the webhook reads."""
        with self.db.transaction() as session:
            publish_groupings(session, groupings)

    def transition(self, incident_id: int, to: Status, *, actor: str, note: str = "") -> Incident:
        def work(session: Session) -> Incident:
            incident = _locked(session, incident_id)
            move(session, incident, to, actor, note)
            return incident

        return self._retrying(work)

    def update(self, incident_id: int, changes: Mapping[str, Any], *, actor: str) -> Incident:
        """Change title, description, severity or assignee; one ``updated`` event."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {', '.join(sorted(unknown))}")

        def work(session: Session) -> Incident:
            incident = _locked(session, incident_id)
            before = Severity(incident.severity)
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
                    event(
                        incident,
                        actor=actor,
                        kind="updated",
                        at=now,
                        note="changed " + ", ".join(changed),
                    )
                )
                session.flush()
                record(session, update_rows(incident, changed, before, now, actor))
            return incident

        return self._retrying(work)

    def comment(self, incident_id: int, text: str, *, actor: str) -> IncidentEvent:
        """Append a ``comment`` event (what people write while they work the incident) and
        return it. The incident itself does not change."""
        with self.db.transaction() as session:
            incident = _locked(session, incident_id)
            now = utcnow()
            remark = event(incident, actor=actor, kind="comment", at=now, note=text)
            session.add(remark)
            session.flush()
            return remark

    def delete(self, incident_id: int, *, actor: str) -> None:
        """Hide the incident from every read; it and its timeline stay, with a ``deleted``
        event saying who did it, for :meth:`audit_events`."""
        with self.db.transaction() as session:
            incident = _locked(session, incident_id)
            now = utcnow()
            incident.deleted_at = now
            incident.updated_at = now
            session.add(event(incident, actor=actor, kind="deleted", at=now))
