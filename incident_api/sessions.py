"""An admin's view of sign-in sessions: list a user's sessions, revoke one or all of them."""

from __future__ import annotations

from flask import Blueprint, Response

from incident_api.account_schemas import SessionList, SessionOut
from incident_api.auth import end_session, end_user_sessions, security_log
from incident_api.guards import actor, require_role
from incident_api.openapi import documented
from incident_api.problems import ApiProblem
from incident_api.responses import json_body
from incident_api.services import services
from warehouse.sessions import EndReason
from warehouse.users import Role

bp = Blueprint("sessions", __name__, url_prefix="/users")


def _known(username: str) -> None:
    if services().users.get(username) is None:
        raise ApiProblem(404, f"user {username!r} does not exist")


@bp.get("/<username>/sessions")
@require_role(Role.ADMIN)
@documented("The user's active sessions, newest first", tag="auth", responses={200: SessionList})
def list_sessions(username: str) -> Response:
    _known(username)
    sessions = services().sessions.of_user(username)
    return json_body(SessionList(items=[SessionOut.model_validate(s) for s in sessions]))


@bp.delete("/<username>/sessions/<sid>")
@require_role(Role.ADMIN)
@documented("Revoke one session: its access and refresh tokens", tag="auth", responses={204: None})
def revoke_session(username: str, sid: str) -> Response:
    found = services().sessions.get(sid)
    if found is None or found.username != username:
        raise ApiProblem(404, "no such session")
    end_session(sid, EndReason.ADMIN)
    security_log.info("session_revoked", by=actor(), user=username, sid=sid)
    return Response(status=204)


@bp.delete("/<username>/sessions")
@require_role(Role.ADMIN)
@documented("Revoke every session of the user", tag="auth", responses={204: None})
def revoke_all(username: str) -> Response:
    _known(username)
    ended = end_user_sessions(username, EndReason.ADMIN)  # every one, not a listed page
    security_log.info("sessions_revoked", by=actor(), user=username, sessions_ended=ended)
    return Response(status=204)
