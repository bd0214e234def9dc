"""Loading: the CLI's validation, the YAML's errors, workspace/pyproject agreement, and the
production instance on PostgreSQL."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from dagster import DagsterInstance, materialize

from pipelines.config import ConfigError, load_config
from pipelines.defs.assets import DATASET_TAG
from tests.services import POSTGRES_URL, postgres_schema

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def validate(env_extra):
    env = dict(os.environ, **env_extra)
    return subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dagster_definitions_validate(tmp_path):
    done = validate({"DAGSTER_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_validation_names_the_broken_field(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text((ROOT / "driftwatch.yaml").read_text().replace("bins: 10", "bins: 1"))
    done = validate({"DAGSTER_HOME": str(tmp_path), "DRIFTWATCH_CONFIG": str(broken)})
    assert done.returncode == 1
    assert "datasets.shop_orders.bins" in done.stdout + done.stderr


def test_the_shipped_config_is_valid():
    config = load_config(ROOT / "driftwatch.yaml")
    assert set(config.datasets) == {"shop_orders"}
    from pipelines.demo import FEATURES

    assert config.datasets["shop_orders"].features == list(FEATURES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("datasets: {}", "datasets"),
        ("datasets: [", "not valid YAML"),
        (
            "colour: red\ndatasets: {a: {features: [x], reference: {start: 2026-01-02, "
            "end: 2026-01-01}, partitions_start: 2026-01-01}}",
            "colour",
        ),
        (
            "datasets: {a: {features: [x], reference: {start: 2026-01-02, end: 2026-01-01}, "
            "partitions_start: 2026-01-01}}",
            "reference end is before its start",
        ),
        (
            "datasets: {a: {features: [x, x], reference: {start: 2026-01-01, end: 2026-01-01}, "
            "partitions_start: 2026-01-01}}",
            "listed twice",
        ),
        (
            "datasets: {a: {features: [x], reference: {start: 2026-01-01, end: 2026-01-01}, "
            "partitions_start: 2026-01-01, binning: evidently}}",
            "evidently",
        ),
        (
            "datasets: {a: {features: [x], reference: {start: 2026-01-01, end: 2026-01-01}, "
            "partitions_start: 2026-01-01, thresholds: {defaults: {psy: {warn: 1, critical: 2}}}}}",
            "unknown measure",
        ),
        (
            "datasets: {a: {features: [x], reference: {start: 2026-01-01, end: 2026-01-01}, "
            "partitions_start: 2026-01-01, measures: [psi, ks]}}",
            r"datasets.a.measures: Value error, unknown measure\(s\) ks",
        ),
        (
            "datasets: {a: {features: [x], reference: {start: 2026-01-01, end: 2026-01-01}, "
            "partitions_start: 2026-01-01, thresholds: {defaults: {chi2: {warn: 0.01, "
            "critical: 0.05}}}}}",
            "a p-value's critical level must be at most its warn",
        ),
        (
            "datasets: {a: {features: [x], reference: {start: 2026-01-01, end: 2026-01-01}, "
            "partitions_start: 2026-01-01, snapshot_deadline: 23:30}}",
            'snapshot_deadline: Value error, give the deadline as a quoted "HH:MM"',
        ),
    ],
)
def test_config_errors_are_clear(tmp_path, text, message):
    path = tmp_path / "driftwatch.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read driftwatch config"):
        load_config(tmp_path / "nope.yaml")


def test_workspace_and_pyproject_agree():
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert project["dagster"]["module_name"] == module
    assert project["dg"]["project"]["code_location_target_module"] == module
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert local["telemetry"]["enabled"] is False and local["nux"]["enabled"] is False


def test_production_instance_on_postgres(env, tmp_path, monkeypatch):
    with postgres_schema() as (schema, _):
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "dagster.prod.yaml", home / "dagster.yaml")
        url = POSTGRES_URL.replace("+psycopg", "+psycopg2")  # see dagster.prod.yaml
        monkeypatch.setenv("DAGSTER_PG_URL", f"{url}?options={quote(f'-csearch_path={schema}')}")
        instance = DagsterInstance.from_config(str(home))
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
            assert limits == [
                {"key": DATASET_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
            ]
            assert env.defs.resolve_job_def("orders_drift_job").tags[DATASET_TAG] == "orders"
            reference = env.defs.resolve_assets_def(["orders", "reference_profile"])
            result = materialize([reference], instance=instance)
            assert result.success
            stored = instance.get_run_by_id(result.run_id)
            assert stored is not None and stored.is_success
            from sqlalchemy import text

            from warehouse.db import make_engine

            engine = make_engine(POSTGRES_URL)
            with engine.connect() as conn:
                tables = set(
                    conn.execute(
                        text(
                            "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = :s"
                        ),
                        {"s": schema},
                    ).scalars()
                )
            engine.dispose()
            assert {"runs", "event_logs", "jobs"} <= tables
        finally:
            instance.dispose()


def test_daily_schedule_asks_for_yesterdays_partition(env):
    from datetime import UTC, datetime

    from dagster import build_schedule_context

    schedule = env.defs.resolve_schedule_def("orders_daily_drift")
    assert schedule.cron_schedule == "0 1 * * *"
    tick = datetime(2026, 1, 8, 1, 0, tzinfo=UTC)
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(instance=instance, scheduled_execution_time=tick)
        result = schedule.evaluate_tick(context)
    (request,) = result.run_requests
    assert request.partition_key == "2026-01-07"
    assert schedule.job_name == "orders_drift_job"
