"""``make demo``: the whole product on embedded defaults, from a fresh clone.

Generates the demo snapshots, migrates the SQLite store, creates a demo admin (password
generated and printed once), starts the Dagster webserver + daemon on 127.0.0.1:3000 and the
incident API on 127.0.0.1:8000, materializes the reference and the 14 daily partitions through
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
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drift import Status  # noqa: E402
from pipelines.demo import DATASET, DAYS, DRIFTED, START, write_demo  # noqa: E402
from warehouse.db import Database  # noqa: E402
from warehouse.drift_results import DriftResultStore  # noqa: E402
from warehouse.migrate import upgrade  # noqa: E402
from warehouse.snapshots import SnapshotStore  # noqa: E402

VAR = ROOT / "var"
DAGSTER_HOME = VAR / "dagster"
DAGSTER_PORT, API_PORT = 3000, 8000
BIN = Path(sys.executable).parent
T = TypeVar("T")

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


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise SystemExit(f"demo: gave up after {timeout:.0f}s waiting for {what}")


def http_json(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def flask(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "incident_api", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def ensure_admin() -> str | None:
    """Create the demo admin with a fresh random password; None when it already exists."""
    if "\nadmin\t" in "\n" + flask("users", "list").stdout:
        return None
    password = secrets.token_urlsafe(12)
    done = flask(
        "users", "create", "admin", "--role", "admin", "--password-stdin", stdin=password + "\n"
    )
    if done.returncode != 0:
        raise SystemExit(f"demo: could not create the admin user: {done.stderr.strip()}")
    return password


def start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    # A process group of its own: Ctrl-C reaches this script, which then stops the group.
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    # Handlers of our own: started in the background, a process inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    VAR.mkdir(exist_ok=True)
    store = SnapshotStore(VAR / "warehouse")
    written = write_demo(store)
    say(
        f"{len(written)} new daily snapshot(s) of {DATASET} under var/warehouse "
        f"({DAYS - len(written)} already there)"
    )
    db = Database.from_url()
    upgrade(db.engine)
    say("incident store migrated (var/driftwatch.db)")
    password = ensure_admin()
    DAGSTER_HOME.mkdir(parents=True, exist_ok=True)
    if not (DAGSTER_HOME / "dagster.yaml").exists():
        shutil.copy(ROOT / "dagster.yaml", DAGSTER_HOME / "dagster.yaml")
    for port in (DAGSTER_PORT, API_PORT):
        if reachable(f"http://127.0.0.1:{port}/"):
            raise SystemExit(f"demo: 127.0.0.1:{port} is taken; stop what runs there first")

    env = dict(
        os.environ,
        DAGSTER_HOME=str(DAGSTER_HOME),
        WAREHOUSE_ROOT=str(VAR / "warehouse"),
        PYTHONUNBUFFERED="1",
    )
    processes = [
        start(
            [
                str(BIN / "dagster"),
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(DAGSTER_PORT),
                "-w",
                "workspace.yaml",
            ],
            VAR / "dagster-dev.log",
            env,
        ),
        start(
            [
                str(BIN / "gunicorn"),
                "incident_api:create_app()",
                "--bind",
                f"127.0.0.1:{API_PORT}",
                "--workers",
                "2",
            ],
            VAR / "incident-api.log",
            env,
        ),
    ]
    try:
        wait_for(lambda: reachable(f"http://127.0.0.1:{API_PORT}/health"), 60, "the API")
        wait_for(
            lambda: reachable(f"http://127.0.0.1:{DAGSTER_PORT}/server_info"),
            180,
            "the Dagster webserver",
        )
        say("Dagster UI on http://127.0.0.1:3000, incident API on http://127.0.0.1:8000")
        days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
        results = DriftResultStore(db)
        todo = [d for d in days if not results.for_partition(DATASET, d)]
        if todo:
            selection = [{"path": [DATASET, "feature_drift"]}]
            if not store.profile_path(DATASET).exists():
                selection.insert(0, {"path": [DATASET, "reference_profile"]})
            answer = http_json(
                f"http://127.0.0.1:{DAGSTER_PORT}/graphql",
                {
                    "query": BACKFILL,
                    "variables": {"params": {"assetSelection": selection, "partitionNames": todo}},
                },
            )["data"]["launchPartitionBackfill"]
            if answer["__typename"] != "LaunchBackfillSuccess":
                raise SystemExit(f"demo: backfill refused: {answer}")
            say(f"backfill {answer['backfillId']} launched: reference + {len(todo)} partitions")
        else:
            say("all 14 partitions were evaluated before; nothing to launch")

        token = (
            http_json(
                f"http://127.0.0.1:{API_PORT}/auth/token",
                {"username": "admin", "password": password},
            ).get("access_token")
            if password
            else None
        )

        def drift_incidents() -> list[str] | None:
            found = {
                r.feature
                for r in results.latest_per_feature()
                if r.status in (Status.WARN, Status.CRITICAL)
            }
            evaluated = all(results.for_partition(DATASET, d) for d in days)
            return sorted(found) if evaluated and set(DRIFTED) <= found else None

        drifted = wait_for(drift_incidents, 600, "the drifted partitions")
        say(f"drift found in {', '.join(drifted)}; the incident sensor checks every 30 s")
        if token:

            def listed() -> int | None:
                page = http_json(
                    f"http://127.0.0.1:{API_PORT}/incidents?status=open&limit=200", token=token
                )
                features = {i["feature"] for i in page["items"] if i["source"] == "dagster"}
                return len(features) if set(DRIFTED) <= features else None

            count = wait_for(listed, 120, "the incidents in GET /incidents")
            say(
                f"{count} drift incidents open in GET /incidents "
                f"({time.monotonic() - started:.0f} s after start)"
            )
        print(
            f"""
  Dagster UI     http://127.0.0.1:3000   (Assets → {DATASET}: feature_drift and its checks)
  Incident API   http://127.0.0.1:8000   (docs: http://127.0.0.1:8000/docs/)
  Sign in        user admin, password {password or "(printed when the demo first ran)"}

  TOKEN=$(curl -s 127.0.0.1:8000/auth/token -H 'Content-Type: application/json' \\
    -d '{{"username": "admin", "password": "{password or "<password>"}"}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" '127.0.0.1:8000/incidents?status=open'
  curl -s 127.0.0.1:8000/metrics | grep ml_feature_psi

  Logs: var/dagster-dev.log, var/incident-api.log.  Ctrl-C stops everything.
""",
            flush=True,
        )
        while all(p.poll() is None for p in processes):
            time.sleep(1)
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
