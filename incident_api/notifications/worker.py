"""The delivery worker: fan new outbox events out to deliveries, claim the due ones, send each
through its channel, settle it — delivered, due again after a backoff, or dead.

It never holds a database transaction while it talks to a receiver: the claim commits a lease
first, so a slow receiver delays only its own delivery, and a worker killed mid-send leaves a
lease that expires instead of a lock.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.exc import SQLAlchemyError

from incident_api.metric_names import NOTIFICATIONS_TOTAL
from incident_api.notifications.channels import Channel, SendFailed, routes
from incident_api.notifications.config import NotificationSettings
from warehouse.models import utcnow
from warehouse.notifications import Claimed, NotificationStore

log = structlog.get_logger("driftwatch.notifications")

DELIVERED: Final = "delivered"
RETRIED: Final = "retried"
DEAD: Final = "dead"
_PRUNE_EVERY: Final = timedelta(hours=1)
_MAX_CLAIM: Final = 20


def worker_name() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is new)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def notifications_counter(registry: CollectorRegistry | None) -> Counter:
    return Counter(
        NOTIFICATIONS_TOTAL.removesuffix("_total"),
        "Delivery attempts by channel and outcome (delivered, retried, dead)",
        ["channel", "outcome"],
        registry=registry,
    )


class Worker:
    def __init__(
        self,
        store: NotificationStore,
        channels: list[Channel],
        settings: NotificationSettings,
        *,
        counter: Counter,
        owner: str | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.channels = {channel.name: channel for channel in channels}
        self.routes = routes(channels)
        self.settings = settings
        self.counter = counter
        self.owner = owner or worker_name()
        self.jitter = jitter
        # A claimed batch is sent one by one: it must end well inside the lease.
        per_send = settings.notify_timeout_seconds * 2
        self.batch = max(1, min(_MAX_CLAIM, int(settings.notify_lease_seconds // per_send)))
        self._pruned_at = utcnow() - _PRUNE_EVERY
        for channel in channels:
            for outcome in (DELIVERED, RETRIED, DEAD):
                counter.labels(channel.name, outcome)  # every series exists from the start

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt: doubling from the base, capped, with half of it
        jittered so that workers retrying after one outage do not arrive together."""
        base = self.settings.notify_backoff_seconds
        delay = min(self.settings.notify_backoff_max_seconds, base * 2.0 ** (attempts - 1))
        return delay / 2 + self.jitter() * delay / 2

    def step(self) -> int:
        """One round: dispatch, claim, send. Returns how many deliveries it settled."""
        self.store.dispatch(self.routes)
        claimed = self.store.claim(
            self.owner, lease_seconds=self.settings.notify_lease_seconds, limit=self.batch
        )
        for delivery in claimed:
            self._deliver(delivery)
        self._prune()
        return len(claimed)

    def _deliver(self, delivery: Claimed) -> None:
        channel = self.channels.get(delivery.channel)
        fields = {
            "channel": delivery.channel,
            "notification": delivery.event,
            "delivery_id": delivery.delivery_id,
            "incident_id": delivery.payload["incident"]["id"],
            "attempt": delivery.attempts,
        }
        try:
            if channel is None:
                raise SendFailed("this channel is no longer configured", retryable=False)
            channel.send(delivery)
        except SendFailed as exc:
            self._failed(delivery, exc, fields)
            return
        except Exception as exc:  # a bug in a channel must not stop the others
            log.exception("notification channel crashed", **fields)
            self._failed(delivery, SendFailed(type(exc).__name__, retryable=True), fields)
            return
        if self.store.delivered(delivery.id, self.owner):
            self.counter.labels(delivery.channel, DELIVERED).inc()
            age = (utcnow() - delivery.event_created_at).total_seconds()
            log.info("notification delivered", seconds_after_change=round(age, 3), **fields)
        else:
            log.warning("notification delivered after its lease ran out", **fields)

    def _failed(self, delivery: Claimed, exc: SendFailed, fields: dict[str, object]) -> None:
        final = not exc.retryable or delivery.attempts >= self.settings.notify_max_attempts
        retry_at = None
        if not final:
            wait = self.backoff(delivery.attempts)
            if exc.retry_after is not None:
                wait = min(max(wait, exc.retry_after), self.settings.notify_backoff_max_seconds)
            retry_at = utcnow() + timedelta(seconds=wait)
        if not self.store.failed(delivery.id, self.owner, error=str(exc), retry_at=retry_at):
            return
        outcome = DEAD if final else RETRIED
        self.counter.labels(delivery.channel, outcome).inc()
        if final:
            log.error("notification dead", error=str(exc), **fields)
        else:
            log.warning("notification failed; will retry", error=str(exc), **fields)

    def _prune(self) -> None:
        now = utcnow()
        if now - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = now
        keep = timedelta(days=self.settings.notify_retention_days)
        gone = self.store.prune(now - keep)
        if gone:
            log.info("notification outbox pruned", events=gone)

    def drain(self) -> None:
        """Work until nothing is due now (``--once``)."""
        while self.step():
            pass

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; a database outage is waited out, never fatal."""
        log.info("notification worker started", owner=self.owner, channels=sorted(self.channels))
        failures = 0
        while not stop.is_set():
            try:
                settled = self.step()
                failures = 0
            except SQLAlchemyError as exc:
                failures += 1
                log.warning("incident store unreachable", error=type(exc).__name__)
                stop.wait(min(30.0, self.settings.notify_poll_seconds * 2**failures))
                continue
            if not settled:
                stop.wait(self.settings.notify_poll_seconds)
        log.info("notification worker stopped", owner=self.owner)
