"""Incident keys — the one home of how an incident is recognised again.

A drift incident's key depends on ``(dataset, feature)`` only, so the Dagster sensor and the
Alertmanager webhook (an alert carrying ``dataset`` and ``feature`` labels) land on the same
incident, whichever saw the drift first. Other alerts keep Alertmanager's own fingerprint.
"""

from __future__ import annotations

import hashlib


def drift_fingerprint(dataset: str, feature: str) -> str:
    digest = hashlib.sha256(f"{dataset}\x1f{feature}".encode()).hexdigest()[:32]
    return f"drift:{digest}"


def alert_fingerprint(alertmanager_fingerprint: str) -> str:
    return f"alert:{alertmanager_fingerprint}"


def manual_fingerprint(token: str) -> str:
    return f"manual:{token}"


def freshness_fingerprint(dataset: str) -> str:
    """Late snapshots of one dataset are one incident until the data lands."""
    return f"freshness:{dataset}"


def pipeline_fingerprint(job_name: str) -> str:
    """Failed runs of one job are one incident until it is resolved."""
    return f"pipeline:{job_name}"
