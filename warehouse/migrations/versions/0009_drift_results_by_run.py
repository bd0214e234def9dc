"""Drift results are looked up by dataset, partition and run: a re-execution skips the days
its failed run wrote, and a write retried after a lost connection checks whether its first
commit went through.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "ix_drift_results_dataset_partition_run"


def upgrade() -> None:
    op.create_index(INDEX, "drift_results", ["dataset", "partition", "run_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="drift_results")
