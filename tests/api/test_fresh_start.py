"""A fresh database is not an outage: development migrates on start, production refuses to
start on a schema behind the code (one line naming the command), and ``/ready`` is not ready
while the schema is behind — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from incident_api import ConfigError, create_app
from incident_api.services import services
from tests.services import free_port, stop_process_group
from warehouse.db import Database
from warehouse.migrate import current_revision, downgrade, head_revision, upgrade

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STRONG = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def _revision(url: str) -> str | None:
    db = Database.from_url(url)
    try:
        return current_revision(db.engine)
    finally:
        db.dispose()


def test_development_migrates_a_fresh_database_on_start(database_url):
    app = create_app({"database_url": database_url, "environment": "development"})
    assert _revision(database_url) == head_revision()
    client = app.test_client()
    wrong = client.post("/auth/token", json={"username": "nobody", "password": "whatever!"})
    assert wrong.status_code == 401  # an answer, not "the incident store is unavailable"
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.get_json()["checks"]["schema"] == "ok"
    with app.app_context():
        services().db.dispose()


def test_production_refuses_a_schema_behind_the_code_in_one_line(database_url):
    config = {"database_url": database_url, "environment": "production", "jwt_secret_key": STRONG}
    with pytest.raises(ConfigError) as refused:
        create_app(config)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"the incident store's schema is at revision none, this release needs "
        f"{head_revision()}: run `flask --app incident_api db upgrade` first"
    )
    assert _revision(database_url) is None  # production never migrates by itself
    # The command it names works in production, and then the API starts.
    env = dict(
        os.environ, DATABASE_URL=database_url, ENVIRONMENT="production", JWT_SECRET_KEY=STRONG
    )
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "incident_api", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"database at revision {head_revision()}" in done.stdout
    app = create_app(config)
    assert app.test_client().get("/ready").get_json()["checks"]["schema"] == "ok"
    with app.app_context():
        services().db.dispose()


def test_ready_is_not_ready_while_the_schema_is_behind(database_url):
    db = Database.from_url(database_url)
    upgrade(db.engine)
    downgrade(db.engine, "0009")
    app = create_app({"database_url": database_url, "environment": "test"})
    answer = app.test_client().get("/ready")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    schema = answer.get_json()["checks"]["schema"]
    assert schema.startswith("the incident store's schema is at revision 0009")
    assert schema.endswith("run `flask --app incident_api db upgrade`")
    upgrade(db.engine)
    assert app.test_client().get("/ready").status_code == 200
    with app.app_context():
        services().db.dispose()
    db.dispose()


def test_gunicorn_in_production_refuses_a_fresh_database_before_any_worker(tmp_path):
    port = free_port()
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = dict(
        os.environ,
        DATABASE_URL=url,
        ENVIRONMENT="production",
        JWT_SECRET_KEY=STRONG,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "incident_api:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            stop_process_group(process)
    assert process.returncode != 0
    lines = [line for line in err.splitlines() if line.startswith("driftwatch:")]
    assert lines == [
        f"driftwatch: the incident store's schema is at revision none, this release needs "
        f"{head_revision()}: run `flask --app incident_api db upgrade` first"
    ]
    assert "Booting worker" not in err and "Traceback" not in err
