"""Segments through Dagster: hints in the stored results, in the incident's evidence and in its
notifications, with a fixed and a rolling reference; bad segment settings refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipelines.backfill import score_range
from pipelines.baselines import references_for
from pipelines.scoring import ScoringError, profile_reference
from tests.pipelines.conftest import DATASET, Env, build_env, day, make_config
from tests.pipelines.test_assets import run_day, run_reference
from tests.pipelines.test_sensors import tick
from warehouse.incidents import IncidentFilter
from warehouse.models import NotificationEvent
from warehouse.profiles import StoredProfiles

FEATURES = ["amount", "quantity", "device"]
REGIONS = ["north", "south", "east", "west"]


def regional(n: int, *, shifted: bool, rows: int = 6000) -> pa.Table:
    """Amounts rise by half in the north (35 % of the rows) only, on shifted days."""
    rng = np.random.default_rng(300 + n)
    region = rng.choice(REGIONS, rows, p=[0.35, 0.3, 0.2, 0.15])
    amount = rng.normal(50, 10, rows)
    if shifted:
        amount[region == "north"] *= 1.5
    return pa.table(
        {
            "amount": amount,
            "quantity": rng.integers(1, 6, rows).astype(float),
            "device": rng.choice(["desktop", "mobile"], rows),
            "region": region,
        }
    )


def segmented_env(tmp_path: Path, **overrides: object) -> Env:
    days = {n: regional(n, shifted=n >= 6) for n in range(1, 9)}
    config = make_config(features=FEATURES, segment_by=["region"], **overrides)
    return build_env(tmp_path, days, config, row_group_size=2000)


def test_a_dagster_run_stores_hints_and_the_incident_carries_them(tmp_path):
    env = segmented_env(tmp_path)
    run_reference(env)
    assert run_day(env, 5).success
    result = run_day(env, 6)
    assert result.success
    table = result.asset_materializations_for_node("orders__feature_drift")[0].metadata
    assert "| where |" in table["features"].value
    assert "mostly region=north: " in table["features"].value

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["amount"].metadata["where"].value.startswith("mostly region=north: ")
    assert checks["quantity"].metadata["where"].value == "—"

    quiet = env.latest("amount", day(5).isoformat())
    assert quiet.status == "ok" and quiet.segments is not None
    stored = env.latest("amount", day(6).isoformat())
    assert stored.status == "critical"
    assert stored.segments is not None
    top = stored.segments[0]
    assert (top["column"], top["value"], top["kind"]) == ("region", "north", "within")
    assert top["explained"] > 0.9 and top["psi_within"] > 1
    assert len(top["bins"]["labels"]) == len(top["bins"]["reference"]) == 10

    tick(env, None)
    incident = next(i for i in env.incidents.list(IncidentFilter()).items if i.status == "open")
    member = next(m for m in env.incidents.members([incident.id])[incident.id]
                  if m.feature == "amount")  # fmt: skip
    assert member.evidence["segments"][0]["value"] == "north"
    assert member.evidence["where"].startswith("mostly region=north: ")
    assert member.evidence["where"].endswith(" % of the shift")

    with env.db.reads() as session:
        event = session.query(NotificationEvent).filter_by(incident_id=incident.id).first()
    listed = {m["feature"]: m for m in event.payload["incident"]["members"]}
    assert listed["amount"]["where"] == member.evidence["where"]

    from incident_api.notifications.render import slack_body
    from warehouse.notifications import Claimed

    claimed = Claimed(id=1, delivery_id="d-1", channel="slack", attempts=1, event=event.event,
                      payload=event.payload, event_created_at=event.created_at)  # fmt: skip
    text = json.dumps(json.loads(slack_body(claimed, "http://127.0.0.1:8000")))
    assert "mostly region=north: " in text


def test_a_rolling_reference_cuts_every_partition_by_the_grids_levels(tmp_path):
    env = segmented_env(tmp_path, reference={"rolling_days": 4})
    cfg = env.config.datasets[DATASET]
    partitions = [day(n).isoformat() for n in range(1, 7)]
    references = references_for(env.store, env.results, DATASET, cfg, partitions=partitions,
                                asset_name="orders/reference_profile")  # fmt: skip
    score_range(env.store, env.results, DATASET, cfg, partitions=partitions, run_id="r",
                references=references)  # fmt: skip
    grid = StoredProfiles(env.store, DATASET).grid()
    assert grid is not None and grid.segments is not None
    assert set(grid.segments["region"]) == {*REGIONS, "OTHER"}
    stored = env.latest("amount", day(6).isoformat())
    assert stored.segments is not None and stored.segments[0]["value"] == "north"

    changed = make_config(features=FEATURES, segment_by=["device"],
                          reference={"rolling_days": 4}).datasets[DATASET]  # fmt: skip
    with pytest.raises(ScoringError, match="its stored profiles are segmented by region"):
        references_for(env.store, env.results, DATASET, changed, partitions=partitions,
                       asset_name="orders/reference_profile")  # fmt: skip


def test_a_snapshot_without_the_segment_column_fails_naming_it(tmp_path):
    env = segmented_env(tmp_path)
    cfg = make_config(features=FEATURES, segment_by=["store_id"]).datasets[DATASET]
    with pytest.raises(ScoringError, match="lacks segment column"):
        profile_reference(env.store, DATASET, cfg)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"segment_by": ["region", "region"]}, "segment_by names a column twice"),
        ({"segment_by": ["region"], "segment_top_k": 0}, "segment_top_k"),
        (
            {"segment_by": [f"c{i}" for i in range(40)], "segment_top_k": 100},
            "over the cap of 10,000",
        ),
    ],
)
def test_bad_segment_settings_are_refused_naming_the_setting(settings, fragment):
    with pytest.raises(ValueError, match=fragment):
        make_config(features=FEATURES, **settings)
