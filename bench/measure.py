"""One timed measurement in a fresh process: prints ``{"seconds", "peak_rss_mib"}`` as JSON.

Run by bench/drift_bench.py so that each figure's peak RSS is its own. Imports happen before
the clock starts; the clock covers reading the files and computing, nothing else.

``cli ARGS…`` is the other kind: the ``drift`` command itself, as its console script runs it
(nothing imported before ``drift.cli``), for the driver to time from outside as a whole
process; it only adds the process's peak RSS as the last line on stderr.

``whole N -- COMMAND…`` times N runs of COMMAND from this small process, not from the driver:
a child of the driver, which by then holds gigabytes, took 0.13 s longer to start and end.
"""

from __future__ import annotations

import json
import sys
import time


def peak_rss_mib() -> float:
    """This process image's own peak RSS (VmHWM). Not ru_maxrss: across fork+exec that keeps
    the parent's peak, so a big benchmark driver would leak its RSS into every figure."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def cli(argv: list[str]) -> int:
    """The ``drift`` command in this process, then its peak RSS on stderr."""
    from drift.cli import main as drift_main

    code = drift_main(argv)
    sys.stdout.flush()
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}), file=sys.stderr)
    return code


def whole(repeat: int, command: list[str]) -> None:
    """Each run's wall time, start to exit, and the last lines it printed, as one JSON line."""
    import subprocess

    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        out, err = done.stdout.strip().splitlines(), done.stderr.strip().splitlines()
        runs.append(
            {
                "seconds": seconds,
                "returncode": done.returncode,
                "stdout": out[-1] if out else "",
                "stderr": err[-1] if err else "",
            }
        )
    print(json.dumps(runs))


def main() -> None:
    mode, *paths = sys.argv[1:]
    if mode == "cli":
        sys.exit(cli(paths))
    if mode == "whole":
        whole(int(paths[0]), paths[2:] if paths[1:2] == ["--"] else paths[1:])
        return
    import pyarrow.parquet as pq

    from drift import scan
    from drift.parquet import prefer_jemalloc

    prefer_jemalloc()  # as the drift CLI does

    start = time.perf_counter()
    if mode == "scan":  # reference (Parquet or profile JSON) vs current
        report = scan(paths[0], paths[1])
        assert report.features, "scan produced no results"
    elif mode == "read":  # pyarrow's own read of the same columns: the floor
        table = pq.read_table(paths[0], columns=paths[1].split(","))
        assert table.num_rows > 0
    elif mode == "read-stream":  # the same reader settings as ours, no work on the data
        from drift.parquet import ParquetSource

        source = ParquetSource(paths[0])
        rows = sum(t.num_rows for t in source.row_groups(paths[1].split(",")))
        assert rows > 0
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak}))


if __name__ == "__main__":
    main()
