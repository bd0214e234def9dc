"""structlog: JSON lines in production, a readable console elsewhere; one line per request.

Every line of a request carries its trace_id (the OpenTelemetry trace id when a span records,
else a fresh 32-hex id that is also sent as ``X-Trace-Id``). Secrets never reach a line: the
redaction processor masks token, password and authorization fields wherever they appear.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

import structlog
from flask import Flask, Response, g, request
from opentelemetry import trace

SECRET_KEYS: Final = ("password", "token", "authorization", "secret", "cookie", "jwt")
TRACE_HEADER: Final = "X-Trace-Id"


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(word in key.lower() for word in SECRET_KEYS):
            event[key] = "[redacted]"
    return event


_CALLSITE: Final = (
    structlog.processors.CallsiteParameter.MODULE,
    structlog.processors.CallsiteParameter.FUNC_NAME,
    structlog.processors.CallsiteParameter.LINENO,
    structlog.processors.CallsiteParameter.PROCESS,  # which gunicorn worker wrote the line
)


EXCEPTIONS: Final = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)
"""An exception as type, message and frames — never the frames' local variables, which hold
passwords, channel URLs and signing secrets (``dict_tracebacks`` includes them by default)."""


def configure_logging(json_lines: bool) -> None:
    """JSON lines carry an exception as a structured list (type, message, frames) instead of
    the traceback object's repr; a console line prints the plain traceback. Neither shows a
    frame's locals."""
    renderer: list[Any] = (
        [EXCEPTIONS, structlog.processors.JSONRenderer()]
        if json_lines
        else [
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        ]
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder(_CALLSITE),
        redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


access_log = structlog.get_logger("incident_api.access")


def _trace_ids() -> tuple[str, str | None]:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return format(context.trace_id, "032x"), format(context.span_id, "016x")
    return uuid.uuid4().hex, None


def install_request_logging(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        trace_id, span_id = _trace_ids()
        g.request_started = time.perf_counter()
        g.trace_id = trace_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(trace_id=trace_id, span_id=span_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        trace_id = getattr(g, "trace_id", None) or _trace_ids()[0]
        response.headers[TRACE_HEADER] = trace_id
        started = getattr(g, "request_started", None)
        duration = (time.perf_counter() - started) * 1000 if started else None
        claims = g.get("token_claims")  # set once a token is accepted (valid, not revoked)
        username = claims.get("sub") if isinstance(claims, Mapping) else None
        incident_id, severity = _incident_of(response)
        access_log.info(
            "request",
            method=request.method,
            route=request.url_rule.rule if request.url_rule else None,
            status=response.status_code,
            duration_ms=round(duration, 2) if duration is not None else None,
            user_id=username,
            incident_id=incident_id,
            severity=severity,
        )
        return response


def _incident_of(response: Response) -> tuple[object, object]:
    """The incident a request is about (its path's, or the one it created) and its severity
    when the answer shows the incident."""
    incident_id = (request.view_args or {}).get("incident_id")
    created = response.status_code == 201 and request.path == "/incidents"
    if (incident_id is None and not created) or response.status_code not in (200, 201):
        return incident_id, None
    body = response.get_json(silent=True) if response.is_json else None
    if not isinstance(body, dict) or "severity" not in body:
        return incident_id, None
    return (body.get("id") if incident_id is None else incident_id), body["severity"]
