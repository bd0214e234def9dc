"""Incident CRUD and lifecycle transitions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import Row

from incident_api.guards import actor, require_role
from incident_api.openapi import documented
from incident_api.responses import json_body
from incident_api.schemas import (
    CommentRequest,
    EventList,
    EventOut,
    IncidentCreate,
    IncidentOut,
    IncidentPage,
    IncidentPatch,
    IncidentQuery,
    MemberOut,
    MergeRequest,
    SplitRequest,
    TransitionRequest,
)
from incident_api.services import services
from incident_api.validation import FieldError, invalid_fields, parse_body, parse_query
from warehouse.incidents import IncidentFilter, IncidentRow, InvalidCursor, UnknownMembers
from warehouse.models import Incident
from warehouse.users import Role

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _dicts(rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Rows as dicts, for validation: pydantic validates a dict in half the time it takes to
    read the same fields as attributes (from_attributes), and zipping with the column names
    once costs less than ``Row._asdict`` per row (docs/benchmarks.md)."""
    if not rows:
        return []
    names = rows[0]._fields
    return [dict(zip(names, row, strict=True)) for row in rows]


def _with_members(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each incident with its members (one query for the whole page)."""
    members = services().incidents.members([item["id"] for item in items])
    for item in items:
        item["members"] = _dicts(members.get(item["id"], []))
    return items


def _out(incident: Incident | IncidentRow, status: int = 200) -> Response:
    """The incident as the store just returned it, with its members (one query)."""
    out = IncidentOut.model_validate(
        _dicts([incident])[0] if isinstance(incident, Row) else incident
    )
    held = services().incidents.members([out.id]).get(out.id, [])
    out.members = [MemberOut.model_validate(member) for member in held]
    return json_body(out, status)


@bp.post("")
@require_role(Role.RESPONDER)
@documented(
    "Open an incident by hand",
    tag="incidents",
    body=IncidentCreate,
    responses={201: IncidentOut},
)
def create() -> Response:
    body = parse_body(IncidentCreate)
    incident = services().incidents.create(
        title=body.title,
        description=body.description,
        severity=body.severity,
        dataset=body.dataset,
        feature=body.feature,
        assignee=body.assignee,
        evidence=body.evidence.model_dump(exclude_unset=True, mode="json"),
        actor=actor(),
    )
    response = _out(incident, 201)
    response.headers["Location"] = f"/incidents/{incident.id}"
    return response


@bp.get("")
@require_role(Role.VIEWER)
@documented(
    "List incidents, newest first, with filters and cursor pagination",
    tag="incidents",
    query=IncidentQuery,
    responses={200: IncidentPage},
)
def list_incidents() -> Response:
    query = parse_query(IncidentQuery)
    flt = IncidentFilter(
        status=query.status,
        severity=query.severity,
        source=query.source,
        dataset=query.dataset,
        feature=query.feature,
        created_after=query.created_after,
        created_before=query.created_before,
    )
    try:
        page = services().incidents.list(flt, limit=query.limit, cursor=query.cursor)
    except InvalidCursor:
        error = FieldError("cursor", "not a cursor from this API", "cursor")
        raise invalid_fields("query", [error]) from None
    items = _with_members(_dicts(page.items))
    return json_body(IncidentPage.model_validate({"items": items, "next_cursor": page.next_cursor}))


@bp.get("/<int:incident_id>")
@require_role(Role.VIEWER)
@documented("One incident", tag="incidents", responses={200: IncidentOut})
def get(incident_id: int) -> Response:
    return _out(services().incidents.get(incident_id))


@bp.patch("/<int:incident_id>")
@require_role(Role.RESPONDER)
@documented(
    "Change title, description, severity or assignee",
    tag="incidents",
    body=IncidentPatch,
    responses={200: IncidentOut},
)
def update(incident_id: int) -> Response:
    body = parse_body(IncidentPatch)
    changes = body.model_dump(include=body.model_fields_set)
    incident = services().incidents.update(incident_id, changes, actor=actor())
    return _out(incident)


@bp.post("/<int:incident_id>/transitions")
@require_role(Role.RESPONDER)
@documented(
    "Move an incident through its lifecycle (409 when the move is not allowed)",
    tag="incidents",
    body=TransitionRequest,
    responses={200: IncidentOut},
    problems={409},
)
def transition(incident_id: int) -> Response:
    body = parse_body(TransitionRequest)
    incident = services().incidents.transition(
        incident_id, body.status, actor=actor(), note=body.note
    )
    return _out(incident)


@bp.post("/<int:incident_id>/split")
@require_role(Role.RESPONDER)
@documented(
    "Split members out of a drift incident into a new incident linked to it (409 when it is "
    "resolved or the split would take every member; 422 for a feature it does not hold)",
    tag="incidents",
    body=SplitRequest,
    responses={201: IncidentOut},
    problems={409},
)
def split(incident_id: int) -> Response:
    body = parse_body(SplitRequest)
    try:
        new = services().incidents.split(incident_id, body.features, actor=actor())
    except UnknownMembers as exc:
        errors = [
            FieldError(f"features.{body.features.index(name)}", f"not a member: {name}", "value")
            for name in exc.features
        ]
        raise invalid_fields("body", errors) from None
    response = _out(new, 201)
    response.headers["Location"] = f"/incidents/{new.id}"
    return response


@bp.post("/<int:incident_id>/merge")
@require_role(Role.RESPONDER)
@documented(
    "Merge another drift incident of the same dataset into this one: its members move here "
    "and it is resolved as merged (409 for another dataset, a resolved incident or one "
    "without members)",
    tag="incidents",
    body=MergeRequest,
    responses={200: IncidentOut},
    problems={409},
)
def merge(incident_id: int) -> Response:
    body = parse_body(MergeRequest)
    if body.from_ == incident_id:
        error = FieldError("from", "an incident cannot be merged into itself", "value")
        raise invalid_fields("body", [error])
    return _out(services().incidents.merge(incident_id, body.from_, actor=actor()))


@bp.post("/<int:incident_id>/comments")
@require_role(Role.RESPONDER)
@documented(
    "Comment on an incident: a comment event on its timeline (the console's comments too)",
    tag="incidents",
    body=CommentRequest,
    responses={201: EventOut},
)
def comment(incident_id: int) -> Response:
    body = parse_body(CommentRequest)
    added = services().incidents.comment(incident_id, body.body, actor=actor())
    return json_body(EventOut.model_validate(added), status=201)


@bp.get("/<int:incident_id>/events")
@require_role(Role.VIEWER)
@documented(
    "The incident's timeline, oldest first",
    tag="incidents",
    responses={200: EventList},
)
def events(incident_id: int) -> Response:
    items = _dicts(services().incidents.events(incident_id))
    return json_body(EventList.model_validate({"items": items}))


@bp.delete("/<int:incident_id>")
@require_role(Role.ADMIN)
@documented(
    "Delete an incident: every read answers 404 after, but it and its timeline stay in the "
    "audit export (GET /audit/events)",
    tag="incidents",
    responses={204: None},
)
def delete(incident_id: int) -> Response:
    services().incidents.delete(incident_id, actor=actor())
    return Response(status=204)
