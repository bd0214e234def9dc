"""``GET /datasets`` and ``GET /datasets/{dataset}/results`` on SQLite and PostgreSQL: each
dataset's present, one dataset's history filtered and paged by keyset, and problems for bad
queries."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from incident_api.services import services
from tests.api.conftest import role_headers
from warehouse.drift_results import DriftResultStore, NewResult

DAYS = [f"2026-11-{d:02d}" for d in range(1, 8)]


@pytest.fixture
def seeded(store_app: Flask) -> Flask:
    with store_app.app_context():
        store = DriftResultStore(services().db)
        for n, day in enumerate(DAYS):
            status = "critical" if day == "2026-11-05" else "ok"
            store.add(
                [
                    NewResult("shop", "amount", day, f"r{n}", status, psi=n / 10, drift_ratio=0.1),
                    NewResult("shop", "device", day, f"r{n}", "ok", psi=0.01, chi2_pvalue=0.5),
                ]
            )
        store.add([NewResult("shop", "amount", "2026-11-07", "again", "warn", psi=0.2)])
        store.add([NewResult("clicks", "page", "2026-11-07", "r", "ok", psi=0.0)])
        store.add([NewResult("views", "page", "2026-11-07", "r", "error", schema_break="missing")])
    return store_app


def _get(app: Flask, path: str, **params: Any) -> tuple[int, Any]:
    client = app.test_client()
    answer = client.get(path, query_string=params, headers=role_headers(client)("viewer"))
    return answer.status_code, answer.get_json()


def test_datasets_list_each_present_by_name_in_pages(seeded):
    status, body = _get(seeded, "/datasets")
    assert status == 200 and body["next_cursor"] is None
    by_name = {d["dataset"]: d for d in body["items"]}
    assert list(by_name) == ["clicks", "shop", "views"]
    shop = by_name["shop"]
    assert (shop["features"], shop["worst"], shop["newest_partition"]) == (2, "warn", DAYS[-1])
    assert shop["counts"] == {"error": 0, "critical": 0, "warn": 1, "ok": 1, "insufficient": 0}
    assert by_name["views"]["worst"] == "error"
    status, first = _get(seeded, "/datasets", limit=2)
    assert [d["dataset"] for d in first["items"]] == ["clicks", "shop"]
    status, rest = _get(seeded, "/datasets", limit=2, cursor=first["next_cursor"])
    assert [d["dataset"] for d in rest["items"]] == ["views"] and rest["next_cursor"] is None
    assert [d["dataset"] for d in _get(seeded, "/datasets", worst="ok")[1]["items"]] == ["clicks"]
    assert [d["dataset"] for d in _get(seeded, "/datasets", q="SHO")[1]["items"]] == ["shop"]


def test_results_are_newest_first_filtered_and_paged_by_keyset(seeded):
    status, body = _get(seeded, "/datasets/shop/results", feature="amount")
    assert status == 200
    rows = [(r["partition"], r["run_id"], r["status"]) for r in body["items"]]
    # the re-run of the newest day comes first, then the run it superseded
    assert rows[:3] == [(DAYS[6], "again", "warn"), (DAYS[6], "r6", "ok"), (DAYS[5], "r5", "ok")]
    assert len(rows) == 8
    first = body["items"][2]
    assert first["measures"]["psi"] == 0.5 and first["measures"]["drift_ratio"] == 0.1
    assert "chi2_pvalue" not in first["measures"]  # opt-in measures only where graded
    device = _get(seeded, "/datasets/shop/results", feature="device", limit=1)[1]["items"][0]
    assert device["measures"]["chi2_pvalue"] == 0.5
    # every row exactly once across pages of 3, whatever filters
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        status, page = _get(seeded, "/datasets/shop/results", **params)
        assert status == 200
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 15
    critical = _get(seeded, "/datasets/shop/results", status="critical")[1]["items"]
    assert [(r["feature"], r["partition"]) for r in critical] == [("amount", "2026-11-05")]
    ranged = _get(seeded, "/datasets/shop/results", **{"from": DAYS[1], "to": DAYS[2]})[1]
    assert sorted({r["partition"] for r in ranged["items"]}) == DAYS[1:3]
    views = _get(seeded, "/datasets/views/results")[1]["items"][0]
    assert (views["status"], views["schema_break"]) == ("error", "missing")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/datasets/shop/results", {"status": "bad"}, "status"),
        ("/datasets/shop/results", {"limit": "0"}, "limit"),
        ("/datasets/shop/results", {"cursor": "bm9wZQ"}, "cursor"),
        ("/datasets/shop/results", {"cursor": "!!"}, "cursor"),
        ("/datasets/shop/results", {"colour": "red"}, "colour"),
        ("/datasets", {"worst": "bad"}, "worst"),
        ("/datasets", {"cursor": "cjoxOjIwMjYtMTEtMDE"}, "cursor"),  # a results cursor
    ],
)
def test_bad_queries_are_problems_naming_the_field(seeded, path, params, field):
    status, body = _get(seeded, path, **params)
    assert status == 422, body
    assert [e["field"] for e in body["errors"]] == [field]


def test_an_unknown_dataset_is_a_404_problem_and_the_role_is_checked(seeded):
    status, body = _get(seeded, "/datasets/nothing/results")
    assert status == 404 and "nothing" in body["detail"]
    client = seeded.test_client()
    assert client.get("/datasets").status_code == 401


def test_each_result_carries_its_levels_and_reference(store_app):
    rolling = {
        "kind": "rolling", "rolling_days": 28, "same_weekday": True, "exclude_breaches": False,
        "partitions": ["2026-11-01", "2026-11-08"], "calibrated": True,
    }  # fmt: skip
    levels = {
        "psi": {"warn": 0.31, "critical": 0.47},
        "js_distance": {"warn": 0.2, "critical": 0.3},
    }
    with store_app.app_context():
        store = DriftResultStore(services().db)
        store.add([NewResult("web", "city", "2026-11-14", "old", "ok", psi=0.1)])  # before 0012
        store.add_once(
            [NewResult("web", "city", "2026-11-15", "r", "warn", psi=0.35, levels=levels),
             NewResult("web", "age", "2026-11-15", "r", "ok", psi=0.01, levels=levels)],
            reference=rolling,
        )  # fmt: skip
        store.add_once(
            [NewResult("web", "city", "2026-11-16", "s", "insufficient", message="too few")],
            reference={"kind": "rolling", "rolling_days": 28, "same_weekday": True,
                       "exclude_breaches": False, "partitions": ["2026-11-02"],
                       "calibrated": False},
        )  # fmt: skip
    status, body = _get(store_app, "/datasets/web/results", feature="city")
    assert status == 200
    newest, graded, old = body["items"]
    assert newest["status"] == "insufficient" and newest["levels"] is None
    assert newest["reference"]["partitions"] == ["2026-11-02"]
    assert graded["levels"] == levels and graded["reference"] == {
        **rolling, "start": None, "end": None,
    }  # fmt: skip
    assert old["levels"] is None and old["reference"] is None
    status, body = _get(store_app, "/datasets/web/results", status="insufficient")
    assert [r["partition"] for r in body["items"]] == ["2026-11-16"]
    status, body = _get(store_app, "/datasets")
    web = body["items"][0]  # insufficient ranks below ok: it is no alarm
    assert (web["worst"], web["counts"]["insufficient"], web["counts"]["ok"]) == ("ok", 1, 1)


HINT = {
    "column": "country", "value": "DE", "share_reference": 0.3, "share_current": 0.31,
    "psi_within": 0.92, "explained": 0.88, "kind": "within", "hidden": False,
    "bins": {"labels": ["[-inf, 1)", "[1, inf)"], "reference": [0.5, 0.5], "current": [0.1, 0.9]},
}  # fmt: skip


def test_a_result_of_a_segmented_dataset_carries_its_hints(store_app):
    with store_app.app_context():
        DriftResultStore(services().db).add(
            [NewResult("web", "amount", "2026-11-15", "r", "critical", psi=0.6,
                       segments=[HINT, {**HINT, "value": "FR", "explained": 0.1}]),
             NewResult("web", "city", "2026-11-15", "r", "ok", psi=0.01)]
        )  # fmt: skip
    status, body = _get(store_app, "/datasets/web/results")
    assert status == 200
    by_feature = {r["feature"]: r for r in body["items"]}
    assert by_feature["amount"]["segments"][0] == HINT
    assert [s["value"] for s in by_feature["amount"]["segments"]] == ["DE", "FR"]
    assert by_feature["city"]["segments"] is None
