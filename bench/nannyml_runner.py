"""NannyML's DataReconstructionDriftCalculator on the cases bench/multivariate.py wrote, run in
NannyML's own virtualenv (``make nannyml-venv``): prints one JSON line per case.

    bench/.venv-nannyml/bin/python bench/nannyml_runner.py CASES_DIR CHUNK_SIZE

Imports nothing of driftwatch: only pandas and NannyML.
"""

import json
import sys
import time
from pathlib import Path

import nannyml as nml  # type: ignore[import-not-found]  # in its own venv
import pandas as pd


def main() -> None:
    folder, chunk_size = Path(sys.argv[1]), int(sys.argv[2])
    cases = json.loads((folder / "cases.json").read_text())
    for dataset, spec in cases.items():
        reference = pd.read_parquet(folder / spec["reference"])
        start = time.perf_counter()
        calculator = nml.DataReconstructionDriftCalculator(
            column_names=spec["columns"], chunk_size=chunk_size
        ).fit(reference)
        fitted = time.perf_counter() - start
        for case in spec["cases"]:
            analysis = pd.read_parquet(folder / case["file"])
            started = time.perf_counter()
            result = calculator.calculate(analysis).filter(period="analysis").to_df()
            alerts = result[("reconstruction_error", "alert")].tolist()
            print(
                json.dumps(
                    {
                        "dataset": dataset,
                        "case": case["name"],
                        "partition": case["partition"],
                        "alert": bool(any(alerts)),
                        "chunks": len(alerts),
                        "chunks_alerting": int(sum(alerts)),
                        "seconds": time.perf_counter() - started,
                        "fit_seconds": fitted,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
