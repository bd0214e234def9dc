"""Building profiles in one streaming pass over Arrow record batches or a Parquet file."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drift import sketch
from drift.binning import pin_bins
from drift.errors import DriftInputError
from drift.parquet import ParquetSource
from drift.profile import (
    DEFAULT_BINS,
    DEFAULT_TOP_K,
    MAX_LEVELS,
    Binning,
    CategoricalProfile,
    NumericProfile,
    Profile,
    UnsupportedProfile,
    fold_levels,
)

Batch = pa.RecordBatch | pa.Table
ArrowColumn: TypeAlias = "pa.ChunkedArray[Any] | pa.Array[Any]"
ColumnKind = str


def kind_of(type_: pa.DataType) -> ColumnKind:
    """numeric | categorical | unsupported, from the Arrow type."""
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "numeric"
    if (
        pa.types.is_string(type_)
        or pa.types.is_large_string(type_)
        or pa.types.is_boolean(type_)
        or pa.types.is_dictionary(type_)
    ):
        return "categorical"
    return "unsupported"


def type_name(type_: pa.DataType) -> str:
    """The logical type: dictionary encoding is a storage detail, not a schema change."""
    if pa.types.is_dictionary(type_):
        return str(type_.value_type)
    return str(type_)


def as_float64(column: ArrowColumn) -> sketch.FloatArray:
    """Values as float64 with nulls as NaN, zero-copy where Arrow allows.

    Read straight from the Arrow data buffer: ``Array.to_numpy`` imports pandas on first use,
    which alone costs a scan ~35 MiB of peak RSS (measured).
    """
    if isinstance(column, pa.ChunkedArray):
        whole = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        array = cast("pa.Array[Any]", whole)
    else:
        array = column
    if not pa.types.is_float64(array.type):
        array = cast("pa.Array[Any]", pc.cast(array, pa.float64()))
    if array.null_count:
        array = cast("pa.Array[Any]", pc.fill_null(array, pa.scalar(math.nan)))
    data = array.buffers()[1]
    if data is None:
        return np.empty(0, dtype=np.float64)
    return np.frombuffer(
        memoryview(data), dtype=np.float64, count=len(array), offset=array.offset * 8
    )


class _NumericAccumulator:
    def __init__(self, dtype: str, anchor: float | None) -> None:
        self.dtype = dtype
        self.anchor = anchor
        self.raw = np.zeros(sketch.N_KEYS, dtype=np.int64)
        self.rows = self.missing = self.finite = 0
        self.total = self.total_sq = 0.0
        self.low = np.inf
        self.high = -np.inf

    def update(self, column: ArrowColumn) -> None:
        values = as_float64(column)
        self.rows += values.size
        if values.size == 0:
            return
        if self.anchor is None:
            present = values[np.isfinite(values)]
            if present.size == 0 and not np.isinf(values).any():
                self.missing += values.size  # nothing but NaN so far: no anchor yet
                return
            # First values seen: the median anchors the sketch's fine resolution on the bulk.
            self.anchor = float(np.median(present)) if present.size else 0.0
        nan_before = sketch.raw_nan_count(self.raw)
        sketch.add_raw_counts(self.raw, values, self.anchor)
        n_nan = sketch.raw_nan_count(self.raw) - nan_before
        self.missing += n_nan
        self._moments(values, n_nan)

    def _moments(self, values: sketch.FloatArray, n_nan: int) -> None:
        if n_nan == values.size:
            return
        low, high = float(np.fmin.reduce(values)), float(np.fmax.reduce(values))  # skip NaN
        if np.isinf(low) or np.isinf(high):  # rare: ±inf stay out of the moments
            finite = values[np.isfinite(values)]
            if finite.size:
                self._add(finite, finite.size, float(finite.min()), float(finite.max()))
            return
        zeroed = values
        if n_nan:  # NaN adds nothing: zero them in this thread's work buffer
            zeroed = sketch.float_buffer(values.size)
            np.copyto(zeroed, values)
            zeroed[np.isnan(values)] = 0.0
        self._add(zeroed, values.size - n_nan, low, high)

    def _add(self, values: sketch.FloatArray, count: int, low: float, high: float) -> None:
        self.finite += count
        self.total += float(values.sum())
        # einsum, not np.dot: BLAS wakes its thread pool for every call (3× slower here).
        self.total_sq += float(np.einsum("i,i->", values, values))
        self.low = min(self.low, low)
        self.high = max(self.high, high)

    def finish(self) -> NumericProfile:
        keys, counts = sketch.to_sparse(sketch.ordered(self.raw))
        return NumericProfile(
            dtype=self.dtype,
            rows=self.rows,
            missing=self.missing,
            finite=self.finite,
            sum=self.total,
            sum_sq=self.total_sq,
            min=self.low if self.finite else None,
            max=self.high if self.finite else None,
            anchor=self.anchor,
            sketch_keys=keys.tolist(),
            sketch_counts=counts.tolist(),
        )


def _dictionary_counts(chunk: pa.DictionaryArray[Any, Any]) -> Iterator[tuple[object, int]]:
    """Counts of a dictionary-encoded chunk from its indices: one bincount, and Python only
    touches each distinct level once (``value_counts`` + ``to_pylist`` was 10× slower)."""
    indices = chunk.indices
    n_levels = len(chunk.dictionary)
    if indices.null_count:
        indices = pc.fill_null(indices, pa.scalar(n_levels, indices.type))
    data = indices.buffers()[1]
    if data is None or len(indices) == 0:
        return
    codes = np.frombuffer(
        memoryview(data),
        dtype=np.dtype(f"int{indices.type.bit_width}"),
        count=len(indices),
        offset=indices.offset * indices.type.bit_width // 8,
    )
    counts = np.bincount(codes, minlength=n_levels + 1)[:n_levels]
    levels = chunk.dictionary.to_pylist()
    for code in np.flatnonzero(counts).tolist():
        yield levels[code], int(counts[code])


def level_counts(column: ArrowColumn) -> Iterator[tuple[object, int]]:
    """(value, count) of every non-null value; a level may come more than once."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        if isinstance(chunk, pa.DictionaryArray):
            yield from _dictionary_counts(chunk)
            continue
        tallies = pc.value_counts(chunk)
        values = tallies.field("values").to_pylist()
        counts = tallies.field("counts").to_pylist()
        for value, count in zip(values, counts, strict=True):
            if value is not None and count:
                yield value, int(count)


def _level(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _CategoricalAccumulator:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.rows = self.missing = self.other = 0
        self.counts: Counter[str] = Counter()

    def update(self, column: ArrowColumn) -> None:
        self.rows += len(column)
        self.missing += column.null_count or 0
        for value, count in level_counts(column):
            self.counts[_level(value)] += count
        if len(self.counts) > 4 * MAX_LEVELS:  # bound memory on id-like columns
            kept, self.other = fold_levels(self.counts, self.other)
            self.counts = Counter(kept)

    def finish(self) -> CategoricalProfile:
        levels, other = fold_levels(self.counts, self.other)
        return CategoricalProfile(
            dtype=self.dtype, rows=self.rows, missing=self.missing, levels=levels, other=other
        )


class _UnsupportedAccumulator:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.rows = 0

    def update(self, column: ArrowColumn) -> None:
        self.rows += len(column)

    def finish(self) -> UnsupportedProfile:
        return UnsupportedProfile(dtype=self.dtype, rows=self.rows)


Accumulator = _NumericAccumulator | _CategoricalAccumulator | _UnsupportedAccumulator


def _accumulator(type_: pa.DataType, anchor: float | None) -> Accumulator:
    kind = kind_of(type_)
    if kind == "numeric":
        return _NumericAccumulator(type_name(type_), anchor)
    if kind == "categorical":
        return _CategoricalAccumulator(type_name(type_))
    return _UnsupportedAccumulator(type_name(type_))


def default_columns(schema: pa.Schema) -> list[str]:
    """Every column drift can score; other types are profiled only when asked for."""
    return [f.name for f in schema if kind_of(f.type) != "unsupported"]


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
    accumulators = {
        name: _accumulator(schema.field(name).type, anchors.get(name)) for name in names
    }
    rows = 0
    # Columns are worked on in this thread: per batch each update is ~0.5 ms of numpy calls,
    # too short for a thread pool to pay off (measured slower); the reader prefetches instead.
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


def profile_parquet(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    binning: Binning = Binning.QUANTILE,
    n_bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    like: Profile | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Profile:
    """Profile a Parquet file, one row group at a time."""
    src = ParquetSource(path)
    names = list(columns) if columns is not None else default_columns(src.schema)
    unknown = [name for name in names if name not in src.schema.names]
    if unknown:
        raise DriftInputError(f"{src.path}: unknown column(s): {', '.join(unknown)}")
    return profile_batches(
        src.row_groups(names),
        src.schema,
        columns=names,
        binning=binning,
        n_bins=n_bins,
        top_k=top_k,
        like=like,
        source=str(src.path),
        on_batch=on_batch,
    )
