"""An admin's changes to a user: a new password or a new role. Each ends every session of the
user and revokes every token issued before (``incident_api.auth.end_user_sessions``)."""

from __future__ import annotations

from flask import Blueprint, Response

from incident_api import auth
from incident_api.account_schemas import PasswordChange, RoleChange
from incident_api.guards import actor, require_role
from incident_api.openapi import documented
from incident_api.passwords import WeakPassword
from incident_api.problems import ApiProblem
from incident_api.validation import FieldError, invalid_fields, parse_body
from warehouse.users import Role, UserNotFound

bp = Blueprint("accounts", __name__, url_prefix="/users")


@bp.put("/<username>/password")
@require_role(Role.ADMIN)
@documented(
    "Set the user's password; every session of the user ends",
    tag="auth",
    body=PasswordChange,
    responses={204: None},
)
def set_password(username: str) -> Response:
    body = parse_body(PasswordChange)
    try:
        ended = auth.set_password(username, body.password)
    except WeakPassword as exc:
        raise invalid_fields("body", [FieldError("password", str(exc), "value")]) from None
    except UserNotFound:
        raise ApiProblem(404, f"user {username!r} does not exist") from None
    auth.security_log.info("password_set", by=actor(), user=username, sessions_ended=ended)
    return Response(status=204)


@bp.put("/<username>/role")
@require_role(Role.ADMIN)
@documented(
    "Set the user's role; every session of the user ends, so no token keeps the old role",
    tag="auth",
    body=RoleChange,
    responses={204: None},
)
def set_role(username: str) -> Response:
    body = parse_body(RoleChange)
    try:
        ended = auth.set_role(username, body.role)
    except UserNotFound:
        raise ApiProblem(404, f"user {username!r} does not exist") from None
    auth.security_log.info(
        "role_set", by=actor(), user=username, role=body.role.value, sessions_ended=ended
    )
    return Response(status=204)
