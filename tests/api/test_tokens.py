"""The token layer on flask-jwt-extended: our claim checks at decode time, and the remembered
header tokens — decoded once, yet nothing that makes a token unusable is remembered past its
time (tokens.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import jwt
import pytest

from incident_api import tokens
from tests.api.conftest import bearer, login


@pytest.fixture(autouse=True)
def _forget() -> None:
    tokens._remembered.cache_clear()
    tokens._header.cache_clear()


def _claims(app, **changes):
    now = int(time.time())
    claims = {
        "sub": "viewer",
        "jti": "j-1",
        "sid": "s-1",
        "type": "access",
        "role": "viewer",
        "fresh": False,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(app, claims, algorithm="HS256"):
    return jwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm=algorithm)


def test_a_remembered_token_is_refused_once_it_expires(client, monkeypatch):
    access = login(client, "viewer")["access_token"]
    assert client.get("/incidents", headers=bearer(access)).status_code == 200
    exp = jwt.decode(access, options={"verify_signature": False})["exp"]
    later = datetime.fromtimestamp(exp + 1, UTC)
    monkeypatch.setattr(tokens, "datetime", SimpleNamespace(now=lambda _tz: later))
    response = client.get("/incidents", headers=bearer(access))
    assert response.status_code == 401
    assert response.get_json()["detail"] == "the token has expired"
    assert tokens._remembered.cache_info().hits >= 1  # refused although it was remembered


def test_a_header_token_is_decoded_once_while_it_is_used(client, monkeypatch):
    access = login(client, "viewer")["access_token"]
    assert client.get("/incidents", headers=bearer(access)).status_code == 200
    decodes = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: decodes.append(1) or real(*a, **k))
    for _ in range(3):
        assert client.get("/incidents", headers=bearer(access)).status_code == 200
    assert decodes == []


def test_a_tokens_header_is_read_once_too(client, monkeypatch):
    from flask_jwt_extended import view_decorators

    assert view_decorators.get_unverified_jwt_headers is tokens._remembered_header
    access = login(client, "viewer")["access_token"]
    assert client.get("/incidents", headers=bearer(access)).status_code == 200
    reads = []
    real = jwt.get_unverified_header
    monkeypatch.setattr(jwt, "get_unverified_header", lambda t: reads.append(t) or real(t))
    for _ in range(3):
        assert client.get("/incidents", headers=bearer(access)).status_code == 200
    assert reads == []
    forged = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert client.get("/incidents", headers=bearer(forged)).status_code == 401
    assert tokens._header.cache_info().currsize == 1  # remembered only for tokens that verified


def test_remembering_is_per_secret(make_app):
    first, second = make_app().test_client(), make_app().test_client()
    access = login(first, "viewer")["access_token"]
    assert first.get("/incidents", headers=bearer(access)).status_code == 200
    refused = second.get("/incidents", headers=bearer(access))
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "the token is invalid"


def test_refused_tokens_are_not_remembered(app, client):
    forged = jwt.encode(_claims(app), "x" * 48, algorithm="HS256")
    for _ in range(2):
        assert client.get("/incidents", headers=bearer(forged)).status_code == 401
    info = tokens._remembered.cache_info()
    assert (info.currsize, info.hits) == (0, 0)


def test_a_token_not_yet_valid_becomes_usable_when_its_time_comes(app, client, token_clock):
    """PyJWT's clock is moved forward by the test, not slept past."""
    now = int(time.time())
    token = _sign(app, _claims(app, nbf=now + 60, iat=now, exp=now + 900))
    assert client.get("/incidents", headers=bearer(token)).status_code == 401
    token_clock.offset = timedelta(seconds=50)
    assert client.get("/incidents", headers=bearer(token)).status_code == 401  # not yet
    token_clock.offset = timedelta(seconds=61)
    assert client.get("/incidents", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"sid": None}, "the token lacks the sid claim"),
        ({"nbf": None, "iat": None}, "the token lacks the iat, nbf claims"),
        ({"exp": None}, "the token lacks the exp claim"),
        ({"role": None}, "the token is invalid"),
        ({"role": "root"}, "the token is invalid"),
        ({"sub": ""}, "the token is invalid"),
        ({"sid": 7}, "the token is invalid"),
        ({"type": "id"}, "the token is invalid"),
    ],
)
def test_tokens_without_every_claim_we_issue_are_refused(app, client, changes, detail):
    response = client.get("/incidents", headers=bearer(_sign(app, _claims(app, **changes))))
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"] == detail


def test_only_hs256_is_accepted(app, client):
    for algorithm in ("HS384", "HS512"):
        token = _sign(app, _claims(app), algorithm)
        assert client.get("/incidents", headers=bearer(token)).status_code == 401
    unsigned = jwt.encode(_claims(app), None, algorithm="none")
    assert client.get("/incidents", headers=bearer(unsigned)).status_code == 401


def test_claims_handed_to_a_request_are_its_own_copy(app, client):
    access = login(client, "viewer")["access_token"]
    with app.test_request_context(headers=bearer(access)):
        from flask_jwt_extended import get_jwt, verify_jwt_in_request

        verify_jwt_in_request()
        get_jwt()["role"] = "admin"
    assert client.delete("/incidents/1", headers=bearer(access)).status_code == 403
