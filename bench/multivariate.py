"""Multivariate drift where no column shows it, against NannyML's reconstruction error, and what
``--multivariate`` costs.

Cases, on two datasets whose every marginal stays as it was: **unchanged** (a fresh sample or
year, as is), **one column shuffled** across the rows (a join on the wrong key), **two columns
shuffled together** (their own relationship kept, the one to the rest broken), **a correlation
flipped** (a column's values reassigned in reverse order of their ranks: the same values, the
opposite relationship). *synthetic*: correlated columns (a, b = 0.8·a + noise, c leaning on a,
d independent, a city that follows a), a 60,000-row reference and partitions of 20,000 rows.
*census*: employment_MA from NannyML's package, 2015 the reference and each later year a
partition; age (`AGEP`) shuffled, age and `predicted_probability` shuffled together, age's
order reversed. driftwatch: the reference profiled with ``multivariate``, each partition scored
against it (flagged: warn or critical). NannyML 0.13.1's ``DataReconstructionDriftCalculator``
(its defaults: 65 % of the variance, mean ± 3 σ of the reference's chunks) in its own venv, on
chunks of ``--chunk-size`` rows (flagged: any chunk of the partition alerting). Wall times in
the same run.

Cost: ``drift scan`` as a whole process on bench/datagen.py's pair (25 features), with and
without ``--multivariate``: median of three, peak RSS.

    python -m bench.multivariate [--rows 1000000 5000000] [--chunk-size 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.census import FEATURES, employment_ma
from bench.segments import cost_of
from drift import Profile, Status, profile_batches
from drift.multivariate import compare_moments

HERE: Final = Path(__file__).parent
NANNYML: Final = HERE / ".venv-nannyml" / "bin" / "python"
CASES: Final = ("unchanged", "one column shuffled", "two shuffled together", "correlation flipped")


def _synthetic(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    city = np.where(a > 0.5, "north", np.where(a < -0.5, "south", "mid"))
    return pa.table(
        {
            "a": pa.array(a),
            "b": pa.array(0.8 * a + rng.normal(0, 0.6, n)),
            "c": pa.array(rng.normal(5, 2, n) + 0.5 * a),
            "d": pa.array(rng.exponential(1, n)),
            "city": pa.array(city.tolist()),
        }
    )


def _changed(table: pa.Table, case: str, first: str, second: str, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = table.num_rows
    names = {"one column shuffled": [first], "two shuffled together": [first, second]}.get(case)
    if names:
        order = rng.permutation(n)
        for name in names:
            table = table.set_column(table.schema.get_field_index(name), name,
                                     table.column(name).take(order))  # fmt: skip
    if case == "correlation flipped":
        values = table.column(first).to_numpy().astype(float)
        ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
        flipped = np.sort(values)[n - 1 - ranks]
        table = table.set_column(table.schema.get_field_index(first), first, pa.array(flipped))
    return table


Dataset = tuple[pa.Table, list[tuple[str, pa.Table]], str, str]
"""The reference, the partitions by name, and the column shuffled or flipped and its partner."""


def _datasets() -> dict[str, Dataset]:
    frame = employment_ma()
    years = {
        int(str(y)): pa.Table.from_pandas(p.drop(columns="year"), preserve_index=False)
        for y, p in frame.groupby("year")
    }
    synthetic = [(f"part {i}", _synthetic(20_000, 10 + i)) for i in range(3)]
    census = [(str(y), years[y]) for y in (2016, 2017, 2018)]
    return {
        "synthetic": (_synthetic(60_000, 1), synthetic, "b", "a"),
        "census": (years[2015], census, "AGEP", "predicted_probability"),
    }


def _ours(reference: pa.Table, current: pa.Table, ref: Profile | None) -> tuple[Profile, Status]:
    if ref is None:
        ref = profile_batches(reference.to_batches(max_chunksize=65_536), reference.schema,
                              multivariate=True)  # fmt: skip
    cur = profile_batches(current.to_batches(max_chunksize=65_536), current.schema, like=ref)
    if ref.multivariate is None or cur.multivariate is None:
        raise SystemExit("profiled without multivariate moments")
    return ref, compare_moments(ref.multivariate, cur.multivariate).status


def cases(folder: Path, chunk_size: int) -> dict[str, object]:
    folder.mkdir(parents=True, exist_ok=True)
    spec: dict[str, dict[str, object]] = {}
    ours: dict[tuple[str, str, str], bool] = {}
    seconds = {"driftwatch": 0.0, "nannyml": 0.0}
    for dataset, (reference, partitions, first, second) in _datasets().items():
        pq.write_table(reference, folder / f"{dataset}_reference.parquet")
        listed = []
        ref: Profile | None = None
        for partition, table in partitions:
            for index, case in enumerate(CASES):
                current = _changed(table, case, first, second, seed=index)
                name = f"{dataset}_{partition}_{index}.parquet".replace(" ", "_")
                pq.write_table(current, folder / name)
                start = time.perf_counter()
                ref, status = _ours(reference, current, ref)
                seconds["driftwatch"] += time.perf_counter() - start
                ours[(dataset, case, partition)] = status.breach
                listed.append({"name": case, "partition": partition, "file": name})
        spec[dataset] = {"reference": f"{dataset}_reference.parquet",
                         "columns": list(reference.schema.names), "cases": listed}  # fmt: skip
    (folder / "cases.json").write_text(json.dumps(spec))
    runner = [str(NANNYML), str(HERE / "nannyml_runner.py"), str(folder), str(chunk_size)]
    done = subprocess.run(runner, check=True, capture_output=True, text=True)
    theirs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    rows = []
    for found in theirs:
        key = (found["dataset"], found["case"], found["partition"])
        seconds["nannyml"] += found["seconds"]
        chunks = f"{found['chunks_alerting']}/{found['chunks']}"
        rows.append({"dataset": key[0], "case": key[1], "partition": key[2],
                     "driftwatch": ours[key], "nannyml": found["alert"],
                     "nannyml_chunks": chunks})  # fmt: skip
    seconds["nannyml"] += sum({f["dataset"]: f["fit_seconds"] for f in theirs}.values())
    return {"rows": rows, "seconds": seconds, "features": list(FEATURES)}


def main() -> int:
    parser = argparse.ArgumentParser(description="multivariate drift vs NannyML, and its cost")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    print(json.dumps(cases(args.data / "multivariate", args.chunk_size), indent=1))
    if not args.skip_cost:
        print(json.dumps(cost_of(["--multivariate"], args.rows, args.repeat, args.data), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
