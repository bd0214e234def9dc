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
from drift.multivariate import MomentsAccumulator
from drift.parquet import ParquetSource
from drift.profile import DEFAULT_BINS, DEFAULT_TOP_K, Binning, Profile
from drift.segments import DEFAULT_SEGMENT_TOP_K, Segmenter, check_segments
from drift.sketch import FloatArray
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
    segment_by: Sequence[str] = (),
    segment_top_k: int = DEFAULT_SEGMENT_TOP_K,
    multivariate: bool = False,
) -> Profile:
    """Profile ``batches`` (all of ``schema``) in one pass.

    Without ``like`` this is a reference: bins are pinned with ``binning``/``n_bins``. With
    ``like`` (the reference) the numeric anchors are taken from it so both sides share one
    sketch grid, and nothing is pinned; its segments (levels included) are profiled again.
    ``segment_by`` adds a profile per segment (:mod:`drift.segments`); ``multivariate`` keeps
    the encoded columns' second moments (:mod:`drift.multivariate`), as does a profile ``like``
    one that has them.
    """
    names = list(columns) if columns is not None else default_columns(schema)
    missing = [name for name in names if name not in schema.names]
    if missing:
        raise DriftInputError(f"unknown column(s): {', '.join(missing)}")
    if like is not None and like.segments:
        segment_by, segment_top_k = list(like.segments), like.segment_top_k or segment_top_k
    if segment_by:
        check_segments(schema, segment_by, segment_top_k, names)
    anchors: Mapping[str, float] = like.anchors if like is not None else {}
    accumulators = {
        name: accumulator(schema.field(name).type, anchors.get(name), cell_sums=bool(segment_by))
        for name in names
    }
    segmenter = Segmenter(segment_by, accumulators, segment_top_k, like) if segment_by else None
    multivariate = multivariate or (like is not None and like.multivariate is not None)
    # parts (for the spread) only for a reference; a rolling window's are its partitions
    moments = MomentsAccumulator(accumulators, parts=like is None) if multivariate else None
    rows = 0
    values: dict[str, FloatArray] = {}
    # Columns are worked on in this thread: each update is a short run of numpy calls, too
    # short for a thread pool to pay off (measured slower); the reader prefetches instead.
    for batch in batches:
        rows += batch.num_rows
        for name, acc in accumulators.items():
            read = acc.update(batch.column(name))
            if read is not None:
                values[name] = read
        if segmenter is not None:
            segmenter.update(batch, accumulators, values)
        if moments is not None:
            moments.update(batch, accumulators, values)
        if on_batch is not None:
            on_batch(batch.num_rows)
    finished = {name: acc.finish() for name, acc in accumulators.items()}
    profile = Profile(
        source=source,
        rows=rows,
        binning=binning if binning is not Binning.EVIDENTLY else Binning.QUANTILE,
        n_bins=n_bins,
        top_k=top_k,
        columns=finished,
        segments=segmenter.finish(finished) if segmenter is not None else None,
        segment_top_k=segment_top_k if segmenter is not None else None,
        multivariate=moments.finish() if moments is not None else None,
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
    segment_by: Sequence[str]
    segment_top_k: int
    multivariate: bool


def profile_source(
    source: Source, *, columns: Sequence[str] | None = None, **options: Unpack[ProfileOptions]
) -> Profile:
    """Profile a snapshot source (Parquet, CSV, DataFrame), one batch at a time."""
    names = list(columns) if columns is not None else default_columns(source.schema)
    unknown = [name for name in names if name not in source.schema.names]
    if unknown:
        raise DriftInputError(f"{source.label}: unknown column(s): {', '.join(unknown)}")
    segment_by = _segment_columns(options)
    read = list(dict.fromkeys([*names, *(c for c in segment_by if c in source.schema.names)]))
    return profile_batches(
        source.row_groups(read), source.schema, columns=names, source=source.label, **options
    )


def _segment_columns(options: ProfileOptions) -> Sequence[str]:
    """The segment columns a profile reads besides its features."""
    like = options.get("like")
    if like is not None and like.segments:
        return list(like.segments)
    return options.get("segment_by", ())


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
