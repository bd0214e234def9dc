"""The work behind the assets, called directly: no Dagster run involved."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from drift import Profile, Status, profile_parquet
from pipelines.backfill import score_partition
from pipelines.references import FixedReferences
from pipelines.scoring import (
    ScoringError,
    load_reference,
    profile_reference,
    results_table,
)
from pipelines.shares import profile_partition
from tests.pipelines.conftest import DATASET, FEATURES, day, snapshot


def _cfg(env):
    return env.config.datasets[DATASET]


def test_reference_window_is_profiled_and_saved(env):
    done = profile_reference(env.store, DATASET, _cfg(env))
    assert done.profile.rows == 3 * 4000
    assert done.present == FEATURES and done.absent == []
    assert Profile.load(done.path) == done.profile
    assert not done.path.with_suffix(".json.tmp").exists()


def test_a_missing_reference_day_is_named(env):
    for path in env.store.files(DATASET, day(2)):
        path.unlink()
    with pytest.raises(ScoringError, match=day(2).isoformat()) as caught:
        profile_reference(env.store, DATASET, _cfg(env))
    assert caught.value.missing_days == [day(2).isoformat()]


def test_a_partition_is_scored_and_recorded(env):
    reference = profile_reference(env.store, DATASET, _cfg(env)).profile
    done = score_partition(
        env.store,
        env.results,
        DATASET,
        _cfg(env),
        partition=day(6).isoformat(),
        run_id="r1",
        references=FixedReferences.of(reference, _cfg(env)),
    )
    assert set(done.features(Status.CRITICAL)) == {"amount", "device"}
    assert done.rows == 4000 and done.worst_psi() > 0.25
    stored = env.results.for_partition(DATASET, day(6).isoformat())
    assert [r.id for r in stored] == done.result_ids
    assert {r.feature: r.status for r in stored}["amount"] == Status.CRITICAL
    table = results_table(done.results)
    assert table.index("| amount | critical |") < table.index("| rating | ok |")


def test_the_partition_is_read_as_the_cli_reads_it(env):
    """One reader: a day written in two files profiles exactly as the CLI's reader profiles
    those files' rows in one file."""
    reference = profile_reference(env.store, DATASET, _cfg(env)).profile
    env.store.write(DATASET, day(5), snapshot(50, drifted=True, rows=1000))
    both = profile_partition(env.store, DATASET, _cfg(env), day(5), reference)
    assert both.rows == 5000
    single = env.store.files(DATASET, day(4))[0]
    via_cli = profile_parquet(single, columns=FEATURES, like=reference)
    via_store = profile_partition(env.store, DATASET, _cfg(env), day(4), reference)
    assert via_store.columns == via_cli.columns


def test_bad_partitions_fail_with_a_message(env):
    reference = profile_reference(env.store, DATASET, _cfg(env)).profile
    with pytest.raises(ScoringError, match="no snapshot of orders for 2026-01-20"):
        profile_partition(env.store, DATASET, _cfg(env), day(20), reference)
    later = env.store.partition_dir(DATASET, day(8)) / "part-zzz.parquet"  # sorts last
    pq.write_table(snapshot(8, drifted=False).drop_columns(["rating"]), later)
    with pytest.raises(ScoringError, match=r"part-zzz\.parquet: lacks column"):
        profile_partition(env.store, DATASET, _cfg(env), day(8), reference)
    broken = env.store.partition_dir(DATASET, day(9)) / "part-broken.parquet"
    broken.write_bytes(b"PAR1 but not Parquet")
    with pytest.raises(ScoringError, match="not a readable Parquet file"):
        profile_partition(env.store, DATASET, _cfg(env), day(9), reference)


def test_a_partition_before_its_reference_says_what_to_do(env):
    with pytest.raises(ScoringError, match="materialize orders/reference_profile"):
        load_reference(env.store, DATASET, "orders/reference_profile")


def _score_day_6(env, cfg, reference):
    return score_partition(
        env.store,
        env.results,
        DATASET,
        cfg,
        partition=day(6).isoformat(),
        run_id="r",
        references=FixedReferences.of(reference, cfg),
    )


def test_a_dataset_grading_with_scipy_measures_records_them(env):
    from tests.pipelines.conftest import make_config

    cfg = make_config(
        measures=["psi", "chi2", "wasserstein"],
        thresholds={"defaults": {"wasserstein": {"warn": 0.5, "critical": 2.0}}},
    ).datasets[DATASET]
    reference = profile_reference(env.store, DATASET, cfg).profile
    done = _score_day_6(env, cfg, reference)
    stored = {r.feature: r for r in env.results.for_partition(DATASET, day(6).isoformat())}
    amount, device, rating = stored["amount"], stored["device"], stored["rating"]
    assert amount.wasserstein == pytest.approx(3.0, rel=0.1)  # means 50 → 80, σ 10
    assert amount.chi2_pvalue is not None and amount.chi2_pvalue < 1e-100
    assert "wasserstein 3" in amount.message and "≥ 2 (critical)" in amount.message
    assert device.chi2_statistic is not None and device.chi2_statistic > 1000
    assert device.wasserstein is None
    assert rating.chi2_pvalue is not None and rating.chi2_pvalue > 0.01
    assert {r.feature for r in done.results if r.status is Status.CRITICAL} >= {"amount", "device"}


def test_default_datasets_leave_the_scipy_fields_empty(env):
    reference = profile_reference(env.store, DATASET, _cfg(env)).profile
    _score_day_6(env, _cfg(env), reference)
    for row in env.results.for_partition(DATASET, day(6).isoformat()):
        assert (row.chi2_statistic, row.chi2_pvalue, row.wasserstein) == (None, None, None)
