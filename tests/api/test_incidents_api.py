"""Every incident endpoint: happy paths and the ways requests go wrong."""

import pytest

PROBLEM = "application/problem+json"


def _create(client, headers, **body):
    payload = {"title": "amount drifted", "severity": "high", **body}
    response = client.post("/incidents", json=payload, headers=headers("responder"))
    assert response.status_code == 201, response.get_json()
    return response


def assert_problem(response, status, field=None):
    assert response.status_code == status
    assert response.content_type == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def test_create_get_and_location(client, headers):
    response = _create(
        client,
        headers,
        description="PSI 0.4",
        dataset="orders",
        feature="amount",
        evidence={"psi": 0.4},
        assignee="bob",
    )
    created = response.get_json()
    assert response.headers["Location"] == f"/incidents/{created['id']}"
    assert created["status"] == "open" and created["source"] == "manual"
    assert created["created_by"] == "responder" and created["occurrences"] == 1
    fetched = client.get(response.headers["Location"], headers=headers("viewer")).get_json()
    assert fetched == created
    assert list(created)[:3] == ["id", "title", "description"]


def test_list_filters_and_cursor_pagination(client, headers):
    for i in range(5):
        _create(
            client,
            headers,
            title=f"i{i}",
            severity="critical" if i % 2 else "low",
            dataset="orders" if i < 3 else "users",
        )
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/incidents", query_string=query, headers=headers("viewer")).get_json()
        seen += [i["title"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["i4", "i3", "i2", "i1", "i0"]
    critical = client.get("/incidents?severity=critical", headers=headers("viewer")).get_json()
    assert [i["title"] for i in critical["items"]] == ["i3", "i1"]
    users = client.get("/incidents?dataset=users&status=open", headers=headers("viewer"))
    assert [i["title"] for i in users.get_json()["items"]] == ["i4", "i3"]
    late = client.get(
        "/incidents",
        query_string={"created_after": "2999-01-01T00:00:00Z"},
        headers=headers("viewer"),
    )
    assert late.get_json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("severity=urgent", "severity"),
        ("status=closed", "status"),
        ("created_after=yesterday", "created_after"),
        ("created_after=2026-01-01T00:00:00", "created_after"),  # no offset: ambiguous
        ("created_before=0.5", "created_before"),  # not a Unix timestamp
        ("cursor=bm9wZQ", "cursor"),
        ("colour=red", "colour"),
        ("limit=1&limit=2", "limit"),
        ("dataset=%27%3B+DROP+TABLE+incidents%3B--", None),  # a value, not SQL: just no match
    ],
)
def test_list_rejects_bad_queries(client, headers, query, field):
    response = client.get(f"/incidents?{query}", headers=headers("viewer"))
    if field is None:
        assert response.status_code == 200
        assert response.get_json()["items"] == []
        return
    assert_problem(response, 422, field)


def test_patch(client, headers):
    incident = _create(client, headers).get_json()
    url = f"/incidents/{incident['id']}"
    response = client.patch(
        url, json={"severity": "critical", "assignee": "carol"}, headers=headers("responder")
    )
    assert response.status_code == 200
    assert response.get_json()["severity"] == "critical"
    assert response.get_json()["assignee"] == "carol"
    assert_problem(client.patch(url, json={}, headers=headers("responder")), 422)
    assert_problem(client.patch(url, json={"title": None}, headers=headers("responder")), 422)
    assert_problem(
        client.patch(url, json={"status": "resolved"}, headers=headers("responder")), 422, "status"
    )
    assert_problem(
        client.patch("/incidents/9999", json={"title": "x"}, headers=headers("responder")), 404
    )


def test_transitions_and_timeline(client, headers):
    incident = _create(client, headers).get_json()
    url = f"/incidents/{incident['id']}"

    def move(status, note=""):
        return client.post(
            f"{url}/transitions",
            json={"status": status, "note": note},
            headers=headers("responder"),
        )

    acknowledged = move("acknowledged", "looking")
    assert acknowledged.status_code == 200
    assert acknowledged.get_json()["acknowledged_at"] is not None
    assert move("resolved", "fixed upstream").get_json()["status"] == "resolved"
    body = assert_problem(move("acknowledged"), 409)
    assert body["detail"] == "cannot move an incident from resolved to acknowledged"
    assert move("open", "came back").status_code == 200
    assert_problem(move("paused"), 422, "status")
    events = client.get(f"{url}/events", headers=headers("viewer")).get_json()["items"]
    assert [(e["kind"], e["from_status"], e["to_status"], e["actor"]) for e in events] == [
        ("opened", None, "open", "responder"),
        ("transition", "open", "acknowledged", "responder"),
        ("transition", "acknowledged", "resolved", "responder"),
        ("transition", "resolved", "open", "responder"),
    ]
    assert events[2]["note"] == "fixed upstream"
    assert_problem(client.get("/incidents/9999/events", headers=headers("viewer")), 404)
    assert_problem(
        client.post(
            "/incidents/9999/transitions", json={"status": "resolved"}, headers=headers("responder")
        ),
        404,
    )


def test_delete(client, headers):
    incident = _create(client, headers).get_json()
    url = f"/incidents/{incident['id']}"
    assert client.delete(url, headers=headers("admin")).status_code == 204
    assert_problem(client.get(url, headers=headers("viewer")), 404)
    assert_problem(client.delete(url, headers=headers("admin")), 404)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"data": "title=x", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": "[1, 2]", "content_type": "application/json"}, 422),
        ({"json": {"title": "x", "severity": "high", "extra": 1}}, 422),
        ({"json": {"title": "", "severity": "high"}}, 422),
        ({"json": {"title": "x" * 201, "severity": "high"}}, 422),
        ({"json": {"severity": "high"}}, 422),
        ({"json": {"title": "x", "severity": "high", "evidence": "x" * 70_000}}, 413),
        ({"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"}, 400),
    ],
)
def test_bad_bodies_are_clean_4xx(client, headers, kwargs, status):
    response = client.post("/incidents", headers=headers("responder"), **kwargs)
    assert_problem(response, status)


def test_unknown_routes_ids_and_methods(client, headers):
    assert_problem(client.get("/incidents/abc", headers=headers("viewer")), 404)
    assert_problem(client.get("/incidents/-1", headers=headers("viewer")), 404)
    assert_problem(client.get("/incidents/26160198021339418722304", headers=headers("viewer")), 404)
    assert_problem(
        client.patch("/incidents/99999999999", json={"title": "x"}, headers=headers("responder")),
        404,
    )
    assert_problem(client.get("/nope"), 404)
    response = client.put("/incidents/1", headers=headers("admin"))
    assert_problem(response, 405)
    assert "PATCH" in response.headers["Allow"]
    assert_problem(client.get("/auth/token"), 405)


def test_validation_errors_do_not_echo_input(client, headers):
    secret_like = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2ln"
    response = client.post(
        "/incidents", json={"title": "x", "severity": secret_like}, headers=headers("responder")
    )
    assert response.status_code == 422  # the field's problem, not an error page
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert [e["field"] for e in body["errors"]] == ["severity"]
    assert body["detail"] == "invalid body: severity"
    assert secret_like not in response.get_data(as_text=True)
