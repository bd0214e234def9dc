"""The read side of the notification outbox: what admins list and what the gauges show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, func, select

from warehouse.db import Database
from warehouse.incidents.reads import MAX_ID
from warehouse.models import NotificationDelivery, NotificationEvent, utcnow

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
STATUSES: Final = (PENDING, DELIVERED, DEAD)

DELIVERIES: Final = cast(Table, NotificationDelivery.__table__)
EVENTS_TABLE: Final = cast(Table, NotificationEvent.__table__)


class DeliveryNotFound(LookupError):
    def __init__(self, delivery: int) -> None:
        super().__init__(f"notification {delivery} does not exist")
        self.delivery = delivery


def check_id(delivery: int) -> None:
    """An id the column cannot hold is not there (PostgreSQL would refuse the query)."""
    if not 1 <= delivery <= MAX_ID:
        raise DeliveryNotFound(delivery)


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
JOINED = DELIVERIES.join(EVENTS_TABLE, DELIVERIES.c.event_id == EVENTS_TABLE.c.id)


class NotificationReads:
    """Deliveries as admins see them, and the outbox's backlog."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def page(
        self, *, status: str | None = None, after: int | None = None, limit: int = 50
    ) -> list[DeliveryRow]:
        """Deliveries, newest first, optionally of one status; ``after`` continues a page."""
        query = select(*_ROW_COLUMNS).select_from(JOINED).order_by(DELIVERIES.c.id.desc())
        if status is not None:
            query = query.where(DELIVERIES.c.status == status)
        if after is not None:
            query = query.where(DELIVERIES.c.id < after)
        rows = self.db.read(lambda c: c.execute(query.limit(limit)).all())
        return [DeliveryRow(*row) for row in rows]

    def get(self, delivery: int) -> DeliveryRow:
        check_id(delivery)
        query = select(*_ROW_COLUMNS).select_from(JOINED).where(DELIVERIES.c.id == delivery)
        row = self.db.read(lambda c: c.execute(query).first())
        if row is None:
            raise DeliveryNotFound(delivery)
        return DeliveryRow(*row)

    def stats(self) -> OutboxStats:
        """What the pending/age/dead gauges show."""
        undispatched = select(func.count(), func.min(EVENTS_TABLE.c.created_at)).where(
            EVENTS_TABLE.c.dispatched_at.is_(None)
        )
        pending = (
            select(func.count(), func.min(EVENTS_TABLE.c.created_at))
            .select_from(JOINED)
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
        age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
        return OutboxStats(pending=new + waiting, oldest_pending_age_seconds=age, dead=dead_count)
