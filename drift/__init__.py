"""driftwatch's drift engine: profiles and drift measures over Arrow record batches.

Pure numerics: numpy and pyarrow in, profiles and graded per-feature results out. It knows
nothing of where snapshots live, of SQL, HTTP, Dagster or Flask.
"""

from drift.compare import ScanOptions, compare
from drift.errors import DriftInputError
from drift.frames import profile_frame, scan_frames
from drift.merge import merge
from drift.profile import Binning, Profile
from drift.profiler import profile_batches, profile_file, profile_parquet
from drift.results import BinTable, FeatureResult
from drift.scan import ScanReport, scan, scan_sources
from drift.thresholds import (
    ALL_MEASURES,
    DEFAULT_LEVELS,
    MEASURES,
    Level,
    SchemaBreak,
    Status,
    Thresholds,
)

__all__ = [
    "ALL_MEASURES",
    "DEFAULT_LEVELS",
    "MEASURES",
    "BinTable",
    "Binning",
    "DriftInputError",
    "FeatureResult",
    "Level",
    "Profile",
    "ScanOptions",
    "ScanReport",
    "SchemaBreak",
    "Status",
    "Thresholds",
    "compare",
    "merge",
    "profile_batches",
    "profile_file",
    "profile_frame",
    "profile_parquet",
    "scan",
    "scan_frames",
    "scan_sources",
]
