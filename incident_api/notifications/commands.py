"""``flask --app incident_api notifications worker``: the delivery worker as a command."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask.cli import AppGroup
from prometheus_client import CollectorRegistry, start_http_server

from incident_api.notifications.channels import build_channels
from incident_api.notifications.worker import Worker, notifications_counter
from incident_api.services import services

notifications = AppGroup("notifications", help="Tell people: the notification outbox.")


@notifications.command("worker")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve driftwatch_notifications_total on 127.0.0.1:PORT/metrics.",
)
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
def worker(metrics_port: int | None, once: bool) -> None:
    """Deliver notifications until SIGTERM or SIGINT (several workers may run at once)."""
    svc = services()
    channels = build_channels(svc.settings)
    registry = CollectorRegistry()
    runner = Worker(
        svc.notifications, channels, svc.settings, counter=notifications_counter(registry)
    )
    if once:
        runner.drain()
        return
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # the delivery in flight finishes (within NOTIFY_TIMEOUT_SECONDS) first

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.run(stop)
