"""The scipy-backed measures: chi-square on the bins, Wasserstein from the sketches."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from drift import DriftInputError, Level, Thresholds, profile_batches, scan_frames
from drift.cli import EXIT_BAD_INPUT, EXIT_OK, main
from drift.compare import ScanOptions, compare
from drift.stats import chi2_test, wasserstein_distance, wasserstein_error_bound
from drift.thresholds import parse_measures


def _profiles(ref_values, cur_values):
    ref_table = pa.table({"x": ref_values})
    cur_table = pa.table({"x": cur_values})
    ref = profile_batches([ref_table], ref_table.schema)
    cur = profile_batches([cur_table], cur_table.schema, like=ref)
    return ref, cur


def test_chi2_equals_scipy_on_the_same_table():
    ref, cur = [120, 80, 0, 40], [100, 95, 0, 70]
    statistic, pvalue = chi2_test(ref, cur)
    expected = scipy_stats.chi2_contingency([[120, 80, 40], [100, 95, 70]], correction=False)
    assert statistic == pytest.approx(expected.statistic)
    assert pvalue == pytest.approx(expected.pvalue)


def test_chi2_of_one_bin_or_identical_shares_finds_nothing():
    assert chi2_test([10, 0], [7, 0]) == (0.0, 1.0)
    statistic, pvalue = chi2_test([10, 20, 30], [20, 40, 60])
    assert statistic == pytest.approx(0.0)
    assert pvalue == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ref_sampler", "cur_sampler"),
    [
        (lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0.3, 1.2, n)),
        (lambda r, n: r.lognormal(3, 1, n), lambda r, n: r.lognormal(3.1, 1, n)),
        (lambda r, n: r.normal(1000, 0.1, n), lambda r, n: r.normal(1000.02, 0.1, n)),
        (lambda r, n: r.exponential(5, n) - 50, lambda r, n: r.exponential(5, n) - 50),
    ],
)
def test_binned_wasserstein_is_within_its_bound_of_scipy_on_raw_samples(ref_sampler, cur_sampler):
    rng = np.random.default_rng(17)
    ref_values, cur_values = ref_sampler(rng, 50_000), cur_sampler(rng, 40_000)
    ref, cur = _profiles(ref_values, cur_values)
    col_ref, col_cur = ref.columns["x"], cur.columns["x"]
    exact = scipy_stats.wasserstein_distance(ref_values, cur_values) / ref_values.std()
    binned = wasserstein_distance(col_ref, col_cur)
    bound = wasserstein_error_bound(col_ref, col_cur)
    assert binned is not None and bound is not None
    assert abs(binned - exact) <= bound
    assert bound < 0.02  # the bound is a useful one: well under the 0.1 warn level


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=300),
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300),
)
def test_the_bound_holds_for_any_values(ref_list, cur_list):
    ref_values, cur_values = np.asarray(ref_list), np.asarray(cur_list)
    assume(ref_values.std() > 0)  # no spread, no distance in σ
    ref, cur = _profiles(ref_values, cur_values)
    binned = wasserstein_distance(ref.columns["x"], cur.columns["x"])
    bound = wasserstein_error_bound(ref.columns["x"], cur.columns["x"])
    if binned is None:  # a spread within float noise of the values: constant, as numpy's is
        assert ref.columns["x"].std == 0
        assert ref_values.std() <= 1e-6 * np.abs(ref_values).max()
        return
    # In data units: both sides are divided by the profile's σ (from its moments), which for
    # values far from zero differs from numpy's two-pass σ in the last digits.
    sigma = ref.columns["x"].std
    exact = scipy_stats.wasserstein_distance(ref_values, cur_values)
    assert abs(binned * sigma - exact) <= bound * sigma + 1e-12 * (1 + exact)


def test_wasserstein_of_a_constant_reference_is_undefined():
    ref, cur = _profiles(np.full(100, 3.0), np.full(100, 4.0))
    assert wasserstein_distance(ref.columns["x"], cur.columns["x"]) is None
    # 1.9 has no exact binary form: E[x²] − E[x]² is 4e-16, not 0, without the guard.
    ref, cur = _profiles(np.full(3, 1.9), np.array([0.0]))
    assert ref.columns["x"].std == 0
    assert wasserstein_distance(ref.columns["x"], cur.columns["x"]) is None
    result = compare(ref, cur)[0]
    assert result.mean_shift_std is None
    assert "reference is constant" in result.message


def test_opt_in_measures_grade_and_say_why():
    rng = np.random.default_rng(2)
    ref, cur = _profiles(rng.normal(0, 1, 20_000), rng.normal(0.05, 1, 20_000))
    quiet = compare(ref, cur, ScanOptions(measures=("psi",)))[0]
    assert quiet.status.value == "ok"
    assert quiet.chi2_pvalue is None and quiet.wasserstein is None
    loud = compare(ref, cur, ScanOptions(measures=("psi", "chi2", "wasserstein")))[0]
    assert loud.chi2_pvalue is not None and loud.chi2_pvalue < 0.01
    assert loud.status.value == "critical"
    assert "chi2 p" in loud.message and "≤ 0.01 (critical)" in loud.message
    lenient = Thresholds(defaults={"chi2": Level(warn=1e-30, critical=1e-40)})
    graded = compare(ref, cur, ScanOptions(measures=("chi2",), thresholds=lenient))[0]
    assert graded.status.value == "ok"


def test_chi2_applies_to_categoricals_and_wasserstein_does_not():
    ref_table = pa.table({"c": ["a"] * 500 + ["b"] * 500})
    cur_table = pa.table({"c": ["a"] * 700 + ["b"] * 300})
    ref = profile_batches([ref_table], ref_table.schema)
    cur = profile_batches([cur_table], cur_table.schema, like=ref)
    result = compare(ref, cur, ScanOptions(measures=("psi", "chi2", "wasserstein")))[0]
    expected = scipy_stats.chi2_contingency([[500, 500], [700, 300]], correction=False)
    assert result.chi2_statistic == pytest.approx(expected.statistic)
    assert result.wasserstein is None


def test_p_value_levels_must_be_ordered_downwards():
    with pytest.raises(ValueError, match="p-value's critical level must be at most its warn"):
        Thresholds(defaults={"chi2": Level(warn=0.01, critical=0.05)})


def test_unknown_measure_names_are_refused():
    assert parse_measures("psi, chi2,psi") == ("psi", "chi2")
    for text in ("psi,entropy", "", "psi,,chi2"):
        with pytest.raises(DriftInputError, match="unknown measure"):
            parse_measures(text)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(DriftInputError, match=r"unknown measure\(s\) 'ks'"):
        scan_frames(frame, frame, measures=["psi", "ks"])


def test_cli_measures_option_adds_the_fields(write_parquet, capsys):
    rng = np.random.default_rng(4)
    ref = write_parquet("r.parquet", {"x": rng.normal(0, 1, 5_000), "c": ["a", "b"] * 2_500})
    cur = write_parquet("c.parquet", {"x": rng.normal(0.4, 1, 5_000), "c": ["a", "b"] * 2_500})
    code = main(["scan", str(ref), str(cur), "--format", "json"])
    plain = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert "chi2_pvalue" not in plain["features"][0]
    code = main(
        ["scan", str(ref), str(cur), "--format", "json", "--measures", "psi,chi2,wasserstein"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["measures"] == ["psi", "chi2", "wasserstein"]
    x, c = doc["features"]
    assert {"chi2_statistic", "chi2_pvalue", "wasserstein"} <= set(x)
    assert x["wasserstein"] == pytest.approx(0.4, abs=0.05)
    assert c["wasserstein"] is None
    code = main(["scan", str(ref), str(cur), "--measures", "psi,ks"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert err.startswith("drift: error: unknown measure(s) 'ks'")
    assert err.count("\n") == 1
