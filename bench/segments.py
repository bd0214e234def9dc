"""Segment hints on real data, and what ``--segment-by`` costs.

Hits: the US census data in NannyML's package (employment_MA, a year a partition, 2015 the
reference). Into each later year, a shift is injected into one segment at a time — every level
of the segment columns holding 5–40 % of the year's rows — for a numeric feature (age, AGEP,
+0.75 σ) and a probability-like one (predicted_probability, +0.25, kept within [0, 1)). Counted:
whether the injected segment is the shifted feature's first hint and among its first three,
whether the feature alarms (whole or hidden drift), and whether any other feature alarms that
a plain scan of the same year (no segments, nothing injected) calls ok; the clean years are
scanned with segments too, for alarms the plain scan does not raise.

Cost: the ``drift scan`` command as a whole process on bench/datagen.py's files (1M and 5M rows
× 25 features), with and without ``--segment-by s0,s1``: median wall time of three runs each,
peak RSS.

    python -m bench.segments [--rows 1000000 5000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from bench.census import FEATURES, employment_ma
from bench.datagen import write_pair
from drift import Profile, Status, compare, hints, profile_batches
from drift.results import FeatureResult

HERE: Final = Path(__file__).parent
SEGMENT_BY: Final = ("MAR", "SCHL", "RELP", "MIL", "CIT", "RAC1P")
SHARES: Final = (0.05, 0.40)
AGE_SHIFT_SIGMAS: Final = 0.75
PROBABILITY_SHIFT: Final = 0.25
REFERENCE_YEAR: Final = 2015


def _profile(table: pa.Table, like: Profile | None = None) -> Profile:
    batches = table.to_batches(max_chunksize=16_384)
    if like is not None:
        return profile_batches(batches, table.schema, columns=list(FEATURES), like=like)
    return profile_batches(batches, table.schema, columns=list(FEATURES), segment_by=SEGMENT_BY)


def _plain(reference: pa.Table, current: pa.Table) -> dict[str, Status]:
    ref = profile_batches(reference.to_batches(), reference.schema, columns=list(FEATURES))
    cur = profile_batches(current.to_batches(), current.schema, columns=list(FEATURES), like=ref)
    return {r.feature: r.status for r in compare(ref, cur)}


def _shifted(table: pa.Table, mask: np.ndarray, feature: str, sigma: float) -> pa.Table:
    values = table.column(feature).to_numpy().astype(float)
    if feature == "AGEP":
        values[mask] += AGE_SHIFT_SIGMAS * sigma
    else:
        values[mask] = np.minimum(values[mask] + PROBABILITY_SHIFT, 0.999)
    return table.set_column(table.schema.get_field_index(feature), feature, pa.array(values))


def _rank(result: FeatureResult, column: str, level: str, *, by_share: bool = False) -> int | None:
    """The injected segment's place among the hints (``by_share``: ordered by share of the
    drift alone, the order not taken)."""
    hints = list(result.segments or [])
    if by_share:
        hints.sort(key=lambda h: -h.explained)
    for rank, hint in enumerate(hints, start=1):
        if (hint.column, hint.value) == (column, level):
            return rank
    return None


def _segments(current: pa.Table) -> list[tuple[str, str, np.ndarray]]:
    """Every (column, level, rows) of the segment columns holding 5–40 % of the rows."""
    found = []
    for column in SEGMENT_BY:
        values = current.column(column).to_numpy(zero_copy_only=False)
        levels, counts = np.unique(values, return_counts=True)
        for level, count in zip(levels.tolist(), counts.tolist(), strict=True):
            if SHARES[0] <= count / len(values) <= SHARES[1]:
                found.append((column, str(level), values == level))
    return found


def _case(
    tally: Counter[str], found: dict[str, FeatureResult], plain: dict[str, Status],
    column: str, level: str, feature: str,
) -> str | None:  # fmt: skip
    """Count one injected case; what ranked first instead, when the injected segment did not."""
    result = found[feature]
    rank = _rank(result, column, level)
    hidden = result.status.breach and "hidden drift" in result.message
    for key in ("", f" {feature}"):
        tally[f"cases{key}"] += 1
        tally[f"first{key}"] += rank == 1
        tally[f"top 3{key}"] += rank is not None and rank <= 3
        tally[f"alarmed{key}"] += result.status.breach
        tally[f"hidden{key}"] += hidden
    tally["first by share of the drift alone"] += _rank(result, column, level, by_share=True) == 1
    tally["other columns alarmed"] += sum(
        found[f].status.breach and plain[f] is Status.OK for f in FEATURES if f != feature
    )
    if rank == 1:
        return None
    top = result.segments[0] if result.segments else None
    return f"rank {rank}, first {top.column}={top.value}" if top else f"rank {rank}"


def hits() -> dict[str, object]:
    # every segment listed, so the order not taken (share of the drift alone) ranks them all
    hints.MAX_HINTS = 10_000  # type: ignore[misc]
    frame = employment_ma()
    years = {int(str(y)): pa.Table.from_pandas(part.drop(columns="year"), preserve_index=False)
             for y, part in frame.groupby("year")}  # fmt: skip
    sigma = float(frame["AGEP"].std())
    reference = _profile(years[REFERENCE_YEAR])
    tally: Counter[str] = Counter()
    misses: list[str] = []
    for year in sorted(y for y in years if y != REFERENCE_YEAR):
        current = years[year]
        plain = _plain(years[REFERENCE_YEAR], current)
        segmented = {r.feature: r for r in compare(reference, _profile(current, reference))}
        tally["clean features plain ok"] += sum(plain[f] is Status.OK for f in FEATURES)
        tally["clean extra alarms"] += sum(
            plain[f] is Status.OK and segmented[f].status.breach for f in FEATURES
        )
        for column, level, mask in _segments(current):
            for feature in ("AGEP", "predicted_probability"):
                scanned = _profile(_shifted(current, mask, feature, sigma), reference)
                found = {r.feature: r for r in compare(reference, scanned)}
                missed = _case(tally, found, plain, column, level, feature)
                if missed:
                    misses.append(f"{year} {column}={level} {feature}: {missed}")
    return {"tally": dict(tally), "misses": misses}


def _whole(command: list[str], repeat: int) -> dict[str, float]:
    launcher = [sys.executable, "-m", "bench.measure", "whole", str(repeat), "--", *command]
    runs = json.loads(subprocess.run(launcher, check=True, capture_output=True, text=True).stdout)
    for run in runs:
        if run["returncode"] not in (0, 1):
            raise SystemExit(f"{command[:6]}… failed: {run['stderr']}")
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_rss_mib": max(json.loads(r["stderr"])["peak_rss_mib"] for r in runs),
    }


def cost_of(extra: list[str], rows: list[int], repeat: int, data: Path) -> list[dict[str, object]]:
    """``drift scan`` of bench/datagen.py's pair as a whole process, with ``extra`` options and
    without (the files are written once per size, under ``data``)."""
    found = []
    for n in rows:
        folder = data / f"segments_{n}"
        if not (folder / "current.parquet").exists():
            write_pair(folder, n, seed=7)
        scan = [sys.executable, "-m", "bench.measure", "cli", "scan",
                str(folder / "reference.parquet"), str(folder / "current.parquet"),
                "--format", "json"]  # fmt: skip
        plain = _whole(scan, repeat)
        with_extra = _whole([*scan, *extra], repeat)
        found.append({"rows": n, "plain": plain, " ".join(extra): with_extra,
                      "ratio": with_extra["seconds"] / plain["seconds"]})  # fmt: skip
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description="segment hints: hit rates and cost")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    print(json.dumps(hits(), indent=1))
    if not args.skip_cost:
        segments = ["--segment-by", "s0,s1"]
        print(json.dumps(cost_of(segments, args.rows, args.repeat, args.data), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
