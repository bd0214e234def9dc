"""The console's pages about incidents: the incident list and one incident (its drift evidence
drawn, the actions a role allows). The datasets' pages are in :mod:`.datasets`."""

from __future__ import annotations

from typing import Any, Final, Literal
from urllib.parse import quote, urlencode

from flask import Response, g, request, url_for
from pydantic import ValidationError

from drift.thresholds import DEFAULT_LEVELS as DRIFT_LEVELS
from incident_api.console import charts
from incident_api.console.access import console_page
from incident_api.console.listing import list_page, list_query
from incident_api.console.pages import bp, error_page, page, see_other
from incident_api.safe import number, one_line, safe_url
from incident_api.services import services
from warehouse.incidents import (
    GroupingConflict,
    IncidentNotFound,
    IncidentRow,
    MemberRow,
    UnknownMembers,
    severity_of,
)
from warehouse.lifecycle import InvalidTransition, ReopenConflict, Severity, Source, Status
from warehouse.users import Role

TREND_PARTITIONS: Final = 30
SOURCES: Final = {Source.DAGSTER: "Dagster", Source.ALERTMANAGER: "Alertmanager"}
DEFAULT_PSI: Final = {
    "warn": DRIFT_LEVELS["psi"].warn,
    "critical": DRIFT_LEVELS["psi"].critical,
}
"""PSI levels drawn when the evidence does not carry the ones it was graded with."""


@bp.get("/")
@console_page()
def incidents() -> Response:
    try:
        query = list_query()
        items, next_cursor = list_page(query)
    except (ValidationError, ValueError) as exc:
        field = exc.errors()[0]["loc"][0] if isinstance(exc, ValidationError) else "cursor"
        return error_page(400, f"The filter {field} is not one this page knows.")
    counts = services().incidents.open_by_severity()
    return page(
        "incidents.html",
        items=items,
        next_cursor=next_cursor,
        query=query,
        counts=counts,
        statuses=[s.value for s in Status],
        severities=[s.value for s in Severity],
        sources=[s.value for s in Source],
        datasets=services().present.datasets(),
        source_name=_source_name,
    )


def _source_name(incident: IncidentRow) -> str:
    known = SOURCES.get(Source(incident.source))
    return known or f"person ({incident.created_by})"


def _dagster_base(run_url: str | None) -> str | None:
    if not run_url or "/runs/" not in run_url:
        return None
    return run_url.rsplit("/runs/", 1)[0]


def _psi_levels(evidence: dict[str, Any]) -> dict[str, float]:
    """The PSI levels the evidence was graded with, where they are numbers; else the defaults."""
    given = evidence.get("levels")
    psi = given.get("psi") if isinstance(given, dict) else None
    if not isinstance(psi, dict):
        return DEFAULT_PSI
    levels = {name: number(psi.get(name)) for name in ("warn", "critical")}
    return {k: v for k, v in levels.items() if v is not None} or DEFAULT_PSI


def _graded_levels(evidence: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """Each measure's levels in the evidence, where both are numbers (hostile evidence shows
    nothing rather than text posing as a level)."""
    given = evidence.get("levels")
    if not isinstance(given, dict):
        return []
    shown = []
    for name, level in sorted(given.items()):
        if isinstance(level, dict):
            warn, critical = number(level.get("warn")), number(level.get("critical"))
            if warn is not None and critical is not None:
                shown.append((str(name), {"warn": warn, "critical": critical}))
    return shown


def _worst_first(members: list[MemberRow]) -> list[MemberRow]:
    return sorted(
        members,
        key=lambda m: (m.recovered, -severity_of(m.status).rank, -(m.psi or 0.0), m.feature),
    )


def _incident_page(incident_id: int, status: int = 200, error: str | None = None) -> Response:
    store = services().incidents
    try:
        incident = store.get(incident_id)
    except IncidentNotFound:
        return error_page(404, f"There is no incident {incident_id}.")
    members = _worst_first(store.members([incident_id]).get(incident_id, []))
    # the worst member's evidence is drawn; the selector draws another's
    shown = next((m for m in members if m.feature == request.args.get("member")), None)
    shown = shown or (members[0] if members else None)
    evidence = dict(shown.evidence or {}) if shown is not None else incident.evidence or {}
    feature = shown.feature if shown is not None else incident.feature
    trend = None
    if incident.dataset and feature:
        results = services().results.recent_partitions(incident.dataset, feature, TREND_PARTITIONS)
        trend = charts.psi_trend(
            [(r.partition, r.psi, r.status) for r in results], _psi_levels(evidence)
        )
    run_url = safe_url(evidence.get("run_url"))
    dagster = _dagster_base(run_url)
    partition_url = None
    if dagster and evidence.get("partition") and incident.dataset:
        where = quote(f"{incident.dataset}/feature_drift")
        partition_url = (
            f"{dagster}/assets/{where}?{urlencode({'partition': evidence['partition']})}"
        )
    return page(
        "incident.html",
        status=status,
        incident=incident,
        members=members,
        shown=feature,
        evidence=evidence,
        psi=number(evidence.get("psi")),
        graded_levels=_graded_levels(evidence),
        run_url=run_url,
        source=_source_name(incident),
        bins=charts.bin_chart(evidence.get("bins")),
        segments=charts.segment_rows(evidence.get("segments")),
        where=one_line(evidence["where"]) if isinstance(evidence.get("where"), str) else None,
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
        return error_page(404, f"There is no incident {incident_id}.")
    return see_other(url_for("console.incident", incident_id=incident_id))


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


@bp.post("/incidents/<int:incident_id>/split")
@console_page(Role.RESPONDER)
def split(incident_id: int) -> Response:
    features = [f for f in request.form.getlist("features") if f]
    if not features:
        return _incident_page(incident_id, 422, "Tick the members to split out.")
    try:
        new = services().incidents.split(incident_id, features, actor=str(g.token_claims["sub"]))
    except IncidentNotFound:
        return error_page(404, f"There is no incident {incident_id}.")
    except (GroupingConflict, UnknownMembers) as exc:
        code = 422 if isinstance(exc, UnknownMembers) else 409
        return _incident_page(incident_id, code, f"Not split: {exc}.")
    return see_other(url_for("console.incident", incident_id=new.id))


@bp.post("/incidents/<int:incident_id>/merge")
@console_page(Role.RESPONDER)
def merge(incident_id: int) -> Response:
    other = request.form.get("from", "").strip().lstrip("#")
    if not other.isdigit():
        return _incident_page(incident_id, 422, "Give the number of the incident to merge.")
    try:
        services().incidents.merge(incident_id, int(other), actor=str(g.token_claims["sub"]))
    except IncidentNotFound as exc:
        missing = exc.incident_id == incident_id
        if missing:
            return error_page(404, f"There is no incident {incident_id}.")
        return _incident_page(incident_id, 404, f"Not merged: there is no incident {other}.")
    except GroupingConflict as exc:
        return _incident_page(incident_id, 409, f"Not merged: {exc}.")
    return see_other(url_for("console.incident", incident_id=incident_id))
