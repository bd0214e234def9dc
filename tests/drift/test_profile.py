import math
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift import (
    Binning,
    DriftInputError,
    Profile,
    SchemaBreak,
    Status,
    compare,
    merge,
    profile_batches,
)
from drift.profile import CategoricalProfile, NumericProfile
from drift.profiler import profile_parquet

floats = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12), st.sampled_from([math.nan, math.inf, -math.inf])
)
numbers = st.lists(st.one_of(floats, st.none()), min_size=1, max_size=60)
levels = st.lists(
    st.one_of(st.sampled_from(["a", "b", "c", "dd", "é"]), st.none()), min_size=1, max_size=60
)


def _batch(nums, cats):
    n = min(len(nums), len(cats))
    return pa.record_batch(
        {"x": pa.array(nums[:n], pa.float64()), "c": pa.array(cats[:n], pa.string())}
    )


@settings(max_examples=60, deadline=None)
@given(numbers, levels, numbers, levels)
def test_merge_equals_profile_of_concatenation(nums_a, cats_a, nums_b, cats_b):
    a, b = _batch(nums_a, cats_a), _batch(nums_b, cats_b)
    whole = profile_batches([a, b], a.schema)
    left = profile_batches([a], a.schema)
    right = profile_batches([b], b.schema, like=left)
    merged = merge(left, right)
    assert replace(merged, source=None) == replace(whole, source=None)


@settings(max_examples=40, deadline=None)
@given(numbers, levels)
def test_json_round_trip(nums, cats):
    batch = _batch(nums, cats)
    profile = profile_batches([batch], batch.schema, binning=Binning.EQUAL_WIDTH, n_bins=7)
    assert Profile.from_json(profile.to_json()) == profile


def test_profile_streams_one_row_group_at_a_time(write_parquet):
    path = write_parquet("rg.parquet", {"x": np.arange(10_000, dtype=float)}, row_group_size=2_500)
    seen: list[int] = []
    profile = profile_parquet(path, on_batch=seen.append)
    assert seen == [2_500] * 4
    assert profile.rows == 10_000


def test_numeric_moments_and_missing():
    batch = pa.record_batch({"x": pa.array([1.0, 2.0, None, float("nan"), 3.0, float("inf")])})
    column = profile_batches([batch], batch.schema).columns["x"]
    assert isinstance(column, NumericProfile)
    assert (column.rows, column.missing, column.finite) == (6, 2, 3)
    assert column.mean == 2.0
    assert column.min == 1.0
    assert column.max == 3.0
    assert math.isclose(column.std or 0, math.sqrt(2 / 3))


def test_categorical_levels_bool_and_nulls():
    batch = pa.record_batch(
        {
            "b": pa.array([True, False, True, None]),
            "s": pa.array(["x", "y", "x", None]).dictionary_encode(),
        }
    )
    profile = profile_batches([batch], batch.schema)
    flags, strings = profile.columns["b"], profile.columns["s"]
    assert isinstance(flags, CategoricalProfile)
    assert isinstance(strings, CategoricalProfile)
    assert flags.levels == {"true": 2, "false": 1}
    assert flags.missing == 1
    assert strings.levels == {"x": 2, "y": 1}
    assert strings.dtype == "string"


def _scan(ref_batch, cur_batch, **options):
    ref = profile_batches([ref_batch], ref_batch.schema)
    cur = profile_batches([cur_batch], cur_batch.schema, like=ref)
    return {r.feature: r for r in compare(ref, cur)}


def test_identical_data_scores_zero():
    rng = np.random.default_rng(3)
    batch = pa.record_batch({"x": rng.normal(0, 1, 5_000), "c": rng.choice(["a", "b", "c"], 5_000)})
    results = _scan(batch, batch)
    for result in results.values():
        assert result.status is Status.OK
        assert result.psi == 0.0
        assert result.js_distance == 0.0
        assert result.missing_share_delta == 0.0


def test_nan_only_change_is_caught_by_missing_share_delta():
    rng = np.random.default_rng(4)
    values = rng.normal(0, 1, 10_000)
    holed = values.copy()
    holed[rng.random(10_000) < 0.2] = np.nan  # same distribution, a fifth goes missing
    result = _scan(pa.record_batch({"x": values}), pa.record_batch({"x": holed}))["x"]
    assert result.psi is not None
    assert result.psi < 0.01
    assert result.missing_share_delta == pytest.approx(0.2, abs=0.01)
    assert result.status is Status.CRITICAL
    assert "missing_share_delta" in result.message


def test_unseen_categories():
    ref = pa.record_batch({"c": ["a", "b"] * 500})
    cur = pa.record_batch({"c": ["a", "b"] * 450 + ["z"] * 100})
    result = _scan(ref, cur)["c"]
    assert result.unseen_share == pytest.approx(0.1)
    assert result.status is Status.CRITICAL
    assert result.bins is not None
    assert result.bins.labels == ["a", "b", "OTHER"]


def test_top_k_caps_categorical_bins():
    rng = np.random.default_rng(5)
    cats = rng.choice([f"l{i}" for i in range(300)], 20_000)
    batch = pa.record_batch({"c": cats})
    ref = profile_batches([batch], batch.schema, top_k=20)
    cur = profile_batches([batch], batch.schema, like=ref)
    from drift import ScanOptions

    (result,) = compare(ref, cur, ScanOptions(top_k=20))
    assert result.bins is not None
    assert len(result.bins.labels) == 21
    assert result.bins.labels[-1] == "OTHER"
    assert result.psi == 0.0


def test_all_null_column_is_an_error_not_a_crash():
    ref = pa.record_batch({"x": pa.array([None] * 5, pa.float64()), "ok": [1.0, 2, 3, 4, 5]})
    cur = pa.record_batch({"x": pa.array([1.0, 2, 3, 4, 5]), "ok": [1.0, 2, 3, 4, 5]})
    results = _scan(ref, cur)
    assert results["x"].status is Status.ERROR
    assert "no non-missing values in the reference" in results["x"].message
    assert results["ok"].status is Status.OK


def test_one_row_columns_give_valid_results():
    results = _scan(
        pa.record_batch({"x": [1.0], "c": ["a"]}), pa.record_batch({"x": [1.0], "c": ["a"]})
    )
    assert results["x"].status is Status.OK
    assert results["x"].psi == 0.0
    assert results["c"].status is Status.OK
    assert results["c"].psi == 0.0


def test_type_change_and_missing_columns_are_per_feature_errors():
    ref = profile_batches(
        [pa.record_batch({"x": [1.0, 2.0], "gone": [1, 2]})],
        pa.schema([("x", pa.float64()), ("gone", pa.int64())]),
    )
    cur_batch = pa.record_batch({"x": ["a", "b"], "new": [1, 2]})
    cur = profile_batches([cur_batch], cur_batch.schema, like=ref)
    results = {r.feature: r for r in compare(ref, cur)}
    assert results["x"].status is Status.ERROR
    assert "numeric → categorical" in results["x"].message
    assert results["gone"].message == "column missing in the current snapshot"
    assert results["new"].message == "column missing in the reference"
    assert results["x"].schema_break is SchemaBreak.RETYPED
    assert results["gone"].schema_break is SchemaBreak.MISSING
    assert results["new"].schema_break is SchemaBreak.MISSING


def test_each_schema_break_is_named():
    schema = pa.schema([("null", pa.float64()), ("when", pa.timestamp("s")), ("fine", pa.int64())])
    ref_batch = pa.RecordBatch.from_pydict(
        {"null": [1.0, 2.0], "when": [1, 2], "fine": [1, 2]}, schema
    )
    ref = profile_batches([ref_batch], schema, columns=["null", "when", "fine"])
    cur_batch = pa.RecordBatch.from_pydict(
        {"null": [None, None], "when": [3, 4], "fine": [1, 2]}, schema
    )
    cur = profile_batches([cur_batch], schema, columns=["null", "when", "fine"], like=ref)
    results = {r.feature: r for r in compare(ref, cur)}
    assert results["null"].schema_break is SchemaBreak.ALL_NULL
    assert results["when"].schema_break is SchemaBreak.UNREADABLE
    assert results["fine"].status is Status.OK and results["fine"].schema_break is None
    assert results["null"].as_dict()["schema_break"] == "all_null"
    assert Status.ERROR.code == 3 and [s.code for s in Status] == [0, 1, 2, 3, -1]


def test_corrupt_profile_is_an_input_error():
    with pytest.raises(DriftInputError, match="not a valid driftwatch profile"):
        Profile.from_json('{"format": "driftwatch-profile", "rows": "many"}')
    with pytest.raises(DriftInputError, match="format_version"):
        Profile.from_json('{"format_version": 99, "rows": 1, "columns": {}}')


@settings(max_examples=60, deadline=None)
@given(levels, st.integers(0, 30), st.integers(0, 30))
def test_dictionary_counts_equal_plain_counts(cats, start, length):
    """Dictionary-encoded, chunked and sliced columns count like plain strings."""
    from collections import Counter

    from drift.columns import level_counts

    plain = pa.array(cats, pa.string())
    sliced = plain.slice(min(start, len(cats)), length)
    encoded = pa.chunked_array([sliced.dictionary_encode(), plain.dictionary_encode()])
    got: Counter[object] = Counter()
    for value, count in level_counts(encoded):
        got[value] += count
    expected = Counter(v for v in [*sliced.to_pylist(), *cats] if v is not None)
    assert got == expected
