"""Attacks and bad input (issue 7's security module): forged and misused tokens, brute force,
roles on every route, SQL metacharacters in every filter and body, NUL characters (on SQLite
and on the real PostgreSQL), CORS from a foreign origin, no secret or token in any log line.
Oversized and deeply nested JSON are with the other bad bodies
(test_incidents_api.py::test_bad_bodies_are_clean_4xx); the index is docs/reliability.md."""

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import jwt as pyjwt
import pytest
from flask import Flask

from incident_api.auth import disable_user
from incident_api.services import services
from tests.api.conftest import PASSWORD, bearer, login, production_app
from tests.api.test_console import CSRF as CSRF_RE
from tests.services import POSTGRES_URL, postgres_schema
from warehouse.migrate import upgrade

PROBLEM = "application/problem+json"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(**extra):
    now = datetime.now(UTC)
    return {
        "sub": "admin",
        "type": "access",
        "jti": "j-" + str(now.timestamp()),
        "sid": "s-1",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "fresh": False,
        "role": "admin",
        **extra,
    }


def probes(app, pair):
    secret = app.config["JWT_SECRET_KEY"]
    header, payload, signature = pair["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = dict(claims, sub="admin", role="admin")
    past = datetime.now(UTC) - timedelta(hours=1)
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "HS512 with the right key": pyjwt.encode(_claims(), secret, algorithm="HS512"),
        "RS256 header": f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{payload}.{signature}",
        "wrong key": pyjwt.encode(
            _claims(), "another-secret-of-enough-length!!", algorithm="HS256"
        ),
        "expired": pyjwt.encode(
            _claims(iat=past, nbf=past, exp=past + timedelta(minutes=15)), secret, algorithm="HS256"
        ),
        "tampered payload": f"{header}.{_b64(tampered)}.{signature}",
        "refresh used as access": pair["refresh_token"],
        "garbage": "abc.def",
    }


@pytest.mark.parametrize(
    "name",
    [
        "alg none",
        "HS512 with the right key",
        "RS256 header",
        "wrong key",
        "expired",
        "tampered payload",
        "refresh used as access",
        "garbage",
    ],
)
def test_token_probes_are_refused(client, app, name):
    pair = login(client, "viewer")
    token = probes(app, pair)[name]
    response = client.get("/incidents", headers=bearer(token))
    assert response.status_code == 401, name
    assert response.content_type == PROBLEM
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_access_token_is_not_a_refresh_token(client):
    pair = login(client, "viewer")
    assert client.post("/auth/refresh", headers=bearer(pair["access_token"])).status_code == 401


def test_missing_and_malformed_authorization(client):
    assert client.get("/incidents").status_code == 401
    assert client.get("/incidents", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/incidents", headers={"Authorization": "Bearer"}).status_code == 401


def disabled_user_loses_its_tokens_at_once(app):
    """Shared with the Redis denylist's tests (test_redis_denylist.py)."""
    client = app.test_client()
    pair = login(client, "responder")
    other = login(client, "viewer")
    with app.app_context():
        disable_user("responder")
    for token in (pair["access_token"], pair["refresh_token"]):
        path = "/auth/refresh" if token == pair["refresh_token"] else "/incidents"
        method = "POST" if path == "/auth/refresh" else "GET"
        response = client.open(path, method=method, headers=bearer(token))
        assert response.status_code == 401, path
        assert response.get_json()["detail"] == "the token has been revoked"
    denied = client.post("/auth/token", json={"username": "responder", "password": PASSWORD})
    assert denied.status_code == 401
    # Only that user: another user's token works on.
    assert client.get("/incidents", headers=bearer(other["access_token"])).status_code == 200


def test_disabled_user_loses_its_tokens_at_once(app):
    disabled_user_loses_its_tokens_at_once(app)


def test_user_disabled_behind_the_apis_back_cannot_refresh(client, app):
    """Requests trust the access token's claims; the database decides at every refresh. A user
    disabled in the database directly (not through ``users disable``) keeps a working access
    token until it expires (15 minutes) and can get no new one."""
    pair = login(client, "responder")
    with app.app_context():
        services().users.set_active("responder", False)
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 200
    refused = client.post("/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "the token's user is unknown or disabled"


def test_role_comes_from_the_token_and_refresh_reissues_the_stored_one(client, app):
    pair = login(client, "viewer")
    assert client.delete("/incidents/1", headers=bearer(pair["access_token"])).status_code == 403
    with app.app_context():  # promoted in the database: the next refresh carries the new role
        from warehouse.models import User

        with services().db.transaction() as session:
            session.query(User).filter_by(username="viewer").update({"role": "admin"})
    renewed = client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).get_json()
    created = client.post(
        "/incidents",
        json={"title": "t", "severity": "low"},
        headers=bearer(renewed["access_token"]),
    )
    assert created.status_code == 201


def test_failed_logins_slow_the_guesser_not_the_user(make_app):
    app = make_app(login_rate_limit="5 per minute", login_failure_limit="3 per minute")
    client = app.test_client()
    wrong = {"username": "viewer", "password": "wrong password!"}
    guesser = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(3):
        response = client.post("/auth/token", json=wrong, environ_base=guesser)
        assert response.status_code == 401
    limited = client.post("/auth/token", json=wrong, environ_base=guesser)
    assert limited.status_code == 429
    assert limited.content_type == PROBLEM
    assert int(limited.headers["Retry-After"]) > 0
    right = {"username": "viewer", "password": PASSWORD}
    assert client.post("/auth/token", json=right, environ_base=guesser).status_code == 429
    elsewhere = {"REMOTE_ADDR": "10.0.0.2"}  # the user's own sign-in is not locked out
    assert client.post("/auth/token", json=right, environ_base=elsewhere).status_code == 200
    for _ in range(3):  # and successes do not use up the failure budget
        assert client.post("/auth/token", json=right, environ_base=elsewhere).status_code == 200
    assert client.post("/auth/token", json=wrong, environ_base=elsewhere).status_code == 401


def test_refresh_is_rate_limited_per_client(make_app):
    """A stolen refresh token cannot be tried at speed: the trades per client address are
    limited (429 + Retry-After) like sign-ins; another client is not held back."""
    app = make_app(refresh_rate_limit="3 per minute")
    client = app.test_client()
    thief = {"REMOTE_ADDR": "10.7.7.7"}
    pair = login(client, "viewer")
    for _ in range(3):
        answer = client.post(
            "/auth/refresh", headers=bearer(pair["refresh_token"]), environ_base=thief
        )
        assert answer.status_code == 200
        pair = answer.get_json()
    limited = client.post(
        "/auth/refresh", headers=bearer(pair["refresh_token"]), environ_base=thief
    )
    assert limited.status_code == 429
    assert limited.content_type == PROBLEM
    assert int(limited.headers["Retry-After"]) > 0
    forged = client.post("/auth/refresh", headers=bearer("not-a-token"), environ_base=thief)
    assert forged.status_code == 429  # checked before the token: guesses cost the budget too
    owner = {"REMOTE_ADDR": "10.7.7.8"}
    again = client.post("/auth/refresh", headers=bearer(pair["refresh_token"]), environ_base=owner)
    assert again.status_code == 200


def test_every_attempt_counts_per_client(make_app):
    app = make_app(login_rate_limit="3 per minute", login_failure_limit="100 per minute")
    client = app.test_client()
    one = {"REMOTE_ADDR": "10.9.9.9"}
    for i in range(3):  # many usernames from one address: the per-client limit applies
        response = client.post(
            "/auth/token", json={"username": f"u{i}", "password": "wrong!!!"}, environ_base=one
        )
        assert response.status_code == 401
    blocked = client.post(
        "/auth/token", json={"username": "viewer", "password": PASSWORD}, environ_base=one
    )
    assert blocked.status_code == 429
    other = {"REMOTE_ADDR": "10.9.9.10"}
    right = {"username": "viewer", "password": PASSWORD}
    assert client.post("/auth/token", json=right, environ_base=other).status_code == 200


ROUTES = [
    ("get", "/incidents", None, "viewer"),
    ("get", "/incidents/{id}", None, "viewer"),
    ("get", "/incidents/{id}/events", None, "viewer"),
    ("post", "/incidents", {"title": "t", "severity": "low"}, "responder"),
    ("patch", "/incidents/{id}", {"title": "renamed"}, "responder"),
    ("post", "/incidents/{id}/transitions", {"status": "acknowledged"}, "responder"),
    ("delete", "/incidents/{id}", None, "admin"),
    ("get", "/audit/events", None, "admin"),
    ("get", "/users/{user}/sessions", None, "admin"),
    ("delete", "/users/{user}/sessions", None, "admin"),
    ("get", "/notifications", None, "admin"),
    ("post", "/incidents/{id}/comments", {"body": "looking"}, "responder"),
    ("get", "/datasets", None, "viewer"),
]
PATH_PARAMS = {"{id}": "<int:incident_id>", "{user}": "<username>"}
ROLES = ["viewer", "responder", "admin"]


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
@pytest.mark.parametrize("role", ROLES)
def test_rbac_matrix(client, headers, method, path, body, needed, role):
    created = client.post(
        "/incidents", json={"title": "x", "severity": "low"}, headers=headers("admin")
    ).get_json()
    url = path.format(id=created["id"], user="responder")
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(url, headers=headers(role), **kwargs)
    allowed = ROLES.index(role) >= ROLES.index(needed)
    if allowed:
        assert response.status_code in (200, 201, 204), response.get_json()
    else:
        assert response.status_code == 403
        assert response.get_json()["detail"] == f"this needs the {needed} role"


# Every other route, with who may call it: a route missing from both tables fails the test below.
OTHER_ROUTES = {
    ("GET", "/health"): "anyone",
    ("GET", "/ready"): "anyone",
    ("GET", "/metrics"): "anyone",  # scraped by Prometheus; bind to loopback or a private net
    ("GET", "/openapi.json"): "anyone",
    ("GET", "/docs/"): "anyone",
    ("GET", "/docs/init.js"): "anyone",
    ("GET", "/docs/static/<path:filename>"): "anyone",
    ("GET", "/static/<path:filename>"): "anyone",
    ("POST", "/auth/token"): "anyone",  # a password, rate limited
    ("POST", "/auth/refresh"): "refresh token",
    ("POST", "/auth/logout"): "viewer",
    ("DELETE", "/users/<username>/sessions/<sid>"): "admin",  # test_sessions.py
    ("PUT", "/users/<username>/password"): "admin",  # test_account_changes.py
    ("PUT", "/users/<username>/role"): "admin",  # test_account_changes.py
    ("POST", "/alerts/alertmanager"): "webhook credential",
    ("POST", "/notifications/<int:delivery>/retry"): "admin",  # test_notifications.py
    # need a drift incident with members: roles and problems in test_grouping.py
    ("POST", "/incidents/<int:incident_id>/split"): "responder",
    ("POST", "/incidents/<int:incident_id>/merge"): "responder",
    # The console: its cookie, roles and CSRF are tested in test_console.py.
    ("GET", "/console/login"): "anyone",
    ("POST", "/console/login"): "anyone (login CSRF cookie)",
    ("POST", "/console/logout"): "console cookie",
    ("GET", "/console/"): "console cookie",
    ("GET", "/console/incidents/<int:incident_id>"): "console cookie",
    ("POST", "/console/incidents/<int:incident_id>/transition"): "console cookie, responder",
    ("POST", "/console/incidents/<int:incident_id>/assign"): "console cookie, responder",
    ("POST", "/console/incidents/<int:incident_id>/comment"): "console cookie, responder",
    ("POST", "/console/incidents/<int:incident_id>/split"): "console cookie, responder",
    ("POST", "/console/incidents/<int:incident_id>/merge"): "console cookie, responder",
    ("GET", "/console/datasets"): "console cookie",
    ("GET", "/console/datasets/<dataset>"): "console cookie",
    ("GET", "/datasets/<dataset>/results"): "viewer",  # 404 without results: test_results_api.py
    ("GET", "/console/datasets/<dataset>/<feature>/<partition>"): "console cookie",
    ("GET", "/console/assets/<name>"): "anyone",
}


def test_every_route_has_a_declared_guard_and_it_holds(app, client, headers):
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    in_matrix = set()
    for method, path, _, _ in ROUTES:
        for param, rule in PATH_PARAMS.items():
            path = path.replace(param, rule)
        in_matrix.add((method.upper(), path))
    assert served == in_matrix | set(OTHER_ROUTES), "a route without a declared guard"
    for role in ROLES:  # user tokens of any role: refused where another credential is needed
        token = headers(role)
        assert client.post("/auth/refresh", headers=token).status_code == 401
        assert client.post("/alerts/alertmanager", json={}, headers=token).status_code == 401
    for method, path in OTHER_ROUTES:
        if OTHER_ROUTES[(method, path)] == "anyone" and "<" not in path:
            response = client.open(path, method=method, json={} if method == "POST" else None)
            assert response.status_code in (200, 422), (path, response.status_code)
    assert client.post("/auth/logout").status_code == 401


GUARD_ROLES = {"viewer": "viewer", "responder": "responder", "admin": "admin"}
CONSOLE_ROLES = {"console cookie": "viewer", "console cookie, responder": "responder"}
SAMPLE = {
    "<int:incident_id>": "{incident}",
    "<username>": "viewer",
    "<sid>": "no-such-session",
    "<int:delivery>": "1",
    "<dataset>": "shop",
    "<feature>": "price",
    "<partition>": "2026-11-01",
    "<name>": "x",
    "<path:filename>": "x",
}


def _guarded_routes() -> dict[tuple[str, str], tuple[str, str]]:
    """Every route a role guards: (method, rule) → (face, role needed)."""
    guarded = {}
    for method, path, _, needed in ROUTES:
        for param, rule in PATH_PARAMS.items():
            path = path.replace(param, rule)
        guarded[(method.upper(), path)] = ("api", needed)
    for route, who in OTHER_ROUTES.items():
        if who in GUARD_ROLES:
            guarded[route] = ("api", GUARD_ROLES[who])
        elif who in CONSOLE_ROLES:
            guarded[route] = ("console", CONSOLE_ROLES[who])
    return guarded


def _url(rule: str, incident: int) -> str:
    for param, value in SAMPLE.items():
        rule = rule.replace(param, value)
    return rule.format(incident=incident)


def test_every_guarded_route_refuses_the_signed_out_and_every_lower_role(app, client, headers):
    """Called for real, route by route: signed out (401, or the console's sign-in page) and
    with each role below the one needed (403) — not only listed in a table."""
    incident = client.post(
        "/incidents", json={"title": "x", "severity": "low"}, headers=headers("admin")
    ).get_json()["id"]
    consoles = {}
    for role in ROLES:
        browser = app.test_client()
        page = browser.get("/console/login")
        token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
        form = {"csrf_token": token, "username": role, "password": PASSWORD}
        assert browser.post("/console/login", data=form).status_code == 303
        html = browser.get("/console/").get_data(as_text=True)
        consoles[role] = (browser, CSRF_RE.search(html).group(1))
    checked = 0
    for (method, rule), (face, needed) in sorted(_guarded_routes().items()):
        url = _url(rule, incident)
        lower = ROLES[: ROLES.index(needed)]
        if face == "api":
            out = client.open(url, method=method, json={} if method in ("POST", "PUT") else None)
            assert out.status_code == 401, (method, rule, out.status_code)
            for role in lower:
                body = {} if method in ("POST", "PUT", "PATCH") else None
                answer = client.open(url, method=method, json=body, headers=headers(role))
                assert answer.status_code == 403, (method, rule, role, answer.status_code)
        else:
            out = app.test_client().open(url, method=method)
            expected = (303,) if method == "GET" else (303, 400)  # no cookie, or no CSRF
            assert out.status_code in expected, (method, rule, out.status_code)
            if method == "GET":
                assert out.headers["Location"].startswith("/console/login")
            for role in lower:
                browser, token = consoles[role]
                data = {"csrf_token": token} if method == "POST" else None
                answer = browser.open(url, method=method, data=data)
                assert answer.status_code == 403, (method, rule, role, answer.status_code)
        checked += 1
    assert checked >= 25
    with app.app_context():
        assert [e.kind for e in services().incidents.events(incident)] == ["opened"]


def test_revoked_token_is_refused_everywhere(client):
    pair = login(client, "admin")
    assert client.post("/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    for method, path, body, _ in ROUTES:
        kwargs = {"json": body} if body is not None else {}
        response = client.open(
            path.format(id=1, user="viewer"),
            method=method.upper(),
            headers=bearer(pair["access_token"]),
            **kwargs,
        )
        assert response.status_code == 401, (method, path)
        assert response.get_json()["detail"] == "the token has been revoked"


@pytest.mark.parametrize("drop", ["sub", "jti", "exp", "iat", "type", "role"])
def test_tokens_missing_claims_are_refused(client, app, drop):
    claims = _claims()
    claims.pop(drop)
    token = pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")
    response = client.get("/incidents", headers=bearer(token))
    assert response.status_code == 401
    assert response.content_type == PROBLEM


@pytest.mark.parametrize("role", ["root", "", None, ["admin"]])
def test_access_tokens_with_an_unknown_role_are_refused(client, app, role):
    token = pyjwt.encode(_claims(role=role), app.config["JWT_SECRET_KEY"], algorithm="HS256")
    response = client.get("/incidents", headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["detail"] == "the token is invalid"


def test_token_not_yet_valid_is_refused(client, app):
    future = datetime.now(UTC) + timedelta(minutes=10)
    token = pyjwt.encode(
        _claims(nbf=future, iat=future), app.config["JWT_SECRET_KEY"], algorithm="HS256"
    )
    assert client.get("/incidents", headers=bearer(token)).status_code == 401


# -- SQL metacharacters and NUL characters ---------------------------------------------------

PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE incidents; --",
    '" OR ""="',
    "1) OR (1=1",
    "ds0' UNION SELECT username, password_hash FROM users --",
    "%",
    "_",
    "ds%",
    "\\",
    "\\'; SELECT pg_sleep(5); --",
    "é' --",
    "\x00",
]
FREE_TEXT = ("dataset", "feature")
WEBHOOK_TOKEN = "w" * 40
TYPED = ("status", "severity", "source", "created_after", "created_before", "limit", "cursor")


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_app(request: pytest.FixtureRequest, make_app) -> Iterator[Flask]:
    if request.param == "sqlite":
        yield make_app(alertmanager_webhook_token=WEBHOOK_TOKEN)
        return
    with postgres_schema() as (schema, _):
        application = make_app(
            database_url=f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}",
            alertmanager_webhook_token=WEBHOOK_TOKEN,
        )
        yield application
        with application.app_context():
            from incident_api.services import services

            services().db.dispose()


def test_sql_metacharacters_in_every_filter(any_db_app: Flask) -> None:
    app = any_db_app
    client = app.test_client()
    token = bearer(login(client, "responder")["access_token"])
    literal = "' OR '1'='1"
    for dataset in ("ds0", "ds1", literal):
        created = client.post(
            "/incidents",
            json={"title": f"t {dataset}", "severity": "low", "dataset": dataset, "feature": "f"},
            headers=token,
        )
        assert created.status_code == 201

    for payload in PAYLOADS:
        for field in FREE_TEXT:
            response = client.get(f"/incidents?{urlencode({field: payload})}", headers=token)
            if "\x00" in payload:  # no database can store it, so no incident can match it
                assert response.status_code == 422, response.get_data(as_text=True)
                assert response.get_json()["errors"][0]["field"] == field
                continue
            assert response.status_code == 200, (field, payload, response.get_data(as_text=True))
            items = response.get_json()["items"]
            expected = 1 if (field == "dataset" and payload == literal) else 0
            assert len(items) == expected, (field, payload, items)
        for field in TYPED:
            response = client.get(f"/incidents?{urlencode({field: payload})}", headers=token)
            assert response.status_code == 422, (field, payload, response.get_data(as_text=True))
            body = response.get_json()
            assert response.content_type == "application/problem+json"
            assert field in {error["field"] for error in body["errors"]}, body

    # Still all there, and the users table too (sign-in works).
    listed = client.get("/incidents?limit=200", headers=token).get_json()["items"]
    assert sorted(i["dataset"] for i in listed) == sorted(["ds0", "ds1", literal])
    assert login(client, "viewer")["access_token"]


def test_sql_metacharacters_in_bodies_are_stored_verbatim(any_db_app: Flask) -> None:
    app = any_db_app
    client = app.test_client()
    token = bearer(login(client, "responder")["access_token"])
    for payload in PAYLOADS:
        body = {"title": f"x{payload}", "severity": "low", "dataset": payload, "feature": payload}
        response = client.post("/incidents", json=body, headers=token)
        if "\x00" in payload:
            assert response.status_code == 422, response.get_data(as_text=True)
            fields = {error["field"] for error in response.get_json()["errors"]}
            assert {"title", "dataset", "feature"} <= fields
            continue
        assert response.status_code == 201, (payload, response.get_data(as_text=True))
        stored = client.get(response.headers["Location"], headers=token).get_json()
        assert (stored["title"], stored["dataset"], stored["feature"]) == (
            f"x{payload}",
            payload,
            payload,
        )
        patched = client.patch(
            response.headers["Location"], json={"description": payload}, headers=token
        )
        assert patched.status_code == 200 and patched.get_json()["description"] == payload


def test_nul_in_an_alertmanager_label_is_a_422_not_a_database_error(any_db_app: Flask) -> None:
    app = any_db_app
    alert = {
        "status": "firing",
        "labels": {"alertname": "Nul", "instance": "a\x00b"},
        "startsAt": "2026-11-27T00:00:00Z",
        "fingerprint": "nul1",
    }
    response = app.test_client().post(
        "/alerts/alertmanager",
        json={"version": "4", "status": "firing", "alerts": [alert]},
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["errors"][0]["field"].startswith("alerts.0.labels")


# -- CORS and logs ---------------------------------------------------------------------------


def test_cors_allowlist(make_app):
    client = make_app(cors_origins="https://ops.example.com, https://b.example.com").test_client()
    ok = client.get("/health", headers={"Origin": "https://ops.example.com"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ops.example.com"
    exposed = {h.strip() for h in ok.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Trace-Id", "Location", "Retry-After"} <= exposed  # a browser may read them
    foreign = client.get("/health", headers={"Origin": "https://evil.example.net"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    preflight = client.options(
        "/incidents",
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_request_log_lines_are_json_with_context_and_no_secrets(tmp_path, capsys):
    from incident_api.passwords import hash_password
    from warehouse.users import Role

    secret = "prod-" + "0123456789abcdefghijklmnopqrstuv"
    app = production_app(
        {
            "environment": "production",
            "jwt_secret_key": secret,
            "database_url": f"sqlite:///{tmp_path / 'l.db'}",
        }
    )
    with app.app_context():
        upgrade(services().db.engine)
        services().users.create("rita", hash_password(PASSWORD), Role.RESPONDER)
    client = app.test_client()
    pair = login(client, "rita")
    created = client.post(
        "/incidents", json={"title": "t", "severity": "low"}, headers=bearer(pair["access_token"])
    )
    cookie = {"Cookie": "session=cookie-value"}
    client.get("/incidents/999", headers={**bearer(pair["access_token"]), **cookie})
    client.get(f"/incidents/{created.get_json()['id']}", headers=bearer(pair["access_token"]))
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    requests = [line for line in lines if line.get("event") == "request"]
    create_line = next(
        line for line in requests if line["method"] == "POST" and line["route"] == "/incidents"
    )
    assert create_line["status"] == 201
    assert create_line["user_id"] == "rita"
    assert create_line["incident_id"] == created.get_json()["id"]
    assert create_line["severity"] == "low"
    assert create_line["trace_id"] == created.headers["X-Trace-Id"]
    assert isinstance(create_line["duration_ms"], float)
    assert {"span_id", "level", "timestamp"} <= set(create_line)
    by_id = [line for line in requests if line["route"] == "/incidents/<int:incident_id>"]
    missing, found = by_id
    assert (missing["status"], missing["incident_id"], missing["severity"]) == (404, 999, None)
    assert (found["status"], found["incident_id"], found["severity"], found["user_id"]) == (
        200,
        created.get_json()["id"],
        "low",
        "rita",
    )
    everything = "\n".join(json.dumps(line) for line in lines)
    # (not "abc": random hex trace ids contain it now and then, and the test failed by chance)
    for leaked in (PASSWORD, pair["access_token"], pair["refresh_token"], secret, "cookie-value"):
        assert leaked not in everything


def test_a_production_log_line_carries_the_structured_traceback(tmp_path, capsys):
    app = production_app(
        {
            "environment": "production",
            "jwt_secret_key": "prod-" + "9876543210abcdefghijklmnopqrstuv",
            "database_url": f"sqlite:///{tmp_path / 't.db'}",
        }
    )

    def explode() -> None:
        raise RuntimeError("boom in a view")

    app.add_url_rule("/explode", "explode", explode)
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert "boom" not in response.get_data(as_text=True)  # never shown to the client
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    logged = next(line for line in lines if line.get("event") == "unhandled error")
    (exception,) = logged["exception"]
    assert exception["exc_type"] == "RuntimeError"
    assert exception["exc_value"] == "boom in a view"
    assert exception["frames"][-1]["name"] == "explode"
    assert "traceback object" not in json.dumps(logged)
    assert logged["func_name"] == "_unexpected" and isinstance(logged["lineno"], int)
    assert logged["trace_id"] == response.headers["X-Trace-Id"]


def test_the_api_document_states_the_role_each_guard_enforces(client):
    """The role is declared once, on the guard; the document reads it from there."""
    spec = client.get("/openapi.json").get_json()
    for method, path, _, needed in ROUTES:
        documented = path.replace("{id}", "{incident_id}").replace("{user}", "{username}")
        operation = spec["paths"][documented][method]
        assert operation["description"] == f"Requires the {needed} role (or above).", path
        assert "403" in operation["responses"]
    assert "403" not in spec["paths"]["/auth/token"]["post"]["responses"]
    assert "description" not in spec["paths"]["/auth/token"]["post"]
