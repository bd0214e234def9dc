"""Drift benchmark: driftwatch vs pyarrow's read (the floor) vs Evidently 0.7, in one run.

    make bench                      # or:
    python -m bench.drift_bench --evidently-python bench/.venv-evidently/bin/python

Every figure comes from a fresh process (bench/measure.py, bench/evidently_runner.py), so each
peak RSS is that measurement's own. Prints a markdown table with the ratios the targets are
stated in; paste it into docs/benchmarks.md together with the command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from bench.datagen import write_pair
from drift import profile_parquet

HERE = Path(__file__).resolve().parent


@dataclass
class Figure:
    seconds: float
    peak_rss_mib: float


def _run(command: list[str], repeat: int) -> Figure:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return Figure(
        seconds=statistics.median(r["seconds"] for r in runs),
        peak_rss_mib=max(r["peak_rss_mib"] for r in runs),
    )


def _ours(mode: str, *args: str, repeat: int) -> Figure:
    return _run([sys.executable, "-m", "bench.measure", mode, *args], repeat)


def _whole(command: list[str], repeat: int, rss: Callable[[str, str], float]) -> Figure:
    """Wall time of whole processes, start to exit, timed from outside by a small launcher
    (bench/measure.py ``whole``; median); peak RSS as the process reports it (``rss(last line
    of stdout, last line of stderr)``; the largest of the runs)."""
    launcher = [sys.executable, "-m", "bench.measure", "whole", str(repeat), "--", *command]
    runs = json.loads(subprocess.run(launcher, check=True, capture_output=True, text=True).stdout)
    for run in runs:
        if run["returncode"] not in (0, 1):  # 1: drift found, as a scan of drifted data should
            raise SystemExit(f"{command[:4]}… failed: {run['stderr']}")
    return Figure(
        seconds=statistics.median(r["seconds"] for r in runs),
        peak_rss_mib=max(rss(r["stdout"], r["stderr"]) for r in runs),
    )


def _last_json(line: str) -> dict[str, float]:
    loaded: dict[str, float] = json.loads(line)
    return loaded


def _rss_on_stderr(out: str, err: str) -> float:
    return _last_json(err)["peak_rss_mib"]


def _rss_on_stdout(out: str, err: str) -> float:
    return _last_json(out)["peak_rss_mib"]


def whole_processes(
    reference: Path, current: Path, evidently_python: Path | None, repeat: int
) -> dict[str, Figure]:
    """``drift scan`` as people run it against Evidently's runner, both from process start
    to exit: interpreter start, imports, reading, computing and teardown all count."""
    drift_cli = [sys.executable, "-m", "bench.measure", "cli", "scan", str(reference)]
    figures = {
        "drift scan, whole process": _whole(
            [*drift_cli, str(current), "--format", "json"], repeat, _rss_on_stderr
        ),
        "drift scan --measures psi,chi2,wasserstein, whole process": _whole(
            [*drift_cli, str(current), "--format", "json", "--measures", "psi,chi2,wasserstein"],
            repeat,
            _rss_on_stderr,
        ),
    }
    if evidently_python is not None:
        runner = [str(evidently_python), str(HERE / "evidently_runner.py")]
        figures["Evidently 0.7 DataDriftPreset(method='psi'), whole process"] = _whole(
            [*runner, str(reference), str(current)],
            1,
            _rss_on_stdout,
        )
    return figures


def _fmt(fig: Figure) -> str:
    return f"{fig.seconds:8.3f} s | {fig.peak_rss_mib:7.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description="driftwatch drift benchmark")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--big-rows", type=int, default=5_000_000, help="second size, for memory (0 to skip)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--evidently-python",
        type=Path,
        help="python of a virtualenv with evidently 0.7 (skip if not given)",
    )
    parser.add_argument("--evidently-repeat", type=int, default=1)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument(
        "--heldout-seed",
        type=int,
        default=101,
        help="seed of the held-out pair the whole processes are timed on (not tuned against)",
    )
    args = parser.parse_args()

    started = time.strftime("%Y-%m-%d %H:%M")
    reference, current = write_pair(args.data / f"{args.rows}", args.rows)
    profile_path = reference.with_suffix(".json")
    profile_parquet(reference).save(profile_path)
    columns = ",".join(pq.ParquetFile(current).schema_arrow.names)

    figures: dict[str, Figure] = {}
    figures["driftwatch end to end (ref.parquet vs cur.parquet)"] = _ours(
        "scan", str(reference), str(current), repeat=args.repeat
    )
    figures["driftwatch vs saved profile (ref.json vs cur.parquet)"] = _ours(
        "scan", str(profile_path), str(current), repeat=args.repeat
    )
    figures["pyarrow read_table of cur.parquet (floor)"] = _ours(
        "read", str(current), columns, repeat=args.repeat
    )
    figures["pyarrow row-group stream, our reader settings"] = _ours(
        "read-stream", str(current), columns, repeat=args.repeat
    )
    evidently: Figure | None = None
    if args.evidently_python:
        evidently = _run(
            [
                str(args.evidently_python),
                str(HERE / "evidently_runner.py"),
                str(reference),
                str(current),
            ],
            args.evidently_repeat,
        )
        figures["Evidently 0.7 DataDriftPreset(method='psi')"] = evidently

    big: dict[str, Figure] = {}
    if args.big_rows:
        big_ref, big_cur = write_pair(args.data / f"{args.big_rows}", args.big_rows)
        big_profile = big_ref.with_suffix(".json")
        profile_parquet(big_ref).save(big_profile)
        big["driftwatch end to end"] = _ours("scan", str(big_ref), str(big_cur), repeat=1)
        big["driftwatch vs saved profile"] = _ours("scan", str(big_profile), str(big_cur), repeat=1)

    e2e = figures["driftwatch end to end (ref.parquet vs cur.parquet)"]
    vs_profile = figures["driftwatch vs saved profile (ref.json vs cur.parquet)"]
    floor = figures["pyarrow read_table of cur.parquet (floor)"]
    stream = figures["pyarrow row-group stream, our reader settings"]
    print(f"## {args.rows:,} rows × 25 features ({started}, median of {args.repeat})\n")
    print("| measurement | wall | peak RSS |\n|---|---:|---:|")
    for name, fig in figures.items():
        print(f"| {name} | {_fmt(fig)} |")
    print()
    print("| ratio | value | target |\n|---|---:|---|")
    if evidently is not None:
        print(
            f"| Evidently ÷ driftwatch end to end | {evidently.seconds / e2e.seconds:.0f}× "
            f"| ≥ 100× |"
        )
        print(
            f"| Evidently ÷ driftwatch peak RSS | "
            f"{evidently.peak_rss_mib / e2e.peak_rss_mib:.1f}× | |"
        )
    print(
        f"| vs-profile scan ÷ pyarrow read_table | {vs_profile.seconds / floor.seconds:.2f}× "
        f"| ≤ 2× |"
    )
    print(
        f"| vs-profile scan ÷ bare row-group stream | "
        f"{vs_profile.seconds / stream.seconds:.2f}× | |"
    )
    if big:
        print(f"\n## {args.big_rows:,} rows × 25 features (one run)\n")
        print("| measurement | wall | peak RSS |\n|---|---:|---:|")
        for name, fig in big.items():
            print(f"| {name} | {_fmt(fig)} |")
    heldout = write_pair(args.data / f"heldout-{args.rows}", args.rows, seed=args.heldout_seed)
    whole = whole_processes(*heldout, args.evidently_python, args.repeat)
    print(f"\n## Whole processes, held-out pair ({args.rows:,} rows, seed {args.heldout_seed})\n")
    print("| measurement | wall | peak RSS |\n|---|---:|---:|")
    for name, fig in whole.items():
        print(f"| {name} | {_fmt(fig)} |")
    ours = whole["drift scan, whole process"]
    theirs = whole.get("Evidently 0.7 DataDriftPreset(method='psi'), whole process")
    if theirs is not None:
        print(
            f"\n| Evidently ÷ drift scan, whole processes | "
            f"{theirs.seconds / ours.seconds:.0f}× | ≥ 100× |"
        )
    worst_rss = max(f.peak_rss_mib for f in [e2e, vs_profile, ours, *big.values()])
    print(f"\nworst driftwatch peak RSS: {worst_rss:.0f} MiB (target ≤ 300 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
