"""Evidently 0.7's ``Report([DataDriftPreset(method="psi")])`` on a reference/current pair.

Runs inside Evidently's own virtualenv (it needs pandas < 3), so it imports nothing from
driftwatch. Prints ``{"seconds", "peak_rss_mib", "psi": {column: value}}`` as JSON; the clock
covers reading both Parquet files with pandas and running the report.
"""

import json
import sys
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def peak_rss_mib() -> float:
    """This process image's own peak RSS (VmHWM). Not ru_maxrss: across fork+exec that keeps
    the parent's peak, so a big benchmark driver would leak its RSS into every figure."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    reference_path, current_path = sys.argv[1:3]
    start = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    snapshot = Report([DataDriftPreset(method="psi")]).run(current, reference)
    metrics = snapshot.dict()["metrics"]
    seconds = time.perf_counter() - start
    psi = {
        m["config"]["column"]: m["value"]
        for m in metrics
        if m["config"]["type"].endswith("ValueDrift")
    }
    peak = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "psi": psi}))


if __name__ == "__main__":
    main()
