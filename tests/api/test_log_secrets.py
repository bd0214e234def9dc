"""No secret in a log line, even when something breaks unexpectedly: exceptions are logged as
type, message and frames — never the frames' local variables (which hold the password being
checked, channel URLs and signing secrets)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from incident_api.logs import configure_logging
from incident_api.notifications import render
from incident_api.services import services
from tests.api.conftest import PASSWORD
from tests.api.test_notifications import Harness
from tests.services import POSTGRES_URL, postgres_schema

SLACK_SECRET = "T0SECRET/B0SECRET/slack-secret-path-0123456789"
SMTP_PASSWORD = "smtp-password-0123456789"
WEBHOOK_SECRET = "webhook-signing-secret-0123456789abc"


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_unexpected_sign_in_failure_logs_no_password(make_app, capsys):
    """The store lets this role read but not write sessions: sign-in fails inside the
    session's INSERT, after the password was checked — a 500, logged with its frames."""
    role = f"dw_ro_{uuid.uuid4().hex[:10]}"
    with postgres_schema() as (schema, _):
        admin_url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
        make_app(database_url=admin_url)  # migrated, with a user per role
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            connection.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            connection.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        try:
            restricted = admin_url.replace("postgres@", f"{role}@", 1)
            app = make_app(database_url=restricted, environment="test")
            configure_logging(json_lines=True)  # production's JSON lines
            capsys.readouterr()
            answer = app.test_client().post(
                "/auth/token", json={"username": "admin", "password": PASSWORD}
            )
            assert answer.status_code == 500
            assert PASSWORD not in answer.get_data(as_text=True)
            out = capsys.readouterr().out
            with app.app_context():
                services().db.dispose()
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP OWNED BY "{role}"'))
                connection.execute(text(f'DROP ROLE "{role}"'))
            admin.dispose()
    crashed = [line for line in _lines(out) if line.get("exception")]
    assert crashed, out[-2000:]  # the failure was logged, with its frames …
    frames = crashed[0]["exception"][0]["frames"]
    assert frames and all("locals" not in frame for frame in frames)
    assert "permission denied" in crashed[0]["exception"][0]["exc_value"]
    assert PASSWORD not in out  # … and no line holds the password


@pytest.mark.parametrize("render_name", ["webhook_body", "slack_body", "email_message"])
def test_a_crashing_channel_logs_no_url_or_secret(make_app, capsys, monkeypatch, render_name):
    app = make_app(
        notify_webhook_urls="http://127.0.0.1:9/hook",
        notify_webhook_secret=WEBHOOK_SECRET,
        notify_slack_webhook_url=f"https://hooks.slack.com/services/{SLACK_SECRET}",
        smtp_url=f"smtp://alerts:{SMTP_PASSWORD}@127.0.0.1:9",
        notify_email_from="driftwatch@example.com",
        notify_email_to="oncall@example.com",
        notify_min_severity="low",
    )

    def crash(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("a bug in the renderer")

    monkeypatch.setattr(render, render_name, crash)
    with app.app_context():
        svc = services()
        worker = Harness(app).worker  # the notification tests' worker: no jitter
        configure_logging(json_lines=True)
        capsys.readouterr()
        svc.incidents.create(title="Drift in shop.price", severity="high", actor="t")
        for _ in range(3):
            worker.step()
    out = capsys.readouterr().out
    crashed = [line for line in _lines(out) if line.get("event") == "notification channel crashed"]
    assert crashed, out[-2000:]
    assert crashed[0]["exception"][0]["exc_value"] == "a bug in the renderer"
    for secret in (SLACK_SECRET, SMTP_PASSWORD, WEBHOOK_SECRET):
        assert secret not in out
