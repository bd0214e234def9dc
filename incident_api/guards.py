"""The checks every protected route goes through, on flask-jwt-extended.

A read is authorised by its access token plus one denylist lookup (token, session and subject
in one round trip): the role is a claim of the token. A write also reads the user from the
store and goes by the role it has there now, so a demoted or disabled user changes nothing
with a token issued before (changing a role or a password ends every session too:
:func:`incident_api.auth.set_role`). Every way the extension can refuse a token answers with
problem+json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, Final, TypeVar

from flask import Response, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from incident_api import tokens
from incident_api.openapi import REQUIRED_ROLE
from incident_api.problems import ApiProblem, problem
from incident_api.services import services
from incident_api.tokens import Kind
from warehouse.users import Role

F = TypeVar("F", bound=Callable[..., Any])
CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="driftwatch"'}
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
"""Views that only read: their revocation check may overlap the read (:func:`_overlapped`)."""


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers=CHALLENGE)


def _answer(detail: str) -> Response:
    return problem(401, detail, headers=CHALLENGE)


def _register_loaders() -> None:
    """The extension's default answers are ``{"msg": …}`` bodies; ours are problem+json. The
    blocklist is our denylist, failing closed (DenylistUnavailable becomes a 503)."""
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


_register_loaders()


def verified(kind: Kind, *, ask_denylist: bool = True) -> Mapping[str, Any]:
    """The claims of the request's token: signed by us, unexpired, of ``kind``, complete, and
    (unless the caller asks the denylist itself) not revoked."""
    verify_jwt_in_request(refresh=kind == "refresh", skip_revocation_check=not ask_denylist)
    claims = get_jwt()
    g.token_claims = claims  # for the access log and actor()
    return claims


def _allowed(claims: Mapping[str, Any], role: Role) -> None:
    if not Role(claims["role"]).allows(role):
        raise ApiProblem(403, f"this needs the {role.value} role")


def _allowed_now(claims: Mapping[str, Any], role: Role) -> None:
    """The role the store holds for the token's user now, not the one the token was issued
    with."""
    user = services().users.get(claims["sub"])
    if user is None or not user.active:
        raise unauthorized("the token's user is unknown or disabled")
    if not Role(user.role).allows(role):
        raise ApiProblem(403, f"this needs the {role.value} role")


def _overlapped(view: Callable[..., Any], role: Role, *args: Any, **kwargs: Any) -> Any:
    """A safe (read-only) request: the denylist is asked first and its answer read after the
    view, so the two round trips (denylist, database) overlap. A revoked token still gets 401,
    whatever the view answered, and a denylist that cannot answer still gets 503: what the
    view computed is dropped, and it changed nothing."""
    claims = verified("access", ask_denylist=False)
    answer = services().denylist.ask(
        claims["jti"], claims["sub"], claims["sid"], tokens.issued_at(claims)
    )
    try:
        _allowed(claims, role)
        result = view(*args, **kwargs)
    finally:
        if answer():
            raise unauthorized("the token has been revoked")
    return result


def require_role(role: Role) -> Callable[[F], F]:
    """A valid, unrevoked access token whose role includes ``role``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if request.method in SAFE_METHODS:
                return _overlapped(view, role, *args, **kwargs)
            _allowed_now(verified("access"), role)
            return view(*args, **kwargs)

        setattr(guarded, REQUIRED_ROLE, role.value)  # read by the OpenAPI document
        return guarded  # type: ignore[return-value]

    return decorate


def actor() -> str:
    """Who the request's token speaks for (the ``who`` of timeline events)."""
    return str(g.token_claims["sub"])
