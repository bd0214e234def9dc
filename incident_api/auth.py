"""Sign-in, refresh with rotation, logout — sessions (token families) on flask-jwt-extended —
and the checks every protected route goes through.

A request is authorised by its access token alone plus one denylist lookup (token, session and
subject in one round trip): the role is a claim of the token, and a disabled user's tokens are
revoked as a whole (:func:`disable_user`), so no request reads the users table. The database
decides at sign-in and at every refresh, so a role change takes effect within one access
lifetime (15 min).

Each sign-in starts a session (:mod:`warehouse.sessions`); refresh rotates its one live refresh
token atomically, and presenting a rotated one again revokes the whole session (RFC 6819
5.2.2.3, OAuth 2.0 Security BCP 4.14), logs a security event and counts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import wraps
from typing import Any, Final, TypeVar

import jwt
import structlog
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_jwt,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import JWTDecodeError
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from incident_api import tokens
from incident_api.metrics import count_refresh_reuse
from incident_api.openapi import REQUIRED_ROLE, documented
from incident_api.passwords import verify_password
from incident_api.problems import ApiProblem, problem
from incident_api.schemas import LogoutRequest, TokenPair, TokenRequest
from incident_api.services import services
from incident_api.tokens import ACCESS_LIFETIME, REFRESH_LIFETIME, Kind
from incident_api.validation import FieldError, invalid_fields, parse_body
from warehouse.models import User
from warehouse.sessions import EndReason, RefreshReused, SessionEnded
from warehouse.users import Role

F = TypeVar("F", bound=Callable[..., Any])
CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="driftwatch"'}
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
"""Views that only read: their revocation check may overlap the read (:func:`_overlapped`)."""

security_log = structlog.get_logger("incident_api.security")
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
bp = Blueprint("auth", __name__, url_prefix="/auth")


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers=CHALLENGE)


def _answer(detail: str) -> Response:
    return problem(401, detail, headers=CHALLENGE)


def _register_loaders() -> None:
    """Every way the extension can refuse a token answers with problem+json (its defaults
    are ``{"msg": …}`` bodies); the blocklist is our denylist, failing closed (503)."""
    m = tokens.manager
    m.unauthorized_loader(
        lambda reason: _answer(
            "a bearer token is required" if reason.startswith("Missing") else reason
        )
    )
    m.invalid_token_loader(
        lambda reason: _answer(reason if reason.startswith("the token") else "the token is invalid")
    )
    m.expired_token_loader(lambda _h, _p: _answer("the token has expired"))
    m.revoked_token_loader(lambda _h, _p: _answer("the token has been revoked"))
    m.token_in_blocklist_loader(
        lambda _h, claims: services().denylist.is_revoked(
            claims["jti"], claims["sub"], claims["sid"], tokens.issued_at(claims)
        )
    )


def configure(app: Flask, signing_key: str, *, secure_cookies: bool) -> None:
    tokens.configure(app, signing_key, secure_cookies=secure_cookies)


_register_loaders()


def verified(kind: Kind) -> Mapping[str, Any]:
    """The claims of the request's token: signed by us, unexpired, of ``kind``, complete, and
    not revoked (the denylist fails closed: DenylistUnavailable becomes a 503)."""
    verify_jwt_in_request(refresh=kind == "refresh")
    claims = get_jwt()
    g.token_claims = claims  # for the access log and actor()
    return claims


def _allowed(claims: Mapping[str, Any], role: Role) -> None:
    if not Role(claims["role"]).allows(role):
        raise ApiProblem(403, f"this needs the {role.value} role")


def _overlapped(view: Callable[..., Any], role: Role, *args: Any, **kwargs: Any) -> Any:
    """A safe (read-only) request: the denylist is asked first and its answer read after the
    view, so the two round trips (denylist, database) overlap. A revoked token still gets 401,
    whatever the view answered, and a denylist that cannot answer still gets 503: what the
    view computed is dropped, and it changed nothing."""
    verify_jwt_in_request(skip_revocation_check=True)
    claims = get_jwt()
    g.token_claims = claims
    answer = services().denylist.ask(
        claims["jti"], claims["sub"], claims["sid"], tokens.issued_at(claims)
    )
    try:
        _allowed(claims, role)
        result = view(*args, **kwargs)
    finally:
        if answer():
            raise _unauthorized("the token has been revoked")
    return result


def require_role(role: Role) -> Callable[[F], F]:
    """A valid, unrevoked access token whose role includes ``role``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if request.method in SAFE_METHODS:
                return _overlapped(view, role, *args, **kwargs)
            _allowed(verified("access"), role)
            return view(*args, **kwargs)

        setattr(guarded, REQUIRED_ROLE, role.value)  # read by the OpenAPI document
        return guarded  # type: ignore[return-value]

    return decorate


def actor() -> str:
    """Who the request's token speaks for (the ``who`` of timeline events)."""
    return str(g.token_claims["sub"])


def end_session(sid: str, reason: EndReason) -> None:
    """Revoke every token of the session: the row first (no refresh can pass after), then the
    denylist entry every request checks (DenylistUnavailable: run again to complete)."""
    svc = services()
    ended = svc.sessions.revoke(sid, reason)
    expires = ended.expires_at if ended is not None else datetime.now(UTC) + REFRESH_LIFETIME
    svc.denylist.revoke_session(sid, expires)


def disable_user(username: str) -> None:
    """Disable ``username`` and revoke every token it holds. The database is written first, so
    no token can be issued or refreshed after this starts; when the denylist cannot be reached
    the revocation raises DenylistUnavailable, and running this again completes it."""
    svc = services()
    svc.users.set_active(username, False)
    for session in svc.sessions.of_user(username):
        svc.sessions.revoke(session.sid, EndReason.DISABLED)
    now = datetime.now(UTC)
    svc.denylist.revoke_subject(username, now, now + REFRESH_LIFETIME)


def _pair(user: User, sid: str, refresh_jti: str) -> Response:
    pair = TokenPair(
        access_token=create_access_token(
            user.username, additional_claims={"role": user.role, "sid": sid}
        ),
        refresh_token=create_refresh_token(
            user.username, additional_claims={"sid": sid, "jti": refresh_jti}
        ),
        expires_in=int(ACCESS_LIFETIME.total_seconds()),
    )
    return jsonify(pair.model_dump())


def _new_jti() -> str:
    return str(uuid.uuid4())


def _client() -> str:
    """The address the limiter and the session list know the client by (after ProxyFix)."""
    return get_remote_address()


def _login_failures_key() -> str:
    """Failed sign-ins per username *and* client: guessing at ``admin`` slows the guesser
    down, never ``admin``'s own sign-in from elsewhere."""
    body = request.get_json(silent=True)
    name = body.get("username") if isinstance(body, dict) else None
    return f"user:{str(name or '').strip().lower()[:150]}|{_client()}"


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _login_failure_limit() -> str:
    return str(current_app.config["LOGIN_FAILURE_LIMIT"])


@bp.post("/token")
@limiter.limit(_login_limit)  # every attempt, per client
@limiter.limit(
    _login_failure_limit,
    key_func=_login_failures_key,
    deduct_when=lambda response: response.status_code == 401,
)
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
    svc = services()
    user = svc.users.get(creds.username)
    known = user is not None and user.active
    ok = verify_password(creds.password, user.password_hash if known and user else None)
    if not (ok and user is not None and known):
        # One answer for unknown users, disabled users and wrong passwords.
        raise _unauthorized("wrong username or password")
    refresh_jti = _new_jti()
    sid = svc.sessions.start(
        user.username,
        refresh_jti,
        datetime.now(UTC) + REFRESH_LIFETIME,
        client=_client(),
        agent=request.user_agent.string,
    )
    return _pair(user, sid, refresh_jti)


@bp.post("/refresh")
@documented(
    "Trade the session's refresh token for a new pair; presenting a rotated refresh token "
    "again ends the whole session",
    tag="auth",
    responses={200: TokenPair},
)
def refresh() -> Response:
    claims = verified("refresh")
    svc = services()
    user = svc.users.get(claims["sub"])  # the database decides on the role, every time
    if user is None or not user.active:
        raise _unauthorized("the token's user is unknown or disabled")
    successor = _new_jti()
    try:
        svc.sessions.rotate(
            claims["sid"], claims["jti"], successor, datetime.now(UTC) + REFRESH_LIFETIME
        )
    except SessionEnded:
        raise _unauthorized("the token has been revoked") from None
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
        raise _unauthorized("the token has been revoked") from None
    return _pair(user, claims["sid"], successor)


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
    end_session(access["sid"], EndReason.LOGOUT)
    # The token itself too: it stays refused even if its session row were gone.
    services().denylist.revoke(access["jti"], tokens.expires_at(access))
    if other is not None and other["sid"] != access["sid"]:
        end_session(other["sid"], EndReason.LOGOUT)
    return Response(status=204)
