"""Liveness, readiness and the API's own description."""

from __future__ import annotations

from importlib.metadata import version

from flask import Blueprint, Response, current_app, jsonify

from incident_api.openapi import build_spec, documented
from incident_api.schema import UPGRADE_COMMAND, behind
from incident_api.schemas import Health, Ready
from incident_api.services import services

bp = Blueprint("ops", __name__)


@bp.get("/health")
@documented("The process is up", tag="ops", responses={200: Health}, auth=None)
def health() -> Response:
    return jsonify(Health(status="ok").model_dump())


@bp.get("/ready")
@documented(
    "Database reachable with the schema this release needs, and token denylist reachable "
    "(503 names what is not)",
    tag="ops",
    responses={200: Ready, 503: Ready},
    auth=None,
)
def ready() -> tuple[Response, int]:
    svc = services()
    checks: dict[str, str] = {}
    try:
        svc.db.ping()
        checks["database"] = "ok"
        # a schema behind the code answers every call with errors: not ready
        problem = behind(svc.db)
        checks["schema"] = "ok" if problem is None else f"{problem}: run `{UPGRADE_COMMAND}`"
    except Exception as exc:
        current_app.logger.warning("readiness: database unreachable: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        svc.denylist.ping()
        checks[f"denylist ({svc.denylist.backend})"] = "ok"
    except Exception:  # DenylistUnavailable or anything else: "not ready"
        checks[f"denylist ({svc.denylist.backend})"] = "unavailable"
    healthy = all(state == "ok" for state in checks.values())
    body = Ready(status="ready" if healthy else "unavailable", checks=checks)
    response = jsonify(body.model_dump())
    if not healthy:
        response.headers["Retry-After"] = str(svc.settings.retry_after_seconds)
    return response, 200 if healthy else 503


@bp.get("/openapi.json")
def openapi() -> Response:
    spec = current_app.extensions.get("openapi_spec")
    if spec is None:
        spec = build_spec(
            current_app, title="driftwatch incident API", version=version("driftwatch")
        )
        current_app.extensions["openapi_spec"] = spec
    return jsonify(spec)
