"""Who may see a console page: sign-in and sign-out forms on flask-jwt-extended's cookie
tokens, and the guard every other page goes through."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import jwt
from flask import Response, current_app, g, request, url_for
from flask_jwt_extended import (
    decode_token,
    get_jwt,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import (
    CSRFError,
    JWTDecodeError,
    JWTExtendedException,
    NoAuthorizationError,
)

from incident_api import auth, tokens
from incident_api.console.pages import bp, error_page, page, see_other
from incident_api.denylist import DenylistUnavailable
from incident_api.guards import SAFE_METHODS
from incident_api.problems import ApiProblem
from incident_api.services import services
from incident_api.tokens import CSRF_FORM_FIELD
from warehouse.users import Role

F = TypeVar("F", bound=Callable[..., Any])
LOGIN_CSRF_COOKIE: Final = "console_login_csrf"


def _safe_next(target: str | None) -> str:
    """Only a path of the console itself: never another site (an open redirect). Browsers
    read ``\\`` as ``/`` and drop tabs and line breaks, so a target with either, or with a
    ``..`` segment, is refused rather than interpreted."""
    if target and not any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target):
        parts = urlsplit(target)
        local = not parts.scheme and not parts.netloc
        if local and parts.path.startswith("/console/") and ".." not in parts.path.split("/"):
            return target
    return url_for("console.incidents")


def _back_after_sign_in() -> str:
    """Where sign-in returns to: the page asked for, or — when a form was posted after the
    cookie expired — the page the form was on (a redirect cannot repeat a POST)."""
    if request.method == "GET":
        return request.full_path
    return urlsplit(request.referrer or "").path or url_for("console.incidents")


EXPIRED_FORM: Final = "This form has expired or was not sent by the console."


class _FormNotOurs(Exception):
    """A form posted with an expired access cookie whose CSRF value is not that token's."""


def _renewed() -> tuple[str, str, dict[str, Any]] | None:
    """Sign the person in again silently: the refresh cookie, checked like ``POST
    /auth/refresh`` (signature, revocation) and rotated the same way; the new access and
    refresh tokens and the access token's claims, or None when the session has ended. A form
    must carry the CSRF value of the expired access token of the same session."""
    config = current_app.config
    encoded = request.cookies.get(config["JWT_REFRESH_COOKIE_NAME"])
    if not encoded:
        return None
    try:
        claims = tokens.decode(encoded, "refresh")
    except (jwt.PyJWTError, JWTDecodeError):
        return None
    if request.method not in SAFE_METHODS:
        _check_expired_form(claims["sid"])
    if services().denylist.is_revoked(
        claims["jti"], claims["sub"], claims["sid"], tokens.issued_at(claims)
    ):
        return None
    try:
        access, refresh = auth.renew(claims)
    except ApiProblem:
        return None
    return access, refresh, dict(decode_token(access))


def _check_expired_form(sid: str) -> None:
    expired = request.cookies.get(current_app.config["JWT_ACCESS_COOKIE_NAME"], "")
    try:
        claims = jwt.decode(
            expired,
            str(current_app.config["JWT_SECRET_KEY"]),
            algorithms=[tokens.ALGORITHM],
            options={"verify_exp": False},
        )
    except jwt.PyJWTError:
        raise _FormNotOurs from None
    sent = request.form.get(CSRF_FORM_FIELD, "")
    csrf = str(claims.get("csrf", ""))
    if claims.get("sid") != sid or not csrf or not hmac.compare_digest(sent, csrf):
        raise _FormNotOurs


def console_page(role: Role = Role.VIEWER) -> Callable[[F], F]:
    """The access cookie (CSRF-checked by the extension on every POST), not revoked, with
    ``role``. An expired (or dropped) access cookie is renewed silently from the refresh
    cookie while the session lives, so nobody is signed out every 15 minutes in the middle of
    triage; signed-out or ended → the sign-in page; the wrong role → 403 page."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            renewed = None
            try:
                verify_jwt_in_request(locations=["cookies"])
                claims = get_jwt()
            except CSRFError:
                return error_page(400, EXPIRED_FORM)
            except DenylistUnavailable:
                return _checks_down()
            except (jwt.ExpiredSignatureError, NoAuthorizationError):
                try:
                    renewed = _renewed()
                except _FormNotOurs:
                    return error_page(400, EXPIRED_FORM)
                except DenylistUnavailable:
                    return _checks_down()
                if renewed is None:
                    return see_other(url_for("console.login", next=_back_after_sign_in()))
                claims = renewed[2]
            except (JWTExtendedException, jwt.PyJWTError):
                return see_other(url_for("console.login", next=_back_after_sign_in()))
            g.token_claims = claims
            if not Role(claims["role"]).allows(role):
                return error_page(403, f"This needs the {role.value} role.")
            response = view(*args, **kwargs)
            if renewed is not None:  # the browser keeps the rotated pair from here on
                set_access_cookies(response, renewed[0])
                set_refresh_cookies(response, renewed[1])
            return response

        return guarded  # type: ignore[return-value]

    return decorate


def _checks_down() -> Response:
    down = error_page(503, "Sign-in cannot be checked right now; try again shortly.")
    down.headers["Retry-After"] = str(services().settings.retry_after_seconds)
    return down


@bp.get("/login")
def login() -> Response:
    token = secrets.token_urlsafe(32)
    response = page("login.html", csrf=token, next=_safe_next(request.args.get("next")))
    # Double-submit before there is a session: the form echoes this cookie's value.
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=services().settings.production,
        path="/console/login",
    )
    return response


@bp.post("/login")
@auth.sign_in_limits
def login_submit() -> Response:
    sent, expected = request.form.get(CSRF_FORM_FIELD, ""), request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return error_page(400, "This form has expired or was not sent by the console.")
    username = request.form.get("username", "").strip()[:150]
    password = request.form.get("password", "")[:1024]
    target = _safe_next(request.form.get("next"))
    if not username or not password:
        return page("login.html", 422, csrf=expected, next=target, error="Enter both fields.")
    try:
        access, refresh = auth.sign_in(username, password)
    except ApiProblem:
        return page(
            "login.html", 401, csrf=expected, next=target, error="Wrong username or password."
        )
    response = see_other(target)
    set_access_cookies(response, access)
    set_refresh_cookies(response, refresh)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@bp.post("/logout")
@console_page()
def logout() -> Response:
    auth.sign_out(g.token_claims)  # the same session revocation as POST /auth/logout
    response = see_other(url_for("console.login"))
    unset_jwt_cookies(response)
    return response
