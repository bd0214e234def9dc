"""End to end: ``dagster dev`` on loopback, a partition launched through GraphQL, and the
sensor's incident showing up in the warehouse. Every process started here is stopped."""

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml
from dagster import materialize

from tests.pipelines.conftest import DATASET, day
from tests.services import free_port, stop_process_group, wait_for
from warehouse.fingerprint import dataset_fingerprint

ROOT = Path(__file__).resolve().parents[2]


def graphql(port, query, variables=None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""


BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""


def test_dagster_dev_runs_a_partition_and_the_sensor_opens_the_incident(env, tmp_path):
    # The reference comes first (in-process, same warehouse), as `make demo` does.
    assert materialize([env.defs.resolve_assets_def([DATASET, "reference_profile"])]).success
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    config = tmp_path / "driftwatch.yaml"
    config.write_text(yaml.safe_dump(json.loads(env.config.model_dump_json())))
    port = free_port()
    process_env = dict(
        os.environ,
        DAGSTER_HOME=str(home),
        DRIFTWATCH_CONFIG=str(config),
        DATABASE_URL=env.database_url,
        WAREHOUSE_ROOT=str(env.root),
    )
    dagster = str(Path(sys.executable).with_name("dagster"))
    log = (tmp_path / "dagster-dev.log").open("w")
    # Its own process group (job control): a signal to the group stops webserver, daemon and
    # code server together; dagster dev ignores signals from a script otherwise.
    process = subprocess.Popen(
        [dagster, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=ROOT,
        env=process_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def up():
            try:
                return graphql(port, "{ version }").get("data")
            except OSError:
                return None

        wait_for(up, 120, "the Dagster webserver")
        params = {
            "selector": {
                "repositoryLocationName": "driftwatch",
                "repositoryName": "__repository__",
                "jobName": "orders_drift_job",
            },
            "executionMetadata": {
                "tags": [{"key": "dagster/partition", "value": day(6).isoformat()}]
            },
            "runConfigData": {},
        }
        launched = graphql(port, LAUNCH, {"params": params})["data"]["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        fingerprint = dataset_fingerprint(DATASET)  # one incident for the day's event

        def incident():
            for item in env.incidents.list().items:
                if item.fingerprint == fingerprint:
                    return item
            return None

        found = wait_for(incident, 240, "the sensor's incident")
        members = env.incidents.members([found.id])[found.id]
        assert {m.feature for m in members} == {"amount", "device"}
        assert found.evidence["run_id"] == run_id
        assert found.evidence["partition"] == day(6).isoformat()
        assert found.source == "dagster"

        # A backfill over several partitions, the way the UI launches one for an asset.
        days = [day(n).isoformat() for n in (7, 8, 9)]
        backfill = graphql(
            port,
            BACKFILL,
            {
                "params": {
                    "assetSelection": [{"path": [DATASET, "feature_drift"]}],
                    "partitionNames": days,
                }
            },
        )["data"]["launchPartitionBackfill"]
        assert backfill["__typename"] == "LaunchBackfillSuccess", backfill

        def backfilled():
            return all(env.results.for_partition(DATASET, d) for d in days)

        wait_for(backfilled, 240, "the backfill's drift results")
        # Days 8 and 9 are healthy: two healthy partitions resolve the incident. Day 7's breach
        # is on its timeline either way — a touch when the sensor ticked before days 8 and 9
        # landed, a history note when it saw all three at once (the present is day 9 then).
        resolved = wait_for(
            lambda: (i := incident()) and i.status == "resolved" and i,
            120,
            "the healthy days 8 and 9 to resolve the incident",
        )
        assert resolved.id == found.id
        notes = [event.note for event in env.incidents.events(found.id)]
        assert any(f"partition {day(7).isoformat()}" in note for note in notes), notes
    finally:
        stop_process_group(process)
        log.close()

    def group_gone():
        alive = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True)
        return alive.stdout.strip() == ""

    try:
        wait_for(group_gone, 60, "dagster dev's webserver, daemon and code server to stop")
    finally:
        if not group_gone():
            os.killpg(process.pid, signal.SIGKILL)
