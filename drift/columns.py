"""What drift reads from an Arrow column: its kind, its values as float64, its level counts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

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


def _invalid(array: pa.Array[Any]) -> npt.NDArray[np.bool_]:
    """Which slots of ``array`` are null, from its validity bitmap."""
    bitmap = array.buffers()[0]
    n, offset = len(array), array.offset
    if bitmap is None:
        return np.zeros(n, dtype=bool)
    bits = np.unpackbits(
        np.frombuffer(memoryview(bitmap), dtype=np.uint8), count=offset + n, bitorder="little"
    )
    invalid: npt.NDArray[np.bool_] = bits[offset:] == 0
    return invalid


def _one_array(column: ArrowColumn) -> pa.Array[Any]:
    if isinstance(column, pa.ChunkedArray):
        whole = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        return cast("pa.Array[Any]", whole)
    return column


def _buffer(array: pa.Array[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """An array's data buffer as numpy, zero-copy."""
    data = array.buffers()[1]
    if data is None:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(
        memoryview(data), dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def _primitive(array: pa.Array[Any]) -> npt.NDArray[Any] | None:
    """The data buffer of an integer or float array as numpy (zero-copy), else None."""
    type_ = array.type
    if pa.types.is_floating(type_):
        return _buffer(array, np.dtype(f"float{type_.bit_width}"))
    if pa.types.is_signed_integer(type_):
        return _buffer(array, np.dtype(f"int{type_.bit_width}"))
    if pa.types.is_unsigned_integer(type_):
        return _buffer(array, np.dtype(f"uint{type_.bit_width}"))
    return None


def as_float64(column: ArrowColumn) -> sketch.FloatArray:
    """Values as float64 with nulls as NaN, zero-copy where Arrow allows.

    Read straight from the Arrow buffers with numpy: ``Array.to_numpy`` imports pandas and
    ``pyarrow.compute`` costs a tenth of the ``drift`` command's start (docs/benchmarks.md,
    "Figures behind the code"); only decimals go through ``pyarrow.compute``.
    """
    array = _one_array(column)
    raw = _primitive(array)
    if raw is None:  # decimals
        import pyarrow.compute as pc

        array = cast("pa.Array[Any]", pc.cast(array, pa.float64()))
        raw = _buffer(array, np.dtype(np.float64))
    values: sketch.FloatArray = raw if raw.dtype == np.float64 else raw.astype(np.float64)
    if array.null_count:
        if values is raw:
            values = values.copy()  # Arrow's buffer is read-only
        values[_invalid(array)] = math.nan
    return values


def _dictionary_counts(chunk: pa.DictionaryArray[Any, Any]) -> Iterator[tuple[object, int]]:
    """Counts of a dictionary-encoded chunk from its indices: one bincount, and Python only
    touches each distinct level once (``value_counts`` + ``to_pylist`` was much slower)."""
    codes = _primitive(chunk.indices)
    n_levels = len(chunk.dictionary)
    if codes is None or codes.size == 0:
        return
    if chunk.indices.null_count:
        codes = np.where(_invalid(chunk.indices), n_levels, codes)
    counts = np.bincount(codes, minlength=n_levels + 1)[:n_levels]
    levels = chunk.dictionary.to_pylist()
    for code in np.flatnonzero(counts).tolist():
        yield levels[code], int(counts[code])


def dictionary_codes(chunk: pa.DictionaryArray[Any, Any]) -> npt.NDArray[np.intp]:
    """A dictionary chunk's indices as numpy, null as ``len(chunk.dictionary)``."""
    codes = _primitive(chunk.indices)
    if codes is None:
        return np.zeros(0, dtype=np.intp)
    if chunk.indices.null_count:
        codes = np.where(_invalid(chunk.indices), len(chunk.dictionary), codes)
    return codes.astype(np.intp, copy=False)


def _boolean_counts(chunk: pa.BooleanArray) -> Iterator[tuple[object, int]]:
    """Counts of a boolean chunk from its bitmaps."""
    data = chunk.buffers()[1]
    if data is None or len(chunk) == 0:
        return
    bits = np.unpackbits(
        np.frombuffer(memoryview(data), dtype=np.uint8),
        count=chunk.offset + len(chunk),
        bitorder="little",
    )[chunk.offset :]
    valid = ~_invalid(chunk)
    true = int(np.count_nonzero(bits.astype(bool) & valid))
    false = int(np.count_nonzero(valid)) - true
    yield from ((value, n) for value, n in ((True, true), (False, false)) if n)


def level_counts(column: ArrowColumn) -> Iterator[tuple[object, int]]:
    """(value, count) of every non-null value; a level may come more than once."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        if isinstance(chunk, pa.DictionaryArray):
            yield from _dictionary_counts(chunk)
            continue
        if isinstance(chunk, pa.BooleanArray):
            yield from _boolean_counts(chunk)
            continue
        import pyarrow.compute as pc  # plain strings only: Parquet and CSV read dictionaries

        tallies = pc.value_counts(chunk)
        values = tallies.field("values").to_pylist()
        counts = tallies.field("counts").to_pylist()
        for value, count in zip(values, counts, strict=True):
            if value is not None and count:
                yield value, int(count)


def default_columns(schema: pa.Schema) -> list[str]:
    """Every column drift can score; other types are profiled only when asked for."""
    return [f.name for f in schema if kind_of(f.type) != "unsupported"]
