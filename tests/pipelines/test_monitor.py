"""drift_monitor on a user's own asset: the example project, I/O managers, bad arguments."""

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dagster import (
    AssetKey,
    DailyPartitionsDefinition,
    Definitions,
    FilesystemIOManager,
    StaticPartitionsDefinition,
    asset,
    build_sensor_context,
    materialize,
)

from drift import Profile
from pipelines.config import ConfigError
from pipelines.defs.resources import WarehouseResource
from pipelines.monitor import drift_monitor, monitor_definitions
from pipelines.upstream import as_source
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentFilter, IncidentStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "shop_monitor"
ORDERS = AssetKey("orders")
REFERENCE = AssetKey(["orders", "reference_profile"])
DRIFT = AssetKey(["orders", "feature_drift"])


@pytest.fixture
def example(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    module = importlib.import_module("shop_monitor.definitions")
    return module.build_defs(tmp_path)


def _materialize(defs, keys, partition=None):
    assets = [defs.resolve_assets_def(k) for k in (ORDERS, REFERENCE, DRIFT)]
    result = materialize(assets, selection=keys, partition_key=partition)
    assert result.success
    return result


def test_the_example_project_materializes_and_opens_incidents(example, tmp_path):
    days = [f"2026-11-{d:02d}" for d in range(1, 13)]
    for day in days:
        _materialize(example, [ORDERS], day)
    _materialize(example, [REFERENCE])
    profile = Profile.load(tmp_path / "profiles" / "orders" / "_profiles" / "reference.json")
    assert profile.rows == 5 * 20_000  # the five reference days, loaded by the project's I/O
    assert "ordered_at" not in profile.columns
    checks = {}
    for day in days[5:]:
        result = _materialize(example, [DRIFT], day)
        checks[day] = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["2026-11-08"]["drift_within_thresholds"]
    assert not checks["2026-11-10"]["amount"] and not checks["2026-11-10"]["device"]
    assert checks["2026-11-10"]["country"] and checks["2026-11-10"]["quantity"]

    url = f"sqlite:///{tmp_path / 'driftwatch.db'}"
    stored = DriftResultStore(WarehouseResource(database_url=url).database())
    day10 = {r.feature: r for r in stored.for_partition("orders", "2026-11-10")}
    assert day10["amount"].wasserstein is not None and day10["amount"].wasserstein > 0.25
    assert day10["device"].status == "critical"

    sensor = example.resolve_sensor_def("monitor_incident_sensor")
    tick = sensor(
        build_sensor_context(resources={"warehouse": WarehouseResource(database_url=url)})
    )
    assert int(tick.cursor) == max(r.id for r in stored.after(0))
    incidents = IncidentStore(WarehouseResource(database_url=url).database())
    (opened,) = incidents.list(IncidentFilter()).items  # the day's event: one incident
    members = incidents.members([opened.id])[opened.id]
    assert {m.feature for m in members} == {"amount", "device"}
    assert opened.dataset == "orders"
    assert opened.evidence["partition"] == days[-1]  # the present: the newest day


def test_dagster_loads_the_example_workspace(tmp_path):
    """What `dagster dev` does first: load workspace.yaml's code location."""
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=EXAMPLE,
        env={
            "PATH": "/usr/bin:/bin",
            "DAGSTER_HOME": str(tmp_path),
            "SHOP_MONITOR_HOME": str(tmp_path / "home"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful" in done.stdout + done.stderr


DAYS = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-05")


def _frame(day: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(day)
    return pd.DataFrame({"x": rng.normal(shift, 1, 3000), "c": rng.choice(["a", "b"], 3000)})


@pytest.mark.parametrize("kind", ["dataframe", "arrow", "parquet-path"])
def test_any_loadable_snapshot_kind_is_monitored_through_dagsters_fs_io_manager(tmp_path, kind):
    @asset(partitions_def=DAYS)
    def events(context) -> object:
        day = int(context.partition_key[-2:])
        frame = _frame(day, shift=2.0 if day == 4 else 0.0)
        if kind == "arrow":
            return pa.Table.from_pandas(frame, preserve_index=False)
        if kind == "parquet-path":
            path = tmp_path / f"events-{day}.parquet"
            frame.to_parquet(path, index=False)
            return str(path)
        return frame

    monitor = drift_monitor(events, features=["x", "c"], reference=["2026-01-01", "2026-01-02"])
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    defs = Definitions.merge(
        # Dagster's own default: pickles under base_dir (the test's, shared by every run).
        Definitions(
            assets=[events], resources={"io_manager": FilesystemIOManager(base_dir=str(tmp_path))}
        ),
        monitor_definitions([monitor], database_url=url, profiles_root=str(tmp_path / "p")),
    )
    resolved = [
        defs.resolve_assets_def(k) for k in (AssetKey("events"), *[a.key for a in monitor.assets])
    ]
    for day in ("2026-01-01", "2026-01-02", "2026-01-04"):
        assert materialize(resolved, selection=[AssetKey("events")], partition_key=day).success
    assert materialize(resolved, selection=[monitor.assets[0].key]).success
    result = materialize(resolved, selection=[monitor.assets[1].key], partition_key="2026-01-04")
    graded = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert graded == {"drift_within_thresholds": False, "x": False, "c": True}


def test_bad_monitor_arguments_are_config_errors():
    @asset(partitions_def=DAYS)
    def events() -> pd.DataFrame:
        return _frame(1)

    @asset
    def unpartitioned() -> pd.DataFrame:
        return _frame(1)

    with pytest.raises(ConfigError, match="not a partition of the monitored asset"):
        drift_monitor(events, features=["x"], reference=("2025-12-01", "2026-01-02"))
    with pytest.raises(ConfigError, match="drift is monitored per partition"):
        drift_monitor(unpartitioned, features=["x"], reference=["2026-01-01"])
    with pytest.raises(ConfigError, match=r"measures: Value error, unknown measure\(s\) ks"):
        drift_monitor(events, features=["x"], reference=["2026-01-01"], measures=["ks"])
    with pytest.raises(ConfigError, match="features are listed twice"):
        drift_monitor(events, features=["x", "x"], reference=["2026-01-01"])
    with pytest.raises(ConfigError, match="colour"):
        drift_monitor(events, features=["x"], reference=["2026-01-01"], colour="red")
    by_key = drift_monitor(
        "events",
        features=["x"],
        reference=["a", "b"],
        partitions_def=StaticPartitionsDefinition(["a", "b", "c"]),
        dataset="events_v2",
    )
    assert [a.key for a in by_key.assets] == [
        AssetKey(["events_v2", "reference_profile"]),
        AssetKey(["events_v2", "feature_drift"]),
    ]


def test_an_unloadable_snapshot_fails_with_what_was_given():
    from drift import DriftInputError

    with pytest.raises(DriftInputError, match="the I/O manager gave list"):
        as_source([1, 2], "events[2026-01-01]")
    chained = as_source({"2026-01-02": _frame(2), "2026-01-01": _frame(1)}, "events")
    assert chained.label == "events[2026-01-01] (+1 more)"


def test_drift_before_its_reference_fails_the_run_naming_the_asset(example):
    _materialize(example, [ORDERS], "2026-11-06")
    assets = [example.resolve_assets_def(k) for k in (ORDERS, REFERENCE, DRIFT)]
    result = materialize(
        assets, selection=[DRIFT], partition_key="2026-11-06", raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "no reference profile for orders: materialize orders/reference_profile" in message
    assert "Traceback" not in message
