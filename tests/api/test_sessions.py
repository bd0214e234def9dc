"""Sessions (token families), cookie tokens with CSRF, proxies and the audit export, through
the Flask test client (the same cases against gunicorn are in test_auth_gunicorn.py)."""

from __future__ import annotations

import json
import logging

import jwt
import pytest
from flask_jwt_extended import create_access_token, get_csrf_token

from incident_api.auth import disable_user
from tests.api.conftest import PASSWORD, bearer, login

PROBLEM = "application/problem+json"


def _claims(app, token):
    return jwt.decode(token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])


def test_a_sign_in_is_one_session_shared_by_both_tokens(app, client):
    pair = login(client, "viewer")
    access, refresh = _claims(app, pair["access_token"]), _claims(app, pair["refresh_token"])
    assert access["sid"] == refresh["sid"] and access["jti"] != refresh["jti"]
    renewed = client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).get_json()
    assert _claims(app, renewed["access_token"])["sid"] == access["sid"]
    assert login(client, "viewer")["access_token"] != pair["access_token"]
    other = _claims(app, login(client, "viewer")["access_token"])
    assert other["sid"] != access["sid"]


def test_reuse_revokes_the_family_logs_and_counts_it(app, client, caplog):
    pair = login(client, "responder")
    renewed = client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).get_json()
    with caplog.at_level(logging.WARNING, logger="incident_api.security"):
        reused = client.post("/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert reused.status_code == 401 and reused.content_type == PROBLEM
    assert client.get("/incidents", headers=bearer(renewed["access_token"])).status_code == 401
    again = client.post("/auth/refresh", headers=bearer(renewed["refresh_token"]))
    assert again.status_code == 401
    events = [r.msg for r in caplog.records if r.name == "incident_api.security"]
    assert len(events) == 1
    assert events[0]["event"] == "refresh_token_reused"
    assert events[0]["user"] == "responder"
    assert events[0]["sid"] == _claims(app, pair["refresh_token"])["sid"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "driftwatch_refresh_token_reuse_total 1.0" in metrics


def test_logout_ends_the_session_and_a_named_other_one(app, client):
    first, second, kept = (login(client, "viewer") for _ in range(3))
    out = client.post(
        "/auth/logout",
        json={"refresh_token": second["refresh_token"]},
        headers=bearer(first["access_token"]),
    )
    assert out.status_code == 204
    for pair in (first, second):
        assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401
        assert (
            client.post("/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
        )
    assert client.get("/incidents", headers=bearer(kept["access_token"])).status_code == 200


def test_logout_refuses_another_users_refresh_token(client):
    mine, theirs = login(client, "viewer"), login(client, "responder")
    out = client.post(
        "/auth/logout",
        json={"refresh_token": theirs["refresh_token"]},
        headers=bearer(mine["access_token"]),
    )
    assert out.status_code == 422
    assert out.get_json()["errors"][0]["field"] == "refresh_token"
    assert client.get("/incidents", headers=bearer(theirs["access_token"])).status_code == 200


def test_admin_session_routes_answer_404_for_what_is_not_there(client, headers):
    admin = headers("admin")
    assert client.get("/users/nobody/sessions", headers=admin).status_code == 404
    assert client.delete("/users/nobody/sessions", headers=admin).status_code == 404
    assert client.delete("/users/viewer/sessions/not-a-sid", headers=admin).status_code == 404
    sid = None
    for item in client.get("/users/admin/sessions", headers=admin).get_json()["items"]:
        sid = item["sid"]
    assert sid is not None  # a session of admin is not one of viewer's
    assert client.delete(f"/users/viewer/sessions/{sid}", headers=admin).status_code == 404


def test_revoking_every_session_of_a_user(client, headers):
    pairs = [login(client, "viewer") for _ in range(2)]
    admin = headers("admin")
    assert len(client.get("/users/viewer/sessions", headers=admin).get_json()["items"]) == 2
    assert client.delete("/users/viewer/sessions", headers=admin).status_code == 204
    assert client.get("/users/viewer/sessions", headers=admin).get_json()["items"] == []
    for pair in pairs:
        assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401


def test_a_disabled_users_sessions_end(app, client, headers):
    pair = login(client, "responder")
    with app.app_context():
        disable_user("responder")
    assert client.get("/incidents", headers=bearer(pair["access_token"])).status_code == 401
    assert client.get("/users/responder/sessions", headers=headers("admin")).get_json() == {
        "items": []
    }


def _cookie_token(app, role="responder"):
    with app.app_context():
        return create_access_token(role, additional_claims={"role": role, "sid": "cookie-s"})


def test_cookie_tokens_need_the_csrf_double_submit_on_writes(app, client):
    token = _cookie_token(app)
    client.set_cookie("access_token_cookie", token)
    assert client.get("/incidents").status_code == 200  # reads need no CSRF token
    body = {"title": "from a browser", "severity": "low"}
    missing = client.post("/incidents", json=body)
    assert missing.status_code == 401 and missing.content_type == PROBLEM
    wrong = client.post("/incidents", json=body, headers={"X-CSRF-TOKEN": "not-it"})
    assert wrong.status_code == 401
    with app.app_context():
        csrf = get_csrf_token(token)
    right = client.post("/incidents", json=body, headers={"X-CSRF-TOKEN": csrf})
    assert right.status_code == 201


def test_cookie_settings_follow_the_environment(make_app):
    test_app = make_app()
    prod_app = make_app(environment="production", jwt_secret_key="Zq8#kL2@pW9!xR4$vN7&mB3*cT6^yH1%")
    assert test_app.config["JWT_COOKIE_SECURE"] is False
    assert prod_app.config["JWT_COOKIE_SECURE"] is True
    for app in (test_app, prod_app):
        assert app.config["JWT_COOKIE_SAMESITE"] == "Lax"
        assert app.config["JWT_COOKIE_CSRF_PROTECT"] is True
        assert app.config["JWT_REFRESH_TOKEN_EXPIRES"].days == 7


def _bad_login(client, remote, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post(
        "/auth/token",
        json={"username": "admin", "password": "not the password"},
        headers=headers,
        environ_base={"REMOTE_ADDR": remote},
    ).status_code


@pytest.mark.parametrize("hops", [0, 1])
def test_the_limiter_keys_on_the_real_client(make_app, hops):
    app = make_app(login_failure_limit="2 per minute", trusted_proxy_hops=hops)
    client = app.test_client()
    proxy = "127.0.0.1"
    assert [_bad_login(client, proxy, "203.0.113.1") for _ in range(2)] == [401, 401]
    spoofed = _bad_login(client, proxy, "203.0.113.2")
    prepended = _bad_login(client, proxy, "203.0.113.9, 203.0.113.1")
    if hops:  # a new real client has its own bucket; prepending cannot escape one
        assert (spoofed, prepended) == (401, 429)
    else:  # the header is ignored: every request is the proxy's address
        assert (spoofed, prepended) == (429, 429)


def test_audit_export_filters_and_refuses_bad_input(client, headers):
    admin = headers("admin")
    ids = [
        client.post(
            "/incidents", json={"title": f"t{i}", "severity": "low"}, headers=admin
        ).get_json()["id"]
        for i in range(2)
    ]
    client.delete(f"/incidents/{ids[0]}", headers=admin)
    everything = client.get("/audit/events", headers=admin)
    assert everything.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in everything.get_data(as_text=True).splitlines()]
    assert [(e["incident_id"], e["kind"]) for e in lines] == [
        (ids[0], "opened"),
        (ids[1], "opened"),
        (ids[0], "deleted"),
    ]
    assert set(lines[0]) == {"id", "incident_id", "at", "actor", "kind", "from_status",
                             "to_status", "note", "incident"}  # fmt: skip
    # a deleted incident can be read from the export alone: what it was, who deleted it, when
    deleted = lines[0]["incident"]
    assert (deleted["title"], deleted["severity"], deleted["status"]) == ("t0", "low", "open")
    assert deleted["deleted_by"] == "admin" and deleted["deleted_at"] == lines[2]["at"]
    assert lines[1]["incident"]["deleted_at"] is None
    assert lines[1]["incident"]["deleted_by"] is None
    since = lines[-1]["at"].replace("+00:00", "Z")
    later = client.get("/audit/events", query_string={"since": since}, headers=admin)
    assert [json.loads(x)["kind"] for x in later.get_data(as_text=True).splitlines()] == ["deleted"]
    for query, field in (({"since": "yesterday"}, "since"), ({"incident_id": "0"}, "incident_id")):
        bad = client.get("/audit/events", query_string=query, headers=admin)
        assert bad.status_code == 422 and bad.content_type == PROBLEM
        assert bad.get_json()["errors"][0]["field"] == field
    for role in ("viewer", "responder"):
        assert client.get("/audit/events", headers=headers(role)).status_code == 403


def test_sign_in_records_the_client_and_agent(client, headers):
    client.post(
        "/auth/token",
        json={"username": "viewer", "password": PASSWORD},
        headers={"User-Agent": "curl/8.5"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    (session,) = client.get("/users/viewer/sessions", headers=headers("admin")).get_json()["items"]
    assert (session["client"], session["user_agent"], session["active"]) == (
        "10.1.2.3",
        "curl/8.5",
        True,
    )
