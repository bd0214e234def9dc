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
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Table, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from warehouse.db import Database
from warehouse.incidents.reads import MAX_ID
from warehouse.lifecycle import Severity
from warehouse.models import NotificationDelivery, NotificationEvent, utcnow

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
STATUSES: Final = (PENDING, DELIVERED, DEAD)
_ERROR_CHARS: Final = 500

DELIVERIES: Final = cast(Table, NotificationDelivery.__table__)
EVENTS_TABLE: Final = cast(Table, NotificationEvent.__table__)


class DeliveryNotFound(LookupError):
    def __init__(self, delivery: int) -> None:
        super().__init__(f"notification {delivery} does not exist")
        self.delivery = delivery


def _check_id(delivery: int) -> None:
    """An id the column cannot hold is not there (PostgreSQL would refuse the query)."""
    if not 1 <= delivery <= MAX_ID:
        raise DeliveryNotFound(delivery)


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


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    delivery_id: str
    channel: str
    status: str
    attempts: int
    event: str
    incident_id: int
    event_created_at: datetime
    next_attempt_at: datetime
    last_error: str
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    """Deliveries not yet sent, plus events not yet fanned out."""
    oldest_pending_age_seconds: float
    dead: int


_DUE = (
    select(DELIVERIES.c.id)
    .where(DELIVERIES.c.status == PENDING)
    .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
)

_ROW_COLUMNS = (
    DELIVERIES.c.id,
    DELIVERIES.c.delivery_id,
    DELIVERIES.c.channel,
    DELIVERIES.c.status,
    DELIVERIES.c.attempts,
    EVENTS_TABLE.c.event,
    EVENTS_TABLE.c.incident_id,
    EVENTS_TABLE.c.created_at,
    DELIVERIES.c.next_attempt_at,
    DELIVERIES.c.last_error,
    DELIVERIES.c.updated_at,
    DELIVERIES.c.delivered_at,
)
_JOINED = DELIVERIES.join(EVENTS_TABLE, DELIVERIES.c.event_id == EVENTS_TABLE.c.id)


class NotificationStore:
    """The outbox's deliveries on any database :class:`Database` serves."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
                .select_from(_JOINED)
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

    def page(
        self, *, status: str | None = None, after: int | None = None, limit: int = 50
    ) -> list[DeliveryRow]:
        """Deliveries, newest first, optionally of one status; ``after`` continues a page."""
        query = select(*_ROW_COLUMNS).select_from(_JOINED).order_by(DELIVERIES.c.id.desc())
        if status is not None:
            query = query.where(DELIVERIES.c.status == status)
        if after is not None:
            query = query.where(DELIVERIES.c.id < after)
        rows = self.db.read(lambda c: c.execute(query.limit(limit)).all())
        return [DeliveryRow(*row) for row in rows]

    def get(self, delivery: int) -> DeliveryRow:
        _check_id(delivery)
        query = select(*_ROW_COLUMNS).select_from(_JOINED).where(DELIVERIES.c.id == delivery)
        row = self.db.read(lambda c: c.execute(query).first())
        if row is None:
            raise DeliveryNotFound(delivery)
        return DeliveryRow(*row)

    def retry(self, delivery: int) -> DeliveryRow:
        """Make a dead (or backing-off) delivery due now, with a fresh attempt budget; its
        ``delivery_id`` stays, so a receiver that did get it can tell."""
        _check_id(delivery)
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

    def stats(self) -> OutboxStats:
        """What the pending/age/dead gauges show."""
        undispatched = select(func.count(), func.min(EVENTS_TABLE.c.created_at)).where(
            EVENTS_TABLE.c.dispatched_at.is_(None)
        )
        pending = (
            select(func.count(), func.min(EVENTS_TABLE.c.created_at))
            .select_from(_JOINED)
            .where(DELIVERIES.c.status == PENDING)
        )
        dead = select(func.count()).where(DELIVERIES.c.status == DEAD)

        def work(connection: Any) -> tuple[Any, Any, int]:
            return (
                connection.execute(undispatched).one(),
                connection.execute(pending).one(),
                connection.execute(dead).scalar_one(),
            )

        (new, new_oldest), (waiting, waiting_oldest), dead_count = self.db.read(work)
        oldest = min((t for t in (new_oldest, waiting_oldest) if t is not None), default=None)
        age = 0.0 if oldest is None else max(0.0, (utcnow() - _aware(oldest)).total_seconds())
        return OutboxStats(pending=new + waiting, oldest_pending_age_seconds=age, dead=dead_count)

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


def _aware(moment: datetime) -> datetime:
    """Naive values are UTC (what the column type stores)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
