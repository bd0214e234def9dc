"""The console's datasets pages read the stored present: the list is searched, filtered by
worst status, sorted worst first and paged; one dataset's grid pages its features."""

from __future__ import annotations

import re

from flask import Flask

from incident_api.console.datasets import DATASETS_PER_PAGE, FEATURES_PER_PAGE
from incident_api.services import services
from tests.api.test_console import _page, browser  # noqa: F401 — the signed-in client
from warehouse.drift_results import DriftResultStore, NewResult

ROW = re.compile(r'<th scope="row"><a href="/console/datasets/([\w.-]+)">')


def _seed(app: Flask, statuses: dict[str, list[str]], day: str = "2026-11-02") -> None:
    with app.app_context():
        store = DriftResultStore(services().db)
        for dataset, graded in statuses.items():
            rows = [
                NewResult(dataset, f"f{n:03d}", day, "r", status, psi=0.01 * n)
                for n, status in enumerate(graded)
            ]
            store.add(rows)


def _listed(html: str) -> list[str]:
    return ROW.findall(html)


def test_the_list_is_worst_first_searchable_and_filtered_by_worst_status(app, browser):  # noqa: F811
    _seed(
        app,
        {
            "orders": ["ok", "warn"],
            "clicks": ["ok", "ok"],
            "payments": ["critical", "ok", "warn"],
            "order_lines": ["error", "ok"],
        },
    )
    html = _page(browser, "/console/datasets")
    assert _listed(html) == ["order_lines", "payments", "orders", "clicks"]
    payments = html.split('href="/console/datasets/payments"')[1].split("</tr>")[0]
    # worst, features, then the count per status (error, critical, warn, ok)
    cells = re.findall(r"<td>(?:<span[^>]*>)?([\w-]+)", payments)
    assert cells[:6] == ["critical", "3", "0", "1", "1", "1"]
    assert "2026-11-02" in payments and 'href="/console/?dataset=payments"' in payments
    assert _listed(_page(browser, "/console/datasets?q=order")) == ["order_lines", "orders"]
    assert _listed(_page(browser, "/console/datasets?q=ORDER_")) == ["order_lines"]
    assert _listed(_page(browser, "/console/datasets?q=%25")) == []  # a literal %, not a wildcard
    assert _listed(_page(browser, "/console/datasets?worst=warn")) == ["orders"]
    assert _listed(_page(browser, "/console/datasets?worst=ok&q=click")) == ["clicks"]
    assert "No dataset matches." in _page(browser, "/console/datasets?worst=ok&q=pay")
    bad = browser.get("/console/datasets?worst=bad")
    assert bad.status_code == 400 and "worst" in bad.get_data(as_text=True)
    assert browser.get("/console/datasets?page=0").status_code == 400


def test_the_list_pages_and_a_newer_partition_moves_the_present(app, browser):  # noqa: F811
    _seed(app, {f"d{n:03d}": ["ok"] for n in range(DATASETS_PER_PAGE + 1)})
    _seed(app, {"d007": ["critical"]}, day="2026-11-03")  # the newest partition is the present
    _seed(app, {"d008": ["critical"]}, day="2026-11-01")  # a backfill is history
    first = _page(browser, "/console/datasets")
    assert _listed(first)[:2] == ["d007", "d000"] and len(_listed(first)) == DATASETS_PER_PAGE
    assert 'rel="next" href="/console/datasets?page=2"' in first and 'rel="prev"' not in first
    second = _page(browser, "/console/datasets?page=2")
    assert _listed(second) == ["d050"] and 'rel="next"' not in second
    assert 'rel="prev" href="/console/datasets?page=1"' in second


def test_one_dataset_grid_pages_its_features_worst_first(app, browser):  # noqa: F811
    graded = ["ok"] * (FEATURES_PER_PAGE + 5)
    graded[30] = "critical"
    _seed(app, {"wide": graded}, day="2026-11-01")
    _seed(app, {"wide": graded}, day="2026-11-02")
    html = _page(browser, "/console/datasets/wide")
    rows = re.findall(r'<tr><th scope="row">(\w+)</th>', html)
    assert len(rows) == FEATURES_PER_PAGE and rows[:2] == ["f030", "f000"]
    assert "11-01" in html and "11-02" in html and f"{FEATURES_PER_PAGE + 5} features" in html
    rest = _page(browser, "/console/datasets/wide?page=2")
    assert re.findall(r'<tr><th scope="row">(\w+)</th>', rest) == [
        f"f{n:03d}" for n in range(FEATURES_PER_PAGE, FEATURES_PER_PAGE + 5)
    ]
    assert browser.get("/console/datasets/nothing").status_code == 404
    assert browser.get("/console/datasets/wide?page=x").status_code == 400


def test_a_result_shows_the_levels_it_was_graded_with_and_its_reference(app, browser):  # noqa: F811
    levels = {
        "psi": {"warn": 0.31, "critical": 0.47},
        "unseen_share": {"warn": 0.02, "critical": 0.06},
    }
    with app.app_context():
        store = DriftResultStore(services().db)
        store.add_once(
            [NewResult("web", "city", "2026-11-15", "r", "warn", psi=0.35, levels=levels)],
            reference={"kind": "rolling", "rolling_days": 28, "same_weekday": True,
                       "exclude_breaches": False, "partitions": ["2026-11-01", "2026-11-08"],
                       "calibrated": True},
        )  # fmt: skip
        store.add_once(
            [NewResult("web", "city", "2026-11-16", "s", "ok", psi=0.1)],
            reference={"kind": "fixed", "start": "2026-10-01", "end": "2026-10-07"},
        )
    html = _page(browser, "/console/datasets/web/city/2026-11-15")
    row = re.search(r'<th scope="row">psi</th>(.*?)</tr>', html, re.S)
    assert row is not None and re.findall(r"<td>([^<]*)</td>", row.group(1)) == [
        "0.3500", "0.31", "0.47",
    ]  # fmt: skip
    assert "2 partitions merged (2026-11-01, 2026-11-08)" in html
    assert "same weekday" in html and "levels calibrated on their own spread" in html
    # the trend draws the levels this result was graded with, not the defaults
    assert "warn 0.31" in html and "critical 0.47" in html
    fixed = _page(browser, "/console/datasets/web/city/2026-11-16")
    assert "the fixed reference window 2026-10-01 … 2026-10-07" in fixed


def test_a_result_shows_where_it_changed_as_a_ranked_table(app, browser):  # noqa: F811
    hint = {
        "column": "country", "value": "DE", "share_reference": 0.3, "share_current": 0.31,
        "psi_within": 0.92, "explained": 0.88, "kind": "within", "hidden": False,
        "bins": {"labels": ["low", "high"], "reference": [0.5, 0.5], "current": [0.1, 0.9]},
    }  # fmt: skip
    mix = {**hint, "value": "IT", "explained": 0.09, "kind": "mix", "psi_within": 0.001}
    with app.app_context():
        DriftResultStore(services().db).add(
            [NewResult("web", "amount", "2026-11-15", "r", "critical", psi=0.6,
                       segments=[hint, mix])]
        )  # fmt: skip
    html = _page(browser, "/console/datasets/web/amount/2026-11-15")
    assert "Where: mostly country=DE: 88 % of the shift" in html
    rows = re.findall(r'<tr class="segment[^"]*">\s*<th scope="row">([^<]+)</th>', html)
    assert rows == ["country=DE", "country=IT"]
    assert '<rect class="fill" width="105.6"' in html  # 88 % of the bar
    assert "share of rows (mix)" in html and "within the segment" in html
    assert html.count('<svg class="mini"') == 2


def test_the_multivariate_result_draws_its_error_against_its_levels(app, browser):  # noqa: F811
    def stored(day: str, error: float, status: str) -> NewResult:
        levels = {"reconstruction_error": {"warn": 0.45, "critical": 0.5}}
        result = {
            "status": status, "reconstruction_error": error, "reference_mean": 0.4,
            "reference_std": 0.0125, "warn": 0.45, "critical": 0.5,
            "top_columns": ["tax", "price"], "components": 2, "message": "",
        }  # fmt: skip
        return NewResult("web", "(multivariate)", day, "r", status, levels=levels,
                         multivariate=result)  # fmt: skip

    with app.app_context():
        store = DriftResultStore(services().db)
        store.add([stored("2026-11-14", 0.41, "ok")])
        store.add([stored("2026-11-15", 0.93, "critical")])
    html = _page(browser, "/console/datasets/web/(multivariate)/2026-11-15")
    row = re.search(r'<th scope="row">reconstruction_error</th>(.*?)</tr>', html, re.S)
    assert row is not None and re.findall(r"<td>([^<]*)</td>", row.group(1)) == [
        "0.9300", "0.45", "0.5",
    ]  # fmt: skip
    assert "Reconstruction error over the recent partitions" in html
    assert "The error grew most in: tax, price" in html
    assert html.count('class="dot st-') == 2 and "warn 0.45" in html
