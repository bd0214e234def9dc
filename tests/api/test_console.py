"""The console's pages through Flask's test client: sign-in, CSRF, roles, escaping, the list's
order and paging, the charts, the datasets grid, and comments in the API too."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incident_api.services import services
from tests.api.conftest import PASSWORD, bearer
from warehouse.drift_results import DriftResultStore, NewResult
from warehouse.incidents import Join
from warehouse.lifecycle import Source, Status

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    page = client.get("/console/login?next=/console/datasets")
    token = csrf_of(page.get_data(as_text=True))
    form = {"csrf_token": token, "username": username, "password": password}
    return client.post("/console/login", data={**form, "next": "/console/datasets"})


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    """A client signed in to the console as the responder."""
    client = app.test_client()
    assert sign_in(client, "responder").status_code == 303
    return client


def _create(app: Flask, **fields: Any) -> int:
    with app.app_context():
        fields.setdefault("severity", "high")
        return services().incidents.create(actor="test", **{"title": "t", **fields}).id


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_sign_in_sets_httponly_lax_cookies_and_goes_where_asked(app):
    client = app.test_client()
    assert client.get("/console/").status_code == 303  # signed out → the sign-in page
    answer = sign_in(client, "responder")
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/datasets"
    cookies = {c.split("=", 1)[0]: c for c in answer.headers.getlist("Set-Cookie")}
    access = cookies["access_token_cookie"]
    assert "HttpOnly" in access and "SameSite=Lax" in access and "Secure" not in access
    assert "console_login_csrf=;" in cookies["console_login_csrf"]  # spent
    assert "responder" in _page(client, "/console/")


def test_production_cookies_are_secure(make_app):
    app = make_app(environment="production")
    answer = sign_in(app.test_client(), "responder")
    access = next(c for c in answer.headers.getlist("Set-Cookie") if "access_token_cookie" in c)
    assert "Secure" in access


def test_wrong_password_and_forged_login_are_refused(app):
    client = app.test_client()
    wrong = sign_in(client, "responder", "not the password")
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.get_data(as_text=True)
    forged = client.post(
        "/console/login", data={"username": "responder", "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 400
    assert not any("access_token_cookie" in c for c in forged.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/x",
        "//evil.example/console/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/console/\\..\\..\\/evil.example",
        "/console/../..//evil.example",
        "javascript:alert(1)",
        "/docs/",
    ],
)
def test_next_never_leaves_the_console(app, target):
    client = app.test_client()
    page = client.get("/console/login")
    token = csrf_of(page.get_data(as_text=True))
    form = {"csrf_token": token, "username": "viewer", "password": PASSWORD}
    answer = client.post("/console/login", data={**form, "next": target})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/"


def test_next_returns_to_the_console_page_asked_for(app):
    client = app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    form = {"csrf_token": token, "username": "viewer", "password": PASSWORD}
    answer = client.post("/console/login", data={**form, "next": "/console/datasets?x=1"})
    assert answer.headers["Location"] == "/console/datasets?x=1"


def test_a_form_posted_after_the_cookie_expired_returns_to_its_page(app):
    incident = _create(app)
    page = f"/console/incidents/{incident}"
    answer = app.test_client().post(
        f"{page}/comment", data={"body": "x"}, headers={"Referer": f"http://localhost{page}"}
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/console/login?next={page}"
    signed_out = app.test_client().get(page)
    assert signed_out.headers["Location"].startswith("/console/login?next=")


def test_sign_out_ends_the_session_for_the_api_too(app, browser):
    token = next(c for c in browser._cookies.values() if c.key == "access_token_cookie").value
    html = _page(browser, "/console/")
    answer = browser.post("/console/logout", data={"csrf_token": csrf_of(html)})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/login"
    assert browser.get("/console/").status_code == 303  # cookies gone
    replay = app.test_client()
    replay.set_cookie("access_token_cookie", token)
    assert replay.get("/console/").status_code == 303  # the old cookie is revoked
    assert app.test_client().get("/incidents", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    ("action", "form"),
    [
        ("transition", {"status": "acknowledged"}),
        ("assign", {"assignee": "mallory"}),
        ("comment", {"body": "hi"}),
        ("split", {"features": "amount"}),
        ("merge", {"from": "1"}),
    ],
)
def test_every_incident_form_refuses_a_missing_or_forged_csrf_token(app, browser, action, form):
    incident = _create(app)
    for token in (None, "forged"):
        data = {**form, **({"csrf_token": token} if token else {})}
        refused = browser.post(f"/console/incidents/{incident}/{action}", data=data)
        assert refused.status_code == 400, (action, token)
    with app.app_context():
        stored = services().incidents.get(incident)
        assert (stored.status, stored.assignee) == ("open", None)
        assert [e.kind for e in services().incidents.events(incident)] == ["opened"]


def test_sign_out_and_sign_in_refuse_a_missing_or_forged_csrf_token(app, browser):
    for token in (None, "forged"):
        data = {"csrf_token": token} if token else {}
        assert browser.post("/console/logout", data=data).status_code == 400
    assert browser.get("/console/").status_code == 200  # still signed in
    fresh = app.test_client()
    fresh.get("/console/login")  # sets the login CSRF cookie
    form = {"username": "viewer", "password": PASSWORD}
    for token in (None, "forged"):
        data = {**form, **({"csrf_token": token} if token else {})}
        answer = fresh.post("/console/login", data=data)
        assert answer.status_code == 400 and "access_token_cookie" not in str(
            answer.headers.getlist("Set-Cookie")
        )


def test_a_form_post_without_the_csrf_token_is_refused(app, browser):
    incident = _create(app)
    refused = browser.post(f"/console/incidents/{incident}/comment", data={"body": "hi"})
    assert refused.status_code == 400
    wrong = browser.post(
        f"/console/incidents/{incident}/comment", data={"body": "hi", "csrf_token": "forged"}
    )
    assert wrong.status_code == 400
    with app.app_context():
        assert [e.kind for e in services().incidents.events(incident)] == ["opened"]


def test_titles_and_comments_render_as_text(app, browser):
    incident = _create(app, title="<script>alert('t')</script>", description="<b>d</b>")
    html = _page(browser, f"/console/incidents/{incident}")
    token = csrf_of(html)
    browser.post(
        f"/console/incidents/{incident}/comment",
        data={"csrf_token": token, "body": "<img src=x onerror=alert(1)>"},
    )
    for path in ("/console/", f"/console/incidents/{incident}"):
        html = _page(browser, path)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_pages_have_a_csp_without_unsafe_inline_and_a_fingerprinted_stylesheet(app, browser):
    response = browser.get("/console/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp and "style-src 'self'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    (sheet,) = re.findall(r'href="(/console/assets/console\.[0-9a-f]{10}\.css)"', response.text)
    css = browser.get(sheet)
    assert css.status_code == 200 and "immutable" in css.headers["Cache-Control"]
    assert browser.get("/console/assets/console.0000000000.css").status_code == 404
    assert "style=" not in response.text and "<script" not in response.text


def test_a_viewer_sees_no_actions_and_cannot_post_them(app):
    incident = _create(app)
    client = app.test_client()
    sign_in(client, "viewer")
    html = _page(client, f"/console/incidents/{incident}")
    assert re.findall(r"<button[^>]*>([^<]+)</button>", html) == ["Sign out"]  # no actions
    token = csrf_of(html)  # the sign-out form's: a valid token for this session
    for action, form in (
        ("transition", {"status": "acknowledged"}),
        ("assign", {"assignee": "viewer"}),
        ("comment", {"body": "x"}),
    ):
        answer = client.post(
            f"/console/incidents/{incident}/{action}", data={**form, "csrf_token": token}
        )
        assert answer.status_code == 403
        assert "This needs the responder role." in answer.get_data(as_text=True)
    with app.app_context():
        stored = services().incidents.get(incident)
        assert (stored.status, stored.assignee) == ("open", None)


def test_acknowledge_assign_comment_resolve_and_a_readable_409(app, browser):
    incident = _create(app)
    path = f"/console/incidents/{incident}"
    token = csrf_of(_page(browser, path))

    def post(action: str, **form: str) -> Any:
        return browser.post(f"{path}/{action}", data={**form, "csrf_token": token})

    assert post("transition", status="acknowledged").status_code == 303
    assert post("assign", assignee="responder").status_code == 303
    assert post("comment", body="rolling back the feed").status_code == 303
    again = post("transition", status="acknowledged")
    assert again.status_code == 409
    assert "Not done: cannot move an incident from acknowledged to acknowledged." in again.text
    assert post("comment", body="   ").status_code == 422
    assert post("transition", status="resolved").status_code == 303
    html = _page(browser, path)
    assert 'id="status">resolved' in html and 'id="assignee">responder' in html
    assert "Reopen" in html and "Acknowledge" not in html
    with app.app_context():
        kinds = [(e.kind, e.to_status) for e in services().incidents.events(incident)]
    assert kinds == [
        ("opened", "open"),
        ("transition", "acknowledged"),
        ("updated", None),
        ("comment", None),
        ("transition", "resolved"),
    ]


def test_the_list_puts_open_then_acknowledged_then_resolved_and_pages(app, browser):
    ids = {status: [] for status in Status}
    with app.app_context():
        store = services().incidents
        for n in range(130):
            created = store.create(title=f"i{n}", severity="low", actor="t").id
            status = (Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED)[n % 3]
            if status is not Status.OPEN:
                store.transition(created, status, actor="t")
            ids[status].append(created)
    expected = [i for status in Status for i in sorted(ids[status], reverse=True)]
    seen, path = [], "/console/"
    while path:
        html = _page(browser, path)
        seen += [int(i) for i in re.findall(r'href="/console/incidents/(\d+)"', html)]
        found = re.search(r'rel="next" href="([^"]+)"', html)
        path = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == expected  # every incident once, in the console's order
    only = _page(browser, "/console/?status=acknowledged&severity=low")
    listed = [int(i) for i in re.findall(r'href="/console/incidents/(\d+)"', only)]
    assert listed == sorted(ids[Status.ACKNOWLEDGED], reverse=True)[:50]
    assert browser.get("/console/?severity=urgent").status_code == 400
    assert browser.get("/console/?cursor=open.not-a-cursor").status_code == 400


def test_counts_and_filters_by_dataset_and_source(app, browser):
    _create(app, severity="critical", dataset="shop")
    _create(app, severity="critical", dataset="ads")
    _create(app, severity="low", dataset="shop")
    html = _page(browser, "/console/")
    assert re.search(r"critical <strong>2</strong>", html)
    assert re.search(r"low <strong>1</strong>", html)
    shop = _page(browser, "/console/?dataset=shop&source=manual")
    assert shop.count('href="/console/incidents/') == 2
    assert _page(browser, "/console/?source=dagster").count('href="/console/incidents/') == 0


def _drift_results(app: Flask) -> None:
    bins = {"labels": ["a", "b", "c"], "reference": [0.5, 0.3, 0.2], "current": [0.2, 0.3, 0.5]}
    with app.app_context():
        store = DriftResultStore(services().db)
        for day, (status, psi) in enumerate(
            [("ok", 0.02), ("warn", 0.15), ("critical", 0.4)], start=1
        ):
            store.add(
                [NewResult("shop", "price", f"2026-11-0{day}", "r", status, psi=psi, bins=bins)]
            )
        store.add([NewResult("shop", "qty", "2026-11-03", "r", "error", bins=None)])
        store.add([NewResult("shop", "qty", "2026-11-04", "r", "ok", psi=0.01, chi2_pvalue=0.25)])


def test_the_incident_page_draws_bins_and_the_psi_trend_with_its_levels(app, browser):
    _drift_results(app)
    bins = {"labels": ["a", "b", "c"], "reference": [0.5, 0.3, 0.2], "current": [0.2, 0.3, 0.5]}
    evidence = {
        "bins": bins,
        "psi": 0.4,
        "partition": "2026-11-03",
        "run_id": "r1",
        "run_url": "http://127.0.0.1:3000/runs/r1",
        "levels": {"psi": {"warn": 0.12, "critical": 0.3}},
    }
    incident = _create(app, dataset="shop", feature="price", evidence=evidence)
    html = _page(browser, f"/console/incidents/{incident}")
    assert html.count('<rect class="ref"') == 3 and html.count('<rect class="cur"') == 3
    assert "current c: 50.0 %" in html and "reference a: 50.0 %" in html
    assert html.count('<circle class="dot') == 3
    assert "2026-11-03: PSI 0.400 (critical)" in html
    assert "warn 0.12" in html and "critical 0.3" in html  # the levels it was graded with
    assert 'href="http://127.0.0.1:3000/runs/r1"' in html
    assert 'href="http://127.0.0.1:3000/assets/shop/feature_drift?partition=2026-11-03"' in html
    assert "<svg" in html and "cdn" not in html.lower()


def test_the_datasets_grid_colours_each_feature_and_partition(app, browser):
    _drift_results(app)
    with app.app_context():
        joined = services().incidents.apply_one(
            Join("shop", "price", status="critical", source=Source.DAGSTER, actor="dagster")
        )
        assert joined.incident is not None
        incident = joined.incident.id
    _create(app, dataset="shop", feature="qty")  # by hand: not a member, no link
    html = _page(browser, "/console/datasets/shop")
    rows = dict(re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', html, re.S))
    price = re.findall(r'class="cell st-(\w+)"', rows["price"])
    qty = re.findall(r'class="cell st-(\w+)"', rows["qty"])
    assert price == ["ok", "warn", "critical", "missing"]
    assert qty == ["missing", "missing", "error", "ok"]
    assert f'href="/console/incidents/{incident}"' in rows["price"]
    assert 'href="/console/datasets/shop/price/2026-11-01"' in rows["price"]
    assert "/console/incidents/" not in rows["qty"]
    result = _page(browser, "/console/datasets/shop/price/2026-11-02")
    assert "shop.price on 2026-11-02: warn" in result and '<rect class="cur"' in result
    assert browser.get("/console/datasets/shop/price/2030-01-01").status_code == 404
    # The opt-in measures show where the dataset grades with them, and only there.
    assert "chi2_pvalue" not in result
    graded = _page(browser, "/console/datasets/shop/qty/2026-11-04")
    assert '<th scope="row">chi2_pvalue</th><td>0.2500</td>' in graded
    assert "wasserstein" not in graded


def test_comments_are_timeline_events_in_the_api_too(app, client, headers):
    incident = _create(app)
    added = client.post(
        f"/incidents/{incident}/comments", json={"body": "checking the feed"},
        headers=headers("responder"),
    )  # fmt: skip
    assert added.status_code == 201
    body = added.get_json()
    assert (body["kind"], body["note"], body["actor"]) == (
        "comment",
        "checking the feed",
        "responder",
    )
    events = client.get(f"/incidents/{incident}/events", headers=headers("viewer")).get_json()
    assert [e["kind"] for e in events["items"]] == ["opened", "comment"]
    assert (
        client.post(
            f"/incidents/{incident}/comments", json={"body": "x"}, headers=headers("viewer")
        ).status_code
        == 403
    )
    empty = client.post(
        f"/incidents/{incident}/comments", json={"body": ""}, headers=headers("responder")
    )
    assert empty.status_code == 422 and empty.get_json()["errors"][0]["field"] == "body"
    missing = client.post(
        "/incidents/999999/comments", json={"body": "x"}, headers=headers("responder")
    )
    assert missing.status_code == 404
