"""Sign-in, refresh rotation, logout and passwords (token probes, rate limits and roles are in
test_security.py)."""

import jwt as pyjwt
import pytest

from incident_api import passwords
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


def test_unknown_users_cost_a_bcrypt_check_too(monkeypatch, client):
    """Through the sign-in itself: an unknown user, a disabled one and a wrong password each
    cost one bcrypt check at cost 12, so timing does not tell which usernames exist."""
    calls = []
    real = passwords.bcrypt.checkpw
    monkeypatch.setattr(
        passwords.bcrypt, "checkpw", lambda pw, hashed: calls.append(hashed) or real(pw, hashed)
    )
    for username in ("nobody-at-all", "viewer"):
        answer = client.post(
            "/auth/token", json={"username": username, "password": "whatever-password"}
        )
        assert answer.status_code == 401
        assert answer.get_json()["detail"] == "wrong username or password"
    assert len(calls) == 2
    assert all(hashed.startswith(b"$2b$12$") for hashed in calls)


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
