"""Each drift result keeps the levels it was graded with (calibrated ones differ per feature
and per partition), and each evaluated partition the reference it was compared with (a fixed
window, or the partitions a rolling window merged): one row per partition and run, not per
feature, so a rolling window's list of partitions is stored once. A result may now be
``insufficient`` (too few rows, or a rolling window with too few partitions).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
STATUS = "ck_drift_results_status"


def _statuses(*names: str) -> str:
    return f"status IN ({', '.join(repr(n) for n in names)})"


def upgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        table.add_column(sa.Column("levels", JSON, nullable=True))
        table.drop_constraint(STATUS, type_="check")
        table.create_check_constraint(
            STATUS, _statuses("ok", "warn", "critical", "error", "insufficient")
        )
    op.create_table(
        "drift_references",
        sa.Column("dataset", sa.String(128), primary_key=True),
        sa.Column("partition", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("reference", JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("drift_references")
    # an insufficient partition was not graded: before 0012 there is no way to say so
    op.execute("DELETE FROM drift_results WHERE status = 'insufficient'")
    with op.batch_alter_table("drift_results") as table:
        table.drop_constraint(STATUS, type_="check")
        table.create_check_constraint(STATUS, _statuses("ok", "warn", "critical", "error"))
        table.drop_column("levels")
