"""Evidently 0.7's ``Report([DataDriftPreset(method="psi")])`` on a reference/current pair.

Runs inside Evidently's own virtualenv (it needs pandas < 3), so it imports nothing from
driftwatch. Prints ``{"seconds", "peak_rss_mib", "psi": {column: value}}`` as JSON; the clock
covers reading both Parquet files with pandas and running the report.
"""

import json
import resource
import sys
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "psi": psi}))


if __name__ == "__main__":
    main()
