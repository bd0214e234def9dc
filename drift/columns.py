"""What drift reads from an Arrow column: its kind, its values as float64, its level counts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, TypeAlias, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drift import sketch

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
    """The logical type: dictionary encoding and 64-bit string offsets (pandas' strings) are
    storage details, not schema changes."""
    if pa.types.is_dictionary(type_):
        return type_name(type_.value_type)
    if pa.types.is_large_string(type_):
        return "string"
    return str(type_)


def as_float64(column: ArrowColumn) -> sketch.FloatArray:
    """Values as float64 with nulls as NaN, zero-copy where Arrow allows.

    Read straight from the Arrow data buffer: ``Array.to_numpy`` imports pandas on first use,
    which alone raises a scan's peak RSS (docs/benchmarks.md, "Figures behind the code").
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


def _dictionary_counts(chunk: pa.DictionaryArray[Any, Any]) -> Iterator[tuple[object, int]]:
    """Counts of a dictionary-encoded chunk from its indices: one bincount, and Python only
    touches each distinct level once (``value_counts`` + ``to_pylist`` was much slower)."""
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


def default_columns(schema: pa.Schema) -> list[str]:
    """Every column drift can score; other types are profiled only when asked for."""
    return [f.name for f in schema if kind_of(f.type) != "unsupported"]
