"""Request and response bodies: validated by pydantic, and the source of /openapi.json."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from incident_api.safe import safe_url
from warehouse.incidents import MAX_ID
from warehouse.lifecycle import Severity, Source, Status
from warehouse.users import Role

Name = Field(min_length=1, max_length=200)
ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def iso_8601_only(value: object) -> object:
    """pydantic would read "0.5" as a Unix timestamp; the API promises ISO 8601 only."""
    if isinstance(value, str) and not ISO_DATE_TIME.match(value):
        raise ValueError("expected an ISO 8601 date-time with a UTC offset")
    return value


class NoNul(BaseModel):
    """No text anywhere in the body (nested JSON included) holds a NUL character: PostgreSQL can
    store none in text or jsonb, so it would fail at the database instead of here (a 500 found
    by tests/api/test_security.py)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


class Strict(NoNul):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TokenRequest(Strict):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(Strict):
    password: str = Field(min_length=1, max_length=1024, description="8 to 128 characters")


class RoleChange(Strict):
    role: Role


class LogoutRequest(Strict):
    refresh_token: str | None = Field(
        None, max_length=4096, description="also revoke this refresh token"
    )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 — the scheme's name, not a secret
    expires_in: int = Field(description="seconds the access token stays valid")


Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A JSON number: a string, a bool, NaN or infinity is refused, not read as one."""


def _http_url(value: str) -> str:
    if safe_url(value) is None:
        raise ValueError("expected an absolute http(s) URL without spaces, quotes, <, > or |")
    return value


HttpUrlText = Annotated[str, Field(max_length=2000), AfterValidator(_http_url)]


class Bins(NoNul):
    """Reference vs current share per bin, as the drift engine reports them."""

    model_config = ConfigDict(extra="forbid")

    labels: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=1000)
    reference: list[Annotated[Number, Field(ge=0)]]
    current: list[Annotated[Number, Field(ge=0)]]

    @model_validator(mode="after")
    def _aligned(self) -> Self:
        if not len(self.labels) == len(self.reference) == len(self.current):
            raise ValueError("labels, reference and current need one entry per bin each")
        return self


class Level(NoNul):
    model_config = ConfigDict(extra="forbid")

    warn: Number
    critical: Number


class Evidence(NoNul):
    """What the incident page draws and notifications link to; the documented fields are
    checked, other keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    partition: str | None = Field(None, max_length=32)
    run_id: str | None = Field(None, max_length=200)
    run_url: HttpUrlText | None = None
    psi: Number | None = None
    drift_ratio: Number | None = None
    mean_shift_std: Number | None = None
    js_distance: Number | None = None
    missing_share_delta: Number | None = None
    unseen_share: Number | None = None
    bins: Bins | None = None
    levels: dict[str, Level] | None = None


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


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # from warehouse.sessions.SessionInfo

    sid: str
    username: str
    created_at: datetime
    refreshed_at: datetime
    expires_at: datetime
    client: str
    user_agent: str
    active: bool
    revoked_at: datetime | None
    revoked_reason: str | None


class SessionList(BaseModel):
    items: list[SessionOut]


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
