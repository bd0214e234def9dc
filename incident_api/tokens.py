"""The token layer: flask-jwt-extended, configured for this API.

Access tokens live 15 minutes and refresh tokens 7 days (the extension's refresh default is
30 days); HS256 is the only algorithm signed or accepted (no ``none``, no RS/HS confusion).
Tokens travel in the ``Authorization: Bearer`` header (the REST API) or in HttpOnly cookies
with the extension's double-submit CSRF check (the browser console). Every token also carries
``sid``: the session (token family) of the sign-in that made it.

Beyond what PyJWT verifies (signature, ``exp``/``nbf``/``iat``), every token must carry every
claim we issue and an access token a known role. The extension decodes each token twice (once
unverified, to find its key), so a header token that passed once is remembered — at most
:data:`VERIFIED_CACHE_SIZE` per process — and later only its expiry is checked again. What is
remembered cannot go stale: the signature and claims are fixed by the token's bytes, and
``nbf``/``iat``, once past, stay past. Failures are never remembered; revocation is asked on
every request (the blocklist loader in :mod:`incident_api.auth`). The extension also re-reads
each token's header on every request (after the token verified), and PyJWT checks every
character of every segment in Python to do it, so that header is remembered too
(:func:`_remembered_header`, installed where the extension looks it up; a test fails if an
upgrade moves it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, Literal

import jwt
from flask import Flask, current_app
from flask_jwt_extended import JWTManager
from flask_jwt_extended import view_decorators as _extension_views
from flask_jwt_extended.exceptions import JWTDecodeError

from warehouse.users import Role

ALGORITHM: Final = "HS256"
ACCESS_LIFETIME: Final = timedelta(minutes=15)
REFRESH_LIFETIME: Final = timedelta(days=7)
REQUIRED_CLAIMS: Final = ("sub", "jti", "sid", "type", "iat", "nbf", "exp")
ROLES: Final = frozenset(r.value for r in Role)
VERIFIED_CACHE_SIZE: Final = 4096
CSRF_FORM_FIELD: Final = "csrf_token"
Kind = Literal["access", "refresh"]


def shape_problem(claims: Mapping[str, Any]) -> str | None:
    """Why ``claims`` (signature already verified) are not a token this API issued, or None."""
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        return f"the token lacks the {', '.join(missing)} claim" + ("s" if len(missing) > 1 else "")
    if not all(isinstance(claims[n], str) and claims[n] for n in ("sub", "jti", "sid")):
        return "the token is invalid"
    if claims["type"] not in ("access", "refresh"):
        return "the token is invalid"
    role = claims.get("role")
    if claims["type"] == "access" and not (isinstance(role, str) and role in ROLES):
        return "the token is invalid"
    return None


class TokenManager(JWTManager):
    """flask-jwt-extended's manager with our claim checks at decode time (before the blocklist
    loader, which needs ``sid``) and the verified-token memory for header tokens."""

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: Any = None, allow_expired: bool = False
    ) -> dict[str, Any]:
        if csrf_value is not None or allow_expired:  # cookies and expired-token reporting
            found = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
            return _shaped(found, encoded_token)
        key = str(current_app.config["JWT_SECRET_KEY"])
        claims = _remembered(self, key, encoded_token)
        if float(claims["exp"]) <= datetime.now(UTC).timestamp():  # as PyJWT decides it
            # Raised as the extension raises it, so its expired-token loader answers.
            expired = jwt.ExpiredSignatureError("Signature has expired")
            expired.jwt_header = jwt.get_unverified_header(encoded_token)  # type: ignore[attr-defined]
            expired.jwt_data = dict(claims)  # type: ignore[attr-defined]
            raise expired
        return dict(claims)

    def _decode_verified(self, encoded_token: str) -> dict[str, Any]:
        return _shaped(super()._decode_jwt_from_config(encoded_token), encoded_token)


def _shaped(claims: dict[str, Any], encoded_token: str) -> dict[str, Any]:
    """``claims`` if the token as signed (before the extension fills in a missing ``type`` or
    ``jti``) carries everything we issue."""
    signed = jwt.decode(encoded_token, options={"verify_signature": False})  # verified above
    problem = shape_problem(signed)
    if problem is not None:
        raise JWTDecodeError(problem)
    return claims


@lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def _remembered(manager: TokenManager, key: str, encoded_token: str) -> Mapping[str, Any]:
    """A header token's verified claims, decoded once per process (``key`` is part of the
    cache key so apps with other secrets never share an entry)."""
    return manager._decode_verified(encoded_token)


@lru_cache(maxsize=VERIFIED_CACHE_SIZE)
def _header(encoded_token: str) -> Mapping[str, Any]:
    return MappingProxyType(jwt.get_unverified_header(encoded_token))


def _remembered_header(encoded_token: str) -> dict[str, Any]:
    """The extension's ``get_unverified_jwt_headers``, remembered per token: it is only asked
    for tokens that have just verified, and a token's header is fixed by its bytes."""
    return dict(_header(encoded_token))


_extension_views.get_unverified_jwt_headers = _remembered_header  # type: ignore[attr-defined]

manager: Final = TokenManager()


def configure(app: Flask, signing_key: str, *, secure_cookies: bool) -> None:
    app.config.update(
        JWT_SECRET_KEY=signing_key,
        JWT_ALGORITHM=ALGORITHM,
        JWT_DECODE_ALGORITHMS=[ALGORITHM],
        JWT_ACCESS_TOKEN_EXPIRES=ACCESS_LIFETIME,
        JWT_REFRESH_TOKEN_EXPIRES=REFRESH_LIFETIME,
        JWT_TOKEN_LOCATION=["headers", "cookies"],
        JWT_COOKIE_SECURE=secure_cookies,
        JWT_COOKIE_SAMESITE="Lax",
        JWT_COOKIE_CSRF_PROTECT=True,
        JWT_CSRF_CHECK_FORM=True,  # server-rendered forms send the token as a field
        JWT_ACCESS_CSRF_FIELD_NAME=CSRF_FORM_FIELD,
        JWT_REFRESH_CSRF_FIELD_NAME=CSRF_FORM_FIELD,
        # "/": the console renews its access cookie from it (silent refresh), and the API's
        # POST /auth/refresh reads it too
        JWT_REFRESH_COOKIE_PATH="/",
    )
    manager.init_app(app)


def issued_at(claims: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(claims["iat"]), UTC)


def expires_at(claims: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(claims["exp"]), UTC)


def decode(token: str, kind: Kind) -> Mapping[str, Any]:
    """The claims of a token found outside the usual places (a logout body): verified,
    shaped, of ``kind``; PyJWT's ``PyJWTError`` or :class:`JWTDecodeError` otherwise."""
    claims = manager._decode_verified(token)
    if claims["type"] != kind:
        raise JWTDecodeError(f"{'an' if kind == 'access' else 'a'} {kind} token is required")
    return claims
