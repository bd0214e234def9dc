"""Multivariate drift: mergeable second moments, a PCA that does not care how rows were
ordered or split, and the cases no single column shows (shuffles, a flipped correlation)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from drift import DriftInputError, Profile, Status
from drift.merge import merge, subtract
from drift.moments import MAX_ENCODED, Moments
from drift.multivariate import MultivariateResult, compare_moments
from drift.pca import Pca, totals
from drift.profiler import profile_batches


def table(n: int, seed: int, *, shuffle: tuple[tuple[str, ...], ...] = (), flip: bool = False):
    """a and b correlated (0.8), c leaning on a, d independent, a city that follows a."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    b = 0.8 * a + rng.normal(0, 0.6, n)
    if flip:
        b = -b  # the same marginal (symmetric), the opposite relationship
    columns = {
        "a": a,
        "b": b,
        "c": rng.normal(5, 2, n) + 0.5 * a,
        "d": rng.exponential(1, n),
        "city": np.where(a > 0.5, "north", np.where(a < -0.5, "south", "mid")),
    }
    for together in shuffle:
        order = rng.permutation(n)
        for name in together:
            columns[name] = columns[name][order]
    columns["a"][rng.random(n) < 0.01] = np.nan
    return pa.table(columns)


def profile(data: pa.Table, like: Profile | None = None, chunk: int = 8192) -> Profile:
    batches = data.to_batches(max_chunksize=chunk)
    if like is not None:
        return profile_batches(batches, data.schema, like=like)
    return profile_batches(batches, data.schema, multivariate=True)


def moments(result: Profile) -> Moments:
    assert result.multivariate is not None
    return result.multivariate


@pytest.fixture(scope="module")
def reference() -> Profile:
    return profile(table(60_000, 1))


def graded(reference: Profile, current: pa.Table) -> MultivariateResult:
    return compare_moments(moments(reference), moments(profile(current, reference)))


def test_the_moments_merge_to_the_one_pass_moments_bit_for_bit(reference):
    day = table(30_000, 2)
    batches = day.to_batches(max_chunksize=5_000)
    whole = profile_batches(batches, day.schema, like=reference)
    first = profile_batches(batches[:2], day.schema, like=reference)
    rest = profile_batches(batches[2:], day.schema, like=reference)
    assert moments(merge(first, rest)) == moments(whole)
    assert moments(subtract(merge(first, rest), rest)) == moments(first)
    assert Profile.from_json(reference.to_json()) == reference  # parts' errors included


def test_the_error_does_not_depend_on_row_order_or_on_shares(reference):
    day = table(30_000, 3)
    shuffled = day.take(np.random.default_rng(0).permutation(day.num_rows))
    pca = Pca.fit(moments(reference))
    one = pca.error(*totals(moments(profile(day, reference))))
    reordered = pca.error(*totals(moments(profile(shuffled, reference))))
    rechunked = pca.error(*totals(moments(profile(day, reference, chunk=3_001))))
    # a batch's products are summed in float32 (drift.multivariate): equal to about 1e-6
    assert reordered == pytest.approx(one, rel=1e-5)
    assert rechunked == pytest.approx(one, rel=1e-5)
    # the reference too, on the same anchors (a missing value is imputed at its column's)
    backwards = table(60_000, 1).take(np.arange(60_000)[::-1])
    grid = Profile.grid(reference.anchors)
    batches = backwards.to_batches(max_chunksize=7_000)
    again = profile_batches(batches, backwards.schema, like=grid, multivariate=True)
    refit = Pca.fit(moments(again))
    assert np.allclose(refit.residual, pca.residual, atol=1e-5)


def test_an_unchanged_split_of_the_same_data_stays_ok(reference):
    for seed in (4, 5, 6):
        result = graded(reference, table(20_000, seed))
        assert result.status is Status.OK, result
        assert result.reconstruction_error is not None and result.warn is not None
        assert result.reconstruction_error < result.warn


@pytest.mark.parametrize(
    ("change", "grown"),
    [
        ({"shuffle": (("b",),)}, {"a", "b"}),
        ({"shuffle": (("a", "b"),)}, {"a", "b", "c", "city"}),
        ({"shuffle": (("city",),)}, {"city", "a"}),
        ({"flip": True}, {"a", "b"}),
    ],
    ids=["one column shuffled", "two shuffled together", "a category shuffled", "flipped"],
)
def test_changes_no_single_column_shows_are_flagged(reference, change, grown):
    result = graded(reference, table(20_000, 7, **change))
    assert result.status is Status.CRITICAL, result
    assert result.message.startswith("reconstruction error ")
    assert set(result.top_columns) & grown
    assert result.reference_mean is not None and result.reconstruction_error is not None
    assert result.reconstruction_error > 1.2 * result.reference_mean


def test_too_few_columns_or_too_many_encoded_are_refused():
    one = pa.table({"a": [1.0, 2.0, 3.0]})
    with pytest.raises(DriftInputError, match="at least two numeric or categorical columns"):
        profile_batches(one.to_batches(), one.schema, multivariate=True)
    wide = pa.table({f"f{i}": [1.0, 2.0] for i in range(MAX_ENCODED + 1)})
    with pytest.raises(DriftInputError, match="over the cap of 64"):
        profile_batches(wide.to_batches(), wide.schema, multivariate=True)
    flat = pa.table({"a": [1.0] * 10, "b": [2.0] * 10})
    with pytest.raises(DriftInputError, match="at least two columns that vary"):
        Pca.fit(moments(profile_batches(flat.to_batches(), flat.schema, multivariate=True)))


def test_a_reference_of_one_part_grades_nothing():
    small = table(1_000, 8)
    ref = profile(small)
    result = compare_moments(moments(ref), moments(profile(table(1_000, 9), ref)))
    assert result.status is Status.INSUFFICIENT
    assert "too few parts" in result.message
