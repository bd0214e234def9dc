"""Drift results say which schema break made a feature an error (missing, all_null, retyped,
unreadable), so the incident sensor can open a schema incident that names it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        table.add_column(sa.Column("schema_break", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drift_results") as table:
        table.drop_column("schema_break")
