"""The console keeps people signed in while they work: an expired access cookie is renewed
from the refresh cookie — rotated as POST /auth/refresh rotates it — until the session ends.
Time is moved forward by the test (PyJWT's clock), not slept past."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from incident_api.services import services
from tests.api.conftest import bearer, login
from tests.api.test_console import csrf_of, sign_in
from warehouse.models import AuthSession, utcnow


def _cookie(client: FlaskClient, name: str) -> str | None:
    found = client.get_cookie(name)
    return found.value if found is not None else None


def _session(app: Flask) -> Any:
    with app.app_context():
        (session,) = services().sessions.of_user("responder", include_ended=True)
        return session


def test_an_expired_access_cookie_is_renewed_silently_and_rotated(app, token_clock):
    browser = app.test_client()
    assert sign_in(browser, "responder").status_code == 303
    first_access = _cookie(browser, "access_token_cookie")
    first_refresh = _cookie(browser, "refresh_token_cookie")
    assert first_refresh is not None
    token_clock.offset = timedelta(minutes=20)  # the 15-minute access token has expired
    page = browser.get("/console/")
    assert page.status_code == 200  # not sent to the sign-in page
    assert "responder" in page.get_data(as_text=True)
    assert _cookie(browser, "access_token_cookie") not in (None, first_access)
    assert _cookie(browser, "refresh_token_cookie") not in (None, first_refresh)
    session = _session(app)
    assert session.active and session.refreshed_at > session.created_at
    # The old refresh cookie was rotated away: presenting it again is reuse, as in the API.
    thief = app.test_client()
    thief.set_cookie("refresh_token_cookie", first_refresh)
    thief.set_cookie("access_token_cookie", first_access or "")
    assert thief.get("/console/").status_code == 303
    assert _session(app).revoked_reason == "refresh_reuse"
    assert browser.get("/console/").status_code == 303  # the whole session is gone


def test_a_form_posted_with_an_expired_access_cookie_still_lands(app, token_clock):
    with app.app_context():
        incident = services().incidents.create(title="t", severity="low", actor="t").id
    browser = app.test_client()
    sign_in(browser, "responder")
    path = f"/console/incidents/{incident}"
    token = csrf_of(browser.get(path).get_data(as_text=True))
    token_clock.offset = timedelta(minutes=16)  # the page stayed open while the person worked
    forged = browser.post(f"{path}/comment", data={"body": "x", "csrf_token": "forged"})
    assert forged.status_code == 400
    done = browser.post(f"{path}/comment", data={"body": "rolled back", "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == path
    with app.app_context():
        kinds = [(e.kind, e.note) for e in services().incidents.events(incident)]
    assert kinds[-1] == ("comment", "rolled back")


def test_renewal_stops_when_the_session_ends(app, token_clock):
    browser = app.test_client()
    sign_in(browser, "responder")
    with app.app_context(), services().db.transaction() as write:
        write.execute(update(AuthSession).values(created_at=utcnow() - timedelta(days=31)))
    token_clock.offset = timedelta(minutes=20)
    answer = browser.get("/console/datasets")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/console/login")


def test_a_logout_from_the_api_ends_the_console_too(app, token_clock):
    browser = app.test_client()
    sign_in(browser, "responder")
    pair = login(app.test_client(), "responder")  # another session: unaffected
    access = _cookie(browser, "access_token_cookie")
    assert app.test_client().post("/auth/logout", headers=bearer(access or "")).status_code == 204
    token_clock.offset = timedelta(minutes=20)
    assert browser.get("/console/").status_code == 303
    other = app.test_client().post("/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert other.status_code == 200  # the other session lives on
