"""The Redis denylist, against real redis-servers: TTLs, fail-closed, recovery."""

from collections.abc import Iterator

import pytest
import redis

from incident_api.denylist import SESSION_PREFIX, SUBJECT_PREFIX
from tests.api.conftest import bearer, login
from tests.api.test_security import disabled_user_loses_its_tokens_at_once
from tests.services import REDIS_HOST, REDIS_PORT, OwnRedis, require


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


def test_logout_revokes_the_session_for_its_refresh_lifetime(make_app):
    require(
        "Redis",
        lambda: redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=1).ping(),
    )
    app = make_app(redis_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0")
    client = app.test_client()
    pair = login(client, "viewer")
    out = client.post("/auth/logout", headers=bearer(pair["access_token"]))
    assert out.status_code == 204
    secret = app.config["JWT_SECRET_KEY"]
    import jwt

    access = jwt.decode(pair["access_token"], secret, algorithms=["HS256"])
    refresh = jwt.decode(pair["refresh_token"], secret, algorithms=["HS256"])
    assert access["sid"] == refresh["sid"]
    store = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    # One entry ends the whole sign-in, kept as long as its refresh token could live.
    session_ttl = store.ttl(SESSION_PREFIX + access["sid"])
    assert 7 * 86400 - 30 <= session_ttl <= 7 * 86400 + 1
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401
    assert client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
    assert app.test_client().get("/ready").get_json()["checks"]["denylist (redis)"] == "ok"


def test_redis_down_fails_closed_then_recovers_by_itself(make_app, own_redis):
    app = make_app(redis_url=own_redis.url, retry_after_seconds=7)
    client = app.test_client()
    live = login(client, "responder")
    revoked = login(client, "responder")
    assert client.post("/auth/logout", headers=bearer(revoked["access_token"])).status_code == 204
    assert client.get("/incidents", headers=bearer(revoked["access_token"])).status_code == 401
    assert client.get("/incidents", headers=bearer(live["access_token"])).status_code == 200

    own_redis.stop()
    for token in (live["access_token"], revoked["access_token"]):
        for method, path in (("get", "/incidents"), ("post", "/auth/logout")):
            response = getattr(client, method)(path, headers=bearer(token))
            assert response.status_code == 503, (path, response.get_json())
            assert response.headers["Retry-After"] == "7"
            assert response.content_type == "application/problem+json"
    refresh = client.post("/auth/refresh", headers=bearer(live["refresh_token"]))
    assert refresh.status_code == 503
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json()["checks"] == {
        "database": "ok",
        "schema": "ok",
        "denylist (redis)": "unavailable",
    }
    assert client.get("/health").status_code == 200

    own_redis.start()  # same port, empty: no restart of the API
    assert client.get("/incidents", headers=bearer(live["access_token"])).status_code == 200
    assert client.get("/ready").status_code == 200


def test_login_rate_limits_live_in_redis_when_configured(make_app):
    require(
        "Redis at 127.0.0.1:6379",
        lambda: redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=1).ping(),
    )
    store = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    app = make_app(
        redis_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0", login_rate_limit="2 per minute"
    )
    client = app.test_client()
    import uuid

    name = f"limit-{uuid.uuid4().hex[:8]}"  # a username and address no other run uses
    address = {"REMOTE_ADDR": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"}
    attempt = {"username": name, "password": "wrong password"}
    for _ in range(2):
        assert client.post("/auth/token", json=attempt, environ_base=address).status_code == 401
    limited = client.post("/auth/token", json=attempt, environ_base=address)
    assert limited.status_code == 429
    keys = [key.decode() for key in store.scan_iter("*driftwatch-ratelimit*")]
    assert any(f"user:{name}" in key for key in keys)


def test_disabled_user_loses_its_tokens_at_once_with_redis(make_app, own_redis):
    app = make_app(redis_url=own_redis.url)
    disabled_user_loses_its_tokens_at_once(app)
    ttl = redis.Redis.from_url(own_redis.url).ttl(SUBJECT_PREFIX + "responder")
    assert 7 * 86400 - 30 <= ttl <= 7 * 86400 + 1  # as long as a refresh token can live


def test_users_disable_with_redis_down_says_so_and_can_be_run_again(make_app, own_redis):
    app = make_app(redis_url=own_redis.url)
    client = app.test_client()
    pair = login(client, "responder")
    runner = app.test_cli_runner()
    own_redis.stop()
    failed = runner.invoke(args=["users", "disable", "responder"])
    assert failed.exit_code == 1
    lines = failed.output.strip().splitlines()
    assert (
        len(lines) == 1 and "responder is disabled, but its tokens could not be revoked" in lines[0]
    )
    assert "Traceback" not in failed.output
    own_redis.start()  # empty: the revocation never reached it
    refused = client.post("/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert refused.status_code == 401  # the database already says no
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 200
    again = runner.invoke(args=["users", "disable", "responder"])
    assert again.exit_code == 0, again.output
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401


def test_reads_overlap_the_check_yet_a_revoked_token_gets_401(make_app, own_redis):
    """GETs send the denylist's question before the read and take its answer after: whatever
    the read found (a row, a 404, a 403), a revoked token is answered 401, and every
    connection goes back to the pool."""
    app = make_app(redis_url=own_redis.url)
    client = app.test_client()
    live, revoked = login(client, "viewer"), login(client, "viewer")
    assert client.post("/auth/logout", headers=bearer(revoked["access_token"])).status_code == 204
    for path in ("/incidents", "/incidents/999999", "/audit/events"):
        response = client.get(path, headers=bearer(revoked["access_token"]))
        assert (path, response.status_code) == (path, 401)
        assert response.get_json()["detail"] == "the token has been revoked"
    assert client.get("/incidents/999999", headers=bearer(live["access_token"])).status_code == 404
    assert client.get("/audit/events", headers=bearer(live["access_token"])).status_code == 403
    with app.app_context():
        from incident_api.services import services

        pool = services().denylist.client.connection_pool
        assert pool._in_use_connections == set()


def test_a_denylist_that_hangs_after_the_question_fails_closed(make_app, own_redis):
    """The question is written (the kernel takes it) but no answer comes: the read that
    overlapped it is dropped and the client gets 503; once Redis answers again the next
    request is served — the connection that timed out is never read from again, so no late
    reply can be taken for another request's answer."""
    import signal

    app = make_app(redis_url=own_redis.url, redis_timeout_seconds=0.3, retry_after_seconds=3)
    client = app.test_client()
    token = login(client, "viewer")["access_token"]
    assert own_redis.process is not None
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        response = client.get("/incidents", headers=bearer(token))
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert client.get("/incidents", headers=bearer(token)).status_code == 200
    revoked = login(client, "viewer")
    client.post("/auth/logout", headers=bearer(revoked["access_token"]))
    assert client.get("/incidents", headers=bearer(revoked["access_token"])).status_code == 401


def test_the_console_fails_closed_too_with_a_page_that_says_so(make_app, own_redis):
    from tests.api.test_console import sign_in

    app = make_app(redis_url=own_redis.url, retry_after_seconds=7)
    client = app.test_client()
    assert sign_in(client, "responder").status_code == 303
    assert client.get("/console/").status_code == 200
    own_redis.stop()
    down = client.get("/console/")
    assert down.status_code == 503 and down.headers["Retry-After"] == "7"
    assert down.mimetype == "text/html"
    assert "Sign-in cannot be checked right now" in down.get_data(as_text=True)
    own_redis.start()
    assert client.get("/console/").status_code == 200
