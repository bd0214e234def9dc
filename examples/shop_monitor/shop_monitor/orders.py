"""The project's own asset: a day of shop orders as a pandas DataFrame, stored as Parquet by
the project's own I/O manager. Nothing here knows about driftwatch."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    ConfigurableIOManager,
    DailyPartitionsDefinition,
    InputContext,
    OutputContext,
    asset,
)

DAYS = DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-15")
DRIFT_FROM = date(2026, 11, 10)
"""From this day on, customers pay more and move to the app."""


class ParquetIOManager(ConfigurableIOManager):
    """One Parquet file per asset partition under ``base_dir``."""

    base_dir: str

    def _path(self, key: list[str], partition: str) -> Path:
        return Path(self.base_dir, *key, f"{partition}.parquet")

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        path = self._path(list(context.asset_key.path), context.asset_partition_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        obj.to_parquet(path, index=False)

    def load_input(self, context: InputContext) -> Any:
        key = list(context.asset_key.path)
        frames = {p: pd.read_parquet(self._path(key, p)) for p in context.asset_partition_keys}
        return frames if len(frames) > 1 else next(iter(frames.values()))


@asset(partitions_def=DAYS, io_manager_key="parquet_io", group_name="shop")
def orders(context: AssetExecutionContext) -> pd.DataFrame:
    """A day of orders (synthetic: the same shop every day until the drift starts)."""
    day = date.fromisoformat(context.partition_key)
    rng = np.random.default_rng(day.toordinal())
    drifted = day >= DRIFT_FROM
    rows = 20_000
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3.4 if drifted else 3.0, 0.6, rows).round(2),
            "quantity": pd.array(rng.integers(1, 6, rows), dtype="Int64"),
            "delivery_days": rng.gamma(2.0, 1.5, rows).round(1),
            "device": pd.Categorical(
                rng.choice(
                    ["web", "ios", "android"],
                    rows,
                    p=[0.2, 0.5, 0.3] if drifted else [0.5, 0.3, 0.2],
                )
            ),
            "country": rng.choice(["de", "fr", "it", "es"], rows),
            "ordered_at": pd.Timestamp(day) + pd.to_timedelta(rng.integers(0, 86_400, rows), "s"),
        }
    )
