"""PostgreSQL taken away under a running API (through a TCP proxy we cut): clean 503s, never a
500, and service comes back by itself when the database does."""

from urllib.parse import quote

from tests.api.conftest import bearer, login
from tests.services import POSTGRES_URL, TcpProxy, postgres_schema


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
