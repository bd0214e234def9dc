"""A dataset with ``multivariate: true`` records, per partition, a ``(multivariate)`` row whose
``multivariate`` column holds the rows' reconstruction error, the reference's mean and spread
of it, the warn and critical levels and the columns whose error grew most.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        table.add_column(sa.Column("multivariate", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        table.drop_column("multivariate")
