"""The breach rules end to end through Dagster's own command line, as a user drives it:
``dagster asset materialize … --partition D`` and ``dagster sensor preview``, then the incident
store and the API's /metrics read what they did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from incident_api import create_app
from tests.pipelines.conftest import DATASET, day, snapshot
from warehouse.incidents import IncidentFilter

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


class Cli:
    def __init__(self, env, tmp_path: Path) -> None:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
        config = tmp_path / "driftwatch.yaml"
        config.write_text(yaml.safe_dump(json.loads(env.config.model_dump_json())))
        self.environ = dict(
            os.environ,
            DAGSTER_HOME=str(home),
            DRIFTWATCH_CONFIG=str(config),
            DATABASE_URL=env.database_url,
            WAREHOUSE_ROOT=str(env.root),
        )

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [DAGSTER, *args, "-m", "pipelines.definitions"],
            cwd=ROOT,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout + done.stderr

    def materialize(self, asset: str, partition: str | None = None) -> str:
        extra = ["--partition", partition] if partition else []
        return self.run("asset", "materialize", "--select", f"{DATASET}/{asset}", *extra)

    def preview(self) -> str:
        return self.run("sensor", "preview", "drift_incident_sensor")


def _metrics(env) -> dict[tuple[str, str], float]:
    app = create_app(
        {"database_url": env.database_url, "environment": "test", "jwt_secret_key": "m" * 40}
    )
    text = app.test_client().get("/metrics").get_data(as_text=True)
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("ml_feature_psi", "driftwatch_feature_drift_status"):
                found[(sample.name, sample.labels["feature"])] = sample.value
    return found


def test_breaches_through_the_dagster_cli(env, tmp_path):
    cli = Cli(env, tmp_path)
    cli.materialize("reference_profile")

    def incident(feature):
        """The newest incident holding ``feature`` as a member."""
        held = env.incidents.list(IncidentFilter(feature=feature)).items
        return held[0] if held else None

    # Day 6 drifts: one critical incident, a member per drifted feature.
    cli.materialize("feature_drift", day(6).isoformat())
    cli.preview()
    amount = incident("amount")
    assert (amount.status, amount.severity) == ("open", "critical")

    # Two healthy days resolve it; the gauges show day 9.
    cli.materialize("feature_drift", day(8).isoformat())
    cli.materialize("feature_drift", day(9).isoformat())
    cli.preview()
    assert incident("amount").status == "resolved"
    healthy = _metrics(env)
    assert healthy[("driftwatch_feature_drift_status", "amount")] == 0

    # Backfilling drifted day 7 afterwards is history: nothing reopens, the gauges stay on day 9.
    cli.materialize("feature_drift", day(7).isoformat())
    cli.preview()
    assert [i.status for i in env.incidents.list(IncidentFilter(feature="amount")).items] == [
        "resolved"
    ]
    assert env.incidents.events(amount.id)[-1].kind == "history"
    assert _metrics(env) == healthy

    # Day 10 arrives without its rating column: a high schema incident, and status 3.
    env.store.write(DATASET, day(10), snapshot(10, drifted=False).drop_columns(["rating"]))
    cli.materialize("feature_drift", day(10).isoformat())
    cli.preview()
    rating = incident("rating")
    assert (rating.status, rating.severity) == ("open", "high")
    assert "schema" in rating.title.lower()
    assert rating.evidence["schema_break"] == "missing"
    assert _metrics(env)[("driftwatch_feature_drift_status", "rating")] == 3
