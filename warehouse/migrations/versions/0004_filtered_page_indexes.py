"""Indexes that serve a filtered page of incidents in id order: filter columns first, then id.

With ``(status, severity)`` alone a page of ``status=open&severity=high`` walked the primary key
backwards past every newer non-matching incident (docs/benchmarks.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_incidents_status_severity", table_name="incidents")
    op.drop_index("ix_incidents_dataset_feature", table_name="incidents")
    op.create_index("ix_incidents_status_id", "incidents", ["status", "id"])
    op.create_index("ix_incidents_severity_id", "incidents", ["severity", "id"])
    op.create_index("ix_incidents_status_severity_id", "incidents", ["status", "severity", "id"])
    op.create_index("ix_incidents_dataset_feature_id", "incidents", ["dataset", "feature", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_dataset_feature_id", table_name="incidents")
    op.drop_index("ix_incidents_status_severity_id", table_name="incidents")
    op.drop_index("ix_incidents_severity_id", table_name="incidents")
    op.drop_index("ix_incidents_status_id", table_name="incidents")
    op.create_index("ix_incidents_dataset_feature", "incidents", ["dataset", "feature"])
    op.create_index("ix_incidents_status_severity", "incidents", ["status", "severity"])
