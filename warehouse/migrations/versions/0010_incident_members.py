"""A drift incident is a dataset's event with members; open per-feature incidents of one
dataset become members of one incident.

Every drift incident gets a member row for its feature (resolved ones too, recovered). Per
dataset, the open (not resolved, not deleted) ones merge into the oldest: it takes the
dataset's key, so later breaches join it, and the others are resolved as merged, with the move
on both timelines. Downgrading drops the members; merged incidents stay merged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op

from warehouse.fingerprint import dataset_fingerprint
from warehouse.incidents.members import title, worst_first, worst_severity
from warehouse.models import JSONType, UTCDateTime, utcnow

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ACTOR = "upgrade"
_STATUS_OF_SEVERITY = {"critical": "critical", "high": "error", "medium": "warn", "low": "warn"}
_MEASURES = ("psi", "drift_ratio", "js_distance", "missing_share_delta", "unseen_share")

incidents = sa.table(
    "incidents",
    sa.column("id", sa.Integer),
    sa.column("title", sa.String),
    sa.column("severity", sa.String),
    sa.column("status", sa.String),
    sa.column("dataset", sa.String),
    sa.column("feature", sa.String),
    sa.column("fingerprint", sa.String),
    sa.column("evidence", JSONType),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
    sa.column("resolved_at", UTCDateTime()),
    sa.column("deleted_at", UTCDateTime()),
)
events = sa.table(
    "incident_events",
    sa.column("incident_id", sa.Integer),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String),
    sa.column("kind", sa.String),
    sa.column("from_status", sa.String),
    sa.column("to_status", sa.String),
    sa.column("note", sa.Text),
)


def _create_tables() -> sa.Table:
    members = op.create_table(
        "incident_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("psi", sa.Float(), nullable=True),
        sa.Column("first_partition", sa.String(32), nullable=True),
        sa.Column("last_partition", sa.String(32), nullable=True),
        sa.Column("measures", JSONType, nullable=False),
        sa.Column("evidence", JSONType, nullable=False),
        sa.Column("recovered", sa.Boolean(), nullable=False),
        sa.Column("recovered_at", UTCDateTime(), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "uq_incident_members_incident_feature",
        "incident_members",
        ["incident_id", "feature"],
        unique=True,
    )
    op.create_index(
        "ix_incident_members_dataset_feature",
        "incident_members",
        ["dataset", "feature", "incident_id"],
    )
    op.create_index("ix_incident_members_feature", "incident_members", ["feature", "incident_id"])
    op.create_table(
        "drift_groupings",
        sa.Column("dataset", sa.String(200), primary_key=True),
        sa.Column("group_by", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    if members is None:  # alembic returns the table it created
        raise RuntimeError("incident_members was not created")
    return members


def _member(row: Any) -> dict[str, Any]:
    evidence = dict(row.evidence or {})
    status = evidence.get("status")
    if status not in ("warn", "critical", "error"):
        status = _STATUS_OF_SEVERITY.get(row.severity, "warn")
    partition = evidence.get("partition")
    measures = {k: evidence[k] for k in _MEASURES if evidence.get(k) is not None}
    if evidence.get("schema_break"):
        measures["schema_break"] = evidence["schema_break"]
    evidence.pop("alerts", None)
    resolved = row.status == "resolved"
    return {
        "incident_id": row.id,
        "dataset": row.dataset,
        "feature": row.feature,
        "status": status,
        "psi": evidence.get("psi") if isinstance(evidence.get("psi"), int | float) else None,
        "first_partition": str(partition) if partition else None,
        "last_partition": str(partition) if partition else None,
        "measures": measures,
        "evidence": evidence,
        "recovered": resolved,
        "recovered_at": row.resolved_at if resolved else None,
        "added_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _merge_open(connection: sa.Connection, members: sa.Table, rows: list[Any]) -> None:
    """Per dataset, the open drift incidents into the oldest, which takes the dataset's key."""
    by_dataset: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.status != "resolved" and row.deleted_at is None:
            by_dataset[row.dataset].append(row)
    now = utcnow()
    for dataset, group in by_dataset.items():
        keep, others = group[0], group[1:]
        for other in others:
            connection.execute(
                members.update()
                .where(members.c.incident_id == other.id)
                .values(incident_id=keep.id)
            )
            connection.execute(
                incidents.update()
                .where(incidents.c.id == other.id)
                .values(status="resolved", resolved_at=now, updated_at=now)
            )
            connection.execute(
                events.insert(),
                [
                    dict(incident_id=keep.id, at=now, actor=ACTOR, kind="merged",
                         from_status=None, to_status=None,
                         note=f"merged incident {other.id} ({other.title}) on upgrade"),
                    dict(incident_id=other.id, at=now, actor=ACTOR, kind="transition",
                         from_status=other.status, to_status="resolved",
                         note=f"merged into incident {keep.id} on upgrade"),
                ],
            )  # fmt: skip
        held = [
            SimpleNamespace(**m._mapping)
            for m in connection.execute(members.select().where(members.c.incident_id == keep.id))
        ]
        lead = worst_first(held)[0]  # type: ignore[arg-type]
        connection.execute(
            incidents.update()
            .where(incidents.c.id == keep.id)
            .values(
                fingerprint=dataset_fingerprint(dataset),
                title=title(dataset, held),  # type: ignore[arg-type]
                severity=worst_severity(held).value,  # type: ignore[arg-type]
                feature=held[0].feature if len(held) == 1 else None,
                evidence={**dict(lead.evidence or {}), **_alerts(keep)},
                updated_at=now,
            )
        )


def _alerts(row: Any) -> dict[str, Any]:
    alerts = (row.evidence or {}).get("alerts")
    return {"alerts": alerts} if alerts else {}


def upgrade() -> None:
    members = _create_tables()
    connection = op.get_bind()
    rows = list(
        connection.execute(
            incidents.select()
            .where(
                incidents.c.fingerprint.like("drift:%"),
                incidents.c.dataset.is_not(None),
                incidents.c.feature.is_not(None),
            )
            .order_by(incidents.c.id)
        )
    )
    if not rows:
        return
    connection.execute(members.insert(), [_member(row) for row in rows])
    _merge_open(connection, members, rows)


def downgrade() -> None:
    op.drop_table("drift_groupings")
    op.drop_index("ix_incident_members_feature", table_name="incident_members")
    op.drop_index("ix_incident_members_dataset_feature", table_name="incident_members")
    op.drop_index("uq_incident_members_incident_feature", table_name="incident_members")
    op.drop_table("incident_members")
