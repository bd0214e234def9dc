"""A day bigger than a worker: its row groups cut in shares, each profiled on its own (in a
thread, or in a Dagster step of its own), merged in order — the one-pass profile, bit for bit,
and the same drift results and checks as the one-step asset."""

from __future__ import annotations

import pytest
from dagster import AssetKey, materialize

from drift.parquet import ParquetSource
from pipelines.config import ConfigError
from pipelines.definitions import build_definitions
from pipelines.references import FixedReferences
from pipelines.scoring import profile_reference
from pipelines.shares import (
    merge_shares,
    profile_partition,
    profile_share_of_range,
    split,
)
from tests.pipelines.conftest import DATASET, FEATURES, Env, day, make_config, snapshot
from tests.pipelines.test_assets import checks
from tests.pipelines.test_backfill import RANGE_END, RANGE_START, measures
from warehouse.db import Database
from warehouse.migrate import upgrade

DRIFT = AssetKey([DATASET, "feature_drift"])


def _write_big_day(env, n, *, files, rows, row_group_size):
    for i in range(files):
        table = snapshot(n + i, drifted=i % 2 == 1, rows=rows)
        env.store.write(DATASET, day(n), table, row_group_size=row_group_size)


def _row_groups(run):
    """A share as (file, first row group, last row group) per piece."""
    return [(p.label, p._indices.start, p._indices.stop - 1) for p in run]


def test_split_cuts_row_groups_in_order_across_files(env):
    _write_big_day(env, 20, files=3, rows=3000, row_group_size=1500)  # 2 row groups each
    sources = [ParquetSource(p) for p in env.store.files(DATASET, day(20))]
    a, b, c = (s.label for s in sources)
    assert [_row_groups(run) for run in split(sources, 4)] == [
        [(a, 0, 1)],
        [(b, 0, 1)],
        [(c, 0, 0)],
        [(c, 1, 1)],
    ]
    assert [_row_groups(run) for run in split(sources, 2)] == [
        [(a, 0, 1), (b, 0, 0)],
        [(b, 1, 1), (c, 0, 1)],
    ]
    assert len(split(sources, 50)) == 6  # never more shares than row groups
    assert [sum(p.num_rows for p in run) for run in split(sources, 4)] == [3000, 3000, 1500, 1500]


@pytest.mark.parametrize(
    ("files", "rows", "row_group_size"),
    [(6, 2500, 1250), (1, 12_000, 1000)],
    ids=["six files", "one file of twelve row groups"],
)
def test_shares_merge_to_the_one_pass_profile_bit_for_bit(env, files, rows, row_group_size):
    """In threads (profile_partition) and as share steps hand them on (one share of a range
    each, merged by merge_shares): field for field and in the JSON, for every cut."""
    cfg = env.config.datasets[DATASET]
    reference = profile_reference(env.store, DATASET, cfg).profile
    _write_big_day(env, 20, files=files, rows=rows, row_group_size=row_group_size)
    one_pass = profile_partition(env.store, DATASET, cfg, day(20), reference)
    assert one_pass.rows == files * rows
    partition = day(20).isoformat()
    for shares in (2, 3, 5, 12):
        threaded = profile_partition(env.store, DATASET, cfg, day(20), reference, workers=shares)
        assert threaded == one_pass and threaded.to_json() == one_pass.to_json()
        cut = {"partitions": [partition], "shares": shares}
        outputs = [
            profile_share_of_range(env.store, DATASET, cfg, reference, share=share, **cut)
            for share in range(shares)
        ]
        assert all(output[partition].profile is not None for output in outputs)
        stepped = merge_shares(partition, outputs)
        assert stepped == one_pass and stepped.to_json() == one_pass.to_json()


def test_a_missing_day_is_reported_by_the_share_not_raised(env):
    cfg = env.config.datasets[DATASET]
    reference = profile_reference(env.store, DATASET, cfg).profile
    partitions = [day(9).isoformat(), day(10).isoformat()]
    output = profile_share_of_range(
        env.store, DATASET, cfg, reference, partitions=partitions, share=1, shares=2
    )
    assert output[partitions[0]].profile.rows == 4000 - 3000  # row groups 1500, 1500 | 1000
    assert output[partitions[1]] == f"no snapshot of orders for {partitions[1]}"
    with pytest.raises(Exception, match=f"no snapshot of orders for {partitions[1]}"):
        merge_shares(partitions[1], [output])


def test_a_day_the_shares_missed_is_read_whole_when_the_scoring_step_runs_again(env):
    """The shares ran before day 10's snapshot landed; re-executing the scoring step alone
    (Dagster reloads the shares' outputs) must not fail on the stale "no snapshot" but read
    the day itself — to the same profile as the shares would have given."""
    from pipelines.backfill import record_shares

    cfg = env.config.datasets[DATASET]
    reference = profile_reference(env.store, DATASET, cfg).profile
    partitions = [day(9).isoformat(), day(10).isoformat()]
    cut = {"partitions": partitions, "shares": 2}
    before = [
        profile_share_of_range(env.store, DATASET, cfg, reference, share=n, **cut) for n in range(2)
    ]
    assert before[0][partitions[1]] == f"no snapshot of orders for {partitions[1]}"

    fixed = FixedReferences.of(reference, cfg)

    def record(shares, run_id):
        return record_shares(env.store, env.results, DATASET, cfg, shares=shares,
                             partitions=partitions, run_id=run_id, references=fixed)  # fmt: skip

    failed = record(before, "first")
    assert [p for p, _ in failed.scored] == partitions[:1] and list(failed.failed) == partitions[1:]
    _write_big_day(env, 10, files=3, rows=2000, row_group_size=700)
    retried = record(before, "retry")
    assert [p for p, _ in retried.scored] == partitions and not retried.failed
    after = [
        profile_share_of_range(env.store, DATASET, cfg, reference, share=n, **cut) for n in range(2)
    ]
    again = record(after, "fresh shares")
    day_10: dict[str, list[tuple]] = {}
    for r in env.results.for_partition(DATASET, partitions[1]):
        day_10.setdefault(r.run_id, []).append((r.feature, r.psi, r.js_distance, r.drift_ratio))
    assert len(day_10["retry"]) == len(FEATURES)
    assert day_10["retry"] == day_10["fresh shares"] and not again.failed


def test_shares_cut_before_and_after_a_file_landed_are_never_merged(env):
    """Share 0 ran before a second file of day 9 landed, share 1 after: merged, they would
    count a row group twice or not at all. merge_shares refuses, and the scoring step reads
    the day whole instead (the same profile as a fresh one-pass read)."""
    from pipelines.backfill import record_shares

    cfg = env.config.datasets[DATASET]
    reference = profile_reference(env.store, DATASET, cfg).profile
    partition = day(9).isoformat()
    cut = {"partitions": [partition], "shares": 2}
    early = profile_share_of_range(env.store, DATASET, cfg, reference, share=0, **cut)
    env.store.write(DATASET, day(9), snapshot(30, drifted=True, rows=3000), row_group_size=1500)
    late = profile_share_of_range(env.store, DATASET, cfg, reference, share=1, **cut)
    with pytest.raises(Exception, match=f"snapshot of {partition} changed while its shares"):
        merge_shares(partition, [early, late])
    outcome = record_shares(env.store, env.results, DATASET, cfg, partitions=[partition],
                            shares=[early, late], run_id="r",
                            references=FixedReferences.of(reference, cfg))  # fmt: skip
    whole = profile_partition(env.store, DATASET, cfg, day(9), reference)
    assert whole.rows == 4000 + 3000
    assert dict(outcome.scored)[partition].rows == whole.rows


def _env_with(env, tmp_path, name, **overrides) -> Env:
    """The same snapshots, its own database, the drift asset built with ``overrides``."""
    url = f"sqlite:///{tmp_path / f'{name}.db'}"
    db = Database.from_url(url)
    upgrade(db.engine)
    config = make_config(**overrides)
    defs = build_definitions(config, database=url, snapshots_root=str(env.root))
    return Env(env.root, url, env.store, defs, config, db)


def _run_range(env, first, last, **kwargs):
    reference = env.defs.resolve_assets_def(AssetKey([DATASET, "reference_profile"]))
    assert materialize([reference]).success
    tags = {RANGE_START: day(first).isoformat(), RANGE_END: day(last).isoformat()}
    return materialize([env.defs.resolve_assets_def(DRIFT)], tags=tags, **kwargs)


def test_share_steps_score_a_range_as_the_one_step_asset_does(env, tmp_path):
    """Days 4–9 (the 6th and 7th drifted) and a big day 10 of six files, as three share steps
    and a scoring step: every drift result, materialization and check equals the one-step
    asset's, and only the steps named ran."""
    _write_big_day(env, 10, files=6, rows=2000, row_group_size=700)
    one_step = _env_with(env, tmp_path, "one", profile_steps=1)
    stepped = _env_with(env, tmp_path, "three", profile_steps=3)
    single, shared = _run_range(one_step, 4, 10), _run_range(stepped, 4, 10)
    assert single.success and shared.success
    ran = {e.step_key for e in shared.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert ran == {
        "orders__feature_drift.profile_share_0",
        "orders__feature_drift.profile_share_1",
        "orders__feature_drift.profile_share_2",
        "orders__feature_drift.score_days",
    }
    for n in range(4, 11):
        partition = day(n).isoformat()
        by_feature = measures(stepped, partition, shared.run_id)
        assert len(by_feature) == len(FEATURES)
        assert by_feature == measures(one_step, partition, single.run_id)
    # Written in partition order, as the incident sensor reads them.
    assert [r.partition for r in stepped.results.after(0)] == [
        day(n).isoformat() for n in range(4, 11) for _ in FEATURES
    ]
    node = "orders__feature_drift"
    one_meta = [m.metadata for m in single.asset_materializations_for_node(node)]
    shared_meta = [m.metadata for m in shared.asset_materializations_for_node(node)]
    assert [m["rows"].value for m in shared_meta] == [4000] * 6 + [12_000]
    for ours, theirs in zip(shared_meta, one_meta, strict=True):
        for field in ("worst_psi", "critical_features", "warn_features", "features"):
            assert ours[field] == theirs[field]
    assert {k: (c.passed, c.severity, c.metadata) for k, c in checks(shared).items()} == {
        k: (c.passed, c.severity, c.metadata) for k, c in checks(single).items()
    }
    assert not checks(shared)["drift_within_thresholds"].passed


def test_share_steps_fail_the_run_on_a_missing_day_and_keep_the_others(env, tmp_path):
    stepped = _env_with(env, tmp_path, "two", profile_steps=2)
    result = _run_range(stepped, 8, 11, raise_on_error=False)  # 10 and 11 have no snapshot
    assert not result.success
    failure = result.failure_data_for_node("orders__feature_drift.score_days").error
    assert failure.message.strip().endswith(
        f"Failure: 2 of 4 partitions could not be scored (first: no snapshot of orders for "
        f"{day(10).isoformat()}); 2 were"
    )
    assert {r.partition for r in stepped.results.after(0)} == {day(8).isoformat(),
                                                               day(9).isoformat()}  # fmt: skip


def test_profile_steps_is_validated_naming_the_field(tmp_path):
    from pipelines.config import load_config

    for bad in (0, 65, "many"):
        path = tmp_path / "driftwatch.yaml"
        path.write_text(
            "datasets:\n  orders:\n    features: [amount]\n"
            "    reference: {start: 2026-01-01, end: 2026-01-02}\n"
            f"    partitions_start: 2026-01-01\n    profile_steps: {bad}\n"
        )
        with pytest.raises(ConfigError, match=r"datasets\.orders\.profile_steps: "):
            load_config(path)


@pytest.mark.parametrize("steps", [1, 3])
def test_both_drift_assets_refuse_clashing_check_names_and_keep_freshness(env, steps):
    with pytest.raises(ConfigError, match=r"datasets\.orders\.features: .*clashing.*: a_b"):
        build_definitions(make_config(features=["a b", "a_b"], profile_steps=steps))
    timed = make_config(profile_steps=steps, snapshot_deadline="06:00")
    defs = build_definitions(timed, database=env.database_url, snapshots_root=str(env.root))
    (spec,) = defs.resolve_assets_def(DRIFT).specs
    assert spec.freshness_policy is not None
    assert spec.freshness_policy.deadline_cron == "0 6 * * *"
    assert spec.partitions_def is not None and spec.partitions_def.start.date() == day(1)


def test_share_steps_score_a_rolling_dataset_as_the_one_step_asset_does(env, tmp_path):
    rolling = {"reference": {"rolling_days": 4}, "thresholds": {"calibrate": True}}
    one_step = _env_with(env, tmp_path, "one_rolling", profile_steps=1, **rolling)
    stepped = _env_with(env, tmp_path, "two_rolling", profile_steps=2, **rolling)
    assert not stepped.defs.resolve_asset_graph().has(AssetKey([DATASET, "reference_profile"]))
    tags = {RANGE_START: day(1).isoformat(), RANGE_END: day(9).isoformat()}
    single = materialize([one_step.defs.resolve_assets_def(DRIFT)], tags=tags)
    shared = materialize([stepped.defs.resolve_assets_def(DRIFT)], tags=tags)
    assert single.success and shared.success
    for n in range(1, 10):
        partition = day(n).isoformat()
        by_feature = measures(stepped, partition, shared.run_id)
        assert len(by_feature) == len(FEATURES)
        assert by_feature == measures(one_step, partition, single.run_id)
    statuses = {r.partition: r.status for r in stepped.results.after(0) if r.feature == "amount"}
    assert statuses[day(2).isoformat()] == "insufficient"
    assert statuses[day(6).isoformat()] == "critical"
