"""Revoked subjects: all tokens of a disabled user, refused without a user lookup per request.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from warehouse.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_subjects",
        sa.Column("subject", sa.String(150), primary_key=True),
        sa.Column("issued_before", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_revoked_subjects_expires_at", "revoked_subjects", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_revoked_subjects_expires_at", table_name="revoked_subjects")
    op.drop_table("revoked_subjects")
