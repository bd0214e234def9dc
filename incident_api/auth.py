"""Sign-in, refresh with rotation and logout: sessions (token families) on
flask-jwt-extended. Route guards live in :mod:`incident_api.guards`.

The database decides at sign-in and at every refresh (unknown or disabled user: 401; the role
is re-read), so a role change takes effect within one access lifetime (15 min). Each sign-in
starts a session (:mod:`warehouse.sessions`); refresh rotates its one live refresh token
atomically, and presenting a rotated one again revokes the whole session (RFC 6819 5.2.2.3,
OAuth 2.0 Security BCP 4.14), logs a security event and counts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import jwt
import structlog
from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_jwt_extended import create_access_token, create_refresh_token
from flask_jwt_extended.exceptions import JWTDecodeError
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from incident_api import tokens
from incident_api.account_schemas import LogoutRequest, TokenPair, TokenRequest
from incident_api.guards import require_role, unauthorized, verified
from incident_api.metrics import count_refresh_reuse
from incident_api.openapi import documented
from incident_api.passwords import hash_password, verify_password
from incident_api.services import services
from incident_api.tokens import ACCESS_LIFETIME, REFRESH_LIFETIME
from incident_api.validation import FieldError, invalid_fields, parse_body
from warehouse.models import User
from warehouse.sessions import EndReason, RefreshReused, SessionEnded
from warehouse.users import Role

security_log = structlog.get_logger("incident_api.security")
F = TypeVar("F", bound=Callable[..., Any])
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
bp = Blueprint("auth", __name__, url_prefix="/auth")


def end_session(sid: str, reason: EndReason) -> None:
    """Revoke every token of the session: the row first (no refresh can pass after), then the
    denylist entry every request checks (DenylistUnavailable: run again to complete)."""
    svc = services()
    ended = svc.sessions.revoke(sid, reason)
    expires = ended.expires_at if ended is not None else datetime.now(UTC) + REFRESH_LIFETIME
    svc.denylist.revoke_session(sid, expires)


def end_user_sessions(username: str, reason: EndReason) -> int:
    """End every session of ``username`` — one statement, however many — and cut off every
    token issued until now (the subject's entry in the denylist, which every request reads).
    The database is written first, so no token can be refreshed after this starts; when the
    denylist cannot be reached this raises DenylistUnavailable, and running it again completes
    it. How many sessions it ended."""
    svc = services()
    ended = svc.sessions.revoke_user(username, reason)
    now = datetime.now(UTC)
    svc.denylist.revoke_subject(username, now, now + REFRESH_LIFETIME)
    return ended


def disable_user(username: str) -> None:
    """Disable ``username`` and revoke every token it holds."""
    services().users.set_active(username, False)
    end_user_sessions(username, EndReason.DISABLED)


def set_password(username: str, password: str) -> int:
    """A new password (8–128 characters, else WeakPassword); every session ends."""
    services().users.set_password(username, hash_password(password))
    return end_user_sessions(username, EndReason.CREDENTIAL_CHANGED)


def set_role(username: str, role: Role) -> int:
    """A new role; every session ends, so no token carries the old one."""
    services().users.set_role(username, role)
    return end_user_sessions(username, EndReason.ROLE)


def tokens_for(user: User, sid: str, refresh_jti: str) -> tuple[str, str]:
    """An access and a refresh token of session ``sid``. ``iat`` keeps its microseconds, so a
    subject cut-off revokes the tokens issued before it and not those of a sign-in a moment
    after it (in the same second)."""
    issued = datetime.now(UTC).timestamp()
    access = create_access_token(
        user.username,
        additional_claims={
            "role": user.role,
            "sid": sid,
            "iat": issued,
            "exp": issued + ACCESS_LIFETIME.total_seconds(),
        },
    )
    refresh = create_refresh_token(
        user.username,
        additional_claims={
            "sid": sid,
            "jti": refresh_jti,
            "iat": issued,
            "exp": issued + REFRESH_LIFETIME.total_seconds(),
        },
    )
    return access, refresh


def _pair(access: str, refresh: str) -> Response:
    pair = TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(ACCESS_LIFETIME.total_seconds()),
    )
    return jsonify(pair.model_dump())


def sign_in(username: str, password: str) -> tuple[str, str]:
    """Check the credentials and start a session: its access and refresh tokens, or 401 —
    one answer for unknown users, disabled users and wrong passwords."""
    svc = services()
    user = svc.users.get(username)
    known = user is not None and user.active
    ok = verify_password(password, user.password_hash if known and user else None)
    if not (ok and user is not None and known):
        raise unauthorized("wrong username or password")
    refresh_jti = _new_jti()
    sid = svc.sessions.start(
        user.username,
        refresh_jti,
        datetime.now(UTC) + REFRESH_LIFETIME,
        client=_client(),
        agent=request.user_agent.string,
    )
    return tokens_for(user, sid, refresh_jti)


def sign_out(access: Mapping[str, Any]) -> None:
    """End the session of the ``access`` token's claims, and the token itself: it stays
    refused even if its session row were gone."""
    end_session(access["sid"], EndReason.LOGOUT)
    services().denylist.revoke(access["jti"], tokens.expires_at(access))


def _new_jti() -> str:
    return str(uuid.uuid4())


def _client() -> str:
    """The address the limiter and the session list know the client by (after ProxyFix)."""
    return get_remote_address()


def _login_failures_key() -> str:
    """Failed sign-ins per username *and* client: guessing at ``admin`` slows the guesser
    down, never ``admin``'s own sign-in from elsewhere."""
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return f"user:{str(name or '').strip().lower()[:150]}|{_client()}"


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _login_failure_limit() -> str:
    return str(current_app.config["LOGIN_FAILURE_LIMIT"])


def _refresh_limit() -> str:
    return str(current_app.config["REFRESH_RATE_LIMIT"])


def sign_in_limits(view: F) -> F:
    """The sign-in limits, shared by ``POST /auth/token`` and the console's sign-in form:
    every attempt per client, and failures per username and client."""
    failures = limiter.limit(
        _login_failure_limit,
        key_func=_login_failures_key,
        deduct_when=lambda response: response.status_code == 401,
    )
    return cast(F, limiter.limit(_login_limit)(failures(view)))


@bp.post("/token")
@sign_in_limits
@documented(
    "Sign in: exchange username and password for an access and a refresh token (a session)",
    tag="auth",
    body=TokenRequest,
    responses={200: TokenPair},
    auth=None,
    problems={401, 429},
)
def token() -> Response:
    creds = parse_body(TokenRequest)
    return _pair(*sign_in(creds.username, creds.password))


@bp.post("/refresh")
@limiter.limit(_refresh_limit)
@documented(
    "Trade the session's refresh token for a new pair; presenting a rotated refresh token "
    "again ends the whole session",
    tag="auth",
    responses={200: TokenPair},
    problems={429},
)
def refresh() -> Response:
    return _pair(*renew(verified("refresh")))


def renew(claims: Mapping[str, Any]) -> tuple[str, str]:
    """A new access and refresh token for the session of the (verified, unrevoked) refresh
    token ``claims``, rotating it atomically; 401 when the session ended, and a rotated token
    presented again ends the session (reuse). The API's refresh and the console's silent one."""
    svc = services()
    user = svc.users.get(claims["sub"])  # the database decides on the role, every time
    if user is None or not user.active:
        raise unauthorized("the token's user is unknown or disabled")
    successor = _new_jti()
    try:
        svc.sessions.rotate(
            claims["sid"],
            claims["jti"],
            successor,
            datetime.now(UTC) + REFRESH_LIFETIME,
            max_age=timedelta(days=svc.settings.session_max_days),
        )
    except SessionEnded:
        raise unauthorized("the token has been revoked") from None
    except RefreshReused as reuse:
        end_session(reuse.sid, EndReason.REUSE)
        count_refresh_reuse()
        security_log.warning(
            "refresh_token_reused",
            user=reuse.username,
            sid=reuse.sid,
            client=_client(),
            action="session revoked",
        )
        raise unauthorized("the token has been revoked") from None
    return tokens_for(user, claims["sid"], successor)


def _body_refresh_claims(subject: str) -> Mapping[str, Any] | None:
    if not request.content_length:
        return None
    body = parse_body(LogoutRequest)
    if not body.refresh_token:
        return None
    try:
        claims = tokens.decode(body.refresh_token, "refresh")
    except (jwt.PyJWTError, JWTDecodeError):
        claims = None
    if claims is None or claims["sub"] != subject:
        error = FieldError("refresh_token", "not a valid refresh token of this user", "token")
        raise invalid_fields("body", [error])
    return claims


@bp.post("/logout")
@require_role(Role.VIEWER)  # any signed-in user
@documented(
    "End the session: its access and refresh tokens are revoked (a refresh token given in "
    "the body ends that token's session too)",
    tag="auth",
    body=LogoutRequest,
    body_required=False,  # the access token alone is a logout
    responses={204: None},
)
def logout() -> Response:
    access = g.token_claims
    other = _body_refresh_claims(access["sub"])
    sign_out(access)
    if other is not None and other["sid"] != access["sid"]:
        end_session(other["sid"], EndReason.LOGOUT)
    return Response(status=204)
