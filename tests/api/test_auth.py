"""Sign-in, refresh rotation, logout, passwords, token probes, rate limits and roles."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest

from incident_api import passwords
from incident_api.services import services
from tests.api.conftest import PASSWORD, bearer, login

PROBLEM = "application/problem+json"


def test_token_pair_shape_and_lifetimes(client, app):
    body = login(client, "viewer")
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    secret = app.config["JWT_SECRET_KEY"]
    access = pyjwt.decode(body["access_token"], secret, algorithms=["HS256"])
    refresh = pyjwt.decode(body["refresh_token"], secret, algorithms=["HS256"])
    assert access["exp"] - access["iat"] == 15 * 60
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert (access["type"], refresh["type"]) == ("access", "refresh")
    assert access["sub"] == "viewer" and access["role"] == "viewer"
    assert pyjwt.get_unverified_header(body["access_token"])["alg"] == "HS256"


def test_auth_responses_are_not_cached(client):
    response = client.post("/auth/token", json={"username": "viewer", "password": PASSWORD})
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("username", "password"),
    [("viewer", "wrong password!"), ("nobody", "wrong password!"), ("nobody", PASSWORD)],
)
def test_wrong_credentials_look_alike(client, username, password):
    response = client.post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.content_type == PROBLEM
    assert response.get_json()["detail"] == "wrong username or password"


def test_unknown_users_cost_a_bcrypt_check_too(monkeypatch):
    calls = []
    real = passwords.bcrypt.checkpw
    monkeypatch.setattr(
        passwords.bcrypt, "checkpw", lambda pw, hashed: calls.append(hashed) or real(pw, hashed)
    )
    assert passwords.verify_password("whatever-password", None) is False
    assert len(calls) == 1
    assert calls[0].startswith(b"$2b$12$")


@pytest.mark.parametrize("password", ["пароль-" * 18, "🔐" * 100, "x" * 128, "12345678"])
def test_long_and_multibyte_passwords(password):
    hashed = passwords.hash_password(password)
    assert hashed.startswith("$2b$12$")  # cost 12
    assert passwords.verify_password(password, hashed)
    assert not passwords.verify_password(password[:-1] + "?", hashed)


@pytest.mark.parametrize("password", ["short", "x" * 129, ""])
def test_password_policy(password):
    with pytest.raises(passwords.WeakPassword):
        passwords.hash_password(password)


def test_corrupt_stored_hash_is_a_failed_login():
    assert passwords.verify_password("whatever-password", "not-a-bcrypt-hash") is False


def test_refresh_rotates_and_revokes_the_old_refresh_token(client):
    first = login(client, "responder")
    rotated = client.post("/auth/refresh", headers=bearer(first["refresh_token"]))
    assert rotated.status_code == 200
    pair = rotated.get_json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 200
    again = client.post("/auth/refresh", headers=bearer(first["refresh_token"]))
    assert again.status_code == 401
    assert again.get_json()["detail"] == "the token has been revoked"


def test_logout_revokes_access_and_refresh(client):
    pair = login(client, "responder")
    out = client.post(
        "/auth/logout",
        json={"refresh_token": pair["refresh_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert out.status_code == 204
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401
    assert client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401


def test_logout_rejects_someone_elses_or_bogus_refresh_token(client):
    mine, theirs = login(client, "responder"), login(client, "viewer")
    for token in (theirs["refresh_token"], mine["access_token"], "not.a.token"):
        response = client.post(
            "/auth/logout", json={"refresh_token": token}, headers=bearer(mine["access_token"])
        )
        assert response.status_code == 422
        assert response.get_json()["errors"][0]["field"] == "refresh_token"
    assert client.get("/incidents", headers=bearer(mine["access_token"])).status_code == 200


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(**extra):
    now = datetime.now(UTC)
    return {
        "sub": "admin",
        "type": "access",
        "jti": "j-" + str(now.timestamp()),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "fresh": False,
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


def test_disabled_user_loses_its_tokens_at_once(client, app):
    pair = login(client, "responder")
    with app.app_context():
        services().users.set_active("responder", False)
    response = client.get("/incidents", headers=bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.get_json()["detail"] == "the token's user is unknown or disabled"
    assert client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
    denied = client.post("/auth/token", json={"username": "responder", "password": PASSWORD})
    assert denied.status_code == 401


def test_login_rate_limit_per_username_and_per_client(make_app):
    app = make_app(login_rate_limit="3 per minute")
    client = app.test_client()
    wrong = {"username": "viewer", "password": "wrong password!"}
    for i in range(3):  # a different address each time: only the per-username limit applies
        response = client.post(
            "/auth/token", json=wrong, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}
        )
        assert response.status_code == 401
    limited = client.post("/auth/token", json=wrong, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert limited.status_code == 429
    assert limited.content_type == PROBLEM
    assert int(limited.headers["Retry-After"]) > 0
    for i in range(3):  # one address, many usernames: the per-client limit applies
        client.post(
            "/auth/token",
            json={"username": f"u{i}", "password": "wrong password!"},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        )
    blocked = client.post(
        "/auth/token",
        json={"username": "u9", "password": "x" * 9},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert blocked.status_code == 429


ROUTES = [
    ("get", "/incidents", None, "viewer"),
    ("get", "/incidents/{id}", None, "viewer"),
    ("get", "/incidents/{id}/events", None, "viewer"),
    ("post", "/incidents", {"title": "t", "severity": "low"}, "responder"),
    ("patch", "/incidents/{id}", {"title": "renamed"}, "responder"),
    ("post", "/incidents/{id}/transitions", {"status": "acknowledged"}, "responder"),
    ("delete", "/incidents/{id}", None, "admin"),
]
ROLES = ["viewer", "responder", "admin"]


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
@pytest.mark.parametrize("role", ROLES)
def test_rbac_matrix(client, headers, method, path, body, needed, role):
    created = client.post(
        "/incidents", json={"title": "x", "severity": "low"}, headers=headers("admin")
    ).get_json()
    url = path.format(id=created["id"])
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(url, headers=headers(role), **kwargs)
    allowed = ROLES.index(role) >= ROLES.index(needed)
    if allowed:
        assert response.status_code in (200, 201, 204), response.get_json()
    else:
        assert response.status_code == 403
        assert response.get_json()["detail"] == f"this needs the {needed} role"


@pytest.mark.parametrize("drop", ["sub", "jti", "exp", "type"])
def test_tokens_missing_claims_are_refused(client, app, drop):
    claims = _claims()
    claims.pop(drop)
    token = pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")
    response = client.get("/incidents", headers=bearer(token))
    assert response.status_code == 401
    assert response.content_type == PROBLEM


def test_token_not_yet_valid_is_refused(client, app):
    future = datetime.now(UTC) + timedelta(minutes=10)
    token = pyjwt.encode(
        _claims(nbf=future, iat=future), app.config["JWT_SECRET_KEY"], algorithm="HS256"
    )
    assert client.get("/incidents", headers=bearer(token)).status_code == 401
