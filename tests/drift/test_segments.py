"""Segment profiles: exact beside the whole, top-K + OTHER, the cap; hints on constructed
shifts (confined, mix, everywhere, hidden)."""

import re
from dataclasses import asdict, replace

import numpy as np
import pyarrow as pa
import pytest

from drift import DriftInputError, Status, segment_counts, segments
from drift.compare import compare
from drift.hints import MIN_SEGMENT_ROWS, from_records, where
from drift.merge import merge, subtract
from drift.profile import NumericProfile, Profile
from drift.profiler import profile_batches
from drift.results import FeatureResult, SegmentHint
from drift.segments import MAX_SEGMENT_PROFILES, OTHER

COUNTRIES = ["DE", "FR", "US", "UK", "IT"]
SHARES = [0.4, 0.3, 0.15, 0.1, 0.05]
BASE_AGE = {"DE": 40.0, "FR": 45.0, "US": 50.0, "UK": 38.0, "IT": 60.0}


def table(
    n: int,
    seed: int,
    *,
    shares: list[float] = SHARES,
    shift_in: str | None = None,
    shift: float = 0.0,
    everywhere: float = 0.0,
) -> pa.Table:
    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, n, p=shares)
    age = np.array([BASE_AGE[c] for c in country]) + rng.normal(0, 8, n) + everywhere
    if shift_in is not None:
        age[country == shift_in] += shift
    age[rng.random(n) < 0.03] = np.nan
    age[rng.random(n) < 0.001] = np.inf
    country_col = pa.array(country.tolist(), mask=rng.random(n) < 0.02)
    return pa.table(
        {
            "age": age,
            "income": rng.lognormal(10, 1, n),
            "plan": pa.array(
                rng.choice(["free", "pro", "team"], n).tolist(), mask=rng.random(n) < 0.01
            ),
            "country": country_col,
            "app": rng.integers(1, 8, n),
        }
    )


def profile(data: pa.Table, **options) -> Profile:
    return profile_batches(
        data.to_batches(max_chunksize=6_000),
        data.schema,
        columns=["age", "income", "plan", "country"],
        **options,
    )


def segments_of(result: Profile) -> dict[str, dict[str, Profile]]:
    assert result.segments is not None
    return result.segments


def hints_of(result: FeatureResult) -> list[SegmentHint]:
    assert result.segments is not None
    return result.segments


def merged(levels: dict[str, Profile]) -> Profile:
    parts = list(levels.values())
    total = parts[0]
    for part in parts[1:]:
        total = merge(total, part)
    return total


def unpinned(column):
    return replace(column, bins=None) if isinstance(column, NumericProfile) else column


@pytest.mark.parametrize("like", [False, True])
@pytest.mark.parametrize("dense", [True, False], ids=["tables", "sparse"])
def test_each_columns_segments_merge_to_the_whole_bit_for_bit(like, dense, monkeypatch):
    if not dense:  # count every batch the way wide tables (many levels or keys) are counted
        monkeypatch.setattr(segment_counts, "DENSE_COUNT", 1)
    reference = profile(table(40_000, 1), segment_by=["country", "app"], segment_top_k=3)
    subject = (
        profile(table(30_000, 2, shift_in="IT", shift=20), like=reference) if like else reference
    )
    assert set(subject.segments) == {"country", "app"}
    for column, levels in subject.segments.items():
        assert sum(p.rows for p in levels.values()) == subject.rows
        total = merged(levels)
        for name, whole in subject.columns.items():
            if name == column:
                assert name not in total.columns  # a segment column is not profiled by itself
                continue
            assert total.columns[name] == unpinned(whole), (column, name)


def test_top_k_levels_get_segments_and_the_rest_is_other():
    data = table(40_000, 3)
    result = profile(data, segment_by=["country"], segment_top_k=2)
    assert list(segments_of(result)["country"]) == ["DE", "FR", OTHER]
    counts = dict(
        zip(
            *np.unique(
                data.column("country").drop_null().to_numpy(zero_copy_only=False),
                return_counts=True,
            ),
            strict=True,
        )
    )
    levels = segments_of(result)["country"]
    assert levels["DE"].rows == counts["DE"]
    assert levels[OTHER].rows == data.num_rows - counts["DE"] - counts["FR"]  # nulls too


def test_a_current_snapshot_takes_the_references_levels():
    reference = profile(table(20_000, 4, shares=[0.5, 0.5, 0, 0, 0]), segment_by=["country"])
    assert sorted(segments_of(reference)["country"]) == ["(null)", "DE", "FR", OTHER]
    current = profile(table(20_000, 5), like=reference)
    assert list(segments_of(current)["country"]) == list(segments_of(reference)["country"])
    new = segments_of(current)["country"][OTHER].rows
    data = table(20_000, 5).column("country").to_pylist()
    assert new == sum(c in ("US", "UK", "IT") for c in data)


def test_levels_past_the_tracked_ones_go_straight_to_other(monkeypatch):
    monkeypatch.setattr(segments, "TRACKED_LEVELS", 2)
    data = pa.table({"x": np.arange(9.0), "seg": ["a", "b", "c", "c", "c", "c", "d", "d", "d"]})
    result = profile_batches(
        data.to_batches(), data.schema, columns=["x"], segment_by=["seg"], segment_top_k=2
    )
    # a and b were the first two seen; c and d, the most frequent, came too late to be tracked
    assert {k: v.rows for k, v in segments_of(result)["seg"].items()} == {"a": 1, "b": 1, OTHER: 7}


def test_windows_of_profiles_with_segments_merge_and_subtract():
    reference = profile(table(20_000, 6), segment_by=["country"])
    day = table(24_000, 7)
    batches = day.to_batches(max_chunksize=6_000)
    whole = profile_batches(
        batches, day.schema, columns=["age", "income", "plan", "country"], like=reference
    )
    first = profile_batches(
        batches[:2], day.schema, columns=["age", "income", "plan", "country"], like=reference
    )
    rest = profile_batches(
        batches[2:], day.schema, columns=["age", "income", "plan", "country"], like=reference
    )
    together = merge(first, rest)
    assert together.segments == whole.segments
    assert (
        segments_of(subtract(together, rest))["country"]["DE"].columns["plan"]
        == (segments_of(first)["country"]["DE"].columns["plan"])
    )


def test_segments_survive_json():
    result = profile(table(10_000, 8), segment_by=["country", "app"])
    assert Profile.from_json(result.to_json()) == result


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"segment_by": ["income"]}, "segment_by: column income is double"),
        ({"segment_by": ["nope"]}, "segment_by: unknown column nope"),
        ({"segment_by": ["country", "country"]}, "names a column twice"),
        ({"segment_by": ["country"], "segment_top_k": 0}, "segment_top_k must be from 1"),
    ],
)
def test_bad_segment_settings_name_the_setting(options, fragment):
    with pytest.raises(DriftInputError, match=fragment):
        profile(table(100, 9), **options)


def test_a_configuration_over_the_cap_is_refused_naming_the_settings():
    names = [f"f{i}" for i in range(MAX_SEGMENT_PROFILES // 101 + 1)]
    data = pa.table({**{n: [1.0] for n in names}, "seg": ["a"]})
    with pytest.raises(DriftInputError, match=r"over the cap of 10,000; segment by fewer"):
        profile_batches(
            data.to_batches(), data.schema, columns=names, segment_by=["seg"], segment_top_k=100
        )


def hints_for(current: pa.Table, feature: str = "age", reference: Profile | None = None):
    reference = reference or profile(table(100_000, 10), segment_by=["country", "app"])
    result = compare(reference, profile(current, like=reference))
    return next(r for r in result if r.feature == feature)


def test_a_shift_confined_to_one_segment_names_it():
    result = hints_for(table(100_000, 11, shift_in="FR", shift=8))
    top = hints_of(result)[0]
    assert (top.column, top.value, top.kind) == ("country", "FR", "within")
    assert top.explained > 0.9
    assert top.psi_within is not None and top.psi_within > 0.5
    assert abs(top.share_reference - 0.3) < 0.02 and abs(top.share_current - 0.3) < 0.02
    assert where(result.status, result.segments).startswith("mostly country=FR: ")
    assert where(result.status, result.segments).endswith(" % of the shift")
    app = [h for h in result.segments if h.column == "app"]
    assert all(h.explained < 0.3 for h in app)  # app cuts across countries: no app stands out


def test_a_pure_mix_shift_is_told_from_a_shift_within():
    result = hints_for(table(100_000, 12, shares=[0.2, 0.3, 0.15, 0.1, 0.25]))
    assert result.status.breach
    top = hints_of(result)[0]
    assert (top.column, top.value, top.kind) == ("country", "IT", "mix")
    assert top.psi_within is not None and top.psi_within < 0.01  # IT's own ages held
    assert top.share_current > 0.2 > top.share_reference
    assert re.search(
        r"^mostly country=IT: \d+ % of the shift, its share of rows 5 % → 2\d %$",
        where(result.status, result.segments),
    )


def test_a_shift_everywhere_singles_no_segment_out():
    result = hints_for(table(100_000, 13, everywhere=4))
    assert result.status.breach
    assert where(result.status, result.segments) == ""
    for hint in result.segments:
        assert abs(hint.explained - hint.share_current) < 0.15  # credit by size


def test_hidden_drift_in_a_small_segment_warns_naming_it():
    result = hints_for(table(100_000, 14, shift_in="IT", shift=35))
    assert result.psi < 0.1  # the whole barely moves
    assert result.status is Status.WARN
    assert result.message.startswith("hidden drift in country=IT: PSI ")
    assert "(5 % of rows)" in result.message
    said = where(result.status, result.segments)
    assert said.startswith("hidden in country=IT: PSI ")
    assert said.endswith(" within the segment, 5 % of rows")
    hidden = [h for h in hints_of(result) if h.hidden]
    assert [(h.column, h.value) for h in hidden] == [("country", "IT")]


def test_hints_survive_being_stored_as_records():
    hints = hints_of(hints_for(table(50_000, 23, shift_in="DE", shift=5)))
    assert from_records([asdict(h) for h in hints]) == hints


def test_clean_data_raises_no_hidden_drift_even_in_small_segments():
    reference = profile(table(100_000, 15), segment_by=["country", "app"])
    for seed in range(16, 19):
        for result in compare(reference, profile(table(100_000, seed), like=reference)):
            assert result.status is Status.OK, result.message
            assert not any(h.hidden for h in result.segments or [])


def test_a_small_segment_needs_its_minimum_rows_to_be_hidden_drift():
    n = MIN_SEGMENT_ROWS * 10  # IT: 5 % of rows, below the minimum on each side
    reference = profile(table(n, 20), segment_by=["country"])
    result = compare(reference, profile(table(n, 21, shift_in="IT", shift=20), like=reference))
    age = next(r for r in result if r.feature == "age")
    assert hints_of(age)[0].value == "IT"
    assert not hints_of(age)[0].hidden
    assert age.status is Status.OK


def test_categorical_features_get_hints_on_their_levels():
    current = table(100_000, 22)
    plan = current.column("plan").to_numpy(zero_copy_only=False).copy()
    country = current.column("country").to_numpy(zero_copy_only=False)
    plan[(country == "DE") & (np.random.default_rng(0).random(len(plan)) < 0.5)] = "team"
    current = current.set_column(2, "plan", pa.array(plan.tolist()))
    result = hints_for(current, "plan")
    assert (hints_of(result)[0].column, hints_of(result)[0].value) == ("country", "DE")
    labels = hints_of(result)[0].bins
    assert labels is not None and result.bins is not None
    assert labels.labels == result.bins.labels
