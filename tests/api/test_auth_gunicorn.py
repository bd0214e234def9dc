"""Token families, login limits and the audit trail against the real deployment shape:
gunicorn with 2 sync workers, PostgreSQL, and Redis for the denylist and the limits — one
instance trusting one reverse proxy (TRUSTED_PROXY_HOPS=1), one trusting none."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import redis

from tests.api.live import Api, client_address, gunicorn, migrated_env, race
from tests.services import REDIS_HOST, REDIS_PORT, postgres_schema, require

LOGIN_LIMIT = 6
FAILURE_LIMIT = 3


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require("Redis at 127.0.0.1:6379", lambda: redis.Redis(REDIS_HOST, REDIS_PORT).ping())
    tmp = tmp_path_factory.mktemp("gunicorn-auth")
    with postgres_schema() as (schema, _):
        env = migrated_env(
            schema,
            0,
            LOGIN_RATE_LIMIT=f"{LOGIN_LIMIT} per minute",
            LOGIN_FAILURE_LIMIT=f"{FAILURE_LIMIT} per minute",
        )
        limits = redis.Redis(REDIS_HOST, REDIS_PORT)
        stale = list(limits.scan_iter("driftwatch-ratelimit*"))  # an earlier run's minute
        if stale:
            limits.delete(*stale)
        with ExitStack() as servers:
            yield {
                "proxy": servers.enter_context(gunicorn(tmp, env, 1, "behind-proxy"))[0],
                "direct": servers.enter_context(gunicorn(tmp, env, 0, "direct"))[0],
            }


@pytest.fixture(autouse=True)
def own_log_lines(deployment: dict[str, Any]) -> None:
    """Each test reads only the log lines written after it started (the servers are shared by
    the module: an earlier test's lines would let a log assertion pass by accident)."""
    for api in deployment.values():
        api.mark()


def test_concurrent_refreshes_with_one_token_one_wins_and_the_family_ends(deployment):
    api = deployment["proxy"]
    pair = api.sign_in("rui")
    results = race(8, lambda _: api.json("POST", "/auth/refresh", token=pair["refresh_token"]))
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
    log = "\n".join(api.lines())
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
    guesser, user = client_address(), client_address()
    assert [_bad_login(api, "ana", guesser) for _ in range(FAILURE_LIMIT)] == [401] * 3
    assert _bad_login(api, "ana", guesser) == 429
    # Prepending addresses does not pick another bucket: the proxy appends the real one.
    assert _bad_login(api, "ana", f"10.{random.randrange(256)}.0.1, {guesser}") == 429
    # admin's own sign-in from elsewhere still works: no lockout by someone else's guesses.
    assert api.sign_in("ana", user)["access_token"]


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(deployment):
    api = deployment["direct"]
    before = [_bad_login(api, "rui", client_address()) for _ in range(FAILURE_LIMIT)]
    assert before == [401] * FAILURE_LIMIT
    # Every request names another address, yet all count against the one real peer.
    assert _bad_login(api, "rui", client_address()) == 429


def test_login_limits_are_shared_by_both_workers(deployment):
    api = deployment["proxy"]
    client = client_address()

    def attempt(i: int) -> int:
        return _bad_login(api, f"nobody-{i}", client)

    statuses = Counter(race(LOGIN_LIMIT * 3, attempt))
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
