"""The notification outbox: the events incident changes write in their own transaction
(``outbox``), and the deliveries workers claim, send and settle (``store``).

Channels themselves (webhook, Slack, email) are the incident API's; this package only stores.
"""

from warehouse.notifications.outbox import EVENTS, NotificationKind, outbox_row, record
from warehouse.notifications.store import (
    Claimed,
    DeliveryNotFound,
    DeliveryRow,
    NotificationStore,
    NotRetryable,
    OutboxStats,
    Route,
)

__all__ = [
    "EVENTS",
    "Claimed",
    "DeliveryNotFound",
    "DeliveryRow",
    "NotRetryable",
    "NotificationKind",
    "NotificationStore",
    "OutboxStats",
    "Route",
    "outbox_row",
    "record",
]
