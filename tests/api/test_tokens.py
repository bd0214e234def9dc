"""Remembered token checks: a verified token is decoded once, yet nothing that makes a token
unusable is remembered past its time (tokens.py)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import jwt
import pytest

from incident_api import tokens
from incident_api.tokens import InvalidToken

KEY = "a-test-key-of-thirty-two-bytes-at-least!"
OTHER_KEY = "another-test-key-of-thirty-two-bytes-or-more"


@pytest.fixture(autouse=True)
def _forget() -> None:
    tokens._checked.cache_clear()


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch):
    token = tokens.issue(KEY, "ana", "access", role="viewer")
    claims = tokens.verify(KEY, token, "access")
    assert claims["sub"] == "ana"
    later = int(claims["exp"]) + 1
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(KEY, token, "access")
    assert tokens._checked.cache_info().hits == 1  # refused although it was remembered


def test_a_token_is_decoded_once_while_it_is_used(monkeypatch):
    token = tokens.issue(KEY, "ana", "access", role="viewer")
    decodes = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: decodes.append(1) or real(*a, **k))
    for _ in range(3):
        assert tokens.verify(KEY, token, "access")["role"] == "viewer"
    assert len(decodes) == 1


def test_remembering_is_per_key_and_per_kind():
    token = tokens.issue(KEY, "ana", "access", role="viewer")
    tokens.verify(KEY, token, "access")
    with pytest.raises(InvalidToken, match="invalid"):
        tokens.verify(OTHER_KEY, token, "access")
    with pytest.raises(InvalidToken, match="a refresh token is required"):
        tokens.verify(KEY, token, "refresh")


def test_refused_tokens_are_not_remembered():
    token = tokens.issue(KEY, "ana", "access", role="viewer")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.verify(OTHER_KEY, token, "access")
    info = tokens._checked.cache_info()
    assert (info.currsize, info.hits) == (0, 0)


def test_a_token_not_yet_valid_becomes_usable_when_its_time_comes():
    now = time.time()
    token = jwt.encode(
        {
            "sub": "ana",
            "jti": "j1",
            "type": "access",
            "role": "viewer",
            "iat": int(now),
            "nbf": int(now) + 1,
            "exp": int(now) + 60,
        },
        KEY,
        algorithm="HS256",
    )
    with pytest.raises(InvalidToken):
        tokens.verify(KEY, token, "access")  # refused, and so not remembered
    time.sleep(1.1)
    assert tokens.verify(KEY, token, "access")["sub"] == "ana"


def test_remembered_claims_are_read_only():
    token = tokens.issue(KEY, "ana", "access", role="viewer")
    claims = tokens.verify(KEY, token, "access")
    with pytest.raises(TypeError):
        claims["role"] = "admin"  # type: ignore[index]
    assert tokens.verify(KEY, token, "access")["role"] == "viewer"
