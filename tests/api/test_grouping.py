"""Drift incidents as events with members through the API and the console, on SQLite and
PostgreSQL: members in every read, ``?feature=`` finds the holder, split and merge with their
404/409/422, roles and CSRF."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incident_api.services import services
from tests.api.conftest import role_headers
from tests.api.test_console import csrf_of, sign_in
from warehouse.drift_results import DriftResultStore, NewResult
from warehouse.fingerprint import GroupBy
from warehouse.incidents import Join
from warehouse.lifecycle import Source

WEBHOOK_TOKEN = "am-" + "g" * 40
BINS = {"labels": ["a", "b"], "reference": [0.5, 0.5], "current": [0.2, 0.8]}


def event(app: Flask, *breaches: tuple[str, str, float | None], dataset: str = "shop") -> int:
    """A drift event of ``dataset``: (feature, status, psi) per member; its incident's id."""
    with app.app_context():
        outcomes = services().incidents.apply(
            [
                Join(
                    dataset,
                    feature,
                    status=status,
                    source=Source.DAGSTER,
                    actor="dagster",
                    group_by=GroupBy.DATASET,
                    psi=psi,
                    partition="2026-11-10",
                    measures={"psi": psi} if psi is not None else {},
                    evidence={"feature": feature, "psi": psi, "bins": BINS},
                    dedup_key=f"{dataset}:{feature}:{status}",
                )
                for feature, status, psi in breaches
            ]
        )
        incident = outcomes[0].incident
        assert incident is not None
        return incident.id


FIVE = [
    ("amount", "critical", 0.9),
    ("session_minutes", "warn", 0.15),
    ("device", "critical", 0.5),
    ("payment_method", "warn", 0.12),
    ("delivery_days", "warn", 0.2),
]


def test_reads_carry_members_and_the_feature_filter_finds_the_holder(store_app):
    client, headers = store_app.test_client(), role_headers(store_app.test_client())
    incident = event(store_app, *FIVE)
    other = event(store_app, ("price", "warn", 0.2), dataset="billing")
    one = client.get(f"/incidents/{incident}", headers=headers("viewer")).get_json()
    assert [m["feature"] for m in one["members"]] == [f for f, _, _ in FIVE]
    amount = one["members"][0]
    assert (amount["status"], amount["psi"], amount["recovered"]) == ("critical", 0.9, False)
    assert (amount["first_partition"], amount["last_partition"]) == ("2026-11-10", "2026-11-10")
    assert amount["measures"] == {"psi": 0.9}
    listed = client.get("/incidents", headers=headers("viewer")).get_json()["items"]
    assert {i["id"]: len(i["members"]) for i in listed} == {incident: 5, other: 1}
    found = client.get("/incidents?feature=device", headers=headers("viewer")).get_json()
    assert [i["id"] for i in found["items"]] == [incident]
    assert client.get("/incidents?feature=nothing", headers=headers("viewer")).get_json() == {
        "items": [],
        "next_cursor": None,
    }


def test_split_and_merge_through_the_api(store_app):
    client, headers = store_app.test_client(), role_headers(store_app.test_client())
    incident = event(store_app, *FIVE)
    split = client.post(
        f"/incidents/{incident}/split",
        json={"features": ["device", "payment_method"]},
        headers=headers("responder"),
    )
    assert split.status_code == 201, split.get_json()
    new = split.get_json()
    assert split.headers["Location"] == f"/incidents/{new['id']}"
    assert new["previous_incident_id"] == incident
    assert [m["feature"] for m in new["members"]] == ["device", "payment_method"]
    assert new["severity"] == "critical"
    kept = client.get(f"/incidents/{incident}", headers=headers("viewer")).get_json()
    assert [m["feature"] for m in kept["members"]] == ["amount", "session_minutes", "delivery_days"]
    timeline = client.get(f"/incidents/{incident}/events", headers=headers("viewer")).get_json()
    assert timeline["items"][-1]["kind"] == "split"
    merged = client.post(
        f"/incidents/{incident}/merge", json={"from": new["id"]}, headers=headers("responder")
    )
    assert merged.status_code == 200, merged.get_json()
    assert len(merged.get_json()["members"]) == 5
    gone = client.get(f"/incidents/{new['id']}", headers=headers("viewer")).get_json()
    assert gone["status"] == "resolved" and gone["members"] == []


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    return body


def test_split_and_merge_refusals(store_app):
    client, headers = store_app.test_client(), role_headers(store_app.test_client())
    incident = event(store_app, ("amount", "critical", 0.9), ("device", "warn", 0.2))
    other = event(store_app, ("price", "warn", 0.2), dataset="billing")
    responder = headers("responder")

    def split(target: int, body: object) -> Any:
        return client.post(f"/incidents/{target}/split", json=body, headers=responder)

    def merge(target: int, body: object) -> Any:
        return client.post(f"/incidents/{target}/merge", json=body, headers=responder)

    unknown = _problem(split(incident, {"features": ["amount", "nope"]}), 422)
    assert [e["field"] for e in unknown["errors"]] == ["features.1"]
    assert _problem(split(incident, {"features": []}), 422)["errors"][0]["field"] == "features"
    assert _problem(split(incident, {"feature": ["amount"]}), 422)
    every = _problem(split(incident, {"features": ["amount", "device"]}), 409)
    assert "every member" in every["detail"]
    _problem(split(999_999, {"features": ["amount"]}), 404)
    _problem(merge(999_999, {"from": incident}), 404)
    _problem(merge(incident, {"from": 999_999}), 404)
    assert "different datasets" in _problem(merge(incident, {"from": other}), 409)["detail"]
    assert _problem(merge(incident, {"from": incident}), 422)["errors"][0]["field"] == "from"
    assert _problem(merge(incident, {"from": "x"}), 422)["errors"][0]["field"] == "from"
    with store_app.app_context():
        manual = services().incidents.create(
            title="by hand", severity="low", actor="t", dataset="shop"
        )
    assert "members" in _problem(merge(incident, {"from": manual.id}), 409)["detail"]
    viewer = headers("viewer")
    split_body = {"features": ["amount"]}
    assert (
        client.post(f"/incidents/{incident}/split", json=split_body, headers=viewer).status_code
        == 403
    )
    merge_body = {"from": other}
    assert (
        client.post(f"/incidents/{incident}/merge", json=merge_body, headers=viewer).status_code
        == 403
    )
    assert client.post(f"/incidents/{incident}/split", json={"features": ["a"]}).status_code == 401
    with store_app.app_context():
        members = services().incidents.members([incident])[incident]
    assert [m.feature for m in members] == ["amount", "device"]  # nothing moved


def test_split_and_merge_are_in_the_openapi_document(app):
    spec = app.test_client().get("/openapi.json").get_json()
    split = spec["paths"]["/incidents/{incident_id}/split"]["post"]
    merge = spec["paths"]["/incidents/{incident_id}/merge"]["post"]
    assert {"201", "404", "409", "422"} <= set(split["responses"])
    assert {"200", "404", "409", "422"} <= set(merge["responses"])
    schemas = spec["components"]["schemas"]
    assert "from" in schemas["MergeRequest"]["properties"]
    assert "members" in schemas["IncidentOut"]["properties"]


# The console


def _results(app: Flask) -> None:
    with app.app_context():
        store = DriftResultStore(services().db)
        for feature, status, psi in FIVE:
            store.add([NewResult("shop", feature, "2026-11-10", "r", status, psi=psi, bins=BINS)])


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, "responder").status_code == 303
    return client


def _html(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def test_the_incident_page_lists_members_and_draws_the_chosen_one(app, browser):
    _results(app)
    incident = event(app, *FIVE)
    html = _html(browser, f"/console/incidents/{incident}")
    rows = re.findall(r'<tr id="member-\d+" data-feature="(\w+)"', html)
    assert rows == ["amount", "device", "delivery_days", "session_minutes", "payment_method"]
    assert 'href="/console/datasets/shop/amount/2026-11-10"' in html
    assert "Reference vs current, per bin: amount" in html  # the worst member's evidence
    assert 'class="shown"' in html and "Split the ticked members" in html
    chosen = _html(browser, f"/console/incidents/{incident}?member=payment_method")
    assert "Reference vs current, per bin: payment_method" in chosen
    assert "PSI over the recent partitions: payment_method" in chosen
    unknown = _html(browser, f"/console/incidents/{incident}?member=<b>")
    assert "per bin: amount" in unknown and "<b>" not in unknown


def test_console_split_and_merge(app, browser):
    incident = event(app, *FIVE)
    path = f"/console/incidents/{incident}"
    token = csrf_of(_html(browser, path))
    done = browser.post(
        f"{path}/split", data={"csrf_token": token, "features": ["device", "amount"]}
    )
    assert done.status_code == 303
    new = int(done.headers["Location"].rsplit("/", 1)[1])
    assert "split from incident" in _html(browser, done.headers["Location"])
    nothing = browser.post(f"{path}/split", data={"csrf_token": token})
    assert nothing.status_code == 422 and "Tick the members" in nothing.get_data(as_text=True)
    every = browser.post(
        f"/console/incidents/{new}/split",
        data={"csrf_token": token, "features": ["device", "amount"]},
    )
    assert every.status_code == 409 and "every member" in every.get_data(as_text=True)
    bad = browser.post(f"{path}/merge", data={"csrf_token": token, "from": "x"})
    assert bad.status_code == 422
    missing = browser.post(f"{path}/merge", data={"csrf_token": token, "from": "999999"})
    assert missing.status_code == 404
    merged = browser.post(f"{path}/merge", data={"csrf_token": token, "from": f"#{new}"})
    assert merged.status_code == 303
    with app.app_context():
        assert len(services().incidents.members([incident])[incident]) == 5
        assert services().incidents.get(new).status == "resolved"


@pytest.mark.parametrize("action", ["split", "merge"])
def test_console_grouping_forms_need_csrf_and_the_responder_role(app, action):
    incident = event(app, ("amount", "critical", 0.9), ("device", "warn", 0.2))
    form = {"features": ["device"]} if action == "split" else {"from": str(incident)}
    responder = app.test_client()
    sign_in(responder, "responder")
    for token in (None, "forged"):
        data = {**form, **({"csrf_token": token} if token else {})}
        answer = responder.post(f"/console/incidents/{incident}/{action}", data=data)
        assert answer.status_code == 400
    viewer = app.test_client()
    sign_in(viewer, "viewer")
    html = _html(viewer, f"/console/incidents/{incident}")
    assert "Split the ticked" not in html and "Merge into this one" not in html
    answer = viewer.post(
        f"/console/incidents/{incident}/{action}", data={**form, "csrf_token": csrf_of(html)}
    )
    assert answer.status_code == 403
    with app.app_context():
        assert len(services().incidents.members([incident])[incident]) == 2


def test_the_datasets_grid_links_a_red_cell_to_the_incident_holding_it(app, browser):
    _results(app)
    incident = event(app, *FIVE)
    with app.app_context():
        split = services().incidents.split(incident, ["device"], actor="t")
    html = _html(browser, "/console/datasets/shop")
    rows = dict(re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', html, re.S))
    assert f'href="/console/incidents/{incident}"' in rows["amount"]
    assert f'href="/console/incidents/{split.id}"' in rows["device"]


def test_the_sensor_and_an_alertmanager_delivery_at_once_make_one_incident(make_app, database_url):
    """The webhook (through its HTTP endpoint) and the sensor's joins add members to the same
    dataset's event at the same moment: one incident holds every member, paged once."""
    import json
    import threading

    from sqlalchemy import select

    from tests.api.test_alertmanager import alert, payload
    from warehouse.models import NotificationEvent

    store_app = make_app(database_url=database_url, alertmanager_webhook_token=WEBHOOK_TOKEN)

    sensor_side = [f"s{i}" for i in range(6)]
    alert_side = [f"a{i}" for i in range(6)]
    start = threading.Barrier(2)
    problems: list[BaseException] = []

    def sensor() -> None:
        try:
            start.wait()
            for feature in sensor_side:
                event(store_app, (feature, "warn", 0.2))
        except BaseException as exc:  # reported by the assertion below
            problems.append(exc)

    def webhook() -> None:
        try:
            client = store_app.test_client()
            start.wait()
            for n, feature in enumerate(alert_side):
                body = payload(alert(fingerprint=f"x{n}", dataset="shop", feature=feature))
                answer = client.post(
                    "/alerts/alertmanager",
                    data=json.dumps(body),
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                )
                assert answer.status_code == 200, answer.get_json()
        except BaseException as exc:  # reported by the assertion below
            problems.append(exc)

    threads = [threading.Thread(target=sensor), threading.Thread(target=webhook)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    with store_app.app_context():
        (incident,) = services().incidents.list().items
        held = services().incidents.members([incident.id])[incident.id]
        with services().db.reads() as session:
            told = session.scalars(select(NotificationEvent.event)).all()
    assert sorted(m.feature for m in held) == sorted(sensor_side + alert_side)
    assert incident.severity == "critical"  # the alerts' critical members raised it
    assert told.count("incident.opened") == 1
    with store_app.app_context():
        services().db.dispose()
