"""``GET /notifications`` and ``POST /notifications/{id}/retry``: what was sent, what waits and
what died (admin only: bodies name incidents of every dataset)."""

from __future__ import annotations

import structlog
from flask import Blueprint, Response

from incident_api.guards import actor, require_role
from incident_api.openapi import documented
from incident_api.problems import ApiProblem
from incident_api.responses import json_body
from incident_api.schemas import NotificationOut, NotificationPage, NotificationQuery
from incident_api.services import services
from incident_api.validation import parse_query
from warehouse.notifications import DeliveryNotFound, NotRetryable
from warehouse.users import Role

log = structlog.get_logger("driftwatch.notifications")
bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("")
@require_role(Role.ADMIN)
@documented(
    "List notification deliveries, newest first, optionally of one status",
    tag="notifications",
    query=NotificationQuery,
    responses={200: NotificationPage},
)
def list_notifications() -> Response:
    query = parse_query(NotificationQuery)
    after = int(query.cursor) if query.cursor else None
    rows = services().notifications.page(status=query.status, after=after, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = str(rows[-1].id) if more else None
    items = [NotificationOut.model_validate(row) for row in rows]
    return json_body(NotificationPage(items=items, next_cursor=next_cursor))


@bp.post("/<int:delivery>/retry")
@require_role(Role.ADMIN)
@documented(
    "Send a dead (or backing-off) delivery again now, with a fresh attempt budget",
    tag="notifications",
    responses={200: NotificationOut},
    problems={404, 409},
)
def retry(delivery: int) -> Response:
    store = services().notifications
    try:
        row = store.retry(delivery)
    except DeliveryNotFound as exc:
        raise ApiProblem(404, str(exc)) from None
    except NotRetryable as exc:
        raise ApiProblem(409, str(exc)) from None
    log.info("notification retry requested", delivery=delivery, actor=actor())
    return json_body(NotificationOut.model_validate(row))
