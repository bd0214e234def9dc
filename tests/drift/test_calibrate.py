"""Windows of partition profiles: merged exactly, taken apart exactly, and levels calibrated
on their own spread."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from drift import Profile, ScanOptions, Status, Thresholds, compare, merge, profile_batches
from drift.calibrate import MAX_SCORED, calibrate, level_from, noise
from drift.merge import subtract
from drift.thresholds import CALIBRATION_FLOOR, Level
from drift.window import RunningTotals, leave_one_out, pinned, total


def _day(seed: int, rows: int = 800, *, constant: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = np.full(rows, 3.0) if constant else rng.normal(100.0, 5.0, rows)
    x[rng.random(rows) < 0.03] = np.nan
    return pa.table(
        {
            "x": x,
            "near": 1000.0 + (rng.random(rows) < 0.01) * 1e-6,  # one value in a hundred differs
            "c": rng.choice(["a", "b", "c"], rows, p=[0.6, 0.3, 0.1]),
        }
    )


def _profiles(tables: list[pa.Table], grid: Profile) -> list[Profile]:
    return [profile_batches(t.to_batches(max_chunksize=300), t.schema, like=grid) for t in tables]


def _grid(table: pa.Table) -> Profile:
    return Profile.grid(profile_batches([table], table.schema).anchors)


def test_stored_profiles_merge_to_the_profile_of_the_concatenated_days():
    tables = [_day(seed) for seed in range(5)]
    grid = _grid(tables[0])
    # stored as JSON and read back, as the rolling window reads them
    stored = [Profile.from_json(p.to_json()) for p in _profiles(tables, grid)]
    whole = pa.concat_tables(tables)
    one_pass = profile_batches(whole.to_batches(max_chunksize=300), whole.schema, like=grid)
    assert total(stored).to_json() == replace(one_pass, source=None).to_json()


def test_taking_one_day_out_equals_merging_the_others():
    tables = [_day(seed) for seed in range(4)]
    window = _profiles(tables, _grid(tables[0]))
    for i, others in enumerate(leave_one_out(window, total(window))):
        merged = total([p for j, p in enumerate(window) if j != i])
        assert others.to_json() == merged.to_json()


def test_subtract_refuses_levels_it_cannot_take_apart_exactly():
    table = _day(1)
    profile = profile_batches([table], table.schema)
    folded = replace(
        profile, columns={**profile.columns, "c": replace(profile.columns["c"], other=5)}
    )
    with pytest.raises(ValueError, match="folded levels"):
        subtract(folded, profile)


def test_levels_are_the_mean_plus_k_spreads_never_below_the_floor():
    thresholds = Thresholds(calibrate=True, warn_sigmas=4, critical_sigmas=6)
    # spread 0.1 (the values' standard deviation) is below 0.75 × mean: the mean's share wins
    level = level_from([0.1, 0.2, 0.3], "psi", thresholds)
    assert level is not None
    assert (level.warn, level.critical) == pytest.approx((0.2 + 4 * 0.15, 0.2 + 6 * 0.15))
    wide = level_from([0.0, 0.0, 0.6], "psi", thresholds)
    assert wide is not None and wide.warn == pytest.approx(0.2 + 4 * np.std([0, 0, 0.6], ddof=1))
    assert level_from([0.0, 0.0], "psi", thresholds) == CALIBRATION_FLOOR["psi"]
    assert level_from([0.3], "psi", thresholds) is None  # one value has no spread


def test_a_p_value_is_calibrated_on_its_surprise_and_only_made_stricter():
    thresholds = Thresholds(calibrate=True, warn_sigmas=4, critical_sigmas=6)
    # −ln p of no drift: mean 1, spread 1, so at least e^-5 and e^-7
    quiet = level_from([0.5, 1.5], "chi2", thresholds)
    assert quiet is not None
    assert (quiet.warn, quiet.critical) == pytest.approx((np.exp(-5), np.exp(-7)))
    # days that always differ a lot (p ≈ e^-30): far stricter levels
    loud = level_from([30.0, 34.0], "chi2", thresholds)
    assert loud is not None and loud.critical < loud.warn < np.exp(-100)


def test_a_constant_column_calibrates_to_the_floor_and_its_copy_stays_ok():
    tables = [_day(seed, constant=True) for seed in range(4)]
    window = _profiles(tables, _grid(tables[0]))
    options = ScanOptions(thresholds=Thresholds(calibrate=True))
    calibrated = calibrate(window, options, ["x", "near", "c"])
    for measure in ("psi", "js_distance", "missing_share_delta"):
        level, floor = calibrated.level("x", measure), CALIBRATION_FLOOR[measure]
        assert level is not None and level.warn >= floor.warn and level.critical >= floor.critical
    reference = pinned(total(window), options)
    copy = _profiles([tables[2]], _grid(tables[0]))[0]
    graded = {
        r.feature: r for r in compare(reference, copy, replace(options, thresholds=calibrated))
    }
    assert graded["x"].status is Status.OK and graded["near"].status is Status.OK
    # a constant that moves is still seen
    moved = _profiles([tables[0].set_column(0, "x", pa.array(np.full(800, 4.0)))], _grid(tables[0]))
    (result,) = compare(reference, moved[0], replace(options, thresholds=calibrated), columns=["x"])
    assert result.status is Status.CRITICAL


def test_a_near_constant_column_gets_finite_levels_from_its_noise():
    tables = [_day(seed) for seed in range(6)]
    window = _profiles(tables, _grid(tables[0]))
    options = ScanOptions(thresholds=Thresholds(calibrate=True))
    calibrated = calibrate(window, options, ["near"])
    for measure in ("psi", "drift_ratio", "mean_shift_std", "js_distance"):
        level = calibrated.level("near", measure)
        assert level is not None and np.isfinite(level.critical)
        assert level.warn >= CALIBRATION_FLOOR[measure].warn
    later = _profiles([_day(99)], _grid(tables[0]))[0]
    reference = pinned(total(window), options)
    (result,) = compare(reference, later, replace(options, thresholds=calibrated), columns=["near"])
    assert result.status is Status.OK


def test_levels_set_per_feature_win_over_calibrated_ones():
    tables = [_day(seed) for seed in range(4)]
    window = _profiles(tables, _grid(tables[0]))
    mine = Level(warn=0.7, critical=0.9)
    options = ScanOptions(thresholds=Thresholds(calibrate=True, features={"x": {"psi": mine}}))
    calibrated = calibrate(window, options, ["x", "c"])
    assert calibrated.level("x", "psi") == mine
    assert calibrated.level("c", "psi") != Thresholds().level("c", "psi")


def test_merging_keeps_a_column_only_some_days_have():
    tables = [_day(seed) for seed in range(2)]
    grid = _grid(tables[0])
    full, *_ = _profiles(tables, grid)
    lacking = _profiles([tables[1].drop_columns(["c"])], grid)[0]
    with pytest.raises(ValueError, match="same columns"):
        merge(full, lacking)
    both = merge(full, lacking, union=True)
    assert both.columns["c"] == full.columns["c"]
    assert both.columns["x"].rows == full.columns["x"].rows + lacking.columns["x"].rows


def test_a_sliding_window_total_is_the_merge_of_its_days():
    tables = [_day(seed) for seed in range(12)]
    days = _profiles(tables, _grid(tables[0]))
    totals = RunningTotals()
    for start in range(0, 6):
        keys = list(range(start, start + 5))
        slid = totals.total(keys, [days[k] for k in keys])
        assert slid == total([days[k] for k in keys])  # level order aside, field for field
    # a day stored again (a re-run) counts as taken out and added back
    again = _profiles([_day(99)], _grid(tables[0]))[0]
    window = [days[6], days[7], again, days[9], days[10]]
    assert totals.total([6, 7, 8, 9, 10], window) == total(window)


def test_a_long_window_scores_only_its_newest_partitions():
    tables = [_day(seed, rows=300) for seed in range(MAX_SCORED + 5)]
    window = _profiles(tables, _grid(tables[0]))
    values = noise(window, ScanOptions(), ["x"])["x"]["psi"]
    assert len(values) == MAX_SCORED
    by_hand = [
        compare(pinned(total(window[:i] + window[i + 1 :]), ScanOptions()), window[i],
                columns=["x"])[0].psi
        for i in range(5, len(window))
    ]  # fmt: skip
    assert values == by_hand
