"""Reading Arrow columns through their buffers agrees with pyarrow.compute, slices included."""

import decimal
import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drift.columns import as_float64, level_counts

INTEGER_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32()]


def _expected_floats(array):
    filled = pc.fill_null(pc.cast(array, pa.float64()), math.nan)
    return np.asarray(filled.to_pylist(), dtype=np.float64)


def _same(a, b):
    return np.array_equal(a, b, equal_nan=True)


@given(
    st.lists(st.one_of(st.none(), st.integers(0, 120)), max_size=200),
    st.sampled_from([*INTEGER_TYPES, pa.float32(), pa.float64()]),
    st.integers(0, 20),
    st.integers(0, 200),
)
def test_as_float64_matches_compute_on_slices(values, type_, start, length):
    array = pa.array(values, type=type_).slice(start, length)
    assert _same(as_float64(array), _expected_floats(array))


def test_as_float64_reads_chunked_and_decimal_columns():
    chunked = pa.chunked_array([pa.array([1.5, None]), pa.array([None, 4.0])])
    assert _same(as_float64(chunked), np.array([1.5, np.nan, np.nan, 4.0]))
    dec = pa.array([decimal.Decimal("1.25"), None], type=pa.decimal128(5, 2))
    assert _same(as_float64(dec), np.array([1.25, np.nan]))


def test_as_float64_never_writes_into_arrow_memory():
    array = pa.array([1.0, None, 3.0])
    as_float64(array)
    assert array.to_pylist() == [1.0, None, 3.0]


@given(st.lists(st.one_of(st.none(), st.booleans()), max_size=100), st.integers(0, 9))
def test_boolean_counts_match_value_counts(values, start):
    array = pa.array(values, type=pa.bool_()).slice(start)
    expected = Counter(v for v in array.to_pylist() if v is not None)
    assert Counter(dict(level_counts(array))) == expected


@pytest.mark.parametrize("start", [0, 3, 7])
def test_dictionary_counts_skip_null_indices_in_slices(start):
    plain = ["a", None, "b", "a", None, "c", "a", "b", None, "c"]
    sliced = pa.array(plain).dictionary_encode().slice(start)
    expected = Counter(v for v in plain[start:] if v is not None)
    got: Counter[object] = Counter()
    for value, count in level_counts(sliced):
        got[value] += count
    assert got == expected
