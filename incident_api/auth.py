"""Sign-in, token refresh with rotation, logout — and the bearer-token checks every protected
route goes through (flask-jwt-extended, HS256 only).

A request is authorised by its access token alone plus one denylist lookup: the role is a claim
of the token, and a disabled user's tokens are revoked as a whole (:func:`disable_user`), so no
request reads the users table. The database decides at sign-in and at every refresh, so a role
change or a user disabled behind the API's back takes effect within one access lifetime (15 min).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, Final, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
)
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from jwt.exceptions import InvalidTokenError, PyJWTError

from incident_api.openapi import documented
from incident_api.passwords import verify_password
from incident_api.problems import ApiProblem, problem
from incident_api.schemas import LogoutRequest, TokenPair, TokenRequest
from incident_api.services import services
from incident_api.validation import parse_body
from warehouse.models import User
from warehouse.users import Role

ACCESS_LIFETIME: Final = timedelta(minutes=15)
REFRESH_LIFETIME: Final = timedelta(days=7)
F = TypeVar("F", bound=Callable[..., Any])

jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
bp = Blueprint("auth", __name__, url_prefix="/auth")


def configure(app: Flask, signing_key: str) -> None:
    app.config.update(
        JWT_SECRET_KEY=signing_key,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],  # the allowlist: no "none", no RS/HS confusion
        JWT_ACCESS_TOKEN_EXPIRES=ACCESS_LIFETIME,
        JWT_REFRESH_TOKEN_EXPIRES=REFRESH_LIFETIME,  # the library's default is 30 days
        JWT_TOKEN_LOCATION=["headers"],
        JWT_IDENTITY_CLAIM="sub",
    )
    jwt.init_app(app)


def _unauthorized(detail: str) -> Response:
    return problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="driftwatch"'})


@jwt.unauthorized_loader
def _missing(reason: str) -> Response:
    return _unauthorized("a bearer token is required")


@jwt.invalid_token_loader
def _invalid(reason: str) -> Response:
    return _unauthorized("the token is invalid")


@jwt.expired_token_loader
def _expired(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
    return _unauthorized("the token has expired")


@jwt.revoked_token_loader
def _revoked(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
    return _unauthorized("the token has been revoked")


REQUIRED_CLAIMS: Final = ("sub", "jti", "exp", "iat", "type")
ROLES: Final = frozenset(r.value for r in Role)


@jwt.decode_key_loader
def _key_for(_header: dict[str, Any], unverified: dict[str, Any]) -> str:
    """Refuse incomplete tokens before their signature is even checked. PyJWT checks ``exp``
    only when present (no ``exp``: never expires), and flask-jwt-extended fills in a missing
    ``type`` ("access") and ``jti`` (None, which no denylist can revoke) — so look at the raw
    claims here. Every token we issue carries all of them, and an access token its role."""
    missing = [claim for claim in REQUIRED_CLAIMS if not unverified.get(claim)]
    kind = unverified.get("type")
    if missing or kind not in ("access", "refresh"):
        raise InvalidTokenError("token lacks required claims")
    role = unverified.get("role")
    if kind == "access" and not (isinstance(role, str) and role in ROLES):
        raise InvalidTokenError("access token without a known role")
    return str(current_app.config["JWT_SECRET_KEY"])


@jwt.token_in_blocklist_loader
def _is_revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
    # DenylistUnavailable propagates to its error handler: 503, fail closed.
    return services().denylist.is_revoked(
        str(payload["jti"]), str(payload["sub"]), datetime.fromtimestamp(float(payload["iat"]), UTC)
    )


def require_role(role: Role) -> Callable[[F], F]:
    """A valid, unrevoked access token whose role includes ``role``."""

    def decorate(view: F) -> F:
        @wraps(view)
        @jwt_required()
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not Role(get_jwt()["role"]).allows(role):
                raise ApiProblem(403, f"this needs the {role.value} role")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def actor() -> str:
    """Who the request's token speaks for (the ``who`` of timeline events)."""
    return str(get_jwt_identity())


def disable_user(username: str) -> None:
    """Disable ``username`` and revoke every token it holds. The database is written first, so
    no token can be issued or refreshed after this starts; when the denylist cannot be reached
    the revocation raises DenylistUnavailable, and running this again completes it."""
    svc = services()
    svc.users.set_active(username, False)
    now = datetime.now(UTC)
    svc.denylist.revoke_subject(username, now, now + REFRESH_LIFETIME)


def _expires_at(payload: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(payload["exp"]), UTC)


def _issue(user: User) -> Response:
    claims = {"role": user.role}
    pair = TokenPair(
        access_token=create_access_token(identity=user.username, additional_claims=claims),
        refresh_token=create_refresh_token(identity=user.username),
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
        return _unauthorized("wrong username or password")
    return _issue(user)


@bp.post("/refresh")
@jwt_required(refresh=True)
@documented(
    "Trade a refresh token for a new pair; the old refresh token is revoked",
    tag="auth",
    responses={200: TokenPair},
)
def refresh() -> Response:
    payload = get_jwt()
    svc = services()
    user = svc.users.get(str(payload["sub"]))  # the database decides on the role, every time
    if user is None or not user.active:
        return _unauthorized("the token's user is unknown or disabled")
    svc.denylist.revoke(str(payload["jti"]), _expires_at(payload))
    return _issue(user)


@bp.post("/logout")
@jwt_required()
@documented(
    "Revoke the access token (and the refresh token given in the body)",
    tag="auth",
    body=LogoutRequest,
    responses={204: None},
)
def logout() -> Response:
    access = get_jwt()
    refresh_payload = None
    if request.content_length:
        body = parse_body(LogoutRequest)
        if body.refresh_token:
            try:
                refresh_payload = decode_token(body.refresh_token)
            except (JWTExtendedException, PyJWTError):
                raise ApiProblem(
                    422,
                    "refresh_token is not a valid token",
                    errors=[
                        {
                            "field": "refresh_token",
                            "message": "not a valid refresh token",
                            "type": "token",
                        }
                    ],
                ) from None
            if refresh_payload.get("type") != "refresh" or refresh_payload["sub"] != access["sub"]:
                raise ApiProblem(
                    422,
                    "refresh_token is not a refresh token of this user",
                    errors=[
                        {
                            "field": "refresh_token",
                            "message": "not a refresh token of this user",
                            "type": "token",
                        }
                    ],
                )
    denylist = services().denylist
    denylist.revoke(str(access["jti"]), _expires_at(access))
    if refresh_payload is not None:
        denylist.revoke(str(refresh_payload["jti"]), _expires_at(refresh_payload))
    return Response(status=204)
