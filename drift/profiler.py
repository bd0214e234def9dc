"""Building profiles in one streaming pass over Arrow record batches or a Parquet file."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

import pyarrow as pa

from drift.accumulators import accumulator
from drift.binning import pin_bins
from drift.columns import default_columns
from drift.errors import DriftInputError
from drift.parquet import ParquetSource
from drift.profile import DEFAULT_BINS, DEFAULT_TOP_K, Binning, Profile
from drift.sources import Source, open_snapshot

Batch = pa.RecordBatch | pa.Table


def profile_batches(
    batches: Iterable[Batch],
    schema: pa.Schema,
    *,
    columns: Sequence[str] | None = None,
    binning: Binning = Binning.QUANTILE,
    n_bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    like: Profile | None = None,
    source: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Profile:
    """Profile ``batches`` (all of ``schema``) in one pass.

    Without ``like`` this is a reference: bins are pinned with ``binning``/``n_bins``. With
    ``like`` (the reference) the numeric anchors are taken from it so both sides share one
    sketch grid, and nothing is pinned.
    """
    names = list(columns) if columns is not None else default_columns(schema)
    missing = [name for name in names if name not in schema.names]
    if missing:
        raise DriftInputError(f"unknown column(s): {', '.join(missing)}")
    anchors: Mapping[str, float] = like.anchors if like is not None else {}
    accumulators = {name: accumulator(schema.field(name).type, anchors.get(name)) for name in names}
    rows = 0
    # Columns are worked on in this thread: each update is a short run of numpy calls, too
    # short for a thread pool to pay off (measured slower); the reader prefetches instead.
    for batch in batches:
        rows += batch.num_rows
        for name, acc in accumulators.items():
            acc.update(batch.column(name))
        if on_batch is not None:
            on_batch(batch.num_rows)
    profile = Profile(
        source=source,
        rows=rows,
        binning=binning if binning is not Binning.EVIDENTLY else Binning.QUANTILE,
        n_bins=n_bins,
        top_k=top_k,
        columns={name: acc.finish() for name, acc in accumulators.items()},
    )
    if like is None and binning is not Binning.EVIDENTLY:
        profile = pin_bins(profile, binning, n_bins)
    return profile


class ProfileOptions(TypedDict, total=False):
    """:func:`profile_batches`' options that every snapshot kind takes alike."""

    binning: Binning
    n_bins: int
    top_k: int
    like: Profile | None
    on_batch: Callable[[int], None] | None


def profile_source(
    source: Source, *, columns: Sequence[str] | None = None, **options: Unpack[ProfileOptions]
) -> Profile:
    """Profile a snapshot source (Parquet, CSV, DataFrame), one batch at a time."""
    names = list(columns) if columns is not None else default_columns(source.schema)
    unknown = [name for name in names if name not in source.schema.names]
    if unknown:
        raise DriftInputError(f"{source.label}: unknown column(s): {', '.join(unknown)}")
    return profile_batches(
        source.row_groups(names), source.schema, columns=names, source=source.label, **options
    )


def profile_file(
    path: str | Path,
    *,
    types: Mapping[str, pa.DataType] | None = None,
    columns: Sequence[str] | None = None,
    **options: Unpack[ProfileOptions],
) -> Profile:
    """Profile a Parquet or CSV file, or every one of a directory or glob (``types``: the
    CSV's column types, else inferred)."""
    return profile_source(open_snapshot(path, types), columns=columns, **options)


def profile_parquet(
    path: str | Path, *, columns: Sequence[str] | None = None, **options: Unpack[ProfileOptions]
) -> Profile:
    """Profile a Parquet file, one row group at a time."""
    return profile_source(ParquetSource(path), columns=columns, **options)
