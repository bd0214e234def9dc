"""DRIFTWATCH_HOME: the development store, signing key and metrics directory are found from
any working directory — an API started elsewhere sees the same data and accepts the same
tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from incident_api import create_app
from incident_api.passwords import hash_password
from incident_api.services import services
from tests.api.conftest import PASSWORD, bearer, login
from warehouse.home import CHECKOUT, default_database_url, home
from warehouse.snapshots import warehouse_root
from warehouse.users import Role

ROOT = Path(__file__).resolve().parents[2]


def _clean(monkeypatch, **env: str) -> None:
    for name in ("DATABASE_URL", "JWT_SECRET_KEY", "WAREHOUSE_ROOT", "DRIFTWATCH_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_two_starts_from_different_directories_share_data_and_tokens(tmp_path, monkeypatch):
    dwhome = tmp_path / "home"
    _clean(monkeypatch, DRIFTWATCH_HOME=str(dwhome), ENVIRONMENT="development")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = create_app()  # development: migrates the store in DRIFTWATCH_HOME
    with first.app_context():
        services().users.create("ana", hash_password(PASSWORD), Role.ADMIN)
    token = login(first.test_client(), "ana")["access_token"]
    monkeypatch.chdir(tmp_path / "b")
    second = create_app()
    answer = second.test_client().get("/incidents", headers=bearer(token))
    assert answer.status_code == 200  # the same user, and a token signed with the same key
    assert (dwhome / "driftwatch.db").exists() and (dwhome / "dev-jwt-secret").exists()
    assert oct((dwhome / "dev-jwt-secret").stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "a" / "var").exists() and not (tmp_path / "b" / "var").exists()
    for app in (first, second):
        with app.app_context():
            services().db.dispose()


def test_the_default_home_is_the_checkouts_var_whatever_the_directory(tmp_path, monkeypatch):
    _clean(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert home() == CHECKOUT / "var" == ROOT / "var"
    assert home().is_absolute()
    assert default_database_url() == f"sqlite:///{ROOT / 'var' / 'driftwatch.db'}"
    assert warehouse_root() == ROOT / "var" / "warehouse"
    monkeypatch.setenv("DRIFTWATCH_HOME", "relative/home")
    assert home() == tmp_path / "relative" / "home"  # made absolute where it is read


def test_gunicorns_metrics_directory_is_in_the_home(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["DRIFTWATCH_HOME"] = str(tmp_path / "home")
    conf = str(ROOT / "gunicorn.conf.py")
    code = (
        f"import runpy, os; runpy.run_path({conf!r}); print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert shown.stdout.strip() == str(tmp_path / "home" / "prometheus-multiproc")
