"""The names of the metrics driftwatch serves: a contract (alert_rules/ reads them, dashboards
and the model services' rules too), kept here only."""

from __future__ import annotations

from typing import Final

FEATURE_PSI: Final = "ml_feature_psi"
FEATURE_DRIFT_RATIO: Final = "ml_feature_drift_ratio"
FEATURE_DRIFT_STATUS: Final = "driftwatch_feature_drift_status"
DATASET_DRIFT_STATUS: Final = "driftwatch_dataset_drift_status"
MULTIVARIATE_DRIFT_STATUS: Final = "driftwatch_multivariate_drift_status"
INCIDENTS_OPEN: Final = "driftwatch_incidents_open"
DENYLIST_UP: Final = "driftwatch_denylist_up"
LAST_EVALUATION: Final = "driftwatch_drift_last_evaluation_timestamp_seconds"
WAREHOUSE_UP: Final = "driftwatch_warehouse_up"
REFRESH_REUSE: Final = "driftwatch_refresh_token_reuse_total"
HTTP_DURATION: Final = "flask_http_request_duration_seconds"
HTTP_TOTAL: Final = "flask_http_request_total"
NOTIFICATIONS_PENDING: Final = "driftwatch_notifications_pending"
NOTIFICATIONS_OLDEST_AGE: Final = "driftwatch_notifications_oldest_pending_age_seconds"
NOTIFICATIONS_DEAD: Final = "driftwatch_notifications_dead"
NOTIFICATIONS_TOTAL: Final = "driftwatch_notifications_total"
"""Counted by the notification worker, served on its own ``--metrics-port``."""

EXPORTED: Final = frozenset(
    {
        FEATURE_PSI,
        FEATURE_DRIFT_RATIO,
        FEATURE_DRIFT_STATUS,
        DATASET_DRIFT_STATUS,
        MULTIVARIATE_DRIFT_STATUS,
        INCIDENTS_OPEN,
        DENYLIST_UP,
        LAST_EVALUATION,
        WAREHOUSE_UP,
        REFRESH_REUSE,
        HTTP_DURATION,
        HTTP_TOTAL,
        NOTIFICATIONS_PENDING,
        NOTIFICATIONS_OLDEST_AGE,
        NOTIFICATIONS_DEAD,
    }
)
"""What the API's ``/metrics`` serves."""
WORKER_EXPORTED: Final = frozenset({NOTIFICATIONS_TOTAL})
