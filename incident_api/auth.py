"""Sign-in, token refresh with rotation, logout — and the bearer-token checks every protected
route goes through (HS256 tokens, :mod:`incident_api.tokens`).

A request is authorised by its access token alone plus one denylist lookup: the role is a claim
of the token, and a disabled user's tokens are revoked as a whole (:func:`disable_user`), so no
request reads the users table. The database decides at sign-in and at every refresh, so a role
change or a user disabled behind the API's back takes effect within one access lifetime (15 min).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from incident_api import tokens
from incident_api.openapi import REQUIRED_ROLE, documented
from incident_api.passwords import verify_password
from incident_api.problems import ApiProblem
from incident_api.schemas import LogoutRequest, TokenPair, TokenRequest
from incident_api.services import services
from incident_api.tokens import ACCESS_LIFETIME, REFRESH_LIFETIME, InvalidToken, Kind
from incident_api.validation import FieldError, invalid_fields, parse_body
from warehouse.models import User
from warehouse.users import Role

F = TypeVar("F", bound=Callable[..., Any])

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
bp = Blueprint("auth", __name__, url_prefix="/auth")


def configure(app: Flask, signing_key: str) -> None:
    app.config["JWT_SECRET_KEY"] = signing_key


def _key() -> str:
    return str(current_app.config["JWT_SECRET_KEY"])


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="driftwatch"'})


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("a bearer token is required")
    return token.strip()


def verified(kind: Kind) -> Mapping[str, Any]:
    """The claims of the request's bearer token: signed by us, unexpired, of ``kind``, and not
    revoked (the denylist fails closed: DenylistUnavailable becomes a 503)."""
    try:
        claims = tokens.verify(_key(), _bearer_token(), kind)
    except InvalidToken as exc:
        raise _unauthorized(exc.detail) from None
    if services().denylist.is_revoked(claims["jti"], claims["sub"], tokens.issued_at(claims)):
        raise _unauthorized("the token has been revoked")
    g.token_claims = claims  # for the access log and actor()
    return claims


def require_role(role: Role) -> Callable[[F], F]:
    """A valid, unrevoked access token whose role includes ``role``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not Role(verified("access")["role"]).allows(role):
                raise ApiProblem(403, f"this needs the {role.value} role")
            return view(*args, **kwargs)

        setattr(guarded, REQUIRED_ROLE, role.value)  # read by the OpenAPI document
        return guarded  # type: ignore[return-value]

    return decorate


def actor() -> str:
    """Who the request's token speaks for (the ``who`` of timeline events)."""
    return str(g.token_claims["sub"])


def disable_user(username: str) -> None:
    """Disable ``username`` and revoke every token it holds. The database is written first, so
    no token can be issued or refreshed after this starts; when the denylist cannot be reached
    the revocation raises DenylistUnavailable, and running this again completes it."""
    svc = services()
    svc.users.set_active(username, False)
    now = datetime.now(UTC)
    svc.denylist.revoke_subject(username, now, now + REFRESH_LIFETIME)


def _issue(user: User) -> Response:
    pair = TokenPair(
        access_token=tokens.issue(_key(), user.username, "access", role=user.role),
        refresh_token=tokens.issue(_key(), user.username, "refresh"),
        expires_in=int(ACCESS_LIFETIME.total_seconds()),
    )
    return jsonify(pair.model_dump())


def _username_key() -> str:
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return f"user:{str(name).strip().lower()[:150]}" if name else get_remote_address()


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@bp.post("/token")
@limiter.limit(_login_limit)  # per client address
@limiter.limit(_login_limit, key_func=_username_key)  # per username
@documented(
    "Exchange username and password for an access and a refresh token",
    tag="auth",
    body=TokenRequest,
    responses={200: TokenPair},
    auth=None,
    problems={401, 429},
)
def token() -> Response:
    creds = parse_body(TokenRequest)
    user = services().users.get(creds.username)
    known = user is not None and user.active
    ok = verify_password(creds.password, user.password_hash if known and user else None)
    if not (ok and user is not None and known):
        # One answer for unknown users, disabled users and wrong passwords.
        raise _unauthorized("wrong username or password")
    return _issue(user)


@bp.post("/refresh")
@documented(
    "Trade a refresh token for a new pair; the old refresh token is revoked",
    tag="auth",
    responses={200: TokenPair},
)
def refresh() -> Response:
    claims = verified("refresh")
    svc = services()
    user = svc.users.get(claims["sub"])  # the database decides on the role, every time
    if user is None or not user.active:
        raise _unauthorized("the token's user is unknown or disabled")
    svc.denylist.revoke(claims["jti"], tokens.expires_at(claims))
    return _issue(user)


@bp.post("/logout")
@require_role(Role.VIEWER)  # any signed-in user
@documented(
    "Revoke the access token (and the refresh token given in the body)",
    tag="auth",
    body=LogoutRequest,
    body_required=False,  # the access token alone is a logout
    responses={204: None},
)
def logout() -> Response:
    access = g.token_claims
    refresh_claims = None
    if request.content_length:
        body = parse_body(LogoutRequest)
        if body.refresh_token:
            try:
                refresh_claims = tokens.verify(_key(), body.refresh_token, "refresh")
            except InvalidToken:
                refresh_claims = None
            if refresh_claims is None or refresh_claims["sub"] != access["sub"]:
                error = FieldError(
                    "refresh_token", "not a valid refresh token of this user", "token"
                )
                raise invalid_fields("body", [error])
    denylist = services().denylist
    denylist.revoke(access["jti"], tokens.expires_at(access))
    if refresh_claims is not None:
        denylist.revoke(refresh_claims["jti"], tokens.expires_at(refresh_claims))
    return Response(status=204)
