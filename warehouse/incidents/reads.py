"""Reading incidents: one by id, its timeline, filtered pages with keyset cursors, counts.

Core rows on one connection (no Session, no identity map): the API's hot reads.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Final, TypeAlias, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    Table,
    bindparam,
    func,
    select,
)

from warehouse.db import Database
from warehouse.lifecycle import Severity, Source, Status
from warehouse.models import NOT_RESOLVED, Incident, IncidentEvent, IncidentMember

MAX_PAGE: Final = 200
MAX_ID: Final = 2**31 - 1
"""Ids are 32-bit integers in the schema; a larger one cannot exist (and must not reach the
driver, which would overflow rather than find nothing)."""

IncidentRow: TypeAlias = Row[Any]
"""A stored incident as read: its columns as attributes (``row.title``), no ORM state."""
EventRow: TypeAlias = Row[Any]
"""A timeline event as read: its columns as attributes."""
MemberRow: TypeAlias = Row[Any]
"""A drift incident's member as read: its columns as attributes."""

INCIDENTS: Final = cast(Table, Incident.__table__)
EVENTS: Final = cast(Table, IncidentEvent.__table__)
MEMBERS: Final = cast(Table, IncidentMember.__table__)
LIVE: Final = INCIDENTS.c.deleted_at.is_(None)
"""Not deleted by an admin: every read sees only these (deleted ones stay for the audit)."""
UNRESOLVED: Final = (INCIDENTS.c.status != Status.RESOLVED.value) & LIVE
"""The incidents that hold their fingerprint (the partial unique index's condition)."""
_INCIDENT_BY_ID: Final = select(INCIDENTS).where(INCIDENTS.c.id == bindparam("id"), LIVE)
_MEMBERS_OF: Final = (
    select(MEMBERS)
    .where(MEMBERS.c.incident_id.in_(bindparam("ids", expanding=True)))
    .order_by(MEMBERS.c.incident_id, MEMBERS.c.id)
)
_EVENTS_OF: Final = (
    select(EVENTS).where(EVENTS.c.incident_id == bindparam("id")).order_by(EVENTS.c.id)
)

PAGE_FILTERS: Final[dict[str, Callable[[BindParameter[Any]], ColumnElement[bool]]]] = {
    "status": lambda value: INCIDENTS.c.status == value,
    "severity": lambda value: INCIDENTS.c.severity == value,
    "source": lambda value: INCIDENTS.c.source == value,
    "dataset": lambda value: INCIDENTS.c.dataset == value,
    "feature": lambda value: INCIDENTS.c.feature == value,
    "created_after": lambda value: INCIDENTS.c.created_at >= value,
    "created_before": lambda value: INCIDENTS.c.created_at < value,
}
"""The condition each :class:`IncidentFilter` field puts on a page, given its bound value."""


@lru_cache(maxsize=1 << (len(PAGE_FILTERS) + 2))  # every combination of filters and cursor
def _page_statement(bound: frozenset[str], by_member: bool = False) -> Select[Any]:
    """A page's statement for the parameters in ``bound``, built once per combination: built
    afresh for each request, the statement and its cache key were a large share of a filtered
    page's read (docs/benchmarks.md). ``by_member``: the feature is a drift incident's member
    rather than the incident's own feature column."""
    query = select(INCIDENTS).where(LIVE)
    if by_member:
        query = query.join(MEMBERS, MEMBERS.c.incident_id == INCIDENTS.c.id).where(
            MEMBERS.c.feature == bindparam("feature")
        )
    for name, condition in PAGE_FILTERS.items():
        if name in bound and not (by_member and name == "feature"):
            query = query.where(condition(bindparam(name)))
    if "before_id" in bound:
        query = query.where(INCIDENTS.c.id < bindparam("before_id"))
    return query.order_by(INCIDENTS.c.id.desc()).limit(bindparam("limit", type_=Integer))


AUDIT_BATCH: Final = 500


_DELETER: Final = EVENTS.alias("deletion")
_AUDIT_COLUMNS: Final = (
    *EVENTS.c,
    INCIDENTS.c.title.label("incident_title"),
    INCIDENTS.c.severity.label("incident_severity"),
    INCIDENTS.c.status.label("incident_status"),
    INCIDENTS.c.dataset.label("incident_dataset"),
    INCIDENTS.c.deleted_at.label("incident_deleted_at"),
    select(_DELETER.c.actor)
    .where(_DELETER.c.incident_id == EVENTS.c.incident_id, _DELETER.c.kind == "deleted")
    .order_by(_DELETER.c.id)
    .limit(1)
    .scalar_subquery()
    .label("incident_deleted_by"),
)
"""An event with its incident as it is now (title, severity, status, and who deleted it when),
so a deleted incident can be read from the export alone."""


def _audit_statement(bound: frozenset[str]) -> Select[Any]:
    query = (
        select(*_AUDIT_COLUMNS)
        .join(INCIDENTS, INCIDENTS.c.id == EVENTS.c.incident_id)
        .where(EVENTS.c.id > bindparam("after_id"))
    )
    if "incident_id" in bound:
        query = query.where(EVENTS.c.incident_id == bindparam("incident_id"))
    if "since" in bound:
        query = query.where(EVENTS.c.at >= bindparam("since"))
    return query.order_by(EVENTS.c.id).limit(AUDIT_BATCH)


class IncidentNotFound(LookupError):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} does not exist")
        self.incident_id = incident_id


class InvalidCursor(ValueError):
    """A pagination cursor this store did not hand out."""


@dataclass(frozen=True)
class IncidentFilter:
    status: Status | None = None
    severity: Severity | None = None
    source: Source | None = None
    dataset: str | None = None
    feature: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class Page:
    items: list[IncidentRow]
    next_cursor: str | None


def check_id(incident_id: int) -> None:
    """Raise :class:`IncidentNotFound` for an id no incident can have."""
    if not 1 <= incident_id <= MAX_ID:
        raise IncidentNotFound(incident_id)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "id" or not value.isdigit() or int(value) > MAX_ID + 1:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("not a cursor from this API") from None


class IncidentReads:
    """The read side of :class:`warehouse.incidents.IncidentStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, incident_id: int) -> IncidentRow:
        check_id(incident_id)
        row = self.db.read(lambda c: c.execute(_INCIDENT_BY_ID, {"id": incident_id}).first())
        if row is None:
            raise IncidentNotFound(incident_id)
        return row

    def members(self, incident_ids: list[int]) -> dict[int, list[MemberRow]]:
        """The members of each of ``incident_ids`` (drift incidents), oldest first; one query."""
        if not incident_ids:
            return {}
        rows = self.db.read(lambda c: c.execute(_MEMBERS_OF, {"ids": incident_ids}).all())
        found: dict[int, list[MemberRow]] = {}
        for row in rows:
            found.setdefault(row.incident_id, []).append(row)
        return found

    def holders(self, dataset: str) -> dict[str, int]:
        """Per feature of ``dataset``, the newest live incident that holds it as a member."""
        query = (
            select(MEMBERS.c.feature, func.max(MEMBERS.c.incident_id))
            .join(INCIDENTS, INCIDENTS.c.id == MEMBERS.c.incident_id)
            .where(MEMBERS.c.dataset == dataset, LIVE)
            .group_by(MEMBERS.c.feature)
        )
        return {feature: int(i) for feature, i in self.db.read(lambda c: c.execute(query).all())}

    def events(self, incident_id: int) -> list[EventRow]:
        check_id(incident_id)

        def work(connection: Connection) -> list[EventRow] | None:
            if connection.execute(_INCIDENT_BY_ID, {"id": incident_id}).first() is None:
                return None
            return list(connection.execute(_EVENTS_OF, {"id": incident_id}))

        events = self.db.read(work)
        if events is None:
            raise IncidentNotFound(incident_id)
        return events

    @staticmethod
    def page_query(
        flt: IncidentFilter, limit: int, cursor: str | None, *, by_member: bool = False
    ) -> tuple[Select[Any], dict[str, Any]]:
        """The statement behind :meth:`list` and its parameters: one row more than ``limit``
        tells whether a next page exists. With a feature, :meth:`list` runs it twice: on the
        incidents' own feature and (``by_member``) on drift incidents' members."""
        values = {name: getattr(flt, name) for name in PAGE_FILTERS}
        params: dict[str, Any] = {
            name: value.value if isinstance(value, Enum) else value
            for name, value in values.items()
            if value is not None
        }
        if cursor is not None:
            params["before_id"] = decode_cursor(cursor)
        params["limit"] = limit + 1
        return _page_statement(frozenset(params), by_member), params

    def list(
        self, flt: IncidentFilter | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """Newest first, keyset-paginated on id (stable while incidents are added)."""
        limit = max(1, min(limit, MAX_PAGE))
        flt = flt or IncidentFilter()
        query, params = self.page_query(flt, limit, cursor)
        if flt.feature is None:
            rows = self.db.read(lambda c: c.execute(query, params).all())
        else:
            # Each statement walks its own index; the page is the newest of both (one
            # statement with OR would walk every newer incident: tests/warehouse/…pages).
            members, _ = self.page_query(flt, limit, cursor, by_member=True)

            def both(c: Connection) -> list[Row[Any]]:
                found = {r.id: r for q in (query, members) for r in c.execute(q, params)}
                return sorted(found.values(), key=lambda r: r.id, reverse=True)[: limit + 1]

            rows = self.db.read(both)
        more = len(rows) > limit
        items = list(rows[:limit])
        return Page(items, encode_cursor(items[-1].id) if more and items else None)

    def audit_events(
        self, *, incident_id: int | None = None, since: datetime | None = None
    ) -> Iterator[EventRow]:
        """Every timeline event in id order — deleted incidents' included — read in batches
        of :data:`AUDIT_BATCH`, each on its own connection, so a long export holds none
        between batches."""
        params: dict[str, Any] = {"after_id": 0}
        if incident_id is not None:
            params["incident_id"] = incident_id
        if since is not None:
            params["since"] = since
        query = _audit_statement(frozenset(params))
        while True:
            rows = self.db.read(lambda c: c.execute(query, params).all())
            yield from rows
            if len(rows) < AUDIT_BATCH:
                return
            params["after_id"] = rows[-1].id

    def open_by_severity(self) -> dict[str, int]:
        """Not-resolved incidents per severity (every severity present, zeros included)."""
        query = (
            select(Incident.severity, func.count())
            .where(NOT_RESOLVED)  # as text, so the partial index's condition matches it
            .group_by(Incident.severity)
        )
        with self.db.reads() as session:
            counts = {severity: int(n) for severity, n in session.execute(query)}
        return {s.value: counts.get(s.value, 0) for s in Severity}
