"""The incident repository: the only code that writes incidents and their timeline.

``reads`` serves the API's pages, ``requests`` holds what the webhook and the sensor ask for,
``store`` applies them; callers import everything from here.
"""

from warehouse.incidents.members import (
    MEMBER_SEVERITY,
    TITLE_LENGTH,
    GroupingConflict,
    UnknownMembers,
    clip_title,
    severity_of,
)
from warehouse.incidents.reads import (
    MAX_ID,
    MAX_PAGE,
    EventRow,
    IncidentFilter,
    IncidentNotFound,
    IncidentRow,
    InvalidCursor,
    MemberRow,
    Page,
    decode_cursor,
    encode_cursor,
)
from warehouse.incidents.requests import (
    EvidenceUpdate,
    Join,
    Note,
    Outcome,
    Recover,
    Request,
    Resolve,
    Touch,
    member_key,
)
from warehouse.incidents.store import IncidentStore

__all__ = [
    "MAX_ID",
    "MAX_PAGE",
    "MEMBER_SEVERITY",
    "TITLE_LENGTH",
    "EventRow",
    "EvidenceUpdate",
    "GroupingConflict",
    "IncidentFilter",
    "IncidentNotFound",
    "IncidentRow",
    "IncidentStore",
    "InvalidCursor",
    "Join",
    "MemberRow",
    "Note",
    "Outcome",
    "Page",
    "Recover",
    "Request",
    "Resolve",
    "Touch",
    "UnknownMembers",
    "clip_title",
    "decode_cursor",
    "encode_cursor",
    "member_key",
    "severity_of",
]
