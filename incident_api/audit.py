"""``GET /audit/events``: every timeline event, deleted incidents' included, as
newline-delimited JSON streamed in id order (admin only) — the trail an admin delete cannot
erase."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, stream_with_context

from incident_api.guards import require_role
from incident_api.openapi import documented
from incident_api.schemas import AuditEvent, AuditQuery
from incident_api.services import services
from incident_api.validation import parse_query
from warehouse.users import Role

NDJSON = "application/x-ndjson"
bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/events")
@require_role(Role.ADMIN)
@documented(
    "Export timeline events (deleted incidents included) as newline-delimited JSON, oldest first",
    tag="audit",
    query=AuditQuery,
    responses={200: AuditEvent},
    media_type=NDJSON,
)
def events() -> Response:
    query = parse_query(AuditQuery)
    rows = services().incidents.audit_events(incident_id=query.incident_id, since=query.since)

    def lines() -> Iterator[str]:
        for row in rows:
            fields = row._asdict()
            fields["incident"] = {
                name: fields.pop(f"incident_{name}")
                for name in ("title", "severity", "status", "dataset", "deleted_at", "deleted_by")
            }
            yield AuditEvent.model_validate(fields).model_dump_json() + "\n"

    return Response(stream_with_context(lines()), mimetype=NDJSON)
