"""Rolling references: the window's days, its stored profiles, insufficient partitions, levels
and references recorded with the results, and the Dagster command line end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DailyPartitionsDefinition
from sqlalchemy import select

from drift import Status, profile_batches
from drift.window import total
from pipelines.backfill import score_range
from pipelines.baselines import references_for
from pipelines.config import ConfigError, RollingReference
from pipelines.incident_rules import apply_results
from pipelines.monitor import drift_monitor
from pipelines.references import window_days
from pipelines.scoring import profile_reference
from tests.pipelines.conftest import DATASET, FEATURES, day, make_config, snapshot
from tests.pipelines.test_dagster_cli_e2e import Cli
from warehouse.incidents import IncidentFilter
from warehouse.models import DriftReference, DriftResult
from warehouse.profiles import StoredProfiles

ROLLING = {"rolling_days": 4}


def _days(first: str, rolling: dict[str, object]) -> list[str]:
    return [
        d.isoformat() for d in window_days(date.fromisoformat(first), RollingReference(**rolling))
    ]


def test_a_window_crosses_month_and_year_ends():
    assert _days("2026-03-01", {"rolling_days": 3}) == ["2026-02-26", "2026-02-27", "2026-02-28"]
    assert _days("2028-03-01", {"rolling_days": 2}) == ["2028-02-28", "2028-02-29"]  # leap year
    assert _days("2026-01-02", {"rolling_days": 3}) == ["2025-12-30", "2025-12-31", "2026-01-01"]


def test_a_same_weekday_window_holds_only_that_weekday():
    monday = date(2026, 1, 5)
    days = window_days(monday, RollingReference(rolling_days=28, same_weekday=True))
    assert days == [monday - timedelta(days=7 * k) for k in (4, 3, 2, 1)]
    assert {d.weekday() for d in days} == {0}
    # 20 days before a Monday hold two Mondays, and never the day itself
    assert len(window_days(monday, RollingReference(rolling_days=20, same_weekday=True))) == 2


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"reference": {"rolling_days": 7, "same_weekday": True}}, "same_weekday needs"),
        ({"reference": {"rolling_days": 1}}, "rolling_days"),
        ({"thresholds": {"calibrate": True}}, "calibrate needs a rolling reference"),
        ({"reference": {"rolling_days": 7, "weekly": True}}, "weekly"),
        ({"min_rows": -1}, "min_rows"),
        ({"thresholds": {"calibrate": True, "warn_sigmas": 5, "critical_sigmas": 2}}, "sigmas"),
    ],
)
def test_a_bad_reference_is_refused_naming_it(change, complaint):
    with pytest.raises(Exception, match=complaint):
        make_config(**change)


def test_a_monitor_refuses_calibration_it_cannot_do():
    days = DailyPartitionsDefinition(start_date="2026-01-01")
    with pytest.raises(ConfigError, match=r"thresholds\.calibrate: a monitor compares"):
        drift_monitor("events", features=["x"], reference=["2026-01-01", "2026-01-02"],
                      partitions_def=days, thresholds={"calibrate": True})  # fmt: skip


def _rolling(env, **extra):
    config = make_config(**{"reference": ROLLING, **extra})
    return replace(env, config=config), config.datasets[DATASET]


def _score(env, cfg, first, last, run_id="r"):
    partitions = [day(n).isoformat() for n in range(first, last + 1)]
    references = references_for(env.store, env.results, DATASET, cfg, partitions=partitions,
                                asset_name="orders/reference_profile")  # fmt: skip
    return score_range(env.store, env.results, DATASET, cfg, partitions=partitions,
                       run_id=run_id, references=references)  # fmt: skip


def _reference(env, partition, run_id="r"):
    with env.db.reads() as session:
        return session.get(DriftReference, (DATASET, partition, run_id)).reference


def test_a_rolling_window_grades_from_its_second_partition_and_records_what_it_merged(env):
    env, cfg = _rolling(env)
    done = dict(_score(env, cfg, 1, 7).scored)
    status = {p: {r.status for r in d.results} for p, d in done.items()}
    assert status[day(1).isoformat()] == status[day(2).isoformat()] == {Status.INSUFFICIENT}
    first = done[day(1).isoformat()].results[0]
    assert "0 usable partition(s) in the 4 days before 2026-01-01 (needs 2)" in first.message
    assert Status.INSUFFICIENT not in status[day(3).isoformat()]
    assert set(done[day(6).isoformat()].features(Status.CRITICAL)) == {"amount", "device"}
    assert _reference(env, day(6).isoformat()) == {
        "kind": "rolling", "rolling_days": 4, "same_weekday": False, "exclude_breaches": False,
        "partitions": [day(n).isoformat() for n in (2, 3, 4, 5)], "calibrated": False,
    }  # fmt: skip
    # day 7 merges day 6, which breached (exclude_breaches is off)
    assert day(6).isoformat() in _reference(env, day(7).isoformat())["partitions"]
    with env.db.reads() as session:
        levels = session.scalars(
            select(DriftResult.levels).where(DriftResult.partition == day(6).isoformat())
        ).first()
    assert levels["psi"] == {"warn": 0.1, "critical": 0.25}  # not calibrated: the defaults


def test_breaching_partitions_leave_later_windows_when_asked(env):
    env, cfg = _rolling(env, reference={**ROLLING, "exclude_breaches": True})
    _score(env, cfg, 1, 8)
    merged = _reference(env, day(8).isoformat())["partitions"]
    assert merged == [day(n).isoformat() for n in (4, 5)]  # 6 and 7 breached


def test_stored_profiles_serve_later_windows_without_the_raw_data(env):
    env, cfg = _rolling(env)
    _score(env, cfg, 1, 5)
    stored = StoredProfiles(env.store, DATASET)
    assert all(stored.load(day(n)) is not None for n in range(1, 6))
    for n in range(1, 6):  # the raw snapshots of the window go away
        for path in env.store.files(DATASET, day(n)):
            path.unlink()
    done = dict(_score(env, cfg, 6, 6, run_id="later").scored)[day(6).isoformat()]
    assert set(done.features(Status.CRITICAL)) == {"amount", "device"}
    assert _reference(env, day(6).isoformat(), "later")["partitions"] == [
        day(n).isoformat() for n in (2, 3, 4, 5)
    ]


def test_the_grid_is_set_once_and_every_run_profiles_on_it(env):
    stored = StoredProfiles(env.store, DATASET)
    env, cfg = _rolling(env)
    _score(env, cfg, 3, 4)
    grid = stored.grid()
    assert grid is not None and grid.rows == 0 and set(grid.columns) == set(FEATURES)
    assert set(grid.anchors) == {"amount", "quantity", "rating"}  # device is categorical
    moved = {n: replace(c, anchor=(c.anchor or 0.0) + 1) for n, c in grid.numeric().items()}
    assert stored.extend_grid(replace(grid, columns=moved)) == grid  # anchors never move
    _score(env, cfg, 1, 2, run_id="backfill")  # older days, on the same grid
    assert {stored.load(day(1)).columns["amount"].anchor} == {grid.anchors["amount"]}


def test_a_feature_added_later_joins_the_grid_and_its_windows(env):
    for n in range(1, 10):  # the snapshots gain a column the configuration adds later
        for path in env.store.files(DATASET, day(n)):
            path.unlink()
        table = snapshot(n, drifted=n in (6, 7))
        env.store.write(DATASET, day(n), table.append_column("basket", table.column("amount")))
    env, cfg = _rolling(env)
    _score(env, cfg, 1, 4)
    later = make_config(reference=ROLLING, features=[*FEATURES, "basket"]).datasets[DATASET]
    _score(env, later, 5, 7, run_id="later")
    grid = StoredProfiles(env.store, DATASET).grid()
    assert grid is not None and "basket" in grid.anchors
    assert (
        grid.anchors["amount"]
        == StoredProfiles(env.store, DATASET).load(day(1)).columns["amount"].anchor
    )
    with env.db.reads() as session:
        basket = {
            r.partition: r.status
            for r in session.scalars(select(DriftResult).where(DriftResult.feature == "basket"))
        }
    # day 5's window (days 1–4) has no basket yet; day 6 merges day 5's, day 7 days 5 and 6
    assert basket[day(5).isoformat()] == "error"
    assert basket[day(7).isoformat()] == "critical"


def test_calibrated_levels_are_stored_and_differ_per_feature(env):
    env, cfg = _rolling(env, thresholds={"calibrate": True})
    done = dict(_score(env, cfg, 1, 9).scored)
    assert _reference(env, day(5).isoformat())["calibrated"] is True
    with env.db.reads() as session:
        rows = session.scalars(
            select(DriftResult).where(DriftResult.partition == day(5).isoformat())
        ).all()
    # 4,000 rows a day: PSI's noise is below its floor (half the defaults); JS's is not
    floor = {"warn": 0.05, "critical": 0.125}
    assert {r.feature: r.levels["psi"] for r in rows} == {f: floor for f in FEATURES}
    js = {r.feature: r.levels["js_distance"] for r in rows}
    assert len({json.dumps(v, sort_keys=True) for v in js.values()}) > 1
    assert all(0.065 <= v["warn"] <= v["critical"] for v in js.values())
    assert set(done[day(6).isoformat()].features(Status.CRITICAL)) == {"amount", "device"}
    assert done[day(5).isoformat()].features(Status.OK) == FEATURES


def test_a_small_partition_is_insufficient_and_never_an_alarm(env):
    env.store.write(DATASET, day(10), snapshot(99, drifted=True, rows=60))
    config = make_config(min_rows=100)
    profile_reference(env.store, DATASET, config.datasets[DATASET])
    cfg = config.datasets[DATASET]
    partitions = [day(n).isoformat() for n in (8, 9, 10)]
    references = references_for(env.store, env.results, DATASET, cfg, partitions=partitions,
                                asset_name="orders/reference_profile")  # fmt: skip
    done = dict(score_range(env.store, env.results, DATASET, cfg, partitions=partitions,
                            run_id="r", references=references).scored)  # fmt: skip
    small = done[day(10).isoformat()].results
    assert {r.status for r in small} == {Status.INSUFFICIENT}
    assert small[0].message == "60 rows, fewer than min_rows 100: not graded"
    tally = apply_results(env.results.after(0), env.incidents, env.results, config, 0)
    assert tally.opened == [] and tally.resolved == []
    # a fixed dataset records what it compared with too
    assert _reference(env, day(10).isoformat())["kind"] == "fixed"


def test_a_rolling_dataset_runs_through_the_dagster_cli(env, tmp_path):
    config = make_config(reference={"rolling_days": 4}, thresholds={"calibrate": True})
    cli = Cli(replace(env, config=config), tmp_path)
    out = cli.run("asset", "list")
    assert "orders/feature_drift" in out and "orders/reference_profile" not in out
    cli.run("asset", "materialize", "--select", f"{DATASET}/feature_drift",
            "--partition-range", f"{day(1).isoformat()}...{day(7).isoformat()}")  # fmt: skip
    statuses = {}
    with env.db.reads() as session:
        for row in session.scalars(select(DriftResult).order_by(DriftResult.id)):
            statuses.setdefault(row.partition, {})[row.feature] = row.status
    assert set(statuses[day(1).isoformat()].values()) == {"insufficient"}
    assert statuses[day(6).isoformat()]["amount"] == "critical"
    assert statuses[day(5).isoformat()] == dict.fromkeys(FEATURES, "ok")
    assert _reference(env, day(6).isoformat(), _run_of(env, day(6)))["calibrated"] is True
    cli.preview()  # day 7 is the present: day 6's breach opens the incident, as graded
    (held,) = env.incidents.list(IncidentFilter(feature="amount")).items
    assert (held.status, held.severity) == ("open", "critical")
    (member,) = [m for m in env.incidents.members([held.id])[held.id] if m.feature == "amount"]
    assert set(member.evidence["levels"]) == {"psi", "drift_ratio"}
    # one more day: the stored profiles of days 4–7 are its reference, and it is healthy
    cli.run("asset", "materialize", "--select", f"{DATASET}/feature_drift",
            "--partition", day(8).isoformat())  # fmt: skip
    assert _reference(env, day(8).isoformat(), _run_of(env, day(8)))["partitions"] == [
        day(n).isoformat() for n in (4, 5, 6, 7)
    ]


def _run_of(env, when):
    with env.db.reads() as session:
        return session.scalars(
            select(DriftResult.run_id).where(DriftResult.partition == when.isoformat())
        ).first()


def test_the_stored_profiles_merge_to_the_profile_of_their_days_concatenated(env):
    env, cfg = _rolling(env)
    _score(env, cfg, 1, 4)
    stored = StoredProfiles(env.store, DATASET)
    days = [stored.load(day(n)) for n in (1, 2, 3)]
    assert None not in days
    merged = total([p for p in days if p is not None])
    raw = pa.concat_tables(
        [pq.read_table(path) for n in (1, 2, 3) for path in env.store.files(DATASET, day(n))]
    )
    grid = stored.grid()
    one_pass = profile_batches(raw.to_batches(max_chunksize=1500), raw.schema, columns=FEATURES,
                               like=grid, top_k=cfg.top_k)  # fmt: skip
    assert merged == replace(one_pass, source=None)  # counts and exact sums, bit for bit


def test_profiles_stored_on_another_grid_fail_the_day_naming_them(env):
    env, cfg = _rolling(env)
    _score(env, cfg, 1, 3)
    stored = StoredProfiles(env.store, DATASET)
    grid = stored.grid()
    assert grid is not None
    moved = {n: replace(c, anchor=(c.anchor or 0.0) + 1) for n, c in grid.numeric().items()}
    grid_path = stored.grid_path()
    grid_path.unlink()  # someone deleted the grid, and a later run set another one
    stored.extend_grid(replace(grid, columns={**grid.columns, **moved}))
    outcome = _score(env, cfg, 4, 4, run_id="after")
    assert outcome.scored == []
    message = outcome.failed[day(4).isoformat()]
    strays = ", ".join(day(n).isoformat() for n in (1, 2, 3))
    assert f"the stored profiles of {strays} were built on another grid" in message
    assert "score those partitions again" in message
