"""Notifications end to end in one process: the API changes an incident, the worker sends it
to real receivers on 127.0.0.1 (HTTP, SMTP), on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from incident_api import ConfigError
from incident_api.notifications.channels import build_channels
from incident_api.notifications.worker import Worker, notifications_counter
from incident_api.services import services
from scripts.notify_sink import Sink
from tests.api.conftest import role_headers
from tests.services import free_port

SECRET = "a-webhook-secret-of-32-characters!"


@pytest.fixture
def sink() -> Iterator[Sink]:
    receiver = Sink(secret=SECRET)
    yield receiver
    receiver.stop()


class Harness:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.registry = CollectorRegistry()
        with app.app_context():
            svc = services()
            self.worker = Worker(
                svc.notifications,
                build_channels(svc.settings),
                svc.settings,
                counter=notifications_counter(self.registry),
                jitter=lambda: 0.0,
            )

    def until(self, done: Callable[[], Any], timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.worker.step()
            if value := done():
                return value
            time.sleep(0.02)
        raise AssertionError("the worker did not get there in time")

    def count(self, channel: str, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "driftwatch_notifications_total", {"channel": channel, "outcome": outcome}
        )
        return value or 0.0

    def deliveries(self, status: str | None = None) -> list[Any]:
        with self.app.app_context():
            return services().notifications.page(status=status)


@pytest.fixture
def notifying(make_app, database_url) -> Callable[..., tuple[Flask, Harness]]:
    def make(**overrides: Any) -> tuple[Flask, Harness]:
        config = {
            "database_url": database_url,
            "notify_webhook_secret": SECRET,
            "notify_backoff_seconds": 0.05,
            "notify_timeout_seconds": 2,
            "public_url": "https://driftwatch.example.com",
            **overrides,
        }
        app = make_app(**config)
        return app, Harness(app)

    return make


def _create(client, headers, severity: str = "high", **extra: Any) -> dict[str, Any]:
    body = {"title": "Drift in shop.price", "severity": severity, "dataset": "shop", **extra}
    response = client.post("/incidents", json=body, headers=headers("responder"))
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def _headers_for(app: Flask) -> Callable[[str], dict[str, str]]:
    return role_headers(app.test_client())


@contextmanager
def smtp_server(handler: object) -> Iterator[int]:
    """aiosmtpd on a spare 127.0.0.1 port, with ``handler``'s hooks; yields the port."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _email_settings(port: int, to: str) -> dict[str, str]:
    return {
        "smtp_url": f"smtp://127.0.0.1:{port}",
        "notify_email_from": "driftwatch@example.com",
        "notify_email_to": to,
    }


def test_a_flaky_receiver_gets_the_event_once_with_one_delivery_id(notifying, sink):
    sink.respond = lambda n: 503 if n <= 2 else 200
    url = f"http://127.0.0.1:{sink.start()}/hook"
    app, run = notifying(notify_webhook_urls=url)
    client, headers = app.test_client(), _headers_for(app)
    incident = _create(client, headers, feature="price")

    run.until(lambda: sink.accepted())
    assert [a.status for a in sink.arrivals] == [503, 503, 200]
    ids = {a.headers["x-driftwatch-delivery"] for a in sink.arrivals}
    assert len(ids) == 1  # the same delivery id on every attempt
    for arrival in sink.arrivals:
        stamp = arrival.headers["x-driftwatch-timestamp"]
        assert abs(int(stamp) - time.time()) < 60
        signed = f"{stamp}.".encode() + arrival.body  # the timestamp is signed with the body
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert arrival.headers["x-driftwatch-signature"] == f"sha256={expected}"
        assert arrival.headers["x-driftwatch-event"] == "incident.opened"
        assert arrival.headers["content-type"] == "application/json"
    body = sink.accepted()[0].json()
    assert body["event"] == "incident.opened"
    assert body["delivery_id"] == ids.pop()
    assert body["incident"]["id"] == incident["id"]
    assert (
        body["incident"]["url"]
        == f"https://driftwatch.example.com/console/incidents/{incident['id']}"
    )
    assert {k: body["incident"][k] for k in ("title", "severity", "status", "dataset")} == {
        "title": "Drift in shop.price",
        "severity": "high",
        "status": "open",
        "dataset": "shop",
    }
    assert body["incident"]["feature"] == "price"
    assert body["actor"] == "responder"
    for _ in range(5):  # nothing more to send: delivered means delivered once
        run.worker.step()
    assert len(sink.arrivals) == 3
    (row,) = run.deliveries("delivered")
    assert (row.attempts, row.channel) == (3, "webhook-1")
    assert (run.count("webhook-1", "retried"), run.count("webhook-1", "delivered")) == (2, 1)


def test_a_replayed_or_restamped_delivery_is_refused_by_the_receiver(notifying, sink):
    """A captured request sent again later fails the receiver's timestamp window; changing
    its timestamp breaks the signature. The documented check, as scripts/notify_sink.py does."""
    import urllib.request

    port = sink.start()
    app, run = notifying(notify_webhook_urls=f"http://127.0.0.1:{port}/hook")
    _create(app.test_client(), _headers_for(app))
    (captured,) = run.until(lambda: sink.accepted())

    def replay(headers: dict[str, str]) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/hook", data=captured.body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)

    headers = {k: v for k, v in captured.headers.items() if k.startswith("x-driftwatch")}
    headers["content-type"] = "application/json"
    assert replay(headers) == 200  # within the window, the same request verifies
    sink.clock = lambda: time.time() + 600  # ten minutes later
    assert replay(headers) == 401
    stamp = str(int(time.time()) + 600)
    assert replay({**headers, "x-driftwatch-timestamp": stamp}) == 401  # not signed so


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried_and_retry_after_is_honoured(notifying, sink, status):
    sink.respond = lambda n: status if n == 1 else 200
    sink.retry_after = "1"
    url = f"http://127.0.0.1:{sink.start()}/hook"
    app, run = notifying(notify_webhook_urls=url)  # the backoff alone would wait 0.05 s
    client, headers = app.test_client(), _headers_for(app)
    _create(client, headers)
    run.until(lambda: sink.accepted())
    first, second = sink.arrivals
    assert (first.status, second.status) == (status, 200)
    if status == 429:
        assert second.received - first.received >= 1.0
    (row,) = run.deliveries("delivered")
    assert row.attempts == 2


def test_each_lifecycle_step_is_told_and_low_severity_is_filtered(notifying, sink):
    url = f"http://127.0.0.1:{sink.start()}/hook"
    app, run = notifying(notify_webhook_urls=url)
    client, headers = app.test_client(), _headers_for(app)
    _create(client, headers, severity="low")  # below the default minimum (medium)
    incident = _create(client, headers, severity="medium")
    path = f"/incidents/{incident['id']}"
    patch = {"severity": "critical", "assignee": "responder"}
    assert client.patch(path, json=patch, headers=headers("responder")).status_code == 200
    transition = {"status": "acknowledged"}
    assert (
        client.post(
            f"{path}/transitions", json=transition, headers=headers("responder")
        ).status_code
        == 200
    )
    resolve = {"status": "resolved", "note": "fixed"}
    assert (
        client.post(f"{path}/transitions", json=resolve, headers=headers("responder")).status_code
        == 200
    )
    run.until(lambda: len(sink.accepted()) >= 5)
    told = [(a.json()["event"], a.json()["incident"]["id"]) for a in sink.accepted()]
    assert told == [
        ("incident.opened", incident["id"]),
        ("incident.severity_raised", incident["id"]),
        ("incident.assigned", incident["id"]),
        ("incident.acknowledged", incident["id"]),
        ("incident.resolved", incident["id"]),
    ]
    assert sink.accepted()[1].json()["change"] == {"previous_severity": "medium"}


def test_a_4xx_is_permanent_and_an_admin_sees_and_retries_it(notifying, sink):
    sink.respond = lambda n: 404 if n == 1 else 200
    url = f"http://127.0.0.1:{sink.start()}/hook"
    app, run = notifying(notify_webhook_urls=url)
    client, headers = app.test_client(), _headers_for(app)
    _create(client, headers)
    run.until(lambda: run.deliveries("dead"))
    assert len(sink.arrivals) == 1  # not retried
    listed = client.get("/notifications?status=dead", headers=headers("admin"))
    assert listed.status_code == 200
    (dead,) = listed.get_json()["items"]
    assert (dead["status"], dead["attempts"], dead["last_error"]) == ("dead", 1, "HTTP 404")
    assert url not in json.dumps(listed.get_json())  # URLs hold tokens: never shown
    assert client.get("/notifications", headers=headers("responder")).status_code == 403
    assert (
        client.post(f"/notifications/{dead['id']}/retry", headers=headers("viewer")).status_code
        == 403
    )
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "driftwatch_notifications_dead 1.0" in metrics

    retried = client.post(f"/notifications/{dead['id']}/retry", headers=headers("admin"))
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    run.until(lambda: sink.accepted())
    assert {a.headers["x-driftwatch-delivery"] for a in sink.arrivals} == {dead["delivery_id"]}
    again = client.post(f"/notifications/{dead['id']}/retry", headers=headers("admin"))
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
    missing = client.post("/notifications/999999/retry", headers=headers("admin"))
    assert missing.status_code == 404
    # Ids past what the column holds (found by schemathesis: PostgreSQL refused the query).
    huge = client.post("/notifications/9999999999/retry", headers=headers("admin"))
    assert huge.status_code == 404
    past = client.get("/notifications?cursor=9999999999", headers=headers("admin"))
    assert past.status_code == 422 and past.get_json()["errors"][0]["field"] == "cursor"
    bad = client.get("/notifications?status=lost", headers=headers("admin"))
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "status"


def test_a_receiver_that_stays_down_makes_the_delivery_dead(notifying):
    port = free_port()  # nothing listens: connection refused on every attempt
    app, run = notifying(notify_webhook_urls=f"http://127.0.0.1:{port}/hook", notify_max_attempts=3)
    client, headers = app.test_client(), _headers_for(app)
    _create(client, headers)
    (dead,) = run.until(lambda: run.deliveries("dead"))
    assert dead.attempts == 3
    assert dead.last_error.startswith("cannot connect")
    assert (run.count("webhook-1", "retried"), run.count("webhook-1", "dead")) == (2, 1)


def test_pending_gauges_show_what_waits(notifying, sink):
    sink.respond = lambda n: 503
    url = f"http://127.0.0.1:{sink.start()}/hook"
    app, run = notifying(notify_webhook_urls=url, notify_backoff_seconds=60)
    client, headers = app.test_client(), _headers_for(app)
    _create(client, headers)
    time.sleep(0.3)
    run.until(lambda: sink.arrivals)

    def gauges() -> dict[str, float]:
        text = client.get("/metrics").get_data(as_text=True)
        return {
            s.name: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name.startswith("driftwatch_notifications")
        }

    found = gauges()
    assert found["driftwatch_notifications_pending"] == 1
    assert found["driftwatch_notifications_oldest_pending_age_seconds"] >= 0.3
    assert found["driftwatch_notifications_dead"] == 0


def test_slack_gets_text_and_blocks_in_slacks_shape(notifying):
    slack = Sink()
    url = f"http://127.0.0.1:{slack.start()}/services/T000/B000/XXXX"
    try:
        app, run = notifying(notify_slack_webhook_url=url)
        with app.app_context():
            services().incidents.create(
                title="Drift in shop.price <b>&",
                severity="critical",
                actor="dagster",
                dataset="shop",
                feature="price",
                evidence={"psi": 0.4213, "run_url": "http://127.0.0.1:3000/runs/abc"},
            )
        run.until(lambda: slack.accepted())
    finally:
        slack.stop()
    message = slack.accepted()[0].json()
    # Slack's incoming webhooks: "text" is the notification fallback, "blocks" Block Kit.
    assert set(message) == {"text", "blocks"}
    assert message["text"] == "Opened: [CRITICAL] Drift in shop.price &lt;b&gt;&amp;"
    header, fields, links = message["blocks"]
    assert header["type"] == "header"
    assert header["text"]["type"] == "plain_text"  # header blocks take plain_text only
    assert header["text"]["text"] == "Opened: [CRITICAL] Drift in shop.price <b>&"
    assert len(header["text"]["text"]) <= 150
    assert fields["type"] == "section" and 1 <= len(fields["fields"]) <= 10
    texts = [f["text"] for f in fields["fields"]]
    assert all(f["type"] == "mrkdwn" and len(f["text"]) <= 2000 for f in fields["fields"])
    assert "*Severity*\ncritical" in texts
    assert "*Dataset / feature*\nshop.price" in texts
    assert "*PSI*\n0.4213" in texts
    assert links["text"]["type"] == "mrkdwn"
    link = "<https://driftwatch.example.com/console/incidents/1|Incident 1>"
    assert link in links["text"]["text"]
    assert "<http://127.0.0.1:3000/runs/abc|Dagster run>" in links["text"]["text"]


def test_email_arrives_over_smtp_with_text_and_html(notifying):
    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's API
            received.append(envelope)
            return "250 OK"

    with smtp_server(Handler()) as port:
        app, run = notifying(**_email_settings(port, "oncall@example.com, data@example.com"))
        client, headers = app.test_client(), _headers_for(app)
        incident = _create(client, headers, severity="critical", feature="price")
        run.until(lambda: received)
    (envelope,) = received
    assert envelope.mail_from == "driftwatch@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "data@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "[driftwatch] Opened: [CRITICAL] Drift in shop.price"
    assert message.get_content_type() == "multipart/alternative"
    (row,) = run.deliveries("delivered")
    assert row.delivery_id in message["Message-ID"]
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://driftwatch.example.com/console/incidents/{incident['id']}"
    assert "Dataset / feature: shop.price" in plain and link in plain
    assert f"<a href='{link}'>" in html and "<h2>Opened: [CRITICAL]" in html


def test_an_smtp_server_that_refuses_for_good_makes_the_email_dead(notifying):
    class Refuser:
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            return "550 no such user here"

    with smtp_server(Refuser()) as port:
        app, run = notifying(**_email_settings(port, "nobody@example.com"))
        client, headers = app.test_client(), _headers_for(app)
        _create(client, headers)
        (dead,) = run.until(lambda: run.deliveries("dead"))
    assert dead.attempts == 1 and "550" in dead.last_error


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"notify_webhook_urls": "http://127.0.0.1:9/a,not a url"}, "NOTIFY_WEBHOOK_URLS: entry 2"),
        ({"notify_webhook_urls": "http://127.0.0.1:9/a"}, "NOTIFY_WEBHOOK_SECRET is required"),
        ({"notify_slack_webhook_url": "hooks.slack.com/x"}, "NOTIFY_SLACK_WEBHOOK_URL"),
        ({"smtp_url": "mail.example.com:25"}, "SMTP_URL"),
        ({"smtp_url": "smtp://127.0.0.1:25"}, "email needs all of SMTP_URL"),
        ({"notify_min_severity": "urgent"}, "NOTIFY_MIN_SEVERITY"),
        ({"public_url": "driftwatch.example.com"}, "PUBLIC_URL"),
    ],
)
def test_bad_notification_config_is_refused_in_one_line(make_app, overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        make_app(**overrides)
    text = str(caught.value)
    assert "\n" not in text
    assert "hooks.slack.com/x" not in text and "127.0.0.1:9/a" not in text


def test_a_drift_event_pages_once_and_a_raising_join_once_more(notifying, sink):
    """Five features of one dataset breach in one sensor tick: one page listing all five. A
    quiet join (no higher severity) is not told; a critical one is, naming the new member."""
    from warehouse.fingerprint import GroupBy
    from warehouse.incidents import Join
    from warehouse.lifecycle import Source

    slack = Sink()
    url = f"http://127.0.0.1:{slack.start()}/services/T000/B000/XXXX"
    try:
        app, run = notifying(
            notify_webhook_urls=f"http://127.0.0.1:{sink.start()}/hook",
            notify_slack_webhook_url=url,
        )

        def breach(feature: str, status: str, partition: str = "2026-11-10") -> Join:
            return Join(
                "shop_orders",
                feature,
                status=status,
                source=Source.DAGSTER,
                actor="dagster",
                group_by=GroupBy.DATASET,
                psi=0.3,
                partition=partition,
                dedup_key=f"{feature}:{partition}",
            )

        five = ["amount", "session_minutes", "device", "payment_method", "delivery_days"]
        with app.app_context():
            store = services().incidents
            store.apply([breach(f, "warn") for f in five])
            run.until(lambda: len(sink.accepted()) == 1 and len(slack.accepted()) == 1)
            store.apply([breach("channel", "warn", "2026-11-11")])  # quiet: timeline only
            store.apply([breach("coupon_value", "critical", "2026-11-11")])
            run.until(lambda: len(sink.accepted()) == 2 and len(slack.accepted()) == 2)
        for _ in range(20):
            run.worker.step()
    finally:
        slack.stop()
    pages = [a.json() for a in sink.accepted()]
    assert [p["event"] for p in pages] == ["incident.opened", "incident.severity_raised"]
    assert [m["feature"] for m in pages[0]["incident"]["members"]] == five
    assert pages[0]["incident"]["title"] == (
        "Drift in shop_orders: 5 features since 2026-11-10 (amount, delivery_days, device, …)"
    )
    raised = pages[1]
    assert raised["change"] == {"previous_severity": "medium", "new_members": ["coupon_value"]}
    assert [m["feature"] for m in raised["incident"]["members"]][-2:] == [
        "channel",
        "coupon_value",
    ]
    texts = [f["text"] for f in slack.accepted()[1].json()["blocks"][1]["fields"]]
    assert "*New members*\ncoupon_value" in texts
    members = next(t for t in texts if t.startswith("*Members*"))
    assert "amount (warn, PSI 0.30)" in members and "… 2 more" not in members
    assert "coupon_value (critical, PSI 0.30)" in members


def test_slack_and_email_render_hostile_evidence_and_deliver_the_next_one(notifying):
    """Evidence stored past validation (an older row, another writer): no mention, no phishing
    link, a subject on one line — and the next incident is delivered as usual."""
    from tests.api.test_hostile_evidence import HOSTILE, stored

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's API
            received.append(envelope)
            return "250 OK"

    slack = Sink()
    url = f"http://127.0.0.1:{slack.start()}/services/T000/B000/XXXX"
    try:
        with smtp_server(Handler()) as port:
            app, run = notifying(
                notify_slack_webhook_url=url,
                smtp_url=f"smtp://127.0.0.1:{port}",
                notify_email_from="driftwatch@example.com",
                notify_email_to="oncall@example.com",
            )
            stored(
                app,
                title="Drift <!channel>\r\nBcc: victim@example.com",
                severity="critical",
                dataset="shop",
                evidence=HOSTILE,
            )
            stored(app, title="The next one", severity="critical", dataset="shop")
            run.until(lambda: len(slack.accepted()) == 2 and len(received) == 2)
    finally:
        slack.stop()
    first = slack.accepted()[0].json()
    assert "evil.example" not in str(first)
    # mrkdwn (the fallback text, fields, links) would ping the channel: escaped there; the
    # header is plain_text, which Slack never parses for mentions or links
    mrkdwn = [first["text"], *(f["text"] for f in first["blocks"][1]["fields"])]
    mrkdwn.append(first["blocks"][2]["text"]["text"])
    assert not any("<!channel>" in part for part in mrkdwn)
    assert "&lt;!channel&gt;" in first["text"]
    assert first["blocks"][0]["text"]["type"] == "plain_text"
    links = first["blocks"][2]["text"]["text"]
    assert "Dagster run" not in links  # the hostile run_url is no link at all
    fields = {f["text"].split("\n")[0]: f["text"] for f in first["blocks"][1]["fields"]}
    assert fields["*PSI*"] == "*PSI*\n—"
    message = email.message_from_bytes(received[0].content, policy=email.policy.default)
    assert "\n" not in message["Subject"] and "Bcc" not in message
    assert message["Subject"].strip().startswith("[driftwatch] Opened: [CRITICAL] Drift <!channel>")
    html = message.get_body(("html",)).get_content()
    assert "evil.example" not in html and "&lt;!channel&gt;" in html
    second = email.message_from_bytes(received[1].content, policy=email.policy.default)
    assert "The next one" in second["Subject"]
