"""Sessions that really end, on SQLite and PostgreSQL: a new password or role (API and CLI)
ends every session of the user at once, revoking all of them is all of them, a session has an
absolute lifetime however often it is refreshed, and writes go by the role in the store now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from incident_api.services import services
from tests.api.conftest import PASSWORD, bearer, login
from warehouse.models import AuthSession, utcnow
from warehouse.users import Role

NEW_PASSWORD = "a brand new passphrase"
PROBLEM = "application/problem+json"


def _incident(client: Any, token: str) -> int:
    body = {"title": "t", "severity": "low"}
    return int(client.post("/incidents", json=body, headers=bearer(token)).status_code)


def test_a_new_password_ends_every_session_and_the_new_one_works_at_once(store_app):
    client = store_app.test_client()
    admin = login(client, "admin")["access_token"]
    first, second = login(client, "responder"), login(client, "responder")
    answer = client.put(
        "/users/responder/password", json={"password": NEW_PASSWORD}, headers=bearer(admin)
    )
    assert answer.status_code == 204
    for pair in (first, second):
        assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401
        assert (
            client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
        )
    old = client.post("/auth/token", json={"username": "responder", "password": PASSWORD})
    assert old.status_code == 401
    fresh = login(client, "responder", NEW_PASSWORD)  # within the same second: not cut off
    assert _incident(client, fresh["access_token"]) == 201
    with store_app.app_context():
        listed = services().sessions.of_user("responder", include_ended=True)
    reasons = sorted(s.revoked_reason or "live" for s in listed)
    assert reasons == ["live", "password_changed", "password_changed"]


def test_a_new_role_ends_every_session_and_the_old_role_is_gone(store_app):
    client = store_app.test_client()
    admin = login(client, "admin")["access_token"]
    before = login(client, "responder")
    assert _incident(client, before["access_token"]) == 201
    answer = client.put("/users/responder/role", json={"role": "viewer"}, headers=bearer(admin))
    assert answer.status_code == 204
    assert _incident(client, before["access_token"]) == 401
    after = login(client, "responder")
    assert client.get("/incidents", headers=bearer(after["access_token"])).status_code == 200
    assert _incident(client, after["access_token"]) == 403


def test_writes_go_by_the_role_in_the_store_now(store_app):
    """Even a token nobody revoked: a write asks the store, a refresh takes its role."""
    client = store_app.test_client()
    pair = login(client, "responder")
    with store_app.app_context():
        services().users.set_role("responder", Role.VIEWER)  # no session ended
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 200
    refused = client.post(
        "/incidents", json={"title": "t", "severity": "low"}, headers=bearer(pair["access_token"])
    )
    assert refused.status_code == 403 and refused.content_type == PROBLEM
    renewed = client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).get_json()
    from flask_jwt_extended import decode_token

    with store_app.app_context():
        assert decode_token(renewed["access_token"])["role"] == "viewer"
        services().users.set_active("responder", False)
    assert _incident(client, renewed["access_token"]) == 401


def test_revoking_every_session_ends_all_of_them_past_the_listing_cap(store_app):
    client = store_app.test_client()
    admin = login(client, "admin")["access_token"]
    with store_app.app_context():
        sessions = services().sessions
        for n in range(250):
            sessions.start("viewer", f"r{n}", utcnow() + timedelta(days=7), client="c", agent="a")
    listed = client.get("/users/viewer/sessions", headers=bearer(admin)).get_json()["items"]
    assert len(listed) == 200  # the listing's cap …
    stamps = [item["created_at"] for item in listed]
    assert stamps == sorted(stamps, reverse=True)  # … newest first
    assert client.delete("/users/viewer/sessions", headers=bearer(admin)).status_code == 204
    with store_app.app_context(), services().db.reads() as read:
        live = read.scalar(
            select(func.count())
            .select_from(AuthSession)
            .where(AuthSession.username == "viewer", AuthSession.revoked_at.is_(None))
        )
    assert live == 0  # all 250, not the 200 listed


def test_a_session_ends_at_its_absolute_lifetime_however_often_refreshed(store_app):
    client = store_app.test_client()
    young, old = login(client, "viewer"), login(client, "responder")

    def signed_in_ago(username: str, days: float) -> None:
        with store_app.app_context(), services().db.transaction() as write:
            write.execute(
                update(AuthSession)
                .where(AuthSession.username == username)
                .values(created_at=utcnow() - timedelta(days=days))
            )

    signed_in_ago("viewer", 29.5)  # refreshes, but only up to day 30
    signed_in_ago("responder", 30.01)  # past SESSION_MAX_DAYS (30): over, refresh or not
    renewed = client.post("/auth/refresh", headers=bearer(young["refresh_token"]))
    assert renewed.status_code == 200
    with store_app.app_context():
        (session,) = services().sessions.of_user("viewer")
    assert session.expires_at - session.created_at <= timedelta(days=30)
    ended = client.post("/auth/refresh", headers=bearer(old["refresh_token"]))
    assert ended.status_code == 401 and ended.content_type == PROBLEM
    with store_app.app_context():
        (gone,) = services().sessions.of_user("responder", include_ended=True)
    assert gone.revoked_reason == "max_age"


def test_account_changes_refuse_bad_input_and_other_roles(client, headers):
    admin = headers("admin")
    weak = client.put("/users/viewer/password", json={"password": "short"}, headers=admin)
    assert weak.status_code == 422 and weak.get_json()["errors"][0]["field"] == "password"
    role = client.put("/users/viewer/role", json={"role": "root"}, headers=admin)
    assert role.status_code == 422 and role.get_json()["errors"][0]["field"] == "role"
    for path, body in (("password", {"password": NEW_PASSWORD}), ("role", {"role": "admin"})):
        missing = client.put(f"/users/nobody/{path}", json=body, headers=admin)
        assert missing.status_code == 404 and missing.content_type == PROBLEM
        for who in ("viewer", "responder"):
            refused = client.put(f"/users/viewer/{path}", json=body, headers=headers(who))
            assert refused.status_code == 403
        assert client.put(f"/users/viewer/{path}", json=body).status_code == 401


def test_the_cli_sets_a_password_and_a_role_ending_sessions(store_app):
    client = store_app.test_client()
    pair = login(client, "viewer")
    runner = store_app.test_cli_runner()
    done = runner.invoke(
        args=["users", "set-password", "viewer", "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert done.exit_code == 0, done.output
    assert "password of viewer changed; 1 session(s) ended" in done.output
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401
    fresh = login(client, "viewer", NEW_PASSWORD)
    done = runner.invoke(args=["users", "set-role", "viewer", "responder"])
    assert done.exit_code == 0, done.output
    assert client.get("/incidents", headers=bearer(fresh["access_token"])).status_code == 401
    assert _incident(client, login(client, "viewer", NEW_PASSWORD)["access_token"]) == 201
    for args, message in (
        (["users", "set-role", "nobody", "viewer"], "no user 'nobody'"),
        (["users", "set-password", "viewer", "--password-stdin"], "password must be 8 to 128"),
    ):
        failed = runner.invoke(args=args, input="short\n")
        assert failed.exit_code == 1
        assert message in failed.output and "Traceback" not in failed.output
