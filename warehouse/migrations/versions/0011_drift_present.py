"""The present of every (dataset, feature) is stored, not recomputed from history: the
``drift_present`` table, filled here from the results already stored; a feature's newest
partitions are read from one index in order; the open-incident counts read a partial index.

The fill is written out here (not imported) so this revision keeps meaning what it meant when
later ones change the table; ``flask --app incident_api results rebuild-present`` is the
store's own rebuild.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from warehouse.base import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NOT_RESOLVED = sa.text("status <> 'resolved' AND deleted_at IS NULL")

# The latest row of each feature's newest partition, and each feature's newest write.
FILL = """
INSERT INTO drift_present (dataset, feature, result_id, partition, status, psi, drift_ratio,
                           evaluated_at, last_evaluated_at)
SELECT r.dataset, r.feature, r.id, r.partition, r.status, r.psi, r.drift_ratio,
       r.evaluated_at, touched.last_evaluated_at
FROM drift_results AS r
JOIN (
    SELECT dataset, feature, max(evaluated_at) AS last_evaluated_at
    FROM drift_results GROUP BY dataset, feature
) AS touched ON touched.dataset = r.dataset AND touched.feature = r.feature
WHERE r.id IN (
    SELECT max(latest.id) FROM drift_results AS latest
    JOIN (
        SELECT dataset, feature, max(partition) AS partition
        FROM drift_results GROUP BY dataset, feature
    ) AS newest ON newest.dataset = latest.dataset AND newest.feature = latest.feature
               AND newest.partition = latest.partition
    GROUP BY latest.dataset, latest.feature
)
"""


def upgrade() -> None:
    op.create_table(
        "drift_present",
        sa.Column("dataset", sa.String(128), primary_key=True),
        sa.Column("feature", sa.String(200), primary_key=True),
        sa.Column("result_id", sa.Integer, nullable=False),
        sa.Column("partition", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("psi", sa.Float),
        sa.Column("drift_ratio", sa.Float),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.Column("last_evaluated_at", UTCDateTime(), nullable=False),
    )
    op.execute(FILL)
    op.create_index(
        "ix_drift_results_feature_partition_id",
        "drift_results",
        ["dataset", "feature", "partition", "id"],
    )
    op.drop_index("ix_drift_results_feature_partition", table_name="drift_results")
    op.create_index(
        "ix_incidents_unresolved_severity",
        "incidents",
        ["severity"],
        sqlite_where=NOT_RESOLVED,
        postgresql_where=NOT_RESOLVED,
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_unresolved_severity", table_name="incidents")
    op.create_index(
        "ix_drift_results_feature_partition", "drift_results", ["dataset", "feature", "partition"]
    )
    op.drop_index("ix_drift_results_feature_partition_id", table_name="drift_results")
    op.drop_table("drift_present")
