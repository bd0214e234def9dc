"""DataFrames as snapshots: the same profile as the Parquet path, and clear refusals."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from drift import DriftInputError, Profile, profile_frame, profile_parquet, scan, scan_frames
from drift.frames import FrameSource


@pytest.fixture
def frames():
    rng = np.random.default_rng(5)
    n = 30_000
    ref = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "quantity": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "device": pd.Categorical(rng.choice(["ios", "android", "web"], n)),
            "vip": pd.array(rng.random(n) < 0.1, dtype="boolean"),
            "country": pd.Series(rng.choice(["de", "fr", None], n), dtype="string"),
        }
    )
    ref.loc[::97, "amount"] = np.nan
    ref.loc[::89, "quantity"] = pd.NA
    cur = ref.copy()
    cur["amount"] = cur["amount"] * 1.3
    cur["device"] = pd.Categorical(rng.choice(["ios", "android", "web", "tv"], n))
    return ref, cur


def test_frame_profile_equals_parquet_profile(frames, tmp_path):
    ref, _ = frames
    path = tmp_path / "ref.parquet"
    ref.to_parquet(path, index=False)
    from_frame = replace(profile_frame(ref), source=None)
    from_file = replace(profile_parquet(path), source=None)
    assert from_frame == from_file


def test_nullable_dtypes_count_missing_values(frames):
    ref, _ = frames
    profile = profile_frame(ref)
    assert profile.columns["quantity"].missing == ref["quantity"].isna().sum() > 0
    assert profile.columns["amount"].missing == ref["amount"].isna().sum() > 0
    assert profile.columns["country"].kind == "categorical"
    assert profile.columns["country"].missing == ref["country"].isna().sum() > 0
    assert set(profile.columns["vip"].levels) == {"true", "false"}


def test_scan_frames_matches_scan_of_the_same_files(frames, tmp_path):
    ref, cur = frames
    ref.to_parquet(tmp_path / "ref.parquet", index=False)
    cur.to_parquet(tmp_path / "cur.parquet", index=False)
    from_frames = scan_frames(ref, cur)
    from_files = scan(tmp_path / "ref.parquet", tmp_path / "cur.parquet")
    assert [r.as_dict() for r in from_frames.features] == [r.as_dict() for r in from_files.features]
    by_name = {r.feature: r for r in from_frames.features}
    assert by_name["amount"].status.value == "critical"
    assert by_name["device"].unseen_share == pytest.approx((cur["device"] == "tv").mean())


def test_scan_frames_against_a_saved_profile(frames, tmp_path):
    ref, cur = frames
    profile_frame(ref).save(tmp_path / "ref.json")
    report = scan_frames(Profile.load(tmp_path / "ref.json"), cur, columns=["amount", "vip"])
    assert [r.feature for r in report.features] == ["amount", "vip"]
    assert report.features[0].drift_ratio == pytest.approx(0.3, rel=1e-6)
    assert report.features[1].psi == 0


def test_a_column_missing_from_the_current_frame_is_a_schema_break(frames):
    ref, cur = frames
    report = scan_frames(ref, cur.drop(columns=["vip"]))
    vip = next(r for r in report.features if r.feature == "vip")
    assert vip.status.value == "error"
    assert vip.schema_break is not None and vip.schema_break.value == "missing"


@pytest.mark.parametrize(
    ("values", "dtype_word"),
    [
        (pd.date_range("2026-01-01", periods=4), "datetime64"),
        (pd.date_range("2026-01-01", periods=4, tz="UTC"), "datetime64"),
        (pd.to_timedelta([1, 2, 3, 4], unit="s"), "timedelta64"),
        (pd.period_range("2026-01", periods=4, freq="M"), "period"),
    ],
)
def test_datetimes_are_refused_naming_the_column(values, dtype_word):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "when": values})
    with pytest.raises(DriftInputError, match=rf"column 'when' is {dtype_word}"):
        profile_frame(frame)
    assert profile_frame(frame, columns=["x"]).columns["x"].rows == 4


def test_an_object_column_of_mixed_types_is_refused_naming_it():
    frame = pd.DataFrame({"code": ["a", 1, "b", 2.5]})
    with pytest.raises(DriftInputError, match=r"column 'code' \(object\) cannot be read"):
        profile_frame(frame)


def test_an_object_column_of_lists_is_refused():
    frame = pd.DataFrame({"tags": [["a"], ["b", "c"]]})
    with pytest.raises(DriftInputError, match="column 'tags' holds list"):
        profile_frame(frame)


def test_unknown_and_duplicate_columns_are_refused():
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(DriftInputError, match="unknown column"):
        profile_frame(frame, columns=["b"])
    twice = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(DriftInputError, match="not unique"):
        profile_frame(twice)


def test_frames_are_served_in_bounded_batches():
    frame = pd.DataFrame({"a": np.arange(300_000, dtype=float)})
    batches = list(FrameSource(frame).row_groups(["a"]))
    assert [b.num_rows for b in batches] == [131_072, 131_072, 37_856]
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
