"""The application factory: ``flask --app incident_api`` and
``gunicorn 'incident_api:create_app()'`` both call :func:`create_app`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click
from flask import Flask, Response, g, request
from flask_cors import CORS
from opentelemetry.sdk.trace.export import SpanExporter
from werkzeug.middleware.proxy_fix import ProxyFix

from incident_api import (
    accounts,
    alerts,
    audit,
    auth,
    cli,
    console,
    datasets,
    docs_ui,
    errors,
    incidents,
    ops,
    schema,
    sessions,
    tokens,
)
from incident_api.denylist import make_denylist
from incident_api.logs import TRACE_HEADER, configure_logging, install_request_logging
from incident_api.metrics import WarehouseCollector, init_metrics
from incident_api.notifications import views as notification_views
from incident_api.services import KEY, Services
from incident_api.settings import ConfigError, FeatureSeries, Settings, load_settings
from incident_api.tracing import configure_tracing
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentStore
from warehouse.notifications import NotificationStore
from warehouse.present import PresentStore
from warehouse.sessions import SessionStore
from warehouse.users import UserStore

T = TypeVar("T")

API_CSP = "default-src 'none'; frame-ancestors 'none'"
CONSOLE_CSP = (  # the console's CSS is a file of ours; it runs no script at all
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CSP = (  # Swagger UI's scripts are files of ours, none inline
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)


def _security_headers(settings: Settings) -> Any:
    def add(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        path = request.path
        csp = DOCS_CSP if path.startswith("/docs") else API_CSP
        if path.startswith("/console"):
            csp = CONSOLE_CSP
            headers.setdefault("Cache-Control", "no-store")  # pages hold incident data
        headers.setdefault("Content-Security-Policy", csp)
        if request.path.startswith("/auth/"):
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        if settings.production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response

    return add


def _redis_options(settings: Settings) -> dict[str, float]:
    if not settings.redis_url:
        return {}
    timeout = settings.redis_timeout_seconds
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def _one_connection_per_request(app: Flask, db: Database) -> None:
    """The user lookup, the denylist (when it is SQL) and the view's queries share one pooled
    connection: one checkout and one pre-ping per request instead of one per query."""

    @app.before_request
    def _pin() -> None:
        g.db_pin = db.pin()

    @app.teardown_request
    def _unpin(_error: BaseException | None) -> None:
        token = g.pop("db_pin", None)
        if token is not None:
            db.unpin(token)


def _or_one_line(step: Callable[[], T]) -> T:
    """``step()``; its ConfigError under ``flask --app incident_api …`` becomes one line and
    exit status 1, not a traceback."""
    try:
        return step()
    except ConfigError as exc:
        if click.get_current_context(silent=True) is not None:
            raise click.ClickException(str(exc)) from None
        raise


def create_app(
    config: Mapping[str, Any] | None = None, *, span_exporter: SpanExporter | None = None
) -> Flask:
    """Build the API. ``config`` overrides environment settings by name (``database_url``,
    ``redis_url``, ``jwt_secret_key``, …); bad configuration raises ConfigError.
    ``span_exporter`` replaces the OTLP exporter (tests, embedding)."""
    settings = _or_one_line(lambda: load_settings(dict(config or {})))
    configure_logging(json_lines=settings.production)
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        LOGIN_RATE_LIMIT=settings.login_rate_limit,
        LOGIN_FAILURE_LIMIT=settings.login_failure_limit,
        REFRESH_RATE_LIMIT=settings.refresh_rate_limit,
        # Shared by every worker and instance through Redis when it is configured; while Redis
        # is down each worker counts in its own memory (docs/operations.md).
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_STORAGE_OPTIONS=_redis_options(settings),
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_KEY_PREFIX="driftwatch-ratelimit",
    )
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the models' field order
    db = Database.from_url(settings.database_url)
    _or_one_line(lambda: schema.prepare(settings, db))
    svc = Services(
        settings=settings,
        db=db,
        incidents=IncidentStore(db),
        users=UserStore(db),
        sessions=SessionStore(db),
        notifications=NotificationStore(db),
        results=DriftResultStore(db),
        present=PresentStore(db),
        denylist=make_denylist(settings.redis_url, db, settings.redis_timeout_seconds),
    )
    app.extensions[KEY] = svc
    _one_connection_per_request(app, db)
    _or_one_line(lambda: configure_tracing(app, db.engine, span_exporter))
    install_request_logging(app)
    collector = WarehouseCollector(
        svc.present,
        svc.incidents,
        svc.denylist,
        svc.notifications,
        only_not_ok=settings.metrics_feature_series is FeatureSeries.NOT_OK,
    )
    init_metrics(app, collector)
    tokens.configure(app, settings.signing_key(), secure_cookies=settings.production)
    auth.limiter.init_app(app)
    # The limiter is module-wide and init_app keeps its "storage is down" flag: an app built
    # after another one's Redis went away would count in memory until a backoff ran out.
    auth.limiter._storage_dead = False
    CORS(
        app,
        origins=settings.cors_origins or [],
        supports_credentials=False,
        expose_headers=["Location", "Retry-After", TRACE_HEADER],
    )
    app.register_blueprint(ops.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(sessions.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(datasets.bp)
    app.register_blueprint(alerts.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(notification_views.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(docs_ui.bp)
    errors.register(app)
    cli.register(app)
    app.after_request(_security_headers(settings))
    return app
