"""The Alertmanager webhook: credentials, per-alert handling, idempotency, merging with the
Dagster sensor's incidents, and storage failures."""

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from incident_api.services import services
from tests.api.conftest import bearer, login
from tests.services import POSTGRES_URL, postgres_schema
from warehouse.fingerprint import alert_fingerprint, dataset_fingerprint
from warehouse.incidents import Join
from warehouse.lifecycle import Source

TOKEN = "am-" + "k" * 40
URL = "/alerts/alertmanager"


def alert(status="firing", fingerprint="f00d", starts="2026-11-27T00:00:00Z", **labels):
    return {
        "status": status,
        "labels": {"alertname": "FeatureDriftCritical", "severity": "critical", **labels},
        "annotations": {"summary": "PSI above 0.25", "description": "drift on amount"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=ml_feature_psi",
        "fingerprint": fingerprint,
    }


def payload(*alerts, truncated=0):
    statuses = {a["status"] for a in alerts}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": truncated,
        "status": "firing" if "firing" in statuses else "resolved",
        "receiver": "driftwatch",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def webhook_app(make_app):
    return make_app(alertmanager_webhook_token=TOKEN)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_app(request, make_app):
    """The webhook's app on SQLite (writers queue) and on PostgreSQL (writers race)."""
    if request.param == "sqlite":
        yield make_app(alertmanager_webhook_token=TOKEN)
        return
    with postgres_schema() as (schema, _):
        url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
        app = make_app(alertmanager_webhook_token=TOKEN, database_url=url)
        try:
            yield app
        finally:
            with app.app_context():
                services().db.dispose()


@pytest.fixture
def post(webhook_app):
    client = webhook_app.test_client()

    def send(body, token=TOKEN):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.post(URL, json=body, headers=headers)

    return send


def incidents(app):
    with app.app_context():
        return services().incidents.list().items


def events_of(app, incident_id):
    with app.app_context():
        return services().incidents.events(incident_id)


def test_firing_then_resolved(webhook_app, post):
    fired = post(payload(alert(dataset="orders", feature="amount")))
    assert fired.status_code == 200
    assert fired.get_json() == {
        "opened": 1,
        "updated": 0,
        "resolved": 0,
        "ignored": 0,
        "truncated": 0,
    }
    (incident,) = incidents(webhook_app)
    assert incident.fingerprint == dataset_fingerprint("orders")
    assert (incident.title, incident.severity, incident.source) == (
        "Drift in orders: 1 feature (amount)",
        "critical",
        "alertmanager",
    )
    assert incident.description == "drift on amount"
    recorded = incident.evidence["alerts"]["f00d"]
    assert recorded["generatorURL"].startswith("http://127.0.0.1:9090")
    assert recorded["labels"]["feature"] == "amount"
    done = post(payload(alert("resolved", dataset="orders", feature="amount")))
    assert done.get_json()["resolved"] == 1
    (incident,) = incidents(webhook_app)
    assert incident.status == "resolved"
    with webhook_app.app_context():
        *_, recovered, last = services().incidents.events(incident.id)
        (member,) = services().incidents.members([incident.id])[incident.id]
    assert (last.actor, last.to_status) == ("alertmanager", "resolved")
    assert (recovered.kind, recovered.note) == (
        "member_recovered",
        "amount recovered: FeatureDriftCritical resolved by Alertmanager",
    )
    assert (member.feature, member.status, member.recovered) == ("amount", "critical", True)


def test_redelivery_changes_nothing(webhook_app, post):
    body = payload(alert(dataset="orders", feature="amount"))
    post(body)
    again = post(copy.deepcopy(body))
    assert again.get_json() == {
        "opened": 0,
        "updated": 0,
        "resolved": 0,
        "ignored": 1,
        "truncated": 0,
    }
    assert incidents(webhook_app)[0].occurrences == 1


def test_each_alert_is_handled_on_its_own(webhook_app, post):
    body = payload(
        alert(fingerprint="a1", dataset="orders", feature="amount"),
        alert(fingerprint="b2", alertname="HighErrorRate", severity="warning"),
        alert("resolved", fingerprint="c3"),  # nothing open for it
    )
    assert post(body).get_json() == {
        "opened": 2,
        "updated": 0,
        "resolved": 0,
        "ignored": 1,
        "truncated": 0,
    }
    keys = {i.fingerprint: i for i in incidents(webhook_app)}
    assert keys[alert_fingerprint("b2")].severity == "medium"
    assert keys[alert_fingerprint("b2")].dataset is None


def test_joins_the_sensor_incident_as_that_member(webhook_app, post):
    with webhook_app.app_context():
        sensor = services().incidents.apply_one(
            Join(
                "orders",
                "device",
                status="warn",
                source=Source.DAGSTER,
                actor="dagster",
                psi=0.15,
                partition="2026-11-26",
                evidence={"partition": "2026-11-26", "feature": "device"},
            )
        )
    schema = alert(fingerprint="s1", alertname="FeatureSchemaBreak", severity="high")
    body = payload(
        alert(dataset="orders", feature="amount"), {**schema, "labels": {
            **schema["labels"], "dataset": "orders", "feature": "rating"}},
    )  # fmt: skip
    assert post(body).get_json()["updated"] == 2
    (incident,) = incidents(webhook_app)
    assert incident.id == sensor.incident.id
    assert incident.occurrences == 3
    assert incident.severity == "critical"  # escalated by the critical member
    assert incident.title == (
        "Drift and schema break in orders: 3 features since 2026-11-26 (amount, rating, device)"
    )
    with webhook_app.app_context():
        members = services().incidents.members([incident.id])[incident.id]
        kinds = [e.kind for e in services().incidents.events(incident.id)]
    assert [(m.feature, m.status) for m in members] == [
        ("device", "warn"),
        ("amount", "critical"),
        ("rating", "error"),
    ]
    assert kinds == ["opened", "member_added", "member_added"]


def test_resolves_only_when_no_alert_of_the_incident_fires(webhook_app, post):
    warn = alert(fingerprint="w", dataset="orders", feature="amount", severity="warning")
    crit = alert(fingerprint="c", dataset="orders", feature="amount")
    post(payload(warn, crit))
    half = post(payload(alert("resolved", fingerprint="c", dataset="orders", feature="amount")))
    assert half.get_json()["updated"] == 1
    assert incidents(webhook_app)[0].status == "open"
    done = post(
        payload(
            alert(
                "resolved", fingerprint="w", dataset="orders", feature="amount", severity="warning"
            )
        )
    )
    assert done.get_json()["resolved"] == 1


def test_truncated_alerts_are_reported_never_resolved_by_absence(webhook_app, post):
    post(payload(alert(fingerprint="x1"), alert(fingerprint="x2")))
    response = post(payload(alert(fingerprint="x1"), truncated=5))
    assert response.get_json()["truncated"] == 5
    assert {i.status for i in incidents(webhook_app)} == {"open"}


@pytest.mark.parametrize("token", [None, "wrong", "Bearer-less"])
def test_credential_is_required(post, token):
    response = post(payload(alert()), token=token)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"


def test_user_jwts_are_not_accepted(webhook_app, post):
    client = webhook_app.test_client()
    jwt = login(client, "admin")["access_token"]
    assert post(payload(alert()), token=jwt).status_code == 401


def test_unconfigured_token_refuses_everything(make_app):
    client = make_app().test_client()
    response = client.post(URL, json=payload(alert()), headers=bearer("anything"))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.pop("alerts"), "alerts"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts.0.status"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
        (lambda b: b["alerts"][0].pop("fingerprint"), "alerts.0.fingerprint"),
    ],
)
def test_malformed_payloads_are_4xx(post, mutate, field):
    body = payload(alert())
    mutate(body)
    response = post(body)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.get_json()["errors"]]


def _deliver(webhook_app):
    """A raw JSON body → the webhook's response, each call on its own test client (threads)."""

    def deliver(body: str):
        return webhook_app.test_client().post(
            URL,
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    return deliver


def test_50_concurrent_deliveries_make_one_incident(any_store_app):
    body = json.dumps(payload(alert(dataset="orders", feature="amount")))

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = [r.get_json() for r in pool.map(_deliver(any_store_app), [body] * 50)]
    assert sum(a["opened"] for a in answers) == 1
    assert sum(a["ignored"] for a in answers) == 49
    (incident,) = incidents(any_store_app)
    assert incident.occurrences == 1
    assert [e.kind for e in events_of(any_store_app, incident.id)] == ["opened"]


def test_storage_down_is_503_so_alertmanager_retries():
    from incident_api import create_app

    app = create_app(
        {
            "alertmanager_webhook_token": TOKEN,
            "environment": "test",
            "jwt_secret_key": "j" * 40,
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        }
    )
    response = app.test_client().post(URL, json=payload(alert()), headers=bearer(TOKEN))
    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_interleaved_firing_and_resolved_deliveries_end_resolved(any_store_app):
    """Alertmanager may deliver an older firing after the resolved one; the dedup keys and the
    per-alert state keep the end state right whatever the order: one incident, counted once,
    opened once and resolved at most once — a firing redelivered after the resolution does
    not open a second one."""
    labels = {"dataset": "orders", "feature": "amount"}
    firing = json.dumps(payload(alert(**labels)))
    resolved = json.dumps(payload(alert("resolved", **labels)))
    bodies = [firing, resolved] * 10

    deliver = _deliver(any_store_app)
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert {r.status_code for r in pool.map(deliver, bodies)} == {200}
    (incident,) = incidents(any_store_app)
    assert incident.occurrences == 1
    timeline = [(e.kind, e.to_status) for e in events_of(any_store_app, incident.id)]
    assert timeline[0] == ("opened", "open")
    # resolved, unless every resolved delivery came before the firing one
    done = [("member_recovered", None), ("transition", "resolved")]
    assert timeline[1:] == (done if incident.status == "resolved" else [])
    # Then the final, ordered delivery as Alertmanager sends it when drift clears.
    deliver(resolved)
    (incident,) = incidents(any_store_app)
    assert incident.status == "resolved"
    assert [e.to_status for e in events_of(any_store_app, incident.id)] == [
        "open",
        None,
        "resolved",
    ]


def test_a_long_summary_is_cut_for_the_title_and_kept_whole_in_the_evidence(any_store_app):
    """PostgreSQL refuses a title over the column's 200 characters: the whole group would get
    a 500 and Alertmanager would retry it forever."""
    summary = "Disk almost full on " + "node-" * 100
    long_name = "d" * 300
    body = payload(
        {**alert(fingerprint="long"), "annotations": {"summary": summary}},
        alert(fingerprint="other", alertname="Other", dataset=long_name, feature="f"),
    )
    answer = _deliver(any_store_app)(json.dumps(body))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["opened"] == 2
    by_key = {i.fingerprint: i for i in incidents(any_store_app)}
    cut = by_key[alert_fingerprint("long")]
    assert len(cut.title) == 200 and cut.title.endswith("…")
    assert summary.startswith(cut.title[:-1])
    assert cut.evidence["alerts"]["long"]["annotations"]["summary"] == summary
    other = by_key[alert_fingerprint("other")]  # too long a dataset: filed as any alert
    assert other.dataset == long_name[:200]
    assert other.evidence["alerts"]["other"]["labels"]["dataset"] == long_name
