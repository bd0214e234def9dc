"""How long from an incident change to the webhook arriving, through the real parts.

    make bench-notify        # or: python -m bench.notify_latency --database postgres

1. **API create → webhook received.** gunicorn (2 workers) and one notification worker
   (``flask --app incident_api notifications worker``, default ``NOTIFY_POLL_SECONDS``) on one
   store; ``POST /incidents`` one at a time, at random gaps, to a signature-checking receiver
   (``scripts/notify_sink.Sink``). Latency = arrival − the moment the request was sent.
2. **Dagster breach → sensor → incident → webhook.** The demo dataset (100k rows × 19
   features a day) in a Definitions of our own: ``materialize()`` a drifted partition, evaluate
   the incident sensor at once (the daemon would tick within ``sensor_interval_seconds``; that
   wait is not measured), the worker sends each new incident. Each round resolves the incidents
   first, so the next drifted day opens new ones.

Prints a markdown table: p50, p95 and max per leg, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.api_load import bench_schema
from scripts.harness import (
    BIN,
    create_user,
    free_port,
    http_json,
    sign_in,
    start,
    stop,
    wait_ready,
)
from scripts.notify_sink import Sink
from warehouse.db import Database
from warehouse.migrate import upgrade

PASSWORD = "latency bench passphrase"
SECRET = secrets.token_urlsafe(32)


@dataclass
class Leg:
    name: str
    seconds: list[float]

    def row(self) -> str:
        ms = sorted(s * 1000 for s in self.seconds)
        p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
        return (
            f"| {self.name} | {len(ms)} | {statistics.median(ms):.0f} | {p95:.0f} | {ms[-1]:.0f} |"
        )


@contextmanager
def stack(url: str, work: Path, sink: Sink) -> Iterator[str]:
    """The API and a worker on ``url``, sending to ``sink``; yields the API's base URL."""
    port, sink_port = free_port(), sink.start()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        JWT_SECRET_KEY="bench-" + secrets.token_urlsafe(40),
        ENVIRONMENT="production",
        GUNICORN_WORKERS="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        OTEL_SDK_DISABLED="true",
        PROMETHEUS_MULTIPROC_DIR=str(work / "prom"),
        NOTIFY_WEBHOOK_URLS=f"http://127.0.0.1:{sink_port}/hook",
        NOTIFY_WEBHOOK_SECRET=SECRET,
        NOTIFY_MIN_SEVERITY="low",
    )
    db = Database.from_url(url)
    upgrade(db.engine)
    db.dispose()
    create_user("bench", "admin", PASSWORD, env)
    api_log, worker_log = work / "gunicorn.log", work / "worker.log"
    api = start([str(BIN / "gunicorn"), "incident_api:create_app()"], api_log, env)
    worker_args = [str(BIN / "flask"), "--app", "incident_api", "notifications", "worker"]
    worker = start(worker_args, worker_log, env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", api, api_log, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([api, worker], signal.SIGTERM)
        sink.stop()


def _arrival(sink: Sink, event: str, incident: int, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for arrival in sink.accepted():
            body = arrival.json()
            if body["event"] == event and body["incident"]["id"] == incident:
                return arrival.received
        time.sleep(0.001)
    raise SystemExit(f"bench: {event} for incident {incident} never arrived")


def api_leg(base: str, sink: Sink, count: int) -> Leg:
    token = sign_in(base, "bench", PASSWORD)
    seconds = []
    for n in range(count):
        time.sleep(random.uniform(0.05, 0.6))
        sent = time.time()
        body = {"title": f"latency {n}", "severity": "high", "dataset": "bench"}
        created = http_json(f"{base}/incidents", body, token=token)
        seconds.append(_arrival(sink, "incident.opened", created["id"]) - sent)
    return Leg("API `POST /incidents` → webhook received", seconds)


def dagster_legs(url: str, sink: Sink, work: Path, rounds: int) -> list[Leg]:
    from dagster import AssetKey, build_sensor_context, materialize

    from pipelines.config import load_config
    from pipelines.definitions import build_definitions
    from pipelines.defs.resources import WarehouseResource
    from pipelines.demo import DATASET, DAYS, DRIFT_FROM_DAY, START, write_demo
    from warehouse.incidents import IncidentFilter, IncidentStore
    from warehouse.lifecycle import Status
    from warehouse.snapshots import SnapshotStore

    root = work / "warehouse"
    write_demo(SnapshotStore(root))
    defs = build_definitions(load_config("driftwatch.yaml"), database=url, snapshots_root=str(root))
    reference = defs.resolve_assets_def(AssetKey([DATASET, "reference_profile"]))
    drift = defs.resolve_assets_def(AssetKey([DATASET, "feature_drift"]))
    assert materialize([reference]).success
    sensor = defs.resolve_sensor_def("drift_incident_sensor")
    resource = WarehouseResource(database_url=url)
    store = IncidentStore(Database.from_url(url))

    def tick(cursor: str | None) -> str | None:
        context = build_sensor_context(cursor=cursor, resources={"warehouse": resource})
        moved: str | None = getattr(sensor(context), "cursor", None)  # a SensorResult's
        return moved or cursor

    cursor = tick(None)
    breach_to_incident, incident_to_webhook, total = [], [], []
    drifted_days = list(range(DRIFT_FROM_DAY, DAYS + 1))
    for day in drifted_days[:rounds]:
        for incident in store.list(IncidentFilter(status=Status.OPEN), limit=200).items:
            store.transition(incident.id, Status.RESOLVED, actor="bench")
        partition = (START + timedelta(days=day - 1)).isoformat()
        assert materialize([drift], partition_key=partition).success
        breached = time.time()  # the drift results are committed when the run returns
        cursor = tick(cursor)
        opened = [
            i
            for i in store.list(IncidentFilter(status=Status.OPEN), limit=200).items
            if i.source == "dagster"
        ]
        if not opened:
            raise SystemExit(f"bench: partition {partition} opened no incident")
        for incident in opened:
            arrived = _arrival(sink, "incident.opened", incident.id)
            created = incident.created_at.timestamp()
            breach_to_incident.append(created - breached)
            incident_to_webhook.append(arrived - created)
            total.append(arrived - breached)
    return [
        Leg("Dagster: drift results committed → sensor opened the incident", breach_to_incident),
        Leg("Dagster: incident committed → webhook received", incident_to_webhook),
        Leg("Dagster: drift results committed → webhook received", total),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--incidents", type=int, default=50, help="API creates to time")
    parser.add_argument("--rounds", type=int, default=5, help="drifted partitions (≤ 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dw-notify-") as tmp:
        work = Path(tmp)
        with _database(args.database, work) as url:
            sink = Sink(secret=SECRET)
            with stack(url, work, sink) as base:
                legs = [api_leg(base, sink, args.incidents)]
                legs += dagster_legs(url, sink, work, args.rounds)
            bad = [a for a in sink.arrivals if not sink.verified(a)]
    print(f"\n{args.database}: one worker, NOTIFY_POLL_SECONDS 0.5 (the default)\n")
    print("| leg | notifications | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for leg in legs:
        print(leg.row())
    print(f"\nsignatures that did not verify: {len(bad)}")
    return 0


@contextmanager
def _database(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}"
        return
    postgres = os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    with bench_schema(postgres) as url:
        yield url


if __name__ == "__main__":
    raise SystemExit(main())
