"""Multivariate drift through Dagster: the dataset's check, its (multivariate) result row and
incident member, with a fixed and a rolling reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from drift.multivariate import MULTIVARIATE
from pipelines.backfill import score_range
from pipelines.baselines import references_for
from pipelines.definitions import build_definitions
from tests.pipelines.conftest import DATASET, Env, build_env, day, make_config
from tests.pipelines.test_assets import run_day, run_reference
from tests.pipelines.test_sensors import tick
from warehouse.incidents import IncidentFilter
from warehouse.models import DriftResult

FEATURES = ["price", "tax", "quantity", "device"]


def joined(n: int, *, broken: bool, rows: int = 6000) -> pa.Table:
    """tax follows price; on broken days tax was joined to the wrong orders (shuffled)."""
    rng = np.random.default_rng(500 + n)
    price = rng.lognormal(3, 0.5, rows)
    tax = 0.2 * price + rng.normal(0, 0.5, rows)
    if broken:
        tax = rng.permutation(tax)
    return pa.table(
        {
            "price": price,
            "tax": tax,
            "quantity": rng.integers(1, 6, rows).astype(float),
            "device": rng.choice(["desktop", "mobile"], rows),
        }
    )


def joined_env(tmp_path: Path, **overrides: object) -> Env:
    days = {n: joined(n, broken=n in (6, 9)) for n in range(1, 10)}
    config = make_config(features=FEATURES, multivariate=True, **overrides)
    return build_env(tmp_path, days, config, row_group_size=1000)


def row(env: Env, partition: str) -> DriftResult:
    return env.latest(MULTIVARIATE, partition)


def test_a_broken_join_fails_the_multivariate_check_and_joins_the_incident(tmp_path):
    env = joined_env(tmp_path)
    run_reference(env)
    clean = run_day(env, 5)
    assert clean.success
    checks = {e.check_name: e for e in clean.get_asset_check_evaluations()}
    assert checks["multivariate"].passed
    broken = run_day(env, 6)
    checks = {e.check_name: e for e in broken.get_asset_check_evaluations()}
    assert all(checks[f].passed for f in FEATURES)  # no column alone shows it
    check = checks["multivariate"]
    assert not check.passed and check.severity.value == "ERROR"
    assert set(check.metadata["top_columns"].value) & {"price", "tax"}
    stored = row(env, day(6).isoformat())
    assert stored.status == "critical"
    assert stored.multivariate is not None
    assert stored.multivariate["reconstruction_error"] > stored.multivariate["critical"]
    assert stored.levels == {
        "reconstruction_error": {
            "warn": stored.multivariate["warn"], "critical": stored.multivariate["critical"],
        }
    }  # fmt: skip
    assert row(env, day(5).isoformat()).status == "ok"

    tick(env, None)
    (incident,) = [i for i in env.incidents.list(IncidentFilter()).items if i.status == "open"]
    members = env.incidents.members([incident.id])[incident.id]
    assert [m.feature for m in members] == [MULTIVARIATE]
    assert incident.severity == "critical"


def test_a_rolling_window_judges_the_error_by_its_partitions(tmp_path):
    env = joined_env(tmp_path, reference={"rolling_days": 4})
    cfg = env.config.datasets[DATASET]
    partitions = [day(n).isoformat() for n in range(1, 10)]
    references = references_for(env.store, env.results, DATASET, cfg, partitions=partitions,
                                asset_name="orders/reference_profile")  # fmt: skip
    score_range(env.store, env.results, DATASET, cfg, partitions=partitions, run_id="r",
                references=references)  # fmt: skip
    statuses = {n: row(env, day(n).isoformat()).status for n in range(1, 10)}
    assert statuses[1] == statuses[2] == "insufficient"  # fewer than two partitions before
    assert statuses[6] == statuses[9] == "critical"
    assert {statuses[n] for n in (3, 4, 5, 7, 8)} == {"ok"}


def test_a_reference_profiled_before_multivariate_grades_nothing(tmp_path):
    env = joined_env(tmp_path)
    plain = make_config(features=FEATURES)
    build = build_definitions(plain, database=env.database_url, snapshots_root=str(env.root))
    run_reference(Env(env.root, env.database_url, env.store, build, plain, env.db))
    assert run_day(env, 6).success
    stored = row(env, day(6).isoformat())
    assert stored.status == "insufficient"
    assert "profiled without multivariate moments" in stored.message
