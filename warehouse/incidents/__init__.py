"""The incident repository: the only code that writes incidents and their timeline.

``reads`` serves the API's pages, ``requests`` holds what the webhook and the sensor ask for,
``store`` applies them; callers import everything from here.
"""

from warehouse.incidents.reads import (
    MAX_ID,
    MAX_PAGE,
    EventRow,
    IncidentFilter,
    IncidentNotFound,
    IncidentRow,
    InvalidCursor,
    Page,
    decode_cursor,
    encode_cursor,
)
from warehouse.incidents.requests import EvidenceUpdate, Note, Outcome, Request, Resolve, Touch
from warehouse.incidents.store import IncidentStore

__all__ = [
    "MAX_ID",
    "MAX_PAGE",
    "EventRow",
    "EvidenceUpdate",
    "IncidentFilter",
    "IncidentNotFound",
    "IncidentRow",
    "IncidentStore",
    "InvalidCursor",
    "Note",
    "Outcome",
    "Page",
    "Request",
    "Resolve",
    "Touch",
    "decode_cursor",
    "encode_cursor",
]
