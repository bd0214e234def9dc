"""The project's Definitions: its own asset, plus driftwatch's monitor of it."""

import os
from pathlib import Path

from dagster import Definitions

from pipelines.monitor import drift_monitor, monitor_definitions
from shop_monitor.orders import ParquetIOManager, orders


def build_defs(home: Path) -> Definitions:
    """Everything under ``home``: the orders' Parquet files, reference profiles, the store."""
    monitor = drift_monitor(
        orders,
        features=["amount", "quantity", "delivery_days", "device", "country"],
        reference=("2026-11-01", "2026-11-05"),
        measures=["psi", "drift_ratio", "unseen_share", "missing_share_delta", "wasserstein"],
        thresholds={"features": {"delivery_days": {"psi": {"warn": 0.2, "critical": 0.4}}}},
    )
    return Definitions.merge(
        Definitions(
            assets=[orders],
            resources={"parquet_io": ParquetIOManager(base_dir=str(home / "assets"))},
        ),
        monitor_definitions(
            [monitor],
            database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{home / 'driftwatch.db'}",
            profiles_root=str(home / "profiles"),
        ),
    )


defs = build_defs(Path(os.environ.get("SHOP_MONITOR_HOME") or "var").resolve())
