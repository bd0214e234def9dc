"""Incident vocabulary and lifecycle — the one home of which status change is allowed."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK: Final = {
    Severity.LOW: 0,
    Severity.MEDIUM: 1,
    Severity.HIGH: 2,
    Severity.CRITICAL: 3,
}


class Source(StrEnum):
    DAGSTER = "dagster"
    ALERTMANAGER = "alertmanager"
    MANUAL = "manual"


ALLOWED: Final[frozenset[tuple[Status, Status]]] = frozenset(
    {
        (Status.OPEN, Status.ACKNOWLEDGED),
        (Status.OPEN, Status.RESOLVED),
        (Status.ACKNOWLEDGED, Status.RESOLVED),
        (Status.RESOLVED, Status.OPEN),  # a person reopens
    }
)
"""open → acknowledged; open or acknowledged → resolved; resolved → open. Nothing else."""


class InvalidTransition(Exception):
    """A status change the lifecycle forbids (the API answers 409)."""

    def __init__(self, current: Status, requested: Status) -> None:
        super().__init__(f"cannot move an incident from {current.value} to {requested.value}")
        self.current = current
        self.requested = requested


class ReopenConflict(Exception):
    """Reopening would make a second not-resolved incident with the same fingerprint."""

    def __init__(self, fingerprint: str, open_id: int) -> None:
        super().__init__(
            f"incident {open_id} with the same fingerprint is already open; work on that one"
        )
        self.fingerprint = fingerprint
        self.open_id = open_id


def check_transition(current: Status, requested: Status) -> None:
    if (current, requested) not in ALLOWED:
        raise InvalidTransition(current, requested)
