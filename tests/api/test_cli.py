"""``flask --app incident_api users …`` / ``db …``."""

import os
import subprocess
import sys
from pathlib import Path

from incident_api.services import services
from tests.api.conftest import bearer, login

ROOT = Path(__file__).resolve().parents[2]


def test_users_create_list_disable(app):
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["users", "create", "dana", "--role", "responder", "--password-stdin"],
        input="a sturdy passphrase\n",
    )
    assert created.exit_code == 0, created.output
    assert "created dana (responder)" in created.output
    client = app.test_client()
    pair = login(client, "dana", "a sturdy passphrase")
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 200
    listing = runner.invoke(args=["users", "list"])
    assert "dana\tresponder\tactive" in listing.output
    disabled = runner.invoke(args=["users", "disable", "dana"])
    assert disabled.exit_code == 0
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401
    assert "dana\tresponder\tdisabled" in runner.invoke(args=["users", "list"]).output


def test_users_create_prompts_twice(app):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "erin", "--role", "viewer"],
        input="a sturdy passphrase\na sturdy passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "a sturdy passphrase" not in result.output  # hidden input


def test_users_create_errors(app):
    runner = app.test_cli_runner()
    weak = runner.invoke(
        args=["users", "create", "f", "--role", "viewer", "--password-stdin"], input="short\n"
    )
    assert weak.exit_code == 1
    assert "password must be 8 to 128 characters" in weak.output
    dup = runner.invoke(
        args=["users", "create", "admin", "--role", "viewer", "--password-stdin"],
        input="a sturdy passphrase\n",
    )
    assert dup.exit_code == 1 and "already exists" in dup.output
    bad_role = runner.invoke(args=["users", "create", "g", "--role", "root"])
    assert bad_role.exit_code == 2
    missing = runner.invoke(args=["users", "disable", "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_flask_db_upgrade_as_a_command(tmp_path):
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        JWT_SECRET_KEY="q" * 40,
        ENVIRONMENT="test",
    )
    flask = str(Path(sys.executable).with_name("flask"))
    before = subprocess.run(
        [flask, "--app", "incident_api", "db", "current"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "empty" in before.stdout
    done = subprocess.run(
        [flask, "--app", "incident_api", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "database at revision 0014 (head 0014)" in done.stdout
    assert (tmp_path / "cli.db").exists()


def test_results_rebuild_present_recomputes_it_from_history(app):
    """A manual fix of drift_results (here: the newest day's rows deleted after a bad run)
    leaves the stored present stale until ``results rebuild-present``."""
    from sqlalchemy import delete

    from warehouse.drift_results import DriftResultStore, NewResult
    from warehouse.models import DriftResult
    from warehouse.present import PresentStore

    with app.app_context():
        db = services().db
        store = DriftResultStore(db)
        store.add([NewResult("shop", "amount", "2026-11-01", "r1", "ok", psi=0.01)])
        store.add([NewResult("shop", "amount", "2026-11-02", "bad", "critical", psi=0.9)])
        with db.transaction() as session:
            session.execute(delete(DriftResult).where(DriftResult.run_id == "bad"))
        assert [r.status for r in PresentStore(db).features()] == ["critical"]  # stale
    done = app.test_cli_runner().invoke(args=["results", "rebuild-present"])
    assert done.exit_code == 0, done.output
    assert done.output == "present rebuilt from history: 1 (dataset, feature) rows\n"
    with app.app_context():
        ((row,),) = [PresentStore(services().db).features()]
        assert (row.partition, row.status, row.psi) == ("2026-11-01", "ok", 0.01)
