"""Drift results: one row per feature per evaluated partition.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from warehouse.models import JSONType, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift_results",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("partition", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("psi", sa.Float(), nullable=True),
        sa.Column("drift_ratio", sa.Float(), nullable=True),
        sa.Column("mean_shift_std", sa.Float(), nullable=True),
        sa.Column("js_distance", sa.Float(), nullable=True),
        sa.Column("missing_share_delta", sa.Float(), nullable=True),
        sa.Column("unseen_share", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("bins", JSONType, nullable=True),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('ok', 'warn', 'critical', 'error')", name="ck_drift_results_status"
        ),
    )
    op.create_index(
        "ix_drift_results_feature_partition", "drift_results", ["dataset", "feature", "partition"]
    )
    op.create_index(
        "ix_drift_results_dataset_evaluated", "drift_results", ["dataset", "evaluated_at"]
    )


def downgrade() -> None:
    op.drop_table("drift_results")
