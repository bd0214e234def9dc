"""Request and response bodies: validated by pydantic, and the source of /openapi.json."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from incident_api.bodies import Name, Strict, iso_8601_only
from incident_api.evidence import Evidence
from warehouse.incidents import MAX_ID
from warehouse.lifecycle import Severity, Source, Status


class IncidentCreate(Strict):
    title: str = Name
    description: str = Field("", max_length=10_000)
    severity: Severity
    dataset: str | None = Field(None, max_length=200)
    feature: str | None = Field(None, max_length=200)
    assignee: str | None = Field(None, max_length=150)
    evidence: Evidence = Field(default_factory=lambda: Evidence.model_validate({}))


class IncidentPatch(Strict):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    severity: Severity | None = None
    assignee: str | None = Field(None, max_length=150)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one of title, description, severity, assignee")
        for name in ("title", "severity", "description"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class TransitionRequest(Strict):
    status: Status
    note: str = Field("", max_length=2000)


class CommentRequest(Strict):
    body: str = Field(min_length=1, max_length=4000, description="what you want on the timeline")


class IncidentQuery(Strict):
    status: Status | None = None
    severity: Severity | None = None
    source: Source | None = None
    dataset: str | None = Field(None, max_length=200)
    feature: str | None = Field(None, max_length=200)
    created_after: AwareDatetime | None = Field(None, description="ISO 8601 with offset")
    created_before: AwareDatetime | None = Field(None, description="ISO 8601 with offset")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the last page")

    @field_validator("created_after", "created_before", mode="before")
    @classmethod
    def _iso_8601(cls, value: object) -> object:
        return iso_8601_only(value)


class MemberOut(BaseModel):
    """A feature that breached within a drift incident."""

    model_config = ConfigDict(from_attributes=True)

    feature: str
    status: Literal["warn", "critical", "error"]
    psi: float | None
    first_partition: str | None
    last_partition: str | None
    measures: dict[str, Any] = Field(description="its latest breach's measures")
    recovered: bool = Field(description="healthy for resolve_after partitions since")
    recovered_at: datetime | None
    added_at: datetime
    updated_at: datetime


class SplitRequest(Strict):
    features: list[str] = Field(
        min_length=1, max_length=500, description="members to move into a new incident"
    )

    @field_validator("features")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if any(not name.strip() or len(name) > 200 for name in value):
            raise ValueError("each feature is a name of 1 to 200 characters")
        return value


class MergeRequest(Strict):
    from_: int = Field(
        alias="from", ge=1, le=2**31 - 1, description="the incident whose members move here"
    )


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    severity: Severity
    status: Status
    source: Source
    dataset: str | None
    feature: str | None
    fingerprint: str
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    evidence: dict[str, Any]
    assignee: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    previous_incident_id: int | None
    members: list[MemberOut] = Field(
        default_factory=list,
        description="a drift incident's features that breached, oldest first (empty for others)",
    )


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    kind: str
    from_status: Status | None
    to_status: Status | None
    note: str


class EventList(BaseModel):
    items: list[EventOut]


class AuditQuery(Strict):
    incident_id: int | None = Field(None, ge=1, le=2**31 - 1)
    since: AwareDatetime | None = Field(
        None, description="ISO 8601 with offset; events at or after"
    )

    @field_validator("since", mode="before")
    @classmethod
    def _iso_8601(cls, value: object) -> object:
        return iso_8601_only(value)


class AuditIncident(BaseModel):
    """The incident an audit line's event belongs to, as it is now."""

    title: str
    severity: Severity
    status: Status
    dataset: str | None
    deleted_at: datetime | None = Field(description="when an admin deleted it (hidden from reads)")
    deleted_by: str | None = Field(description="the admin who deleted it")


class AuditEvent(EventOut):
    """One line of the audit export: a timeline event and the incident it belongs to."""

    incident_id: int
    incident: AuditIncident


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


class NotificationQuery(Strict):
    status: Literal["pending", "delivered", "dead"] | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(
        None, pattern=r"^[1-9][0-9]{0,9}$", description="next_cursor of the last page"
    )

    @field_validator("cursor")
    @classmethod
    def _an_id(cls, value: str | None) -> str | None:
        if value is not None and int(value) > MAX_ID:
            raise ValueError("not a cursor from this API")
        return value


class NotificationOut(BaseModel):
    """One event to one channel (``webhook-1``…, ``slack``, ``email``)."""

    model_config = ConfigDict(from_attributes=True)  # from warehouse.notifications.DeliveryRow

    id: int
    delivery_id: str = Field(description="the X-Driftwatch-Delivery header, the same on retries")
    channel: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    event: str
    incident_id: int
    event_created_at: datetime
    next_attempt_at: datetime
    last_error: str
    updated_at: datetime
    delivered_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
