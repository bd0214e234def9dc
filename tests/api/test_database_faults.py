"""PostgreSQL taken away under a running API (through a TCP proxy we cut): clean 503s, never a
500, service comes back by itself when the database does, and a write cut in flight is
committed whole or reported failed."""

from urllib.parse import quote

import pytest
from sqlalchemy import text

from tests.api.conftest import bearer, login
from tests.services import POSTGRES_URL, TcpProxy, postgres_schema
from warehouse.db import make_engine


def test_database_outage_is_503_then_recovers(make_app):
    with postgres_schema() as (schema, _):
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        url = POSTGRES_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        app = make_app(
            database_url=f"{url}?options={quote(f'-csearch_path={schema}')}&connect_timeout=2"
        )
        client = app.test_client()
        token = bearer(login(client, "responder")["access_token"])
        created = client.post(
            "/incidents", json={"title": "before", "severity": "low"}, headers=token
        )
        assert created.status_code == 201

        proxy.cut()
        for method, path, body in (
            ("get", "/incidents", None),
            ("post", "/incidents", {"title": "during", "severity": "low"}),
            ("get", "/ready", None),
        ):
            kwargs = {"json": body} if body else {}
            response = getattr(client, method)(path, headers=token, **kwargs)
            assert response.status_code == 503, (path, response.get_data(as_text=True))
            assert response.headers.get("Retry-After")
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "driftwatch_warehouse_up 0.0" in metrics.get_data(as_text=True)

        proxy.start()  # the database is back; no restart of the API
        listed = client.get("/incidents", headers=token)
        assert listed.status_code == 200
        titles = [i["title"] for i in listed.get_json()["items"]]
        assert titles == ["before"]  # the write that failed left nothing behind
        assert client.get("/ready").status_code == 200
        with app.app_context():
            from incident_api.services import services

            services().db.dispose()
        proxy.cut()


# -- a write in flight when the connection dies: committed or reported failed, never half ---------

WEBHOOK_TOKEN = "w" * 40
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"
"""The simple-query message psycopg sends to commit (not the "BEGIN ISOLATION LEVEL READ
COMMITTED" that also contains the word)."""


def _app_through(make_app, proxy: TcpProxy, schema: str):
    url = POSTGRES_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    return make_app(
        database_url=f"{url}?options={quote(f'-csearch_path={schema}')}&connect_timeout=2",
        alertmanager_webhook_token=WEBHOOK_TOKEN,
    )


def _stored(schema: str) -> tuple[list[tuple[str, int]], list[tuple[int, str]]]:
    """Incidents (fingerprint, occurrences) and events (incident id, kind), read directly."""
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        with engine.connect() as conn:
            incidents = [
                (row.fingerprint, row.occurrences)
                for row in conn.execute(text("SELECT fingerprint, occurrences FROM incidents"))
            ]
            events = [
                (row.incident_id, row.kind)
                for row in conn.execute(text("SELECT incident_id, kind FROM incident_events"))
            ]
    finally:
        engine.dispose()
    return incidents, events


def _delivery(count: int) -> dict:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "InFlight", "instance": f"i{i}"},
                "startsAt": "2026-11-27T00:00:00Z",
                "fingerprint": f"inflight{i:03d}",
            }
            for i in range(count)
        ],
    }


@pytest.mark.parametrize(
    ("pattern", "server_got_it"),
    [
        (b"INSERT INTO incident_events", False),  # the incident row is written, its event not
        (COMMIT, False),  # everything written, the COMMIT never arrives
        (COMMIT, True),  # the server commits; the answer is lost on the way back
    ],
    ids=["before-event", "before-commit", "commit-answer-lost"],
)
def test_incident_write_in_flight_is_committed_whole_or_reported_failed(
    make_app, pattern, server_got_it
):
    with postgres_schema() as (schema, _):
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        app = _app_through(make_app, proxy, schema)
        client = app.test_client()
        token = bearer(login(client, "responder")["access_token"])

        proxy.cut_on(pattern, after_server_got_it=server_got_it)
        response = client.post(
            "/incidents", json={"title": "in flight", "severity": "high"}, headers=token
        )
        assert proxy.triggered.is_set(), "the cut never happened: the test proved nothing"
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.headers.get("Retry-After")

        incidents, events = _stored(schema)
        if server_got_it:  # committed: the whole of it — the incident and its opening event
            assert len(incidents) == 1 and incidents[0][1] == 1
            assert [kind for _, kind in events] == ["opened"]
        else:  # not committed: nothing at all
            assert incidents == [] and events == []
        proxy.start()
        assert client.get("/ready").status_code == 200
        with app.app_context():
            from incident_api.services import services

            services().db.dispose()
        proxy.cut()


@pytest.mark.parametrize("server_got_it", [False, True], ids=["lost", "committed-answer-lost"])
def test_webhook_delivery_cut_mid_write_then_redelivered_counts_once(make_app, server_got_it):
    """A 100-alert delivery is one transaction: a cut leaves none or all of it, and
    Alertmanager's redelivery of the same body ends with each alert counted exactly once."""
    with postgres_schema() as (schema, _):
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        app = _app_through(make_app, proxy, schema)
        client = app.test_client()
        hook = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        body = _delivery(100)

        proxy.cut_on(
            COMMIT if server_got_it else b"INSERT INTO incident_events",
            after_server_got_it=server_got_it,
        )
        first = client.post("/alerts/alertmanager", json=body, headers=hook)
        assert proxy.triggered.is_set()
        assert first.status_code == 503, first.get_data(as_text=True)
        incidents, events = _stored(schema)
        assert len(incidents) == (100 if server_got_it else 0)
        assert len(events) == len(incidents)

        proxy.start()
        again = client.post("/alerts/alertmanager", json=body, headers=hook)
        assert again.status_code == 200
        expected = {"ignored": 100} if server_got_it else {"opened": 100}
        assert {k: v for k, v in again.get_json().items() if v} == expected
        incidents, events = _stored(schema)
        assert len(incidents) == 100 and {n for _, n in incidents} == {1}
        assert len(events) == 100
        with app.app_context():
            from incident_api.services import services

            services().db.dispose()
        proxy.cut()
