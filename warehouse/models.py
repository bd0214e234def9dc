"""SQLAlchemy 2 models. The schema itself is owned by the alembic migrations (migrations/);
these classes must match them (a test compares the two)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.base import Base, JSONType, UTCDateTime, utcnow
from warehouse.result_tables import DriftPresent, DriftReference, DriftResult

__all__ = [
    "NOT_RESOLVED",
    "UNDISPATCHED",
    "AuthSession",
    "Base",
    "DriftGrouping",
    "DriftPresent",
    "DriftReference",
    "DriftResult",
    "Incident",
    "IncidentEvent",
    "IncidentMember",
    "JSONType",
    "NotificationDelivery",
    "NotificationEvent",
    "RevokedSubject",
    "RevokedToken",
    "UTCDateTime",
    "User",
    "utcnow",
]

NOT_RESOLVED = text("status <> 'resolved' AND deleted_at IS NULL")
"""The incidents that hold their fingerprint: live (not deleted by an admin) and not resolved."""


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    source: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(String(200))
    feature: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(200))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    assignee: Mapped[str | None] = mapped_column(String(150))
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    previous_incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL")
    )
    # An admin's delete hides the incident from every read; the row and its timeline stay
    # for the audit export.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # At most one not-resolved incident per fingerprint (partial unique index).
        Index(
            "uq_incidents_open_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=NOT_RESOLVED,
            postgresql_where=NOT_RESOLVED,
        ),
        # Filtered pages (newest first) read only matching rows in id order: the filter's
        # columns lead, id follows (docs/architecture.md, "Filtered pages").
        Index("ix_incidents_status_id", "status", "id"),
        Index("ix_incidents_severity_id", "severity", "id"),
        Index("ix_incidents_status_severity_id", "status", "severity", "id"),
        Index("ix_incidents_dataset_feature_id", "dataset", "feature", "id"),
        Index("ix_incidents_created_at", "created_at"),
        # The open counts per severity read only the not-resolved rows, however many resolved
        # incidents history holds.
        Index(
            "ix_incidents_unresolved_severity",
            "severity",
            sqlite_where=NOT_RESOLVED,
            postgresql_where=NOT_RESOLVED,
        ),
    )


class IncidentEvent(Base):
    """Append-only timeline: who changed what, when, from which status to which."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(150))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    dedup_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    """Set for deliveries that must count once (e.g. an alert's fingerprint+startsAt+status)."""


class IncidentMember(Base):
    """A feature that breached within a drift incident (the dataset's event): its latest
    breach's measures and evidence, the partitions it breached in, and whether it recovered."""

    __tablename__ = "incident_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(200))
    feature: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    """The drift status of its latest breach: warn | critical | error."""
    psi: Mapped[float | None] = mapped_column(Float)
    first_partition: Mapped[str | None] = mapped_column(String(32))
    last_partition: Mapped[str | None] = mapped_column(String(32))
    measures: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    recovered: Mapped[bool] = mapped_column(Boolean, default=False)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("uq_incident_members_incident_feature", "incident_id", "feature", unique=True),
        # Which incident holds a feature now: the sensor's and the webhook's routing.
        Index("ix_incident_members_dataset_feature", "dataset", "feature", "incident_id"),
        Index("ix_incident_members_feature", "feature", "incident_id"),
    )


class DriftGrouping(Base):
    """Each dataset's ``group_by`` as driftwatch.yaml says, published by the incident sensor so
    the webhook groups Alertmanager's drift alerts the same way (absent: by dataset)."""

    __tablename__ = "drift_groupings"

    dataset: Mapped[str] = mapped_column(String(200), primary_key=True)
    group_by: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuthSession(Base):
    """One sign-in: its access and refresh tokens share the ``sid`` claim. ``refresh_jti`` is
    the one refresh token of the session that may still be used; presenting an older one is
    reuse, and revokes the session."""

    __tablename__ = "auth_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(150), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    client: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class RevokedToken(Base):
    """The embedded token denylist (used when REDIS_URL is unset)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RevokedSubject(Base):
    """Every token of ``subject`` issued at or before ``issued_before`` is revoked (a disabled
    user); kept until ``expires_at``, when no such token can still be valid."""

    __tablename__ = "revoked_subjects"

    subject: Mapped[str] = mapped_column(String(150), primary_key=True)
    issued_before: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


UNDISPATCHED = text("dispatched_at IS NULL")
"""Outbox events no worker has fanned out to their deliveries yet."""


class NotificationEvent(Base):
    """The outbox: one row per incident change people are told about, written in the same
    transaction as the change itself (no event without its change, no change without its
    event). Workers fan each out to a :class:`NotificationDelivery` per configured channel."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The incident as it was right after the change (what every channel renders)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(
            "ix_notification_events_undispatched",
            "id",
            sqlite_where=UNDISPATCHED,
            postgresql_where=UNDISPATCHED,
        ),
    )


class NotificationDelivery(Base):
    """One event to one channel: delivered at least once under a stable ``delivery_id``,
    retried with backoff, ``dead`` after the last attempt (visible, retryable by an admin)."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("notification_events.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    """A configured channel's name (``webhook-1``, ``slack``, ``email``), never its URL."""
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # A retried fan-out cannot make a second delivery of one event to one channel.
        Index("uq_notification_deliveries_event_channel", "event_id", "channel", unique=True),
        Index("ix_notification_deliveries_status_next", "status", "next_attempt_at"),
    )
