"""A year of daily partitions backfilled: one run over the range (the drift asset's backfill
policy) against Dagster's default of one run per partition, side by side in one invocation.

    python -m bench.backfill_year            # = make bench-backfill; 365 days × 100k rows

The demo dataset's generator writes 365 days of 2025 (19 features, ~100k rows a day, drift from
day 10) into a snapshot store once (kept under bench/data/year). Each mode runs in a fresh
process on a fresh on-disk Dagster instance and SQLite results store, after the reference
profile was materialized (not timed):

- ``one-run``: ``materialize`` of ``feature_drift`` with the partition-range tags a backfill
  sets — what ``BackfillPolicy.single_run()`` makes of it;
- ``per-partition``: ``materialize`` once per day, in process — the default policy's runs
  without their launch cost (a real backfill also starts a process per run);
- ``cli-range``: ``dagster asset materialize --partition-range`` as a whole process.

Wall time covers the runs (and for ``cli-range`` the whole command, process start included);
peak RSS is the process's own VmHWM (none for ``cli-range``, whose step runs in a child of the
command, as the definitions' multiprocess executor has it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIRST = date(2025, 1, 1)
MODES = ("one-run", "per-partition", "cli-range")
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def _days(count: int) -> list[date]:
    return [FIRST + timedelta(days=i) for i in range(count)]


def write_year(root: Path, days: int, rows: int) -> None:
    """The demo dataset's days 1…``days`` dated from 2025-01-01 (skipped where present)."""
    from pipelines.demo import DATASET, day_table
    from warehouse.snapshots import SnapshotStore

    store = SnapshotStore(root)
    for number, day in enumerate(_days(days), start=1):
        if not store.files(DATASET, day):
            store.write(DATASET, day, day_table(number, rows))


def write_config(path: Path) -> None:
    """driftwatch.yaml's demo dataset, moved to 2025 (reference: its first five days)."""
    import yaml

    from pipelines.config import load_config
    from pipelines.demo import DATASET

    config = json.loads(load_config().model_dump_json())
    dataset = config["datasets"][DATASET]
    dataset["partitions_start"] = FIRST.isoformat()
    dataset["reference"] = {"start": FIRST.isoformat(), "end": (FIRST + timedelta(4)).isoformat()}
    config["datasets"] = {DATASET: dataset}
    path.write_text(yaml.safe_dump(config))


def _definitions(work: Path, store_root: Path) -> Any:
    from pipelines.config import load_config
    from pipelines.definitions import build_definitions

    return build_definitions(
        load_config(str(work / "driftwatch.yaml")),
        database=f"sqlite:///{work / 'results.db'}",
        snapshots_root=str(store_root),
    )


def run_mode(mode: str, work: Path, store_root: Path, days: int) -> dict[str, Any]:
    """One mode in this (fresh) process: the reference first (untimed), then the year."""
    from dagster import AssetKey, DagsterInstance, materialize

    from bench.measure import peak_rss_mib
    from pipelines.demo import DATASET

    defs = _definitions(work, store_root)
    reference = defs.resolve_assets_def(AssetKey([DATASET, "reference_profile"]))
    drift = defs.resolve_assets_def(AssetKey([DATASET, "feature_drift"]))
    keys = [day.isoformat() for day in _days(days)]
    home = work / "dagster_home"
    home.mkdir(exist_ok=True)
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        assert materialize([reference], instance=instance).success
        start = time.perf_counter()
        if mode == "one-run":
            tags = dict(zip(RANGE_TAGS, (keys[0], keys[-1]), strict=True))
            runs = [materialize([drift], instance=instance, tags=tags)]
        elif mode == "per-partition":
            runs = [materialize([drift], instance=instance, partition_key=k) for k in keys]
        else:
            raise SystemExit(f"unknown mode {mode}")
        seconds = time.perf_counter() - start
    assert all(run.success for run in runs)
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "runs": len(runs)}


def run_cli(work: Path, store_root: Path, days: int) -> dict[str, Any]:
    """``dagster asset materialize --partition-range`` as a user types it, timed whole."""
    from pipelines.demo import DATASET

    home = work / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text((HERE.parent / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DRIFTWATCH_CONFIG": str(work / "driftwatch.yaml"),
        "DATABASE_URL": f"sqlite:///{work / 'results.db'}",
        "WAREHOUSE_ROOT": str(store_root),
    }
    dagster = str(Path(sys.executable).with_name("dagster"))

    def materialize(*args: str) -> float:
        command = [dagster, "asset", "materialize", "-m", "pipelines.definitions", *args]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        return time.perf_counter() - start

    materialize("--select", f"{DATASET}/reference_profile")
    keys = [day.isoformat() for day in _days(days)]
    seconds = materialize(
        "--select", f"{DATASET}/feature_drift", "--partition-range", f"{keys[0]}...{keys[-1]}"
    )
    # Its step runs in a child process (the multiprocess executor): no one peak RSS to quote.
    return {"seconds": seconds, "peak_rss_mib": None, "runs": 1}


def _child(mode: str, store_root: Path, days: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"dw-year-{mode}-") as tmp:
        work = Path(tmp)
        write_config(work / "driftwatch.yaml")
        if mode == "cli-range":
            return run_cli(work, store_root, days)
        paths = ["--work", str(work), "--store", str(store_root), "--days", str(days)]
        command = [sys.executable, "-m", "bench.backfill_year", "--child", mode, *paths]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description="a year of partitions: one run vs one per day")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "year")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", choices=MODES[:2], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_mode(args.child, args.work, args.store, args.days)))
        return 0
    started = time.strftime("%Y-%m-%d %H:%M")
    store_root = args.data / f"{args.rows}"
    write_year(store_root, args.days, args.rows)
    figures = {mode: _child(mode, store_root, args.days) for mode in args.modes.split(",")}
    print(f"## {args.days} daily partitions × {args.rows:,} rows × 19 features ({started})\n")
    print("| backfill | runs | wall | per partition | peak RSS |\n|---|---:|---:|---:|---:|")
    for mode, fig in figures.items():
        print(
            f"| {mode} | {fig['runs']} | {fig['seconds']:.1f} s | "
            f"{1000 * fig['seconds'] / args.days:.0f} ms | {_mib(fig['peak_rss_mib'])} |"
        )
    if {"one-run", "per-partition"} <= figures.keys():
        ratio = figures["per-partition"]["seconds"] / figures["one-run"]["seconds"]
        print(f"\none run over the range is {ratio:.1f}× faster than a run per day")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
