"""Access and refresh tokens: HS256 JWTs made and checked with PyJWT, in one decode.

flask-jwt-extended decoded every token twice (once unverified, to find the key) and wrapped it in
machinery this API does not use (cookies, CSRF, implicit refresh); on the hot read path that was
a tenth of the request (docs/benchmarks.md). What it checked is checked here: the algorithm
allowlist (no ``none``, no RS/HS confusion), the signature, ``exp``/``nbf``/``iat`` (PyJWT), every
claim we issue being present, the token's type, and an access token's role.

A client sends the same access token with every request for up to 15 minutes, so a token that
passed those checks is remembered (:data:`VERIFIED_CACHE_SIZE` of them per process) and later
only its expiry is checked again: the decode was a visible share of a read. What is remembered
cannot go stale: the signature and the claims are fixed by the token's bytes, and ``nbf`` and
``iat``, once in the past, stay there. Tokens that fail are never remembered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, Literal

import jwt

from warehouse.users import Role

ALGORITHM: Final = "HS256"
ACCESS_LIFETIME: Final = timedelta(minutes=15)
REFRESH_LIFETIME: Final = timedelta(days=7)  # flask-jwt-extended's default was 30 days
REQUIRED_CLAIMS: Final = ["sub", "jti", "type", "iat", "nbf", "exp"]
ROLES: Final = frozenset(r.value for r in Role)
VERIFIED_CACHE_SIZE: Final = 4096
Kind = Literal["access", "refresh"]


class InvalidToken(Exception):
    """The token cannot be used; ``detail`` says why, in words fit for a 401."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def issue(key: str, subject: str, kind: Kind, *, role: str | None = None) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "jti": str(uuid.uuid4()),
        "type": kind,
        "iat": now,
        "nbf": now,
        "exp": now + (ACCESS_LIFETIME if kind == "access" else REFRESH_LIFETIME),
    }
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify(key: str, token: str, kind: Kind) -> Mapping[str, Any]:
    """The claims of ``token`` if it is a valid, unexpired ``kind`` token signed with ``key``
    (revocation is the denylist's question, asked by the caller)."""
    claims = _checked(key, token, kind)
    if int(claims["exp"]) <= time.time():  # as PyJWT decides it (no leeway): remembered tokens
        raise InvalidToken("the token has expired")
    return claims


@lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def _checked(key: str, token: str, kind: Kind) -> Mapping[str, Any]:
    """Everything about ``token`` that time does not change, checked once (read-only claims)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token is invalid") from None
    subject, jti = claims["sub"], claims["jti"]
    if not (isinstance(subject, str) and subject and isinstance(jti, str) and jti):
        raise InvalidToken("the token is invalid")
    if claims["type"] != kind:
        raise InvalidToken(f"{'an' if kind == 'access' else 'a'} {kind} token is required")
    role = claims.get("role")
    if kind == "access" and not (isinstance(role, str) and role in ROLES):
        raise InvalidToken("the token is invalid")
    return MappingProxyType(claims)


def issued_at(claims: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(claims["iat"]), UTC)


def expires_at(claims: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(claims["exp"]), UTC)
