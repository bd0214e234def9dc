"""``make demo``: the whole product on embedded defaults, from a fresh clone.

Generates the demo snapshots, migrates the SQLite store, creates a demo admin (password
generated and printed once), starts the Dagster webserver + daemon on 127.0.0.1:3000, the
incident API on 127.0.0.1:8000, the notification worker and a local webhook sink on
127.0.0.1:8025 (it verifies each signature and appends to var/demo/notifications.ndjson),
materializes the reference and the 14 daily partitions through
Dagster, waits for the drift incidents, and prints where to look. Ctrl-C stops every process it
started. Running it again reuses what exists: no new snapshots, no second user, no partition
evaluated twice, no duplicate incident.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drift import Status  # noqa: E402
from pipelines.demo import DATASET, DAYS, DRIFTED, START, write_demo  # noqa: E402
from scripts.harness import (  # noqa: E402
    BIN,
    create_user,
    http_json,
    reachable,
    sign_in,
    start,
    stop,
    wait_for,
    wait_ready,
)
from warehouse.db import Database  # noqa: E402
from warehouse.drift_results import DriftResultStore  # noqa: E402
from warehouse.migrate import upgrade  # noqa: E402
from warehouse.present import PresentStore  # noqa: E402
from warehouse.snapshots import SnapshotStore  # noqa: E402

VAR = ROOT / "var"
DAGSTER_HOME = VAR / "dagster"
DAGSTER_PORT, API_PORT, SINK_PORT = 3000, 8000, 8025
DAGSTER, API = f"http://127.0.0.1:{DAGSTER_PORT}", f"http://127.0.0.1:{API_PORT}"
SINK = f"http://127.0.0.1:{SINK_PORT}"
NOTIFIED = VAR / "demo" / "notifications.ndjson"
DAYS_EVALUATED = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]

BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def prepare(store: SnapshotStore) -> tuple[Database, str | None]:
    """Snapshots, the migrated store, the admin (its new password, or None if it existed)."""
    VAR.mkdir(exist_ok=True)
    written = write_demo(store)
    say(
        f"{len(written)} new daily snapshot(s) of {DATASET} under var/warehouse "
        f"({DAYS - len(written)} already there)"
    )
    db = Database.from_url()
    upgrade(db.engine)
    say("incident store migrated (var/driftwatch.db)")
    password = secrets.token_urlsafe(12)
    created = create_user("admin", "admin", password)
    DAGSTER_HOME.mkdir(parents=True, exist_ok=True)
    if not (DAGSTER_HOME / "dagster.yaml").exists():
        shutil.copy(ROOT / "dagster.yaml", DAGSTER_HOME / "dagster.yaml")
    return db, password if created else None


def start_services() -> list[subprocess.Popen[bytes]]:
    """Dagster (webserver + daemon) and the API under gunicorn, once both answer."""
    for port in (DAGSTER_PORT, API_PORT, SINK_PORT):
        if reachable(f"http://127.0.0.1:{port}/"):
            raise SystemExit(f"demo: 127.0.0.1:{port} is taken; stop what runs there first")
    env = dict(
        os.environ,
        DAGSTER_HOME=str(DAGSTER_HOME),
        WAREHOUSE_ROOT=str(VAR / "warehouse"),
        PYTHONUNBUFFERED="1",
    )
    dagster_args = ["dev", "-h", "127.0.0.1", "-p", str(DAGSTER_PORT), "-w", "workspace.yaml"]
    api_args = ["incident_api:create_app()", "--bind", f"127.0.0.1:{API_PORT}", "--workers", "2"]
    dagster_log, api_log = VAR / "dagster-dev.log", VAR / "incident-api.log"
    dagster = start([str(BIN / "dagster"), *dagster_args], dagster_log, env)
    api = start([str(BIN / "gunicorn"), *api_args], api_log, env)
    processes = [dagster, api]
    try:
        processes += start_notifications(env)
        wait_ready(f"{API}/health", api, api_log, 60)
        wait_ready(f"{DAGSTER}/server_info", dagster, dagster_log, 180)
    except BaseException:
        stop(processes)
        raise
    say(f"Dagster UI on {DAGSTER}, incident API on {API}, notification sink on {SINK}")
    return processes


def start_notifications(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """The local sink and the worker that signs for it; the secret lives only in their
    environments (generated per run, never printed or logged)."""
    secret = secrets.token_urlsafe(32)
    NOTIFIED.parent.mkdir(parents=True, exist_ok=True)
    sink_args = ["--port", str(SINK_PORT), "--out", str(NOTIFIED.relative_to(ROOT))]
    sink_env = dict(env, NOTIFY_WEBHOOK_SECRET=secret)
    sink_log, worker_log = VAR / "notify-sink.log", VAR / "notification-worker.log"
    sink = start([sys.executable, "scripts/notify_sink.py", *sink_args], sink_log, sink_env)
    wait_ready(f"{SINK}/", sink, sink_log, 30)
    worker_env = dict(
        sink_env, NOTIFY_WEBHOOK_URLS=f"{SINK}/hook", PUBLIC_URL=API, NOTIFY_MIN_SEVERITY="low"
    )
    worker = start(
        [str(BIN / "flask"), "--app", "incident_api", "notifications", "worker"],
        worker_log,
        worker_env,
    )
    return [sink, worker]


def notified() -> list[dict[str, object]]:
    """What the sink has received, oldest first."""
    if not NOTIFIED.exists():
        return []
    return [json.loads(line) for line in NOTIFIED.read_text().splitlines() if line.strip()]


def say_notified(seen: int) -> int:
    """Print the notifications that arrived since ``seen``; returns how many there are."""
    arrived = notified()
    for body in arrived[seen:]:
        incident = body["incident"]
        assert isinstance(incident, dict)
        say(
            f"notified: {body['event']} incident {incident['id']} [{incident['severity']}] "
            f"{incident['title']}"
        )
    return len(arrived)


def launch_backfill(store: SnapshotStore, results: DriftResultStore) -> None:
    """Backfill the partitions not evaluated yet (and the reference, if it is missing)."""
    todo = [d for d in DAYS_EVALUATED if not results.for_partition(DATASET, d)]
    if not todo:
        say(f"all {DAYS} partitions were evaluated before; nothing to launch")
        return
    selection = [{"path": [DATASET, "feature_drift"]}]
    if not store.profile_path(DATASET).exists():
        selection.insert(0, {"path": [DATASET, "reference_profile"]})
    params = {"assetSelection": selection, "partitionNames": todo}
    answer = http_json(f"{DAGSTER}/graphql", {"query": BACKFILL, "variables": {"params": params}})[
        "data"
    ]["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise SystemExit(f"demo: backfill refused: {answer}")
    say(f"backfill {answer['backfillId']} launched: reference + {len(todo)} partitions")


def wait_for_drift(results: DriftResultStore, present: PresentStore) -> list[str]:
    """The drifted features, once every partition is evaluated."""

    def drifted() -> list[str] | None:
        breaching = (Status.WARN, Status.CRITICAL)
        found = {r.feature for r in present.features() if r.status in breaching}
        evaluated = all(results.for_partition(DATASET, d) for d in DAYS_EVALUATED)
        return sorted(found) if evaluated and set(DRIFTED) <= found else None

    return wait_for(drifted, 600, "the drifted partitions")


def wait_for_incidents(token: str) -> list[dict[str, object]]:
    """The open drift incidents GET /incidents lists, once every drifted feature is a member of
    one (with ``group_by: dataset``, one incident for the whole event)."""

    def listed() -> list[dict[str, object]] | None:
        page = http_json(f"{API}/incidents?status=open&limit=200", token=token)
        drift = [i for i in page["items"] if i["source"] == "dagster" and i["members"]]
        features = {m["feature"] for i in drift for m in i["members"]}
        return drift if set(DRIFTED) <= features else None

    found: list[dict[str, object]] = wait_for(listed, 120, "the incidents in GET /incidents")
    return found


def print_tour(password: str | None) -> None:
    print(
        f"""
  Dagster UI     {DAGSTER}   (Assets → {DATASET}: feature_drift and its checks)
  Console        {API}/console/   (incidents, datasets; sign in below)
  Incident API   {API}   (docs: {API}/docs/)
  Sign in        user admin, password {password or "(printed when the demo first ran)"}

  TOKEN=$(curl -s 127.0.0.1:8000/auth/token -H 'Content-Type: application/json' \\
    -d '{{"username": "admin", "password": "{password or "<password>"}"}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" '127.0.0.1:8000/incidents?status=open'
  curl -s 127.0.0.1:8000/metrics | grep ml_feature_psi

  Notifications  var/demo/notifications.ndjson   (signed webhooks the local sink verified)

  Logs: var/dagster-dev.log, var/incident-api.log, var/notification-worker.log,
        var/notify-sink.log.  Ctrl-C stops everything.
""",
        flush=True,
    )


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    # Handlers of our own: started in the background, a process inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    store = SnapshotStore(VAR / "warehouse")
    db, password = prepare(store)
    processes = start_services()
    try:
        results = DriftResultStore(db)
        launch_backfill(store, results)
        drifted = wait_for_drift(results, PresentStore(db))
        say(f"drift found in {', '.join(drifted)}; the incident sensor checks every 30 s")
        if password:
            incidents = wait_for_incidents(sign_in(API, "admin", password))
            elapsed = time.monotonic() - started
            say(f"{len(incidents)} drift incident(s) open ({elapsed:.0f} s after start):")
            for incident in incidents:
                members = incident["members"]
                assert isinstance(members, list)
                listed = ", ".join(f"{m['feature']} ({m['status']})" for m in members)
                say(f"  incident {incident['id']}: {incident['title']} — members {listed}")
        seen = len(notified()) if not password else 0
        if password:
            wait_for(lambda: len(notified()) >= 1 or None, 60, "the notifications")
        seen = say_notified(seen)
        print_tour(password)
        while all(p.poll() is None for p in processes):
            time.sleep(1)
            seen = say_notified(seen)
        say("a demo process exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        say("stopping Dagster and the API …")
        return 0
    finally:
        stop(processes)
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
