"""Health, readiness, OpenAPI, docs, security headers, CORS and start-up configuration."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from incident_api import ConfigError, create_app
from incident_api.schemas import IncidentCreate
from tests.api.conftest import production_app
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_health_and_ready(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "ok", "denylist (database)": "ok"},
    }


def test_ready_names_a_dead_database(make_app, tmp_path):
    app = make_app()
    from incident_api.services import services

    with app.app_context():
        services().db.engine.dispose()
    bad = create_app(
        {
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "jwt_secret_key": "x" * 40,
            "environment": "test",
        }
    )
    response = bad.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable"
    assert "Retry-After" in response.headers


def test_openapi_is_valid_31_and_covers_every_route(app, client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)  # raises on an invalid OpenAPI document
    assert spec["openapi"] == "3.1.0"
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        # Not JSON operations: the spec itself, Swagger UI's files, Prometheus' text format,
        # the console's HTML pages.
        if rule.endpoint.startswith(("static", "docs.", "console.")) or rule.rule in (
            "/openapi.json",
            "/metrics",
        ):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    create = spec["paths"]["/incidents"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/IncidentCreate"
    )
    schema = spec["components"]["schemas"]["IncidentCreate"]
    assert set(schema["properties"]) == set(IncidentCreate.model_fields)
    assert "409" in spec["paths"]["/incidents/{incident_id}/transitions"]["post"]["responses"]


def test_docs_page_serves_swagger_ui_locally(client):
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://" not in html  # assets come from us, not a CDN
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert client.get(src).status_code == 200, src
    init = client.get("/docs/init.js").get_data(as_text=True)
    (spec_url,) = re.findall(r'url: "([^"]+)"', init)
    spec = client.get(spec_url)  # the URL the browser will fetch must serve the spec
    assert spec.status_code == 200
    assert spec.get_json()["openapi"] == "3.1.0"
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'self'


def test_security_headers(client):
    response = client.get("/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "JWT_SECRET_KEY is required"),
        ("short-secret", "at least 32 bytes"),
        ("changeme", "well-known or trivial"),  # the list is checked first, whatever the length
        ("change-me-" * 4, "well-known or trivial"),  # 40 bytes of a listed value
        ("Super-Secret-Key super-secret-key", "well-known or trivial"),
        ("a" * 40, "well-known or trivial"),
    ],
)
def test_production_refuses_weak_config(tmp_path, secret, message):
    config = {"environment": "production", "database_url": f"sqlite:///{tmp_path}/p.db"}
    if secret is not None:
        config["jwt_secret_key"] = secret
    _refused(config, secret, message)


def _refused(config: dict[str, str], secret: str | None, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET_KEY"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "environ", env)
        with pytest.raises(ConfigError, match=message) as caught:
            create_app(config)
    if secret:
        assert secret not in str(caught.value)  # never echo the secret


@pytest.mark.parametrize("token", ["am-short-token", "é" * 15 + "t"])  # 31 bytes, 16 chars
def test_production_refuses_a_short_webhook_token(tmp_path, token):
    config = {
        "environment": "production",
        "database_url": f"sqlite:///{tmp_path}/p.db",
        "jwt_secret_key": "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz",
        "alertmanager_webhook_token": token,
    }
    _refused(config, token, "ALERTMANAGER_WEBHOOK_TOKEN must be at least 32 bytes")


def test_production_takes_a_32_byte_webhook_token(tmp_path):
    app = production_app(
        {
            "environment": "production",
            "database_url": f"sqlite:///{tmp_path}/p.db",
            "jwt_secret_key": "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz",
            "alertmanager_webhook_token": "w3bh00k-" + "0123456789abcdefghijklmnopqrstuv",
        }
    )
    assert app.test_client().get("/health").status_code == 200


def test_production_with_a_strong_secret_adds_hsts(tmp_path):
    app = production_app(
        {
            "environment": "production",
            "database_url": f"sqlite:///{tmp_path}/p.db",
            "jwt_secret_key": "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz",
        }
    )
    response = app.test_client().get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_bad_environment_value_is_named(tmp_path):
    with pytest.raises(ConfigError, match="ENVIRONMENT"):
        create_app({"environment": "staging"})


def test_gunicorn_serves_the_factory_with_workers_from_env(tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        GUNICORN_WORKERS="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        DATABASE_URL=f"sqlite:///{tmp_path}/g.db",
        JWT_SECRET_KEY="s" * 20 + "t" * 20,
        ENVIRONMENT="test",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "incident_api:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, body = time.monotonic() + 30, None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert body == '{"status":"ok"}\n'
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert output.count("Booting worker with pid") == 2


def test_documented_errors_match_behaviour(client):
    spec = client.get("/openapi.json").get_json()
    token = spec["paths"]["/auth/token"]["post"]["responses"]
    assert {"200", "401", "422", "429"} <= set(token)
    assert "security" not in spec["paths"]["/auth/token"]["post"]
    assert spec["paths"]["/incidents"]["get"]["security"] == [{"bearer": []}]
