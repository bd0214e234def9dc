"""Reference and drift assets materialised in-process, and the check's grading."""

from dagster import AssetCheckSeverity, AssetKey, materialize

from drift import Profile
from drift.thresholds import MEASURES
from tests.pipelines.conftest import DATASET, FEATURES, day, snapshot

REF = AssetKey([DATASET, "reference_profile"])
DRIFT = AssetKey([DATASET, "feature_drift"])


def assets(env):
    return [env.defs.resolve_assets_def(REF), env.defs.resolve_assets_def(DRIFT)]


def run_reference(env):
    # Assets resolved from the Definitions carry its resources (the temporary warehouse).
    result = materialize([assets(env)[0]])
    assert result.success
    return result


def run_day(env, n, **kwargs):
    return materialize([assets(env)[1]], partition_key=day(n).isoformat(), **kwargs)


def checks(result):
    """The run's check evaluations by check name: the aggregate and one per feature."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_reference_profile_is_stored_with_pinned_bins(env):
    result = run_reference(env)
    profile = Profile.load(env.store.profile_path(DATASET))
    assert profile.rows == 3 * 4000
    assert sorted(profile.columns) == sorted(FEATURES)
    assert profile.columns["amount"].bins.n_bins == 10
    metadata = result.asset_materializations_for_node("orders__reference_profile")[0].metadata
    assert metadata["rows"].value == 12000


def test_healthy_partition_passes_its_check(env):
    run_reference(env)
    result = run_day(env, 4)
    assert result.success
    evaluations = checks(result)
    assert set(evaluations) == {"drift_within_thresholds", *FEATURES}
    assert all(e.passed for e in evaluations.values())
    check = evaluations["drift_within_thresholds"]
    assert check.metadata["partition"].value == day(4).isoformat()
    rows = env.results.for_partition(DATASET, day(4).isoformat())
    assert sorted(r.feature for r in rows) == sorted(FEATURES)
    assert {r.status for r in rows} == {"ok"}
    assert all(r.run_id == result.run_id for r in rows)
    metadata = result.asset_materializations_for_node("orders__feature_drift")[0].metadata
    assert metadata["worst_psi"].value < 0.1
    assert "| amount | ok |" in metadata["features"].value
    assert metadata["distributions"].value.startswith("![reference vs current](data:image/png")
    assert metadata["reference"].value == {
        "kind": "fixed", "start": day(1).isoformat(), "end": day(3).isoformat()
    }  # fmt: skip
    assert metadata["insufficient_count"].value == 0


def test_drifted_partition_fails_its_check_with_error_severity(env):
    run_reference(env)
    result = run_day(env, 6)
    assert result.success  # a failed check grades the data; the run itself worked
    evaluations = checks(result)
    check = evaluations["drift_within_thresholds"]
    assert not check.passed
    assert check.severity == AssetCheckSeverity.ERROR
    assert set(check.metadata["critical_features"].value) == {"amount", "device"}
    amount = evaluations["amount"]
    assert not amount.passed and amount.severity == AssetCheckSeverity.ERROR
    assert amount.metadata["psi"].value > 0.25
    assert amount.metadata["status"].value == "critical"
    assert amount.metadata["partition"].value == day(6).isoformat()
    assert evaluations["rating"].passed and evaluations["quantity"].passed
    metadata = result.asset_materializations_for_node("orders__feature_drift")[0].metadata
    assert metadata["critical_count"].value == 2
    assert metadata["warn_count"].value == 0 and metadata["error_count"].value == 0
    rows = {r.feature: r for r in env.results.for_partition(DATASET, day(6).isoformat())}
    assert rows["amount"].status == "critical" and rows["amount"].psi > 0.25
    assert rows["device"].bins["labels"][:2] == ["desktop", "mobile"]
    assert rows["rating"].status == "ok"


def test_warn_only_partition_gets_warn_severity(env):
    from pipelines.definitions import build_definitions
    from tests.pipelines.conftest import make_config

    env.defs = build_definitions(
        make_config(
            thresholds={"defaults": {m: {"warn": 0.05, "critical": 1000} for m in MEASURES}}
        ),
        database=env.database_url,
        snapshots_root=str(env.root),
    )
    run_reference(env)
    check = checks(run_day(env, 6))["drift_within_thresholds"]
    assert not check.passed
    assert check.severity == AssetCheckSeverity.WARN
    assert check.metadata["critical_features"].value == []


def test_missing_snapshot_fails_the_run(env):
    run_reference(env)
    result = run_day(env, 20, raise_on_error=False)
    assert not result.success
    assert env.results.for_partition(DATASET, day(20).isoformat()) == []


def test_schema_changes_are_per_feature_errors(env):
    import pyarrow as pa

    run_reference(env)
    broken = snapshot(10, drifted=False).drop_columns(["rating"])
    broken = broken.set_column(0, "amount", pa.array(["x"] * broken.num_rows))
    env.store.write(DATASET, day(10), broken)
    result = run_day(env, 10)
    assert result.success
    rows = {r.feature: r for r in env.results.for_partition(DATASET, day(10).isoformat())}
    assert rows["rating"].status == "error"
    assert rows["rating"].message == "column missing in the current snapshot"
    assert rows["rating"].schema_break == "missing"
    assert rows["amount"].status == "error" and "numeric → categorical" in rows["amount"].message
    assert rows["amount"].schema_break == "retyped"
    assert rows["quantity"].status == "ok"
    evaluations = checks(result)
    aggregate = evaluations["drift_within_thresholds"]
    assert not aggregate.passed and aggregate.severity == AssetCheckSeverity.ERROR
    assert set(aggregate.metadata["error_features"].value) == {"amount", "rating"}
    assert evaluations["rating"].metadata["schema_break"].value == "missing"
    assert evaluations["rating"].severity == AssetCheckSeverity.ERROR
    assert evaluations["quantity"].passed


def test_an_all_null_column_fails_its_check(env):
    import pyarrow as pa

    run_reference(env)
    table = snapshot(10, drifted=False)
    nulls = pa.nulls(table.num_rows, pa.float64())
    env.store.write(DATASET, day(10), table.set_column(2, "rating", nulls))
    evaluations = checks(run_day(env, 10))
    assert not evaluations["rating"].passed
    assert evaluations["rating"].metadata["schema_break"].value == "all_null"
    assert not evaluations["drift_within_thresholds"].passed


def test_a_snapshot_that_is_not_parquet_fails_the_run_clearly(env):
    run_reference(env)
    broken = env.store.partition_dir(DATASET, day(11)) / "part-broken.parquet"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"this is not a parquet file")
    result = run_day(env, 11, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    assert "not a readable Parquet file" in str(failure.event_specific_data)
    assert env.results.for_partition(DATASET, day(11).isoformat()) == []


def test_drift_before_reference_fails_clearly(env):
    result = run_day(env, 4, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    assert "no reference profile" in str(failure.event_specific_data)
