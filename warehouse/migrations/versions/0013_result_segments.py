"""Each drift result keeps its segment hints: the segments that explain most of the feature's
drift, each with its shares, its own PSI and bins (null for datasets without ``segment_by``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        table.add_column(sa.Column("segments", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        table.drop_column("segments")
