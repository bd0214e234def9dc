"""Synthetic demo snapshots: ``python -m pipelines.demo`` writes 14 days of a shop's order
features (~100k rows a day) into the snapshot store, with drift from day 10 in a few named
features. Generated locally from a fixed seed; nothing is downloaded. Days that already exist
are kept, so re-running changes nothing.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import Final

import numpy as np
import pyarrow as pa

from warehouse.snapshots import SnapshotStore

DATASET: Final = "shop_orders"
START: Final = date(2026, 11, 1)
DAYS: Final = 14
DRIFT_FROM_DAY: Final = 10
DRIFTED: Final = ("amount", "session_minutes", "device", "payment_method", "delivery_days")
"""Features that drift from day 10 (1-based)."""

NUMERIC: Final = {
    # name: (mean, std)
    "amount": (62.0, 18.0),
    "quantity": (2.4, 1.1),
    "discount": (0.08, 0.05),
    "shipping_cost": (5.5, 1.6),
    "basket_size": (3.1, 1.4),
    "session_minutes": (11.0, 4.0),
    "pages_viewed": (7.5, 3.0),
    "customer_age": (38.0, 11.0),
    "account_age_days": (420.0, 160.0),
    "items_returned": (0.2, 0.35),
    "rating": (4.2, 0.6),
    "delivery_days": (3.2, 1.1),
    "latitude": (48.1, 0.2),
    "coupon_value": (4.0, 2.5),
}
CATEGORICAL: Final = {
    "country": (
        ["DE", "FR", "NL", "IT", "ES", "PL", "AT", "BE"],
        [0.3, 0.2, 0.1, 0.1, 0.1, 0.08, 0.07, 0.05],
    ),
    "device": (["desktop", "mobile", "tablet"], [0.5, 0.4, 0.1]),
    "payment_method": (["card", "paypal", "invoice", "transfer"], [0.55, 0.25, 0.15, 0.05]),
    "channel": (["organic", "ads", "email", "social", "referral"], [0.4, 0.25, 0.15, 0.12, 0.08]),
    "category": (
        ["books", "toys", "garden", "kitchen", "sports", "fashion"],
        [0.2, 0.15, 0.15, 0.2, 0.15, 0.15],
    ),
}
FEATURES: Final = (*NUMERIC, *CATEGORICAL)


def day_table(day_number: int, rows: int, seed: int = 2026) -> pa.Table:
    """Day ``day_number`` (1-based) of the demo: identical distributions before day 10."""
    rng = np.random.default_rng(seed + day_number)
    drifted = day_number >= DRIFT_FROM_DAY
    columns: dict[str, pa.Array] = {}  # type: ignore[type-arg]
    for name, (levels, probs) in CATEGORICAL.items():
        levels, probs = list(levels), list(probs)
        if drifted and name == "device":
            probs = [0.25, 0.7, 0.05]
        if drifted and name == "payment_method":
            levels.append("crypto")
            probs = [p * 0.9 for p in probs] + [0.1]
        columns[name] = pa.array(np.array(levels)[rng.choice(len(levels), rows, p=probs)])
    country = columns["country"].to_numpy(zero_copy_only=False)
    device = columns["device"].to_numpy(zero_copy_only=False)
    for name, (mean, std) in NUMERIC.items():
        values = rng.normal(mean, std, rows)
        if drifted and name == "amount":  # prices went up, in Germany only
            values[country == "DE"] *= 1.8
        if drifted and name == "session_minutes":  # a new mobile app: a much wider spread
            mobile = device == "mobile"
            values[mobile] = mean + (values[mobile] - mean) * 2.2
        missing = 0.01
        if drifted and name == "delivery_days":
            missing = 0.12  # a carrier stopped reporting
        values[rng.random(rows) < missing] = np.nan
        columns[name] = pa.array(values)
    return pa.table({name: columns[name] for name in FEATURES})


def write_demo(store: SnapshotStore, rows: int = 100_000, days: int = DAYS) -> list[date]:
    """Write the days that are not there yet; returns the days written."""
    written = []
    for number in range(1, days + 1):
        day = START + timedelta(days=number - 1)
        if store.files(DATASET, day):
            continue
        store.write(DATASET, day, day_table(number, rows))
        written.append(day)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--root", help="warehouse root (default: WAREHOUSE_ROOT or warehouse/ in DRIFTWATCH_HOME)"
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=DAYS)
    args = parser.parse_args()
    store = SnapshotStore(args.root)
    written = write_demo(store, args.rows, args.days)
    print(
        f"{DATASET}: wrote {len(written)} day(s) under {store.root}, "
        f"{args.days - len(written)} already there"
    )


if __name__ == "__main__":
    main()
