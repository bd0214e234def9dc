"""SQL metacharacters in every filter of ``GET /incidents`` (and in bodies), on SQLite and on
the real PostgreSQL: free-text filters match literally, typed ones answer 422 naming the field,
nothing answers 500, and the tables are intact afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from flask import Flask

from tests.api.conftest import bearer, login
from tests.services import POSTGRES_URL, postgres_schema

PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE incidents; --",
    '" OR ""="',
    "1) OR (1=1",
    "ds0' UNION SELECT username, password_hash FROM users --",
    "%",
    "_",
    "ds%",
    "\\",
    "\\'; SELECT pg_sleep(5); --",
    "é' --",
    "\x00",
]
FREE_TEXT = ("dataset", "feature")
WEBHOOK_TOKEN = "w" * 40
TYPED = ("status", "severity", "source", "created_after", "created_before", "limit", "cursor")


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, make_app) -> Iterator[Flask]:
    if request.param == "sqlite":
        yield make_app(alertmanager_webhook_token=WEBHOOK_TOKEN)
        return
    with postgres_schema() as (schema, _):
        application = make_app(
            database_url=f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}",
            alertmanager_webhook_token=WEBHOOK_TOKEN,
        )
        yield application
        with application.app_context():
            from incident_api.services import services

            services().db.dispose()


def test_sql_metacharacters_in_every_filter(app: Flask) -> None:
    client = app.test_client()
    token = bearer(login(client, "responder")["access_token"])
    literal = "' OR '1'='1"
    for dataset in ("ds0", "ds1", literal):
        created = client.post(
            "/incidents",
            json={"title": f"t {dataset}", "severity": "low", "dataset": dataset, "feature": "f"},
            headers=token,
        )
        assert created.status_code == 201

    for payload in PAYLOADS:
        for field in FREE_TEXT:
            response = client.get(f"/incidents?{urlencode({field: payload})}", headers=token)
            if "\x00" in payload:  # no database can store it, so no incident can match it
                assert response.status_code == 422, response.get_data(as_text=True)
                assert response.get_json()["errors"][0]["field"] == field
                continue
            assert response.status_code == 200, (field, payload, response.get_data(as_text=True))
            items = response.get_json()["items"]
            expected = 1 if (field == "dataset" and payload == literal) else 0
            assert len(items) == expected, (field, payload, items)
        for field in TYPED:
            response = client.get(f"/incidents?{urlencode({field: payload})}", headers=token)
            assert response.status_code == 422, (field, payload, response.get_data(as_text=True))
            body = response.get_json()
            assert response.content_type == "application/problem+json"
            assert field in {error["field"] for error in body["errors"]}, body

    # Still all there, and the users table too (sign-in works).
    listed = client.get("/incidents?limit=200", headers=token).get_json()["items"]
    assert sorted(i["dataset"] for i in listed) == sorted(["ds0", "ds1", literal])
    assert login(client, "viewer")["access_token"]


def test_sql_metacharacters_in_bodies_are_stored_verbatim(app: Flask) -> None:
    client = app.test_client()
    token = bearer(login(client, "responder")["access_token"])
    for payload in PAYLOADS:
        body = {"title": f"x{payload}", "severity": "low", "dataset": payload, "feature": payload}
        response = client.post("/incidents", json=body, headers=token)
        if "\x00" in payload:
            assert response.status_code == 422, response.get_data(as_text=True)
            fields = {error["field"] for error in response.get_json()["errors"]}
            assert {"title", "dataset", "feature"} <= fields
            continue
        assert response.status_code == 201, (payload, response.get_data(as_text=True))
        stored = client.get(response.headers["Location"], headers=token).get_json()
        assert (stored["title"], stored["dataset"], stored["feature"]) == (
            f"x{payload}",
            payload,
            payload,
        )
        patched = client.patch(
            response.headers["Location"], json={"description": payload}, headers=token
        )
        assert patched.status_code == 200 and patched.get_json()["description"] == payload


def test_nul_in_an_alertmanager_label_is_a_422_not_a_database_error(app: Flask) -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "Nul", "instance": "a\x00b"},
        "startsAt": "2026-11-27T00:00:00Z",
        "fingerprint": "nul1",
    }
    response = app.test_client().post(
        "/alerts/alertmanager",
        json={"version": "4", "status": "firing", "alerts": [alert]},
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["errors"][0]["field"].startswith("alerts.0.labels")
