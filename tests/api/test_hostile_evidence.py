"""Hostile or malformed evidence: refused on the way in (422 naming the field), and shown
harmlessly on the way out in the console (Slack and email: test_notifications.py)."""

from __future__ import annotations

from typing import Any

import pytest

from incident_api.services import services
from tests.api.test_console import sign_in

PHISH = "https://x|x> <!channel> <https://evil.example/sso|Sign in again"
SEGMENT = {
    "column": "country", "value": "DE", "share_reference": 0.3, "share_current": 0.3,
    "psi_within": 0.9, "explained": 0.8, "kind": "within",
}  # fmt: skip


@pytest.mark.parametrize(
    ("evidence", "field"),
    [
        ({"run_url": PHISH}, "evidence.run_url"),
        ({"run_url": "javascript:alert(1)"}, "evidence.run_url"),
        ({"run_url": "https://ok.example/a b"}, "evidence.run_url"),
        ({"psi": "0.4"}, "evidence.psi"),
        ({"psi": True}, "evidence.psi"),
        ({"psi": "NaN"}, "evidence.psi"),
        ({"bins": {"labels": ["a"], "reference": [0.5], "current": []}}, "evidence.bins"),
        ({"bins": {"labels": ["a"], "reference": ["x"], "current": [1]}}, "evidence.bins"),
        ({"bins": [1, 2]}, "evidence.bins"),
        ({"levels": {"psi": {"warn": "low", "critical": 0.2}}}, "evidence.levels"),
        ({"segments": [{"column": "c", "value": "v"}]}, "evidence.segments"),
        ({"segments": [{**SEGMENT, "kind": "<script>"}]}, "evidence.segments"),
        ({"segments": [{**SEGMENT, "share_current": 7}]}, "evidence.segments"),
        ({"where": "x" * 501}, "evidence.where"),
        ({"\u0000": None}, "evidence"),  # a kept key PostgreSQL's jsonb cannot store
        ({"note": ["fine", {"deep": "a\u0000b"}]}, "evidence"),
    ],
)
def test_malformed_evidence_is_refused_naming_the_field(client, headers, evidence, field):
    body = {"title": "t", "severity": "low", "evidence": evidence}
    answer = client.post("/incidents", json=body, headers=headers("responder"))
    assert answer.status_code == 422, answer.get_json()
    assert answer.content_type == "application/problem+json"
    fields = [e["field"] for e in answer.get_json()["errors"]]
    assert any(f.startswith(field) for f in fields), fields


def test_well_formed_evidence_and_extra_keys_are_kept(client, headers):
    evidence = {
        "run_url": "https://dagster.example.com/runs/abc?x=1",
        "psi": 0.4,
        "bins": {"labels": ["a", "b"], "reference": [0.5, 0.5], "current": [0.1, 0.9]},
        "levels": {"psi": {"warn": 0.1, "critical": 0.25}},
        "ticket": {"system": "jira", "key": "DATA-1"},
        "segments": [SEGMENT],
        "where": "mostly country=DE: 80 % of the shift",
    }
    body = {"title": "t", "severity": "low", "evidence": evidence}
    answer = client.post("/incidents", json=body, headers=headers("responder"))
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["evidence"] == evidence


HOSTILE = {
    "run_url": PHISH,
    "run_id": "<b>run</b>",
    "psi": "not a number",
    "bins": {"labels": ["a"], "reference": "oops", "current": [1]},
    "levels": {"psi": {"warn": "x"}},
    "partition": "2026-11-10",
    "segments": [
        {**SEGMENT, "column": "<script>bad()</script>", "explained": "lots"},
        {**SEGMENT, "value": "<img src=x onerror=alert(1)>", "bins": {"labels": "x"}},
        "not a segment",
    ],
    "where": "<script>alert(1)</script>\nsecond line",
}


def stored(app: Any, **fields: Any) -> int:
    """An incident written past the API's validation (an older row, another writer)."""
    with app.app_context():
        created = services().incidents.create(actor="t", **fields)
        return created.id


def test_the_console_shows_hostile_evidence_harmlessly(app):
    incident = stored(
        app, title="Drift in shop.price", severity="high", dataset="shop", evidence=HOSTILE
    )
    client = app.test_client()
    sign_in(client, "viewer")
    answer = client.get(f"/console/incidents/{incident}")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "evil.example" not in html.split("<body", 1)[1].split("Timeline")[0]
    assert "<dt>PSI</dt>" not in html and "Dagster run" not in html
    assert '<rect class="ref"' not in html  # malformed bins: no chart
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the readable segment, escaped
    assert "bad()" not in html  # a segment without a number for its share: left out
    assert "&lt;script&gt;alert(1)&lt;/script&gt; second line" in html  # one line, escaped
