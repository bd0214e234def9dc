"""pandas DataFrames as snapshots: converted to Arrow column by column, never row by row.

pandas is imported only by whoever hands us a DataFrame; the ``drift`` command never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Unpack

import pyarrow as pa

from drift.columns import kind_of
from drift.errors import DriftInputError
from drift.profile import Profile
from drift.profiler import ProfileOptions, profile_source
from drift.scan import ScanArgs, ScanReport, scan_sources
from drift.sources import TableSource

if TYPE_CHECKING:
    import pandas as pd


def _refuse_dtype(name: str, series: pd.Series[Any]) -> None:
    """Datetimes, durations and periods are not features drift can score as they are."""
    kind = getattr(series.dtype, "kind", "")
    if kind in "mM" or str(series.dtype).startswith("period"):
        raise DriftInputError(
            f"column {name!r} is {series.dtype}: drift scores numbers and categories; "
            "convert it (e.g. to epoch seconds or a day of the week) or leave it out"
        )


def _arrow_column(name: str, series: pd.Series[Any]) -> pa.Array[Any] | pa.ChunkedArray[Any]:
    _refuse_dtype(name, series)
    try:
        array: pa.Array[Any] = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise DriftInputError(
            f"column {name!r} ({series.dtype}) cannot be read: {' '.join(str(exc).split())}; "
            "give it one type (e.g. df[col].astype(str))"
        ) from None
    if kind_of(array.type) == "unsupported":
        raise DriftInputError(
            f"column {name!r} holds {array.type} values: drift scores numbers and categories"
        )
    return array


class FrameSource(TableSource):
    """A DataFrame as Arrow: every column converted once, then served in slices."""

    def __init__(
        self, frame: pd.DataFrame, columns: Sequence[str] | None = None, label: str = "DataFrame"
    ) -> None:
        names = [str(c) for c in frame.columns]
        if len(set(names)) != len(names):
            raise DriftInputError(f"{label}: column names are not unique")
        wanted = list(columns) if columns is not None else names
        unknown = [name for name in wanted if name not in names]
        if unknown:
            raise DriftInputError(f"{label}: unknown column(s): {', '.join(unknown)}")
        by_name = dict(zip(names, frame.columns, strict=True))
        arrays = [_arrow_column(name, frame[by_name[name]]) for name in wanted]
        super().__init__(pa.Table.from_arrays(arrays, names=wanted), label)


def profile_frame(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    **options: Unpack[ProfileOptions],
) -> Profile:
    """Profile a DataFrame (a reference: bins pinned; with ``like``: on that reference's grid).
    Every column given (default: all) must be numeric, boolean, string or categorical."""
    return profile_source(FrameSource(frame, columns), **options)


def scan_frames(
    reference: pd.DataFrame | Profile,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    **options: Unpack[ScanArgs],
) -> ScanReport:
    """Scan the DataFrame ``current`` against a reference DataFrame or a saved profile;
    ``options`` are :func:`drift.scan`'s (binning, thresholds, measures, …)."""
    ref: Profile | FrameSource = (
        reference
        if isinstance(reference, Profile)
        else FrameSource(reference, _present(reference, columns), label="reference DataFrame")
    )
    cur = FrameSource(current, _present(current, columns), label="current DataFrame")
    return scan_sources(ref, cur, columns=columns, **options)


def _present(frame: pd.DataFrame, columns: Sequence[str] | None) -> list[str] | None:
    """The requested columns this frame has (a column absent from one side is scored as a
    schema break, not refused); None: all of them."""
    if columns is None:
        return None
    names = {str(c) for c in frame.columns}
    return [c for c in columns if c in names]
