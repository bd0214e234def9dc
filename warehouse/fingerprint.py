"""Incident keys — the one home of how an incident is recognised again.

A drift incident is one dataset's event (``group_by: dataset``, the default): its key depends on
the dataset only, and the features that breach are its members. With ``group_by: feature`` the
key is ``(dataset, feature)`` and each incident has one member. The Dagster sensor and the
Alertmanager webhook (an alert carrying ``dataset`` and ``feature`` labels) derive the key
here, so they land on the same incident whichever saw the drift first. Other alerts keep
Alertmanager's own fingerprint.
"""

from __future__ import annotations

import hashlib
import uuid
from enum import StrEnum


class GroupBy(StrEnum):
    """What one drift incident is about: a dataset's event, or one feature."""

    DATASET = "dataset"
    FEATURE = "feature"


DRIFT_PREFIX = "drift:"
SPLIT_PREFIX = "drift-split:"


def drift_fingerprint(dataset: str, feature: str) -> str:
    """The key of a feature's own incident (``group_by: feature``)."""
    digest = hashlib.sha256(f"{dataset}\x1f{feature}".encode()).hexdigest()[:32]
    return f"{DRIFT_PREFIX}{digest}"


def dataset_fingerprint(dataset: str) -> str:
    """The key of a dataset's drift event (``group_by: dataset``)."""
    digest = hashlib.sha256(f"{dataset}\x1e".encode()).hexdigest()[:32]
    return f"{DRIFT_PREFIX}{digest}"


def drift_group_fingerprint(dataset: str, feature: str, group_by: GroupBy) -> str:
    """The key a breach of ``(dataset, feature)`` opens an incident under."""
    if group_by is GroupBy.FEATURE:
        return drift_fingerprint(dataset, feature)
    return dataset_fingerprint(dataset)


def split_fingerprint() -> str:
    """A key of its own for members a person split out: no breach opens under it, breaches of
    its members find it by membership."""
    return f"{SPLIT_PREFIX}{uuid.uuid4().hex}"


def is_drift(fingerprint: str) -> bool:
    return fingerprint.startswith((DRIFT_PREFIX, SPLIT_PREFIX))


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
