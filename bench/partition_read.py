"""One day of the demo dataset read and profiled through the CLI's path and through the
Dagster asset's path, in one run: the two must read at the same speed (one Parquet reader).

    python -m bench.partition_read --rows 1000000 --repeat 5

Each measurement runs in a fresh process (its own peak RSS), the modes taken in turn, and the
table gives the median time, the worst peak RSS and each path's time over the CLI's:

- ``cli``: ``drift.profile_parquet(file, like=reference)``, what ``drift scan`` does with the
  current file;
- ``asset``: ``pipelines.shares.profile_partition``, what ``feature_drift`` does with a day;
- ``asset+record``: ``pipelines.backfill.score_partition``, the whole materialization's work
  (profile, compare, write the drift results to SQLite);
- ``plain-pyarrow``: ``ParquetFile.read_row_group`` without dictionary-encoded strings or
  prefetch, what the snapshot store's own reader did before the asset used drift's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

MODES = ("cli", "asset", "asset+record", "plain-pyarrow")
MEASURED_DAY = 8  # a drifted day of the demo


def _setup(root: Path, rows: int) -> None:
    """The demo's reference window (at demo size) and the measured day at ``rows``."""
    from pipelines.config import ReferenceWindow, load_config
    from pipelines.demo import DATASET, START, day_table, write_demo
    from pipelines.scoring import profile_reference
    from warehouse.snapshots import SnapshotStore

    store = SnapshotStore(root / "warehouse")
    cfg = load_config().datasets[DATASET]
    assert isinstance(cfg.reference, ReferenceWindow), "the demo has a fixed reference"
    write_demo(store, days=(cfg.reference.end - START).days + 1)
    store.write(DATASET, START + timedelta(days=MEASURED_DAY - 1), day_table(MEASURED_DAY, rows))
    profile_reference(store, DATASET, cfg)


def _peak_rss_mib() -> float:
    from bench.measure import peak_rss_mib

    return peak_rss_mib()


def _one(mode: str, root: Path) -> dict[str, float]:
    """Time one mode in this (fresh) process; imports and the reference load are not timed."""
    import pyarrow.parquet as pq

    from drift import Profile, profile_batches, profile_parquet
    from drift.parquet import prefer_jemalloc
    from pipelines.backfill import score_partition
    from pipelines.config import load_config
    from pipelines.demo import DATASET, START
    from pipelines.references import FixedReferences
    from pipelines.shares import profile_partition
    from warehouse.db import Database
    from warehouse.drift_results import DriftResultStore
    from warehouse.migrate import upgrade
    from warehouse.snapshots import SnapshotStore

    prefer_jemalloc()  # as the CLI does; the Dagster process gets the same from its entry point
    store = SnapshotStore(root / "warehouse")
    cfg = load_config().datasets[DATASET]
    day = START + timedelta(days=MEASURED_DAY - 1)
    (path,) = store.files(DATASET, day)
    reference = Profile.load(store.profile_path(DATASET))
    features = list(cfg.features)
    db = Database.from_url(f"sqlite:///{root / 'bench.db'}")
    upgrade(db.engine)
    start = time.perf_counter()
    if mode == "cli":
        rows = profile_parquet(path, columns=features, like=reference).rows
    elif mode == "asset":
        rows = profile_partition(store, DATASET, cfg, day, reference).rows
    elif mode == "asset+record":
        partition = day.isoformat()
        results = DriftResultStore(db)
        rows = score_partition(
            store,
            results,
            DATASET,
            cfg,
            partition=partition,
            run_id="bench",
            references=FixedReferences.of(reference, cfg),
        ).rows
    elif mode == "plain-pyarrow":
        parquet = pq.ParquetFile(path)
        groups = (
            parquet.read_row_group(i, columns=features) for i in range(parquet.num_row_groups)
        )
        rows = profile_batches(groups, parquet.schema_arrow, columns=features, like=reference).rows
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mib": _peak_rss_mib(), "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description="a partition read: CLI path vs asset path")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the measured day")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.root)))
        return 0
    with tempfile.TemporaryDirectory(prefix="driftwatch-partition-") as tmp:
        root = Path(tmp)
        _setup(root, args.rows)
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                out = subprocess.run(
                    [sys.executable, "-m", "bench.partition_read", "--one", mode, "--root", tmp],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    cli = statistics.median(r["seconds"] for r in runs["cli"])
    print(
        f"## one day, {args.rows:,} rows × 19 features ({time.strftime('%Y-%m-%d %H:%M')}; "
        f"median of {args.repeat}, modes in turn, each in a fresh process)\n"
    )
    print("| path | time | ÷ CLI | peak RSS |")
    print("|---|---:|---:|---:|")
    for mode in MODES:
        seconds = statistics.median(r["seconds"] for r in runs[mode])
        peak = max(r["peak_rss_mib"] for r in runs[mode])
        print(f"| {mode} | {seconds:.3f} s | {seconds / cli:.2f} | {peak:.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
