"""References that fit the data: false alarms and detection, fixed vs rolling references.

Configurations score the same partitions through the pipeline's own code (``score_range`` into
SQLite, the snapshot store on disk): ``fixed`` — a fixed reference window with the default
levels — and ``rolling`` — a rolling same-weekday reference (for the census, the partitions of
the years before) with levels calibrated on the window, with the default measures and with the
opt-in ``chi2`` added. Reported per dataset and configuration:

* false alarms: warn or critical among the feature-partitions of the clean data (nothing
  injected), over the partitions every configuration grades;
* detection: injected shifts (a 0.5σ mean shift, +5 points of nulls, the share of the level
  nearest 15 % doubled), each into one clean partition of one feature, graded against that
  partition's own reference: detected when the feature is warn or critical there (the first
  changed partition); the (injection, feature) pairs under 95 % are listed;
* the wall time of a ranged backfill of every partition (profile, grade, write), fixed vs
  rolling vs rolling and calibrated, one after the other in one process.

Datasets: ``seasonal`` — synthetic, a weekly rhythm (weekends differ in channel mix, basket size
and visit length), a 60-level ``city``, about 600 rows a day (and 100,000 for the backfill);
``census`` — employment_MA from NannyML's wheel (bench/census.py), each year one partition;
``census-parts`` — each year cut into 12 random partitions of about 5,800 rows.

    python -m bench.references [--days 182] [--rows 600] [--seed 3] [--injections 20]
                               [--backfill-days 91] [--backfill-rows 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bench.shifts import Injection, doubled_level, mean_shift, more_nulls
from drift import MEASURES, Status, compare
from drift.sources import TableSource
from pipelines.backfill import score_range
from pipelines.baselines import references_for
from pipelines.config import DatasetConfig
from pipelines.references import References
from pipelines.scoring import profile_features, profile_reference, scan_options
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore
from warehouse.migrate import upgrade
from warehouse.snapshots import SnapshotStore

START = date(2026, 1, 5)  # a Monday
CITIES = [f"city_{i:02d}" for i in range(60)]
CHANNELS = ["web", "app", "store", "phone"]
WEEKDAY_CHANNELS = [0.45, 0.35, 0.15, 0.05]
WEEKEND_CHANNELS = [0.25, 0.55, 0.17, 0.03]
SEASONAL_NUMERIC = ["basket_size", "visit_minutes", "amount", "customer_age", "discount"]
SEASONAL_CATEGORICAL = ["channel", "device", "city", "payment"]
DOUBLED = "a category's share doubled"
KINDS = ("0.5σ mean shift", "+5 points of nulls", DOUBLED)


def seasonal_day(rng: np.random.Generator, day: date, rows: int) -> pa.Table:
    weekend = day.weekday() >= 5
    n = int(rng.poisson(rows * (0.8 if weekend else 1.0)))
    zipf = 1.0 / np.arange(1, len(CITIES) + 1) ** 0.8
    discount = rng.gamma(2.0, 3.0, n)
    discount[rng.random(n) < 0.02] = np.nan
    columns: dict[str, Any] = {
            "basket_size": rng.lognormal(3.4 if weekend else 3.1, 0.5, n),
            "visit_minutes": rng.gamma(3.0, 5.0 if weekend else 3.5, n),
            "amount": rng.normal(60.0, 15.0, n),
            "customer_age": rng.normal(41.0, 12.0, n),
            "discount": discount,
            "channel": rng.choice(CHANNELS, n, p=WEEKEND_CHANNELS if weekend else WEEKDAY_CHANNELS),
            "device": rng.choice(["mobile", "desktop", "tablet"], n, p=[0.55, 0.35, 0.10]),
            "city": rng.choice(CITIES, n, p=zipf / zipf.sum()),
            "payment": rng.choice(["card", "paypal", "invoice", "cash", "crypto"], n,
                                  p=[0.5, 0.25, 0.15, 0.08, 0.02]),
    }  # fmt: skip
    return pa.table(columns)


@dataclass
class Dataset:
    name: str
    days: dict[date, pa.Table]
    numeric: list[str]
    categorical: list[str]
    fixed: dict[str, Any]
    rolling: dict[str, Any]
    graded_from: date
    """The first partition both configurations grade (their warm-ups are over)."""

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def seasonal(days: int, rows: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    tables = {START + timedelta(days=i): seasonal_day(rng, START + timedelta(days=i), rows)
              for i in range(days)}  # fmt: skip
    first = START
    return Dataset(
        "seasonal",
        tables,
        SEASONAL_NUMERIC,
        SEASONAL_CATEGORICAL,
        fixed={"start": first.isoformat(), "end": (first + timedelta(days=27)).isoformat()},
        rolling={"rolling_days": 56, "same_weekday": True},
        graded_from=first + timedelta(days=56),
    )


def census(parts: int, seed: int) -> Dataset:
    from bench.census import CATEGORICAL, NUMERIC, employment_ma

    frame = employment_ma()
    rng = np.random.default_rng(seed)
    tables: dict[date, pa.Table] = {}
    for _year, rows in frame.groupby("year", sort=True):
        shuffled = rows.drop(columns="year").sample(frac=1.0, random_state=int(rng.integers(10**9)))
        for piece in np.array_split(np.arange(len(shuffled)), parts):
            day = START + timedelta(days=len(tables))
            tables[day] = pa.Table.from_pandas(shuffled.iloc[piece], preserve_index=False)
    first_year = START + timedelta(days=parts - 1)
    return Dataset(
        "census" if parts == 1 else "census-parts",
        tables,
        list(NUMERIC),
        list(CATEGORICAL),
        fixed={"start": START.isoformat(), "end": first_year.isoformat()},
        # the partitions of the years before (all of them: at most three years)
        rolling={"rolling_days": 3 * parts},
        graded_from=START + timedelta(days=parts if parts == 1 else 2 * parts),
    )


@dataclass
class Outcome:
    seconds: float
    graded: int = 0
    alarms: int = 0
    insufficient: int = 0
    detected: dict[str, list[bool]] = field(default_factory=dict)
    by_feature: dict[tuple[str, str], list[bool]] = field(default_factory=dict)

    def overall(self) -> str:
        hits = [hit for found in self.detected.values() for hit in found]
        return f"{sum(hits)}/{len(hits)} ({100 * sum(hits) / max(1, len(hits)):.1f} %)"

    def misses(self) -> list[str]:
        return [
            f"{kind} in {feature}: {sum(found)}/{len(found)}"
            for (kind, feature), found in self.by_feature.items()
            if sum(found) < 0.95 * len(found)
        ]

    def rate(self, kind: str) -> str:
        hits = self.detected.get(kind, [])
        return f"{sum(hits)}/{len(hits)} ({100 * sum(hits) / len(hits):.1f} %)" if hits else "—"


def _config(
    data: Dataset, reference: dict[str, Any], calibrate: bool, chi2: bool = False
) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "features": data.features,
            "reference": reference,
            "partitions_start": START.isoformat(),
            "thresholds": {"calibrate": calibrate},
            "measures": [*MEASURES, *(["chi2"] if chi2 else [])],
            "min_rows": 100,
        }
    )


def score(data: Dataset, cfg: DatasetConfig, root: Path) -> tuple[Outcome, References]:
    store = SnapshotStore(root / "warehouse")
    for day, table in data.days.items():
        store.write(data.name, day, table)
    db = Database.from_url(f"sqlite:///{root / 'results.db'}")
    upgrade(db.engine)
    results = DriftResultStore(db)
    partitions = [d.isoformat() for d in data.days]
    begun = time.perf_counter()
    if cfg.rolling is None:
        profile_reference(store, data.name, cfg)
    references = references_for(store, results, data.name, cfg, partitions=partitions,
                                asset_name="reference_profile")  # fmt: skip
    done = score_range(store, results, data.name, cfg, partitions=partitions, run_id="bench",
                       references=references)  # fmt: skip
    outcome = Outcome(time.perf_counter() - begun)
    if done.failed:
        raise SystemExit(f"{data.name}: partitions failed: {done.failed}")
    for partition, scored in done.scored:
        if date.fromisoformat(partition) < data.graded_from:
            continue
        for result in scored.results:
            if result.status is Status.INSUFFICIENT:
                outcome.insufficient += 1
            else:
                outcome.graded += 1
                outcome.alarms += result.status in (Status.WARN, Status.CRITICAL)
    return outcome, references


def target_level(data: Dataset, feature: str) -> str | None:
    """The level whose share is nearest 15 % (a share that doubles to a plausible 30 %)."""
    first = next(iter(data.days.values()))
    levels, counts = np.unique(np.asarray(first.column(feature).to_pylist(), dtype=str),
                               return_counts=True)  # fmt: skip
    shares = counts / counts.sum()
    nearest = int(np.argmin(np.abs(shares - 0.15)))
    return str(levels[nearest]) if 0.04 <= shares[nearest] <= 0.4 else None


def injections(data: Dataset) -> list[Injection]:
    found: list[Injection] = [("0.5σ mean shift", f, mean_shift) for f in data.numeric]
    found += [("+5 points of nulls", f, more_nulls) for f in data.features]
    for feature in data.categorical:
        level = target_level(data, feature)
        if level is not None:
            found.append((DOUBLED, feature, doubled_level(level)))
    return found


def detect(
    data: Dataset,
    cfg: DatasetConfig,
    references: References,
    outcome: Outcome,
    count: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    graded = [d for d in data.days if d >= data.graded_from]
    kinds = injections(data)
    for n in range(count):
        for k, (kind, feature, inject) in enumerate(kinds):
            day = graded[(n * 7 + k) % len(graded)]
            changed = inject(rng, data.days[day], feature)
            source = TableSource(changed, label="injected")
            current = profile_features(source, cfg, like=references.grid, top_k=cfg.top_k)[0]
            baseline = references.baseline(day.isoformat())
            if baseline.profile is None:
                continue
            options = scan_options(cfg, baseline.thresholds)
            (result,) = compare(baseline.profile, current, options, columns=[feature])
            hit = result.status in (Status.WARN, Status.CRITICAL)
            outcome.detected.setdefault(kind, []).append(hit)
            outcome.by_feature.setdefault((kind, feature), []).append(hit)


SETUPS = (
    ("fixed, default levels", "fixed", False, False),
    ("rolling, default levels", "rolling", False, False),
    ("rolling, calibrated", "rolling", True, False),
    ("rolling, calibrated, + chi2", "rolling", True, True),
)


def signal(data: Dataset, injections_per_kind: int, seed: int) -> None:
    timings = {}
    for label, kind, calibrate, chi2 in (SETUPS[0], SETUPS[2], SETUPS[3]):
        cfg = _config(data, data.fixed if kind == "fixed" else data.rolling, calibrate, chi2)
        with tempfile.TemporaryDirectory(prefix="dw-ref-") as scratch:
            outcome, references = score(data, cfg, Path(scratch))
            detect(data, cfg, references, outcome, injections_per_kind, seed)
        timings[label] = outcome.seconds
        rate = 100 * outcome.alarms / max(1, outcome.graded)
        rates = " | ".join(outcome.rate(k) for k in KINDS)
        print(f"| {data.name} ({len(data.days)} partitions) | {label} | {outcome.graded} | "
              f"{outcome.alarms} ({rate:.2f} %) | {outcome.insufficient} | {rates} | "
              f"{outcome.overall()} |", flush=True)  # fmt: skip
        for missed in outcome.misses():
            print(f"|  | below 95 %: {missed} | | | | | | | |")


def backfills(datasets: list[Dataset]) -> None:
    timed = SETUPS[:3]
    print("\n| dataset | partitions × rows | " + " | ".join(s[0] for s in timed) + " | ratios |")
    print("|---|---|---:|---:|---:|---|")
    for data in datasets:
        seconds = []
        for _, kind, calibrate, _chi2 in timed:
            cfg = _config(data, data.fixed if kind == "fixed" else data.rolling, calibrate)
            with tempfile.TemporaryDirectory(prefix="dw-ref-") as scratch:
                seconds.append(score(data, cfg, Path(scratch))[0].seconds)
        rows = sum(t.num_rows for t in data.days.values()) // len(data.days)
        ratios = " / ".join(f"{s / seconds[0]:.2f}×" for s in seconds[1:])
        shown = " | ".join(f"{s:.2f} s" for s in seconds)
        print(f"| {data.name} | {len(data.days)} × {rows:,} | {shown} | {ratios} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=182)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--injections", type=int, default=20, help="rounds of every injection")
    parser.add_argument("--backfill-days", type=int, default=91)
    parser.add_argument("--backfill-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    small = seasonal(args.days, args.rows, args.seed)
    census_years, census_parts = census(1, args.seed), census(12, args.seed)
    print("| dataset | configuration | feature-partitions graded | false alarms | insufficient "
          f"| {' | '.join(KINDS)} | all injections |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for data in (small, census_years, census_parts):
        signal(data, args.injections, args.seed)
    large = seasonal(args.backfill_days, args.backfill_rows, args.seed)
    backfills([small, large, census_parts])
    return 0


if __name__ == "__main__":
    sys.exit(main())
