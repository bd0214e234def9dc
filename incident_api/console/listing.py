"""The console's incident list: open first, then acknowledged, then resolved, each status
read with the store's keyset cursor, so any page is one indexed query per status it touches."""

from __future__ import annotations

from typing import Final

from flask import request
from pydantic import BaseModel, ConfigDict, Field

from incident_api.services import services
from warehouse.incidents import IncidentFilter, IncidentRow
from warehouse.lifecycle import Severity, Source, Status

PAGE_SIZE: Final = 50
PHASES: Final = (Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED)
"""The list's order when no status is asked for."""


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    status: Status | None = None
    severity: Severity | None = None
    source: Source | None = None
    dataset: str | None = Field(None, max_length=200)
    cursor: str | None = Field(None, max_length=200, pattern=r"^[a-z]+\.[A-Za-z0-9_-]*$")


def list_query() -> ListQuery:
    values = {k: v for k, v in request.args.items() if v != ""}
    return ListQuery.model_validate(values)


def _phases(query: ListQuery) -> list[Status]:
    return [query.status] if query.status else list(PHASES)


def list_page(query: ListQuery) -> tuple[list[IncidentRow], str | None]:
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
