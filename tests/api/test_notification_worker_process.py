"""The worker as people run it — ``flask --app incident_api notifications worker`` — killed,
restarted, stopped and raced, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incident_api.services import services
from scripts.notify_sink import Sink
from tests.api.test_notifications import SECRET
from tests.services import free_port, wait_for

FLASK = Path(sys.executable).parent / "flask"


class Hanging:
    """Accepts connections and reads the request, never answers: a receiver that hangs."""

    def __init__(self, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.requests: list[bytes] = []
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                self.requests.append(conn.recv(65536))

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def worker_env(make_app, database_url, tmp_path) -> Callable[..., dict[str, str]]:
    def env(**settings: Any) -> dict[str, str]:
        base = {
            "database_url": database_url,
            "jwt_secret_key": "w" * 48,
            "environment": "test",
            "notify_webhook_secret": SECRET,
            **settings,
        }
        make_app(**base)  # migrates the store and creates the users
        values = {k.upper(): str(v) for k, v in base.items()}
        return {**os.environ, "PYTHONUNBUFFERED": "1", **values}

    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(FLASK), "--app", "incident_api", "notifications", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def _logged(log: Path, line: bytes) -> Callable[[], bool]:
    return lambda: line in log.read_bytes()


def _open_incidents(app_env: dict[str, str], n: int) -> None:
    from incident_api import create_app

    app = create_app({"database_url": app_env["DATABASE_URL"], "jwt_secret_key": "w" * 48})
    with app.app_context():
        for i in range(n):
            services().incidents.create(title=f"drift {i}", severity="high", actor="test")
        services().db.dispose()


def test_sigkill_mid_delivery_then_restart_still_delivers(worker_env, workers, tmp_path):
    port = free_port()
    env = worker_env(
        notify_webhook_urls=f"http://127.0.0.1:{port}/hook",
        notify_timeout_seconds=30,  # the hanging receiver holds the send until the kill
        notify_lease_seconds=60,
        notify_backoff_seconds=0.2,
        notify_poll_seconds=0.1,
    )
    log = tmp_path / "worker.log"
    _open_incidents(env, 1)
    workers.append(_start(env, log))
    # Receiver down: the connection is refused, the worker backs off and retries.
    wait_for(lambda: b"will retry" in log.read_bytes(), 30, "a refused attempt", 0.1)
    hanging = Hanging(port)
    try:
        wait_for(lambda: hanging.requests, 30, "the worker's request to the hung receiver", 0.1)
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-delivery: sent, no answer read
        workers[0].wait()
    finally:
        hanging.close()
    seen = hanging.requests[0].decode()
    delivery_id = next(
        line.split(":", 1)[1].strip()
        for line in seen.splitlines()
        if line.lower().startswith("x-driftwatch-delivery:")
    )
    sink = Sink(secret=SECRET)
    sink.start(port)
    try:
        # The dead worker's lease must run out first; a short one for the restarted worker.
        _expire_leases(env)
        workers.append(
            _start({**env, "NOTIFY_LEASE_SECONDS": "4", "NOTIFY_TIMEOUT_SECONDS": "2"}, log)
        )
        arrived = wait_for(lambda: sink.accepted(), 30, "the event after the restart", 0.1)
    finally:
        sink.stop()
    assert [a.headers["x-driftwatch-delivery"] for a in arrived] == [delivery_id]
    assert arrived[0].json()["event"] == "incident.opened"
    assert sink.verified(arrived[0])


def _expire_leases(env: dict[str, str]) -> None:
    """What the passing of NOTIFY_LEASE_SECONDS does, without waiting a minute."""
    from sqlalchemy import update

    from warehouse.db import Database
    from warehouse.models import NotificationDelivery, utcnow

    db = Database.from_url(env["DATABASE_URL"])
    try:
        with db.transaction() as session:
            session.execute(update(NotificationDelivery).values(lease_until=utcnow()))
    finally:
        db.dispose()


def test_two_workers_racing_send_each_event_once(worker_env, workers, tmp_path):
    sink = Sink(secret=SECRET, respond=lambda _n: (time.sleep(0.02), 200)[1])  # a real receiver
    port = sink.start()
    env = worker_env(notify_webhook_urls=f"http://127.0.0.1:{port}/hook", notify_poll_seconds=0.05)
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    try:
        for log in logs:
            workers.append(_start(env, log))
        for log in logs:
            wait_for(_logged(log, b"worker started"), 30, "a worker", 0.1)
        _open_incidents(env, 40)
        wait_for(lambda: len(sink.accepted()) >= 40, 60, "40 notifications", 0.1)
        time.sleep(1.0)  # room for a double send to show up
    finally:
        sink.stop()
    ids = Counter(a.headers["x-driftwatch-delivery"] for a in sink.arrivals)
    assert len(ids) == 40 and set(ids.values()) == {1}
    incidents = sorted(a.json()["incident"]["id"] for a in sink.arrivals)
    assert incidents == list(range(1, 41))
    texts = [log.read_text() for log in logs]
    assert all("notification delivered" in text for text in texts), "one worker did it all"


def test_sigterm_stops_the_worker_cleanly(worker_env, workers, tmp_path):
    env = worker_env(notify_poll_seconds=0.1)
    log = tmp_path / "worker.log"
    workers.append(_start(env, log))
    wait_for(lambda: b"notification worker started" in log.read_bytes(), 30, "the start", 0.1)
    workers[0].send_signal(signal.SIGTERM)
    assert workers[0].wait(timeout=10) == 0
    assert b"notification worker stopped" in log.read_bytes()
    assert b"Traceback" not in log.read_bytes()


def test_metrics_port_serves_the_delivery_counter(worker_env, workers, tmp_path):
    import urllib.request

    sink = Sink(secret=SECRET)
    port = sink.start()
    metrics_port = free_port()
    env = worker_env(notify_webhook_urls=f"http://127.0.0.1:{port}/hook", notify_poll_seconds=0.05)
    process = subprocess.Popen(
        [
            str(FLASK),
            "--app",
            "incident_api",
            "notifications",
            "worker",
            "--metrics-port",
            str(metrics_port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers.append(process)
    try:
        _open_incidents(env, 2)
        wait_for(lambda: len(sink.accepted()) == 2, 30, "2 notifications", 0.1)

        def scraped() -> str | None:
            try:
                url = f"http://127.0.0.1:{metrics_port}/metrics"
                text = urllib.request.urlopen(url, timeout=2).read().decode()
            except OSError:
                return None
            line = 'driftwatch_notifications_total{channel="webhook-1",outcome="delivered"} 2.0'
            return text if line in text else None

        text = wait_for(scraped, 15, "the counter on --metrics-port", 0.2)
    finally:
        sink.stop()
    assert 'driftwatch_notifications_total{channel="webhook-1",outcome="dead"} 0.0' in text


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"NOTIFY_WEBHOOK_URLS": "http://127.0.0.1:9/t0ken"},
            "NOTIFY_WEBHOOK_SECRET is required when NOTIFY_WEBHOOK_URLS is set",
        ),
        (
            {"NOTIFY_WEBHOOK_URLS": "http//127.0.0.1:9/t0ken", "NOTIFY_WEBHOOK_SECRET": SECRET},
            "NOTIFY_WEBHOOK_URLS: entry 1 is not an http(s) URL with a host",
        ),
    ],
)
def test_bad_config_stops_the_worker_and_the_api_in_one_line(variables, expected, tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **variables}
    worker = subprocess.run(
        [str(FLASK), "--app", "incident_api", "notifications", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 1
    assert worker.stderr.strip().splitlines() == [f"Error: invalid configuration: {expected}"]
    port = free_port()
    api = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "incident_api:create_app()"],
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert api.returncode == 1
    errors = [line for line in api.stderr.splitlines() if "driftwatch:" in line]
    assert errors == [f"driftwatch: invalid configuration: {expected}"]
    assert "Traceback" not in api.stderr + worker.stderr
    assert "t0ken" not in api.stderr + worker.stderr + worker.stdout  # the URL is never echoed
