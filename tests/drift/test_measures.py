import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from drift import Level, Status, Thresholds, measures

counts = st.lists(st.integers(0, 10_000), min_size=1, max_size=30)


@given(st.data())
def test_psi_is_non_negative_and_zero_for_identical(data):
    ref = data.draw(counts)
    cur = data.draw(st.lists(st.integers(0, 10_000), min_size=len(ref), max_size=len(ref)))
    p = measures.fill_epsilon(measures.shares(ref))
    q = measures.fill_epsilon(measures.shares(cur))
    assert measures.psi(p, q) >= 0
    assert measures.psi(p, p) == 0


def test_psi_matches_hand_computation():
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    expected = (0.9 - 0.5) * np.log(0.9 / 0.5) + (0.1 - 0.5) * np.log(0.1 / 0.5)
    assert measures.psi(p, q) == pytest.approx(expected)


def test_js_distance_bounds():
    assert measures.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1)
    assert measures.js_distance(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == 0


def test_drift_ratio_floors_zero_mean_features():
    # μr = 0: without the floor the ratio would be infinite.
    assert measures.drift_ratio(0.0, 0.05, 1.0) == pytest.approx(0.5)
    assert measures.drift_ratio(10.0, 11.0, 1.0) == pytest.approx(0.1)
    assert measures.mean_shift_std(10.0, 11.0, 2.0) == pytest.approx(0.5)
    assert measures.mean_shift_std(1.0, 2.0, 0.0) is None
    assert measures.mean_shift_std(1.0, 1.0, 0.0) == 0.0


def test_thresholds_grade_and_override_per_feature():
    thresholds = Thresholds(features={"age": {"psi": Level(warn=0.3, critical=0.6)}})
    assert thresholds.level("age", "psi").grade(0.2) is Status.OK
    assert thresholds.level("other", "psi").grade(0.2) is Status.WARN
    assert thresholds.level("other", "psi").grade(0.25) is Status.CRITICAL


def test_thresholds_reject_bad_levels(tmp_path):
    from drift import DriftInputError

    bad = tmp_path / "t.json"
    bad.write_text('{"defaults": {"psi": {"warn": 0.5, "critical": 0.1}}}')
    with pytest.raises(DriftInputError, match="critical must be at least warn"):
        Thresholds.load(bad)
    bad.write_text('{"defaults": {"psy": {"warn": 0.1, "critical": 0.2}}}')
    with pytest.raises(DriftInputError, match="unknown measure"):
        Thresholds.load(bad)


@given(st.data())
def test_js_distance_equals_scipys(data):
    from scipy.spatial.distance import jensenshannon

    ref = data.draw(st.lists(st.integers(0, 1000), min_size=2, max_size=20))
    cur = data.draw(st.lists(st.integers(0, 1000), min_size=len(ref), max_size=len(ref)))
    p, q = measures.shares(ref), measures.shares(cur)
    assume(p.sum() > 0 and q.sum() > 0)  # scipy's distance is undefined for an empty side
    assert measures.js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)
