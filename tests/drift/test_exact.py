"""Exact sums, and the promise they carry: a day profiled in parts and merged is the profile
of the day in one pass, bit for bit."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from drift import exact, merge, profile_batches, profile_file
from drift.parquet import ParquetFiles

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e150, max_value=1e150)


@given(st.lists(finite, max_size=40), st.data())
def test_any_grouping_gives_the_same_exact_total(values, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=5)))
    groups = [values[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True)]
    whole: list[float] = []
    for value in values:
        exact.add(whole, value)
    merged: list[float] = []
    for group in groups:
        parts: list[float] = []
        for value in group:
            exact.add(parts, value)
        for part in exact.canonical(parts):
            exact.add(merged, part)
    assert exact.canonical(merged) == exact.canonical(whole)
    assert exact.rounded(whole) == math.fsum(values)


def test_overflow_and_nan_are_kept_as_they_come():
    parts: list[float] = []
    for value in (1e308, 1e308, 1.0):
        exact.add(parts, value)
    assert exact.rounded(parts) == math.inf
    exact.add(parts, -math.inf)
    assert math.isnan(exact.rounded(parts))


def _day_in_files(tmp_path, files=6, rows=3000):
    """A day written as several files of two row groups, values over many magnitudes (where
    the order of float additions shows in the last bits)."""
    rng = np.random.default_rng(5)
    paths = []
    for i in range(files):
        scale = 10.0 ** rng.integers(-3, 9, rows)
        table = pa.table(
            {
                "amount": rng.normal(0, 1, rows) * scale,
                "count": rng.integers(0, 1000, rows).astype(float),
                "device": rng.choice(["web", "ios", "android", f"new-{i}"], rows),
            }
        )
        path = tmp_path / f"part-{i}.parquet"
        pq.write_table(table, path, row_group_size=rows // 2)
        paths.append(path)
    return paths


def test_a_day_profiled_in_parts_and_merged_is_the_one_pass_profile(tmp_path):
    paths = _day_in_files(tmp_path)
    reference = profile_file(paths[0])
    one_pass = ParquetFiles(paths)
    whole = profile_batches(
        one_pass.row_groups(["amount", "count", "device"]), one_pass.schema, like=reference
    )
    for cut in ([2, 4], [1], [3, 4, 5], [1, 2, 3, 4, 5]):
        bounds = list(zip([0, *cut], [*cut, len(paths)], strict=True))
        parts = []
        for a, b in bounds:
            files = ParquetFiles(paths[a:b])
            parts.append(
                profile_batches(
                    files.row_groups(["amount", "count", "device"]), files.schema, like=reference
                )
            )
        merged = reduce(merge, parts)
        assert merged == whole, cut
        assert merged.to_json() == whole.to_json()


def test_the_data_would_show_a_plain_float_merge(tmp_path):
    """The control: the batches' sums of squares added as plain floats, in one pass and in
    the three parts of the first cut above, differ — so without exact sums the test above
    would fail."""
    paths = _day_in_files(tmp_path)
    squares = []
    for path in paths:
        for group in range(2):
            values = pq.ParquetFile(path).read_row_group(group)["amount"].to_numpy()
            squares.append(float(np.einsum("i,i->", values, values)))
    in_one_pass = reduce(lambda a, b: a + b, squares)
    by_part = [reduce(lambda a, b: a + b, squares[i : i + 4]) for i in (0, 4, 8)]
    assert in_one_pass != reduce(lambda a, b: a + b, by_part)


def test_canonical_takes_any_floats_and_extend_keeps_the_exact_total():
    assert exact.canonical([1e-10, 5.0, -1e-10]) == [5.0]
    assert exact.canonical([1e16, 1.0, -1e16]) == [1.0]
    rng = random.Random(5)
    values = [rng.uniform(-1e12, 1e12) * 10 ** rng.randint(-20, 0) for _ in range(2_000)]
    parts: list[float] = []
    for start in range(0, len(values), 37):
        exact.extend(parts, values[start : start + 37])
    assert len(parts) <= exact.COMPACT_AT + 37
    one_by_one: list[float] = []
    for value in values:
        exact.add(one_by_one, value)
    assert exact.canonical(parts) == exact.canonical(one_by_one)
    assert sum(map(Fraction, exact.canonical(parts))) == sum(map(Fraction, values))
