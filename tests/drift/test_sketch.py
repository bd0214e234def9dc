import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from drift import sketch

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30)


@given(
    arrays(np.float64, st.integers(2, 200), elements=finite), st.floats(-1e3, 1e3, allow_nan=False)
)
def test_keys_preserve_order(values, anchor):
    values = np.sort(values)
    keys = sketch.keys_of(values, anchor).astype(np.int64)
    assert np.all(np.diff(keys) >= 0)


@given(arrays(np.float64, st.integers(1, 50), elements=finite), st.floats(-10, 10))
def test_lower_bound_is_in_its_own_bucket_and_not_above_values(values, anchor):
    keys = sketch.keys_of(values, anchor).astype(np.int64)
    bounds = sketch.lower_bound(keys, anchor)
    assert np.array_equal(sketch.keys_of(bounds, anchor), keys)
    # The bound is the bucket's smallest value: not above any value in it (float32 rounding of
    # the shifted value is the only slack).
    assert np.all(bounds <= values + np.abs(values - anchor) * 1e-6 + 1e-30)


def test_offset_data_spreads_over_many_buckets():
    # A feature at 1000 ± 0.01 must not collapse into one bucket: the anchor sits on the bulk.
    values = 1000 + np.random.default_rng(0).normal(0, 0.01, 10_000)
    keys = sketch.keys_of(values, float(np.median(values)))
    assert len(np.unique(keys)) > 500


def test_quantile_cuts_give_deciles():
    values = np.random.default_rng(1).normal(5, 2, 100_000)
    keys, counts = sketch.to_sparse(sketch.dense_counts(values, 5.0))
    cuts = sketch.quantile_cuts(keys, counts, 10)
    assert len(cuts) == 9
    per_bin = sketch.bin_counts(keys, counts, cuts)
    assert per_bin.sum() == 100_000
    assert np.all(np.abs(per_bin - 10_000) < 150)  # within 1.5 % of a decile


def test_ties_collapse_cleanly():
    values = np.array([0.0] * 700 + [1.0] * 200 + [2.0] * 100)
    keys, counts = sketch.to_sparse(sketch.dense_counts(values, 0.0))
    cuts = sketch.quantile_cuts(keys, counts, 10)
    assert len(cuts) == len(np.unique(cuts)) == 2
    assert sketch.bin_counts(keys, counts, cuts).tolist() == [700, 200, 100]


def test_equal_width_cuts_snap_near_the_requested_edges():
    values = np.linspace(0, 100, 10_001)
    keys, counts = sketch.to_sparse(sketch.dense_counts(values, 50.0))
    cuts = sketch.equal_width_cuts(keys, 0.0, 100.0, 4, 50.0)
    edges = sketch.lower_bound(cuts, 50.0)
    assert np.allclose(edges, [25, 50, 75], atol=0.25)
    assert np.all(np.abs(sketch.bin_counts(keys, counts, cuts) - 2500) < 30)


def test_no_cuts_without_spread():
    keys, counts = sketch.to_sparse(sketch.dense_counts(np.full(10, 3.0), 3.0))
    assert sketch.quantile_cuts(keys, counts, 10).size == 0
    assert sketch.equal_width_cuts(keys, 3.0, 3.0, 10, 3.0).size == 0


def test_negative_zero_shares_the_bucket_of_zero():
    keys = sketch.keys_of(np.array([0.0, -0.0]), 0.0)
    assert keys[0] == keys[1]
    assert sketch.dense_counts(np.array([0.0, -0.0]), 0.0).max() == 2


def test_sparse_addition_is_the_dense_one():
    from drift import sketch

    rng = np.random.default_rng(4)
    dense = np.zeros(sketch.N_KEYS, dtype=np.int64)
    sides = []
    for _ in range(2):
        keys = np.unique(rng.integers(0, sketch.N_KEYS, 500)).astype(np.int64)
        counts = rng.integers(1, 9, keys.size).astype(np.int64)
        np.add.at(dense, keys, counts)
        sides.append((keys, counts))
    keys, counts = sketch.add_sparse(*sides)
    expected_keys, expected_counts = sketch.to_sparse(dense)
    assert keys.tolist() == expected_keys.tolist() and counts.tolist() == expected_counts.tolist()
    # taking one side away again leaves the other, empty buckets dropped
    back_keys, back_counts = sketch.add_sparse((keys, counts), (sides[1][0], -sides[1][1]))
    assert back_keys.tolist() == sides[0][0].tolist()
    assert back_counts.tolist() == sides[0][1].tolist()
