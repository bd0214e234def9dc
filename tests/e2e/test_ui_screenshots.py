"""Headless Chromium against the Dagster UI (asset graph, drift check) and the API's /docs:
the pages must render our asset and check names; screenshots go to a temporary directory (the
API docs' to docs/img/ with UPDATE_SCREENSHOTS=1; the Dagster ones there come from a real
`make demo`)."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, materialize
from werkzeug.serving import make_server

from tests.pipelines.conftest import DATASET, day
from tests.services import free_port, require, stop_process_group, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,950",
    "--virtual-time-budget=20000",
]


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    def find() -> str:
        for name in BROWSERS:
            if found := shutil.which(name):
                return found
        raise FileNotFoundError(" or ".join(BROWSERS))

    require("headless Chromium (Debian's chromium; make system-deps installs it)", find)
    return find()


def browse(url: str, profile: Path, screenshot: Path) -> str:
    """The DOM after the page's scripts ran, and a screenshot of it."""
    binary = chromium()
    base = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    subprocess.run(
        [*base, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True
    )
    dom = subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    )
    return dom.stdout


def shots(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "img"
    return tmp_path


def check_status(dom: str, check: str) -> str | None:
    """The status label the checks list shows beside ``check`` (Passed, Failed, …), not any
    "Failed" elsewhere on the page such as an error banner."""
    found = re.search(
        rf'title="{re.escape(check)}">.*?</div></div><span[^>]*>(\w[\w ]*)</span>', dom, re.S
    )
    return found.group(1) if found else None


def evaluation_result(dom: str) -> str | None:
    """The tag under "Evaluation result" in the selected check's panel."""
    found = re.search(r'Evaluation result</span>.{0,1500}?data-tooltip="(\w+)"', dom, re.S)
    return found.group(1) if found else None


def test_check_status_reads_the_checks_label_only():
    row = '<div title="drift_within_thresholds">drift_within_thresholds</div></div><span a="1">'
    assert check_status(row + "Passed</span>", "drift_within_thresholds") == "Passed"
    banner = '<div class="error">Failed to load</div>'
    assert check_status(banner + row + "Passed</span>", "drift_within_thresholds") == "Passed"
    assert check_status(banner, "drift_within_thresholds") is None


def up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def test_dagster_ui_shows_our_assets_and_the_failing_check(env, tmp_path):
    chromium()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    instance = DagsterInstance.from_config(str(home))
    try:
        assert materialize(
            [env.defs.resolve_assets_def([DATASET, "reference_profile"])], instance=instance
        ).success
        drift = env.defs.resolve_assets_def([DATASET, "feature_drift"])
        for n in (5, 6):
            assert materialize([drift], partition_key=day(n).isoformat(), instance=instance).success
    finally:
        instance.dispose()
    config = tmp_path / "driftwatch.yaml"
    config.write_text(yaml.safe_dump(json.loads(env.config.model_dump_json())))
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster")),
            "dev",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        env=dict(
            os.environ,
            DAGSTER_HOME=str(home),
            DRIFTWATCH_CONFIG=str(config),
            DATABASE_URL=env.database_url,
            WAREHOUSE_ROOT=str(env.root),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: up(f"http://127.0.0.1:{port}/server_info"), 120, "the Dagster UI")
        out = tmp_path  # the README's Dagster pictures come from `make demo`'s data, not these
        graph = browse(
            f"http://127.0.0.1:{port}/asset-groups/{DATASET}",
            tmp_path / "p1",
            out / "dagster-asset-graph.png",
        )
        assert "feature_drift" in graph and "reference_profile" in graph
        checks = browse(
            f"http://127.0.0.1:{port}/assets/{DATASET}/feature_drift?view=checks",
            tmp_path / "p2",
            out / "dagster-drift-checks.png",
        )
        assert check_status(checks, "drift_within_thresholds") == "Failed"  # day 6 drifted
        assert evaluation_result(checks) == "Failed"
        assert (out / "dagster-asset-graph.png").stat().st_size > 10_000
    finally:
        stop_process_group(process)


@pytest.fixture
def served_api(make_app):
    app = make_app()
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    thread.join(timeout=10)


def test_api_docs_render_every_operation(served_api, tmp_path):
    dom = browse(
        f"http://127.0.0.1:{served_api}/docs/", tmp_path / "p3", shots(tmp_path) / "api-docs.png"
    )
    assert "Failed to load API definition" not in dom
    for path in ("/incidents/{incident_id}/transitions", "/auth/token", "/alerts/alertmanager"):
        assert path in dom, path
