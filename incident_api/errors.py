"""Every error becomes application/problem+json: HTTP errors, validation, domain errors, and
— as a last resort — unexpected exceptions, logged with their traceback but never shown."""

from __future__ import annotations

from flask import Flask, Response, current_app
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from incident_api.denylist import DenylistUnavailable
from incident_api.problems import ApiProblem, problem
from incident_api.services import services
from warehouse.incidents import GroupingConflict, IncidentNotFound
from warehouse.lifecycle import InvalidTransition, ReopenConflict

_DETAILS = {
    404: "no such resource",
    405: "this method is not allowed here",
    413: "the body is too large",
    415: "send the body as application/json",
    429: "too many attempts; wait and retry",
}


def register(app: Flask) -> None:
    @app.errorhandler(ApiProblem)
    def _problem(exc: ApiProblem) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = problem(status, _DETAILS.get(status, exc.description or ""))
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        if status == 429:
            retry = getattr(exc, "retry_after", None) or 60
            response.headers.setdefault("Retry-After", str(retry))
        return response

    @app.errorhandler(IncidentNotFound)
    def _not_found(exc: IncidentNotFound) -> Response:
        return problem(404, str(exc))

    @app.errorhandler(InvalidTransition)
    def _transition(exc: InvalidTransition) -> Response:
        return problem(409, str(exc))

    @app.errorhandler(GroupingConflict)
    def _grouping(exc: GroupingConflict) -> Response:
        return problem(409, str(exc))

    @app.errorhandler(ReopenConflict)
    def _reopen(exc: ReopenConflict) -> Response:
        return problem(409, str(exc))

    @app.errorhandler(DenylistUnavailable)
    def _denylist_down(exc: DenylistUnavailable) -> Response:
        current_app.logger.error("token denylist unavailable: %s", exc)
        retry = str(services().settings.retry_after_seconds)
        return problem(
            503, "token checks are unavailable; retry shortly", headers={"Retry-After": retry}
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _storage_down(exc: Exception) -> Response:
        # Only "cannot reach / lost the database" lands here; the transaction was rolled back,
        # so nothing is half-written. 503 makes Alertmanager (and clients) retry.
        current_app.logger.error("database unavailable: %s", type(exc).__name__)
        retry = str(services().settings.retry_after_seconds)
        return problem(
            503, "the incident store is unavailable; retry shortly", headers={"Retry-After": retry}
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        current_app.logger.exception("unhandled error")
        return problem(500, "internal error")
