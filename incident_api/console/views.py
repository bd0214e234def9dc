"""The console's pages: sign in and out, the incident list, one incident (with its drift
evidence drawn and the actions a role allows), and the datasets' partition grid."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

import jwt
from flask import (
    Blueprint,
    Response,
    abort,
    g,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_jwt_extended import (
    get_jwt,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import CSRFError, JWTExtendedException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drift.thresholds import DEFAULT_LEVELS as DRIFT_LEVELS
from drift.thresholds import MEASURES
from incident_api import auth
from incident_api.console import assets, charts
from incident_api.denylist import DenylistUnavailable
from incident_api.problems import ApiProblem
from incident_api.services import services
from incident_api.tokens import CSRF_FORM_FIELD
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentFilter, IncidentNotFound, IncidentRow
from warehouse.lifecycle import InvalidTransition, ReopenConflict, Severity, Source, Status
from warehouse.users import Role

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")

LOGIN_CSRF_COOKIE: Final = "console_login_csrf"
PAGE_SIZE: Final = 50
GRID_PARTITIONS: Final = 14
TREND_PARTITIONS: Final = 30
PHASES: Final = (Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED)
"""The list's order when no status is asked for: open first, then acknowledged, then resolved."""
SOURCES: Final = {Source.DAGSTER: "Dagster", Source.ALERTMANAGER: "Alertmanager"}
DEFAULT_PSI: Final = {
    "warn": DRIFT_LEVELS["psi"].warn,
    "critical": DRIFT_LEVELS["psi"].critical,
}
"""PSI levels drawn when the evidence does not carry the ones it was graded with."""


def _page(template: str, status: int = 200, **context: Any) -> Response:
    claims = g.get("token_claims")
    # Every form sends the CSRF value of the access cookie's token (the double submit).
    context.setdefault("csrf", claims.get("csrf", "") if claims else "")
    body = render_template(
        f"console/{template}",
        user=claims["sub"] if claims else None,
        role=claims["role"] if claims else None,
        can_act=bool(claims) and Role(claims["role"]).allows(Role.RESPONDER),
        asset=lambda name: url_for("console.asset", name=assets.fingerprints()[name]),
        **context,
    )
    return Response(body, status=status, mimetype="text/html")


def _see_other(target: str) -> Response:
    """A 303 to ``target``: after a form, the browser GETs the page (no resubmission)."""
    return Response(status=303, headers={"Location": target})


def _error(status: int, message: str) -> Response:
    return _page("error.html", status=status, message=message)


def _safe_next(target: str | None) -> str:
    """Only a path of the console itself: never another site (an open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            return target
    return url_for("console.incidents")


def _back_after_sign_in() -> str:
    """Where sign-in returns to: the page asked for, or — when a form was posted after the
    cookie expired — the page the form was on (a redirect cannot repeat a POST)."""
    if request.method == "GET":
        return request.full_path
    return urlsplit(request.referrer or "").path or url_for("console.incidents")


def console_page(role: Role = Role.VIEWER) -> Callable[[F], F]:
    """The access cookie (CSRF-checked by the extension on every POST), not revoked, with
    ``role``. Signed-out or expired → the sign-in page; the wrong role → 403 page."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                verify_jwt_in_request(locations=["cookies"])
            except CSRFError:
                return _error(400, "This form has expired or was not sent by the console.")
            except DenylistUnavailable:
                down = _error(503, "Sign-in cannot be checked right now; try again shortly.")
                down.headers["Retry-After"] = str(services().settings.retry_after_seconds)
                return down
            except (JWTExtendedException, jwt.PyJWTError):
                return _see_other(url_for("console.login", next=_back_after_sign_in()))
            claims = get_jwt()
            g.token_claims = claims
            if not Role(claims["role"]).allows(role):
                return _error(403, f"This needs the {role.value} role.")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    path: Path | None = assets.by_fingerprint().get(name)
    if path is None:
        abort(404)
    response = send_file(path, max_age=365 * 24 * 3600)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@bp.get("/login")
def login() -> Response:
    token = secrets.token_urlsafe(32)
    response = _page("login.html", csrf=token, next=_safe_next(request.args.get("next")))
    # Double-submit before there is a session: the form echoes this cookie's value.
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=services().settings.production,
        path="/console/login",
    )
    return response


@bp.post("/login")
@auth.limiter.limit(auth._login_limit)
@auth.limiter.limit(
    auth._login_failure_limit,
    key_func=auth._login_failures_key,
    deduct_when=lambda response: response.status_code == 401,
)
def login_submit() -> Response:
    sent, expected = request.form.get(CSRF_FORM_FIELD, ""), request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _error(400, "This form has expired or was not sent by the console.")
    username = request.form.get("username", "").strip()[:150]
    password = request.form.get("password", "")[:1024]
    target = _safe_next(request.form.get("next"))
    if not username or not password:
        return _page("login.html", 422, csrf=expected, next=target, error="Enter both fields.")
    try:
        access, refresh = auth.sign_in(username, password)
    except ApiProblem:
        return _page(
            "login.html", 401, csrf=expected, next=target, error="Wrong username or password."
        )
    response = _see_other(target)
    set_access_cookies(response, access)
    set_refresh_cookies(response, refresh)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@bp.post("/logout")
@console_page()
def logout() -> Response:
    auth.sign_out(g.token_claims)  # the same session revocation as POST /auth/logout
    response = _see_other(url_for("console.login"))
    unset_jwt_cookies(response)
    return response


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    status: Status | None = None
    severity: Severity | None = None
    source: Source | None = None
    dataset: str | None = Field(None, max_length=200)
    cursor: str | None = Field(None, max_length=200, pattern=r"^[a-z]+\.[A-Za-z0-9_-]*$")


def _query() -> ListQuery:
    values = {k: v for k, v in request.args.items() if v != ""}
    return ListQuery.model_validate(values)


def _phases(query: ListQuery) -> list[Status]:
    return [query.status] if query.status else list(PHASES)


def _list_page(query: ListQuery) -> tuple[list[IncidentRow], str | None]:
    """One page in the console's order; the cursor is ``<status>.<store cursor>``."""
    store = services().incidents
    phases = _phases(query)
    start, store_cursor = 0, None
    if query.cursor:
        name, _, store_cursor = query.cursor.partition(".")
        start = [p.value for p in phases].index(name) if name in phases else len(phases)
        store_cursor = store_cursor or None
    items: list[IncidentRow] = []
    for i, phase in enumerate(phases[start:], start):
        flt = IncidentFilter(
            status=phase, severity=query.severity, source=query.source, dataset=query.dataset
        )
        page = store.list(flt, limit=PAGE_SIZE - len(items), cursor=store_cursor)
        items += page.items
        store_cursor = None
        if page.next_cursor:
            return items, f"{phase.value}.{page.next_cursor}"
        if len(items) >= PAGE_SIZE:
            following = phases[i + 1] if i + 1 < len(phases) else None
            return items, f"{following.value}." if following else None
    return items, None


@bp.get("/")
@console_page()
def incidents() -> Response:
    try:
        query = _query()
        items, next_cursor = _list_page(query)
    except (ValidationError, ValueError) as exc:
        field = exc.errors()[0]["loc"][0] if isinstance(exc, ValidationError) else "cursor"
        return _error(400, f"The filter {field} is not one this page knows.")
    counts = services().incidents.open_by_severity()
    return _page(
        "incidents.html",
        items=items,
        next_cursor=next_cursor,
        query=query,
        counts=counts,
        statuses=[s.value for s in Status],
        severities=[s.value for s in Severity],
        sources=[s.value for s in Source],
        datasets=DriftResultStore(services().db).datasets(),
        source_name=_source_name,
    )


def _source_name(incident: IncidentRow) -> str:
    known = SOURCES.get(Source(incident.source))
    return known or f"person ({incident.created_by})"


def _dagster_base(run_url: str | None) -> str | None:
    if not run_url or "/runs/" not in run_url:
        return None
    return run_url.rsplit("/runs/", 1)[0]


def _incident_page(incident_id: int, status: int = 200, error: str | None = None) -> Response:
    store = services().incidents
    try:
        incident = store.get(incident_id)
    except IncidentNotFound:
        return _error(404, f"There is no incident {incident_id}.")
    evidence = incident.evidence or {}
    trend = None
    if incident.dataset and incident.feature:
        results = DriftResultStore(services().db).recent_partitions(
            incident.dataset, incident.feature, TREND_PARTITIONS
        )
        levels = (evidence.get("levels") or {}).get("psi") or DEFAULT_PSI
        trend = charts.psi_trend([(r.partition, r.psi, r.status) for r in results], levels)
    dagster = _dagster_base(evidence.get("run_url"))
    partition_url = None
    if dagster and evidence.get("partition") and incident.dataset:
        partition_url = (
            f"{dagster}/assets/{incident.dataset}/feature_drift?partition={evidence['partition']}"
        )
    return _page(
        "incident.html",
        status=status,
        incident=incident,
        evidence=evidence,
        source=_source_name(incident),
        bins=charts.bin_chart(evidence.get("bins")),
        trend=trend,
        chart=charts,
        events=store.events(incident_id),
        partition_url=partition_url,
        error=error,
        transitions=_transitions(Status(incident.status)),
    )


def _transitions(current: Status) -> list[tuple[str, str]]:
    moves = {
        Status.OPEN: [("acknowledged", "Acknowledge"), ("resolved", "Resolve")],
        Status.ACKNOWLEDGED: [("resolved", "Resolve")],
        Status.RESOLVED: [("open", "Reopen")],
    }
    return moves[current]


@bp.get("/incidents/<int:incident_id>")
@console_page()
def incident(incident_id: int) -> Response:
    return _incident_page(incident_id)


Action = Literal["transition", "assign", "comment"]


def _act(incident_id: int, action: Action) -> Response:
    store, who = services().incidents, str(g.token_claims["sub"])
    form = request.form
    try:
        if action == "transition":
            to = Status(form.get("status", ""))
            store.transition(incident_id, to, actor=who, note=form.get("note", "")[:2000])
        elif action == "assign":
            assignee = form.get("assignee", "").strip()[:150] or None
            store.update(incident_id, {"assignee": assignee}, actor=who)
        else:
            text = form.get("body", "").strip()
            if not 1 <= len(text) <= 4000:
                return _incident_page(incident_id, 422, "A comment needs 1 to 4,000 characters.")
            store.comment(incident_id, text, actor=who)
    except ValueError:
        return _incident_page(incident_id, 422, "That is not a status an incident can have.")
    except (InvalidTransition, ReopenConflict) as exc:
        return _incident_page(incident_id, 409, f"Not done: {exc}.")
    except IncidentNotFound:
        return _error(404, f"There is no incident {incident_id}.")
    return _see_other(url_for("console.incident", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/transition")
@console_page(Role.RESPONDER)
def transition(incident_id: int) -> Response:
    return _act(incident_id, "transition")


@bp.post("/incidents/<int:incident_id>/assign")
@console_page(Role.RESPONDER)
def assign(incident_id: int) -> Response:
    return _act(incident_id, "assign")


@bp.post("/incidents/<int:incident_id>/comment")
@console_page(Role.RESPONDER)
def comment(incident_id: int) -> Response:
    return _act(incident_id, "comment")


@bp.get("/datasets")
@console_page()
def datasets() -> Response:
    results = DriftResultStore(services().db)
    store = services().incidents
    grids = []
    for name in results.datasets():
        days, cells = results.grid(name, GRID_PARTITIONS)
        links = {
            row.feature: row.id
            for row in reversed(store.list(IncidentFilter(dataset=name), limit=200).items)
            if row.feature
        }
        grids.append({"name": name, "days": days, "cells": cells, "incidents": links})
    return _page("datasets.html", grids=grids)


@bp.get("/datasets/<dataset>/<feature>/<partition>")
@console_page()
def result(dataset: str, feature: str, partition: str) -> Response:
    results = DriftResultStore(services().db)
    found = results.latest(dataset, feature, partition)
    if found is None:
        return _error(404, f"{dataset}.{feature} has no result for {partition}.")
    recent = results.recent_partitions(dataset, feature, TREND_PARTITIONS)
    trend = charts.psi_trend([(r.partition, r.psi, r.status) for r in recent], DEFAULT_PSI)
    return _page(
        "result.html",
        result=found,
        bins=charts.bin_chart(found.bins),
        trend=trend,
        chart=charts,
        measures=[(name, getattr(found, name)) for name in MEASURES],
    )
