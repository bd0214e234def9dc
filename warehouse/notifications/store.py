"""Deliveries: outbox events fanned out per channel, claimed under a lease, settled once.

Several workers may run at once. On PostgreSQL each claim locks its rows ``FOR UPDATE SKIP
LOCKED``, so concurrent workers take different rows without waiting; on SQLite writers are
serialised (``BEGIN IMMEDIATE``), so the lease written by one claim is what the next one sees.
A worker that dies mid-delivery leaves its lease to expire; the row is then claimed again, under
the same ``delivery_id`` (at-least-once: receivers deduplicate on it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from warehouse.lifecycle import Severity
from warehouse.models import utcnow
from warehouse.notifications.reads import (
    DEAD,
    DELIVERED,
    DELIVERIES,
    EVENTS_TABLE,
    JOINED,
    PENDING,
    DeliveryNotFound,
    DeliveryRow,
    NotificationReads,
    check_id,
)

_ERROR_CHARS: Final = 500


class NotRetryable(Exception):
    """A retry asked of a delivery that already arrived (the API answers 409)."""

    def __init__(self, delivery: int) -> None:
        super().__init__(f"notification {delivery} was already delivered")
        self.delivery = delivery


@dataclass(frozen=True)
class Route:
    """A channel and the least severity it is told about."""

    channel: str
    min_severity: Severity

    def takes(self, severity: str) -> bool:
        return Severity(severity).rank >= self.min_severity.rank


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds the lease of, with what it must send."""

    id: int
    delivery_id: str
    channel: str
    attempts: int
    """Including this one."""
    event: str
    payload: dict[str, Any]
    event_created_at: datetime


_DUE = (
    select(DELIVERIES.c.id)
    .where(DELIVERIES.c.status == PENDING)
    .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
)


class NotificationStore(NotificationReads):
    """The outbox's deliveries on any database :class:`Database` serves."""

    def dispatch(self, routes: list[Route], *, limit: int = 200) -> int:
        """Fan up to ``limit`` new outbox events out to a pending delivery per route that takes
        their severity; returns how many events were dispatched."""
        with self.db.transaction() as session:
            events = session.execute(
                select(EVENTS_TABLE.c.id, EVENTS_TABLE.c.severity)
                .where(EVENTS_TABLE.c.dispatched_at.is_(None))
                .order_by(EVENTS_TABLE.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not events:
                return 0
            now = utcnow()
            rows = [
                {
                    "event_id": event_id,
                    "delivery_id": str(uuid.uuid4()),
                    "channel": route.channel,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for event_id, severity in events
                for route in routes
                if route.takes(severity)
            ]
            if rows:
                session.execute(DELIVERIES.insert(), rows)
            session.execute(
                update(EVENTS_TABLE)
                .where(EVENTS_TABLE.c.id.in_([event_id for event_id, _ in events]))
                .values(dispatched_at=now)
            )
            return len(events)

    def claim(self, owner: str, *, lease_seconds: float, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries to ``owner`` and count an attempt on each."""
        with self.db.transaction() as session:
            now = utcnow()
            due = (
                _DUE.where(
                    DELIVERIES.c.next_attempt_at <= now,
                    or_(DELIVERIES.c.lease_until.is_(None), DELIVERIES.c.lease_until < now),
                )
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list(session.scalars(due))
            if not ids:
                return []
            session.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id.in_(ids))
                .values(
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    attempts=DELIVERIES.c.attempts + 1,
                    updated_at=now,
                )
            )
            claimed = session.execute(
                select(
                    DELIVERIES.c.id,
                    DELIVERIES.c.delivery_id,
                    DELIVERIES.c.channel,
                    DELIVERIES.c.attempts,
                    EVENTS_TABLE.c.event,
                    EVENTS_TABLE.c.payload,
                    EVENTS_TABLE.c.created_at,
                )
                .select_from(JOINED)
                .where(DELIVERIES.c.id.in_(ids))
                .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
            ).all()
            return [Claimed(*row) for row in claimed]

    def _settle(self, session: Session, delivery: int, owner: str, **values: Any) -> bool:
        result = session.execute(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.id == delivery,
                DELIVERIES.c.lease_owner == owner,
                DELIVERIES.c.status == PENDING,
            )
            .values(lease_owner=None, lease_until=None, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def delivered(self, delivery: int, owner: str) -> bool:
        """Mark ``delivery`` delivered if ``owner`` still holds its lease."""
        with self.db.transaction() as session:
            return self._settle(
                session, delivery, owner, status=DELIVERED, delivered_at=utcnow(), last_error=""
            )

    def failed(self, delivery: int, owner: str, *, error: str, retry_at: datetime | None) -> bool:
        """Record a failed attempt: due again at ``retry_at``, or dead when it is ``None``."""
        values: dict[str, Any] = {"last_error": error[:_ERROR_CHARS]}
        if retry_at is None:
            values["status"] = DEAD
        else:
            values["next_attempt_at"] = retry_at
        with self.db.transaction() as session:
            return self._settle(session, delivery, owner, **values)

    def retry(self, delivery: int) -> DeliveryRow:
        """Make a dead (or backing-off) delivery due now, with a fresh attempt budget; its
        ``delivery_id`` stays, so a receiver that did get it can tell."""
        check_id(delivery)
        with self.db.transaction() as session:
            status = session.scalar(
                select(DELIVERIES.c.status).where(DELIVERIES.c.id == delivery).with_for_update()
            )
            if status is None:
                raise DeliveryNotFound(delivery)
            if status == DELIVERED:
                raise NotRetryable(delivery)
            now = utcnow()
            session.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id == delivery)
                .values(status=PENDING, attempts=0, next_attempt_at=now, updated_at=now)
            )
        return self.get(delivery)

    def prune(self, older_than: datetime) -> int:
        """Forget events dispatched before ``older_than`` whose every delivery arrived (dead
        ones stay until an admin retries them); returns how many events went."""
        unsettled = exists().where(
            and_(DELIVERIES.c.event_id == EVENTS_TABLE.c.id, DELIVERIES.c.status != DELIVERED)
        )
        with self.db.transaction() as session:
            old = select(EVENTS_TABLE.c.id).where(
                EVENTS_TABLE.c.dispatched_at < older_than, ~unsettled
            )
            ids = list(session.scalars(old.limit(10_000)))
            if not ids:
                return 0
            session.execute(delete(DELIVERIES).where(DELIVERIES.c.event_id.in_(ids)))
            session.execute(delete(EVENTS_TABLE).where(EVENTS_TABLE.c.id.in_(ids)))
            return len(ids)
