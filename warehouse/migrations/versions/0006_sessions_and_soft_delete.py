"""Sign-in sessions (token families) and incidents that an admin's delete hides but keeps.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from warehouse.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OLD_OPEN = sa.text("status <> 'resolved'")
_LIVE_OPEN = sa.text("status <> 'resolved' AND deleted_at IS NULL")


def _open_fingerprint_index(where: sa.TextClause) -> None:
    op.create_index(
        "uq_incidents_open_fingerprint",
        "incidents",
        ["fingerprint"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
    # A deleted incident no longer holds its fingerprint: new drift opens a new incident.
    op.drop_index("uq_incidents_open_fingerprint", table_name="incidents")
    _open_fingerprint_index(_LIVE_OPEN)
    op.create_table(
        "auth_sessions",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("refresh_jti", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("refreshed_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_auth_sessions_username", "auth_sessions", ["username"])
    op.create_index("ix_auth_sessions_expires_at", "auth_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("auth_sessions")
    # The old schema knew only erasing deletes; a hidden incident may clash with a live one.
    op.execute("DELETE FROM incidents WHERE deleted_at IS NOT NULL")
    op.drop_index("uq_incidents_open_fingerprint", table_name="incidents")
    _open_fingerprint_index(_OLD_OPEN)
    with op.batch_alter_table("incidents") as table:
        table.drop_column("deleted_at")
