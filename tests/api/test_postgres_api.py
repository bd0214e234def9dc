"""The API on the real PostgreSQL (psycopg 3), not only on SQLite."""

from urllib.parse import quote

from tests.api.conftest import bearer, login
from tests.services import POSTGRES_URL, postgres_schema


def test_incident_flow_on_postgres(make_app):
    with postgres_schema() as (schema, _):
        # a default zone other than UTC: the API's times must still be UTC ("Z")
        options = f"-csearch_path={schema} -cTimeZone=Asia/Kathmandu"
        url = f"{POSTGRES_URL}?options={quote(options)}"
        app = make_app(database_url=url)
        client = app.test_client()
        token = bearer(login(client, "responder")["access_token"])
        created = client.post(
            "/incidents", json={"title": "pg", "severity": "medium"}, headers=token
        )
        assert created.status_code == 201
        incident_id = created.get_json()["id"]
        moved = client.post(
            f"/incidents/{incident_id}/transitions", json={"status": "resolved"}, headers=token
        )
        assert moved.get_json()["status"] == "resolved"
        listed = client.get("/incidents?status=resolved", headers=token).get_json()
        assert [i["id"] for i in listed["items"]] == [incident_id]
        one = client.get(f"/incidents/{incident_id}", headers=token).get_json()
        for incident in (one, listed["items"][0]):
            assert incident["created_at"] == created.get_json()["created_at"]
            assert incident["created_at"].endswith("Z"), incident["created_at"]
            assert incident["resolved_at"].endswith("Z"), incident["resolved_at"]
        assert client.get("/ready").get_json()["checks"]["database"] == "ok"
        client.post("/auth/logout", headers=token)
        assert client.get("/incidents", headers=token).status_code == 401  # SQL denylist on PG
        from incident_api.services import services

        with app.app_context():
            services().db.dispose()
