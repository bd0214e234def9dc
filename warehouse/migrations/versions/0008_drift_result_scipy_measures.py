"""Drift results keep the opt-in scipy measures a dataset grades with (chi2's statistic and
p-value, the Wasserstein distance in reference σ); null where not asked for.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = ("chi2_statistic", "chi2_pvalue", "wasserstein")


def upgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        for name in COLUMNS:
            table.add_column(sa.Column(name, sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        for name in reversed(COLUMNS):
            table.drop_column(name)
