"""US census data (employment_MA, 2015–2018) from NannyML's wheel, for benchmarks on real data.

The wheel is downloaded once (``pip download --no-deps``) into ``bench/data/nannyml`` and read
from there; nothing of it is committed.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Final

import pandas as pd

VERSION: Final = "0.13.1"
CACHE: Final = Path(__file__).parent / "data" / "nannyml"
PARTS: Final = ("reference", "analysis")
NUMERIC: Final = ("AGEP", "predicted_probability")
CATEGORICAL: Final = (
    "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR",
    "DEYE", "DREM", "SEX", "RAC1P",
)  # fmt: skip
FEATURES: Final = (*NUMERIC, *CATEGORICAL)


def wheel(cache: Path = CACHE) -> Path:
    found = sorted(cache.glob(f"nannyml-{VERSION}-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache),
         f"nannyml=={VERSION}"],
        check=True,
    )  # fmt: skip
    return sorted(cache.glob(f"nannyml-{VERSION}-*.whl"))[0]


def employment_ma(cache: Path = CACHE) -> pd.DataFrame:
    """Every row of 2015–2018 (reference and analysis parts), the categories as strings."""
    frames = []
    with zipfile.ZipFile(wheel(cache)) as whl:
        for part in PARTS:
            data = whl.read(f"nannyml/datasets/data/employment_MA_{part}.pq")
            frames.append(pd.read_parquet(io.BytesIO(data)))
    frame = pd.concat(frames, ignore_index=True)
    for name in CATEGORICAL:
        frame[name] = frame[name].astype(str)
    return frame[["year", *FEATURES]]
