"""The notification outbox: the events incident changes write in their own transaction
(``outbox``), the deliveries workers claim, send and settle (``store``), and what admins
and gauges read of them (``reads``).

Channels themselves (webhook, Slack, email) are the incident API's; this package only stores.
"""

from warehouse.notifications.outbox import NotificationKind, outbox_row, record
from warehouse.notifications.reads import DeliveryNotFound, DeliveryRow, OutboxStats
from warehouse.notifications.store import Claimed, NotificationStore, NotRetryable, Route

__all__ = [
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
