"""A drift incident is one dataset's event; the features that breached are its members.

The one home of how members make the incident: its severity (the worst member's), its title
(the dataset, how many features, since when, which), the evidence drawn first (the worst
member's), and which incident holds a feature now (the routing of later breaches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warehouse.fingerprint import GroupBy
from warehouse.incidents.reads import LIVE, UNRESOLVED
from warehouse.lifecycle import Severity
from warehouse.models import DriftGrouping, Incident, IncidentMember, utcnow

MEMBER_SEVERITY: Final[Mapping[str, Severity]] = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,  # the feature could not be scored: a schema break
    "warn": Severity.MEDIUM,
}
"""A member's drift status → the incident severity it asks for (every status but ok is a
breach)."""
SCHEMA_CASES: Final[Mapping[str, str]] = {
    "missing": "column missing",
    "all_null": "column entirely null",
    "retyped": "column changed type",
    "unreadable": "column cannot be read",
}
"""A schema break (drift results' ``schema_break``) in words."""
TITLE_NAMES: Final = 3
TITLE_LENGTH: Final = 200  # the title column's width (and the dataset's, the feature's)


class UnknownMembers(ValueError):
    """Features a split names that are not members of the incident (422)."""

    def __init__(self, incident_id: int, features: Sequence[str]) -> None:
        super().__init__(
            f"incident {incident_id} has no member {', '.join(repr(f) for f in features)}"
        )
        self.features = list(features)


class GroupingConflict(Exception):
    """A split or merge the incidents' state does not allow (409)."""


def severity_of(status: str) -> Severity:
    return MEMBER_SEVERITY.get(status, Severity.MEDIUM)


def worst_first(members: Sequence[IncidentMember]) -> list[IncidentMember]:
    """Active members before recovered ones, then by severity, then by PSI, then by name."""
    return sorted(
        members,
        key=lambda m: (m.recovered, -severity_of(m.status).rank, -(m.psi or 0.0), m.feature),
    )


def title(dataset: str, members: Sequence[IncidentMember]) -> str:
    """E.g. "Drift in shop_orders: 4 features since 2026-11-10 (amount, device, delivery_days,
    …)"; a schema break says so."""
    ordered = worst_first(members)
    since = min((m.first_partition for m in members if m.first_partition), default=None)
    when = f" since {since}" if since else ""
    broken = [m for m in members if m.status == "error"]
    if len(members) == 1 and broken:
        case = SCHEMA_CASES.get(str(broken[0].measures.get("schema_break") or ""))
        text = f"Schema break in {dataset}.{broken[0].feature}: {case or 'cannot be scored'}"
        return clip_title(text + when)
    what = "Schema break" if len(broken) == len(members) else "Drift"
    if broken and len(broken) < len(members):
        what = "Drift and schema break"
    names = [m.feature for m in ordered[:TITLE_NAMES]]
    if len(members) > TITLE_NAMES:
        names.append("…")
    count = f"{len(members)} feature{'' if len(members) == 1 else 's'}"
    return clip_title(f"{what} in {dataset}: {count}{when} ({', '.join(names)})")


def clip_title(text: str) -> str:
    """``text`` cut to the title column with an ellipsis (PostgreSQL refuses a longer one)."""
    return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"


def refresh(incident: Incident, members: Sequence[IncidentMember]) -> None:
    """Title, feature (only while there is one member) and evidence follow the members; the
    evidence is the worst member's, with the state of Alertmanager's alerts kept."""
    if not members:
        return
    incident.title = title(incident.dataset or "", members)
    incident.feature = members[0].feature if len(members) == 1 else None
    alerts = (incident.evidence or {}).get("alerts")
    evidence = dict(worst_first(members)[0].evidence or {})
    if alerts:
        evidence["alerts"] = alerts
    incident.evidence = evidence


def worst_severity(members: Sequence[IncidentMember]) -> Severity:
    return max((severity_of(m.status) for m in members), key=lambda s: s.rank)


def members_of(session: Session, incident_id: int) -> list[IncidentMember]:
    query = (
        select(IncidentMember)
        .where(IncidentMember.incident_id == incident_id)
        .order_by(IncidentMember.id)
    )
    return list(session.scalars(query))


def holder(session: Session, dataset: str, feature: str) -> Incident | None:
    """The not-resolved incident that holds ``(dataset, feature)``, locked."""
    query = (
        select(Incident)
        .join(IncidentMember, IncidentMember.incident_id == Incident.id)
        .where(IncidentMember.dataset == dataset, IncidentMember.feature == feature, UNRESOLVED)
        .order_by(Incident.id.desc())
        .limit(1)
        .with_for_update(of=Incident)
    )
    return session.scalars(query).first()


def newest_holder(session: Session, dataset: str, feature: str) -> Incident | None:
    """The newest live incident that holds ``(dataset, feature)``, whatever its status."""
    newest = (
        select(func.max(IncidentMember.incident_id))
        .join(Incident, Incident.id == IncidentMember.incident_id)
        .where(IncidentMember.dataset == dataset, IncidentMember.feature == feature, LIVE)
        .scalar_subquery()
    )
    return session.scalars(select(Incident).where(Incident.id == newest).with_for_update()).first()


def grouping(session: Session, dataset: str) -> GroupBy:
    """The dataset's published ``group_by``; by dataset when none was published."""
    stored = session.scalar(select(DriftGrouping.group_by).where(DriftGrouping.dataset == dataset))
    return GroupBy(stored) if stored in set(GroupBy) else GroupBy.DATASET


def publish_groupings(session: Session, groupings: Mapping[str, GroupBy]) -> None:
    """Record each dataset's ``group_by`` where it differs from what is stored."""
    stored = {
        row.dataset: row
        for row in session.scalars(
            select(DriftGrouping).where(DriftGrouping.dataset.in_(list(groupings)))
        )
    }
    now = utcnow()
    for dataset, group_by in groupings.items():
        row = stored.get(dataset)
        if row is None:
            session.add(DriftGrouping(dataset=dataset, group_by=group_by.value, updated_at=now))
        elif row.group_by != group_by.value:
            row.group_by, row.updated_at = group_by.value, now
