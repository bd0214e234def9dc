"""The API as it is deployed, for tests that need real servers: gunicorn processes on free
loopback ports, a client that opens a new connection per request (so any worker may answer),
and a barrier to send requests at the same instant. Every server is stopped by its PID."""

from __future__ import annotations

import json
import os
import random
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scripts import harness
from tests.services import POSTGRES_URL, REDIS_HOST, REDIS_PORT, free_port

PASSWORD = "a-long-enough-password"


@dataclass
class Api:
    base: str
    log: Path
    since: int = 0
    """Where in the log the current test began: its lines are the ones read."""

    def mark(self) -> None:
        """From now on, read only the log lines written after this (a test's own)."""
        self.since = self.log.stat().st_size if self.log.exists() else 0

    def lines(self) -> list[str]:
        with self.log.open("rb") as handle:
            handle.seek(self.since)
            return handle.read().decode(errors="replace").splitlines()

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        """One request on a new connection (so gunicorn hands it to any worker)."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read().decode()
                return response.status, raw, dict(response.headers)
        except urllib.error.HTTPError as error:
            raw = error.read().decode()
            return error.code, raw, dict(error.headers)

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        status, raw, _ = self.call(method, path, body, **kw)
        return status, json.loads(raw) if raw else None

    def sign_in(self, username: str, client: str = "") -> dict[str, Any]:
        """Sign in as (behind the proxy) a client of its own, unless ``client`` is given."""
        headers = {"X-Forwarded-For": client or client_address()}
        body = {"username": username, "password": PASSWORD}
        status, pair = self.json("POST", "/auth/token", body, headers=headers)
        assert status == 200, pair
        return dict(pair)

    def workers_that_logged(self, route: str) -> set[str]:
        """The PIDs of the workers whose access log lines (since :meth:`mark`) name ``route``."""
        lines = self.lines()
        found = (re.search(r"\bprocess=(\d+)", line) for line in lines if f"route={route} " in line)
        return {m.group(1) for m in found if m}

    def requests_logged(self, route: str) -> int:
        """How many requests to ``route`` this server's access log names (since :meth:`mark`)."""
        lines = self.lines()
        return sum(1 for line in lines if f"route={route} " in line)


@contextmanager
def gunicorn(
    tmp: Path, env: Mapping[str, str], hops: int, name: str, workers: int = 2
) -> Iterator[tuple[Api, Any]]:
    """``gunicorn 'incident_api:create_app()'`` on a free port, trusting ``hops`` proxies;
    yields the client and the process (to stop it early)."""
    port = free_port()
    log = tmp / f"{name}.log"
    server_env = {
        **env,
        "TRUSTED_PROXY_HOPS": str(hops),
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"{name}-metrics"),
    }
    process = harness.start(
        [str(harness.BIN / "gunicorn"), "incident_api:create_app()"], log, server_env
    )
    try:
        harness.wait_ready(f"http://127.0.0.1:{port}/health", process, log, timeout=60)
        yield Api(f"http://127.0.0.1:{port}", log), process
    finally:
        harness.stop([process], sig=2)


def race(calls: int, work: Any) -> list[Any]:
    """``work(i)`` for i in range(calls), each in its own thread, all released at once."""
    barrier = threading.Barrier(calls)
    results: list[Any] = [None] * calls

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def client_address() -> str:
    """A client address no other test (or earlier run within the limit's minute) used."""
    return f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"


def migrated_env(schema: str, redis_db: int, **settings: str) -> dict[str, str]:
    """The environment of API instances on the test PostgreSQL ``schema`` (migrated here,
    with the users ana/admin, rui/responder and vic/viewer) and Redis database ``redis_db``;
    ``settings`` are more of it (``LOGIN_RATE_LIMIT=…``)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}",
        "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        "JWT_SECRET_KEY": f"live-test-{schema}-" + "k" * 30,
        "ENVIRONMENT": "test",
        **settings,
    }
    migrated = harness.flask("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    for user, role in (("ana", "admin"), ("rui", "responder"), ("vic", "viewer")):
        assert harness.create_user(user, role, PASSWORD, env=env)
    return env
