"""Token families, login limits and the audit trail against the real deployment shape:
gunicorn with 2 sync workers, PostgreSQL, and Redis for the denylist and the limits — one
instance trusting one reverse proxy (TRUSTED_PROXY_HOPS=1), one trusting none."""

from __future__ import annotations

import json
import os
import random
import re
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis

from scripts import harness
from tests.services import (
    POSTGRES_URL,
    REDIS_HOST,
    REDIS_PORT,
    free_port,
    postgres_schema,
    require,
)

PASSWORD = "a-long-enough-password"
LOGIN_LIMIT = 6
FAILURE_LIMIT = 3


@dataclass
class Api:
    base: str
    log: Path

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
        headers = {"X-Forwarded-For": client or _address()}
        body = {"username": username, "password": PASSWORD}
        status, pair = self.json("POST", "/auth/token", body, headers=headers)
        assert status == 200, pair
        return dict(pair)

    def workers_that_logged(self, route: str) -> set[str]:
        """The PIDs of the workers whose access log lines name ``route``."""
        lines = self.log.read_text(errors="replace").splitlines()
        found = (re.search(r"\bprocess=(\d+)", line) for line in lines if f"route={route} " in line)
        return {m.group(1) for m in found if m}


@contextmanager
def _serve(tmp: Path, env: dict[str, str], hops: int, name: str) -> Iterator[Api]:
    port = free_port()
    log = tmp / f"{name}.log"
    server_env = {
        **env,
        "TRUSTED_PROXY_HOPS": str(hops),
        "GUNICORN_WORKERS": "2",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"{name}-metrics"),
    }
    process = harness.start(
        [str(harness.BIN / "gunicorn"), "incident_api:create_app()"], log, server_env
    )
    try:
        harness.wait_ready(f"http://127.0.0.1:{port}/health", process, log, timeout=60)
        yield Api(f"http://127.0.0.1:{port}", log)
    finally:
        harness.stop([process], sig=2)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require("Redis at 127.0.0.1:6379", lambda: redis.Redis(REDIS_HOST, REDIS_PORT).ping())
    tmp = tmp_path_factory.mktemp("gunicorn-auth")
    with postgres_schema() as (schema, _):
        env = {
            **os.environ,
            "DATABASE_URL": f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}",
            "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
            "JWT_SECRET_KEY": "gunicorn-auth-test-" + "k" * 30,
            "ENVIRONMENT": "test",
            "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
            "LOGIN_FAILURE_LIMIT": f"{FAILURE_LIMIT} per minute",
        }
        migrated = harness.flask("db", "upgrade", env=env)
        assert migrated.returncode == 0, migrated.stderr
        for user, role in (("ana", "admin"), ("rui", "responder"), ("vic", "viewer")):
            assert harness.create_user(user, role, PASSWORD, env=env)
        limits = redis.Redis(REDIS_HOST, REDIS_PORT)
        stale = list(limits.scan_iter("driftwatch-ratelimit*"))  # an earlier run's minute
        if stale:
            limits.delete(*stale)
        with ExitStack() as servers:
            yield {
                "proxy": servers.enter_context(_serve(tmp, env, 1, "behind-proxy")),
                "direct": servers.enter_context(_serve(tmp, env, 0, "direct")),
            }


def _address() -> str:
    """A client address no other test (or earlier run within the limit's minute) used."""
    return f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"


def _race(calls: int, work: Any) -> list[Any]:
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


def test_concurrent_refreshes_with_one_token_one_wins_and_the_family_ends(deployment):
    api = deployment["proxy"]
    pair = api.sign_in("rui")
    results = _race(8, lambda _: api.json("POST", "/auth/refresh", token=pair["refresh_token"]))
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 401: 7}
    winner = next(body for status, body in results if status == 200)
    # The losers presented a rotated token: reuse, so the whole session is gone — the
    # winner's new tokens included (two tabs racing look exactly like a thief racing).
    assert api.json("GET", "/incidents", token=winner["access_token"])[0] == 401
    assert api.json("POST", "/auth/refresh", token=winner["refresh_token"])[0] == 401
    assert len(api.workers_that_logged("/auth/refresh")) == 2


def test_reusing_a_rotated_refresh_token_revokes_the_session(deployment):
    api = deployment["proxy"]
    first = api.sign_in("vic")
    other_session = api.sign_in("vic")
    status, second = api.json("POST", "/auth/refresh", token=first["refresh_token"])
    assert status == 200
    assert api.json("GET", "/incidents", token=second["access_token"])[0] == 200
    status, problem = api.json("POST", "/auth/refresh", token=first["refresh_token"])
    assert (status, problem["detail"]) == (401, "the token has been revoked")
    for token in (second["access_token"], first["access_token"]):
        assert api.json("GET", "/incidents", token=token)[0] == 401
    assert api.json("POST", "/auth/refresh", token=second["refresh_token"])[0] == 401
    assert api.json("GET", "/incidents", token=other_session["access_token"])[0] == 200
    log = api.log.read_text()
    assert "refresh_token_reused" in log and "user=vic" in log
    metrics = api.call("GET", "/metrics")[1]
    reused = re.search(r"^driftwatch_refresh_token_reuse_total (\S+)$", metrics, re.M)
    assert reused is not None and float(reused.group(1)) >= 1


def test_logout_with_only_the_access_token_ends_the_session(deployment):
    api = deployment["direct"]
    pair = api.sign_in("vic")
    status, _, _ = api.call("POST", "/auth/logout", token=pair["access_token"])
    assert status == 204
    assert api.json("GET", "/incidents", token=pair["access_token"])[0] == 401
    assert api.json("POST", "/auth/refresh", token=pair["refresh_token"])[0] == 401


def test_an_admin_lists_and_revokes_a_users_sessions(deployment):
    api = deployment["proxy"]
    admin = api.sign_in("ana")["access_token"]
    kept, ended = api.sign_in("rui", "192.0.2.10"), api.sign_in("rui", "192.0.2.11")
    status, listed = api.json("GET", "/users/rui/sessions", token=admin)
    assert status == 200
    clients = {s["client"]: s["sid"] for s in listed["items"]}
    assert {"192.0.2.10", "192.0.2.11"} <= set(clients)
    sid = clients["192.0.2.11"]
    status, _, _ = api.call("DELETE", f"/users/rui/sessions/{sid}", token=admin)
    assert status == 204
    assert api.json("GET", "/incidents", token=ended["access_token"])[0] == 401
    assert api.json("POST", "/auth/refresh", token=ended["refresh_token"])[0] == 401
    assert api.json("GET", "/incidents", token=kept["access_token"])[0] == 200
    assert api.json("GET", "/users/rui/sessions", token=kept["access_token"])[0] == 403


def _bad_login(api: Api, user: str, forwarded: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else None
    body = {"username": user, "password": "not the password"}
    return api.json("POST", "/auth/token", body, headers=headers)[0]


def test_behind_a_trusted_proxy_each_real_client_has_its_own_limit(deployment):
    api = deployment["proxy"]
    guesser, user = _address(), _address()
    assert [_bad_login(api, "ana", guesser) for _ in range(FAILURE_LIMIT)] == [401] * 3
    assert _bad_login(api, "ana", guesser) == 429
    # Prepending addresses does not pick another bucket: the proxy appends the real one.
    assert _bad_login(api, "ana", f"10.{random.randrange(256)}.0.1, {guesser}") == 429
    # admin's own sign-in from elsewhere still works: no lockout by someone else's guesses.
    assert api.sign_in("ana", user)["access_token"]


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(deployment):
    api = deployment["direct"]
    before = [_bad_login(api, "rui", _address()) for _ in range(FAILURE_LIMIT)]
    assert before == [401] * FAILURE_LIMIT
    # Every request names another address, yet all count against the one real peer.
    assert _bad_login(api, "rui", _address()) == 429


def test_login_limits_are_shared_by_both_workers(deployment):
    api = deployment["proxy"]
    client = _address()

    def attempt(i: int) -> int:
        return _bad_login(api, f"nobody-{i}", client)

    statuses = Counter(_race(LOGIN_LIMIT * 3, attempt))
    # Per-worker memory would let up to 2 x the limit through; Redis lets exactly the limit.
    assert statuses == {401: LOGIN_LIMIT, 429: LOGIN_LIMIT * 2}
    assert len(api.workers_that_logged("/auth/token")) == 2


def test_an_admin_delete_hides_the_incident_but_the_audit_export_keeps_it(deployment):
    api = deployment["proxy"]
    admin, responder = api.sign_in("ana")["access_token"], api.sign_in("rui")["access_token"]
    status, created = api.json(
        "POST", "/incidents", {"title": "to delete", "severity": "low"}, token=responder
    )
    assert status == 201
    path = f"/incidents/{created['id']}"
    assert api.call("DELETE", path, token=admin)[0] == 204
    assert api.json("GET", path, token=admin)[0] == 404
    assert api.json("GET", path + "/events", token=admin)[0] == 404
    status, raw, headers = api.call(
        "GET", f"/audit/events?incident_id={created['id']}", token=admin
    )
    assert status == 200 and headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in raw.splitlines()]
    assert [(e["kind"], e["actor"]) for e in lines] == [("opened", "rui"), ("deleted", "ana")]
    assert all(e["incident_id"] == created["id"] for e in lines)
    assert api.call("GET", "/audit/events", token=responder)[0] == 403
