"""The console in a real browser: Debian's chromium, driven through chromedriver by Selenium,
against the app served on 127.0.0.1."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait
from werkzeug.serving import make_server

from incident_api.services import services
from tests.api.conftest import PASSWORD, bearer, login
from tests.services import require


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(" or ".join(names))


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def chrome() -> Iterator[Any]:
    require(
        "chromium and chromedriver (Debian's chromium, chromium-driver: make system-deps)",
        lambda: (_binary("chromium", "chromium-browser", "google-chrome"), _binary("chromedriver")),
    )
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser", "google-chrome")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP reports land there
    # The driver from Debian's package: Selenium Manager would try to download one.
    driver = webdriver.Chrome(service=Service(_binary("chromedriver")), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def _then(driver: Any, act: Any) -> None:
    """Do ``act`` (a click, an Enter) and wait until the page it loads has replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    act()
    # Mid-navigation Chromium may answer "node does not belong to the document" instead of
    # "stale": poll again rather than fail, the next answer is the real one.
    WebDriverWait(driver, 10, ignored_exceptions=(WebDriverException,)).until(staleness_of(page))
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _sign_in_by_keyboard(driver: Any, base: str, username: str) -> None:
    driver.get(f"{base}/console/")  # signed out: sent to the sign-in page
    assert "/console/login" in driver.current_url
    focused = driver.switch_to.active_element  # autofocus on the username field
    assert focused.get_attribute("name") == "username"
    focused.send_keys(username, Keys.TAB)
    _then(driver, lambda: driver.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER))
    assert driver.find_element(By.CSS_SELECTOR, ".who span").text.startswith(username)


def test_a_responder_filters_acknowledges_and_comments(app, served, chrome):
    with app.app_context():
        store = services().incidents
        store.create(title="Quiet one", severity="low", actor="t", dataset="shop")
        target = store.create(
            title="Drift in shop.price", severity="critical", actor="t", dataset="shop",
            feature="price",
        ).id  # fmt: skip
    _sign_in_by_keyboard(chrome, served, "responder")
    Select(chrome.find_element(By.NAME, "severity")).select_by_value("critical")
    _then(chrome, chrome.find_element(By.CSS_SELECTOR, ".filters button").click)
    rows = chrome.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td a").text for r in rows] == ["Drift in shop.price"]
    _then(chrome, rows[0].find_element(By.CSS_SELECTOR, "td a").click)
    assert chrome.current_url.endswith(f"/console/incidents/{target}")

    _then(chrome, chrome.find_element(By.XPATH, "//button[text()='Acknowledge']").click)
    assert chrome.find_element(By.ID, "status").text == "acknowledged"
    box = chrome.find_element(By.ID, "comment-body")
    box.send_keys("Upstream feed changed units; rolling back.")
    _then(chrome, chrome.find_element(By.XPATH, "//button[text()='Add comment']").click)
    timeline = [li.text for li in chrome.find_elements(By.CSS_SELECTOR, ".timeline li")]
    assert any("responder transition → acknowledged" in line for line in timeline)
    assert any("comment: Upstream feed changed units; rolling back." in line for line in timeline)

    token = login(app.test_client(), "viewer")["access_token"]
    events = app.test_client().get(f"/incidents/{target}/events", headers=bearer(token))
    kinds = [(e["kind"], e["actor"], e["note"]) for e in events.get_json()["items"]]
    assert ("transition", "responder", "") in kinds
    assert ("comment", "responder", "Upstream feed changed units; rolling back.") in kinds

    _then(chrome, chrome.find_element(By.XPATH, "//button[text()='Sign out']").click)
    assert "/console/login" in chrome.current_url
    chrome.get(f"{served}/console/incidents/{target}")
    assert "/console/login" in chrome.current_url  # the session ended


def test_a_viewer_sees_no_buttons(app, served, chrome):
    with app.app_context():
        target = services().incidents.create(title="Look only", severity="high", actor="t").id
    _sign_in_by_keyboard(chrome, served, "viewer")
    chrome.get(f"{served}/console/incidents/{target}")
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Look only"
    buttons = [b.text for b in chrome.find_elements(By.TAG_NAME, "button")]
    assert buttons == ["Sign out"]
    assert chrome.find_elements(By.ID, "comment-body") == []


def test_pages_fit_a_phone_and_load_no_blocked_resource(app, served, chrome):
    with app.app_context():
        for n in range(5):
            services().incidents.create(
                title=f"A long incident title number {n} that must wrap on a phone",
                severity="medium", actor="t", dataset="a_dataset_with_a_long_name",
            )  # fmt: skip
    _sign_in_by_keyboard(chrome, served, "responder")
    chrome.set_window_size(390, 844)
    for path in ("/console/", "/console/incidents/1", "/console/datasets"):
        chrome.get(f"{served}{path}")
        width = chrome.execute_script("return document.documentElement.scrollWidth")
        inner = chrome.execute_script("return window.innerWidth")
        assert width <= inner, (path, width, inner)
        # The stylesheet applied (CSP allows it): the header bar is dark.
        colour = chrome.execute_script(
            "return getComputedStyle(document.querySelector('.bar')).backgroundColor"
        )
        assert colour == "rgb(29, 35, 48)", path
    chrome.execute_script("document.body.setAttribute('style', 'color: red')")  # refused
    blocked = [e["message"] for e in chrome.get_log("browser")]
    csp = [m for m in blocked if "Content Security Policy" in m]
    assert len(csp) == 1 and "style-src" in csp[0], blocked  # the injected one, nothing else


def test_a_responder_splits_a_member_out_and_merges_it_back(app, served, chrome):
    from warehouse.fingerprint import GroupBy
    from warehouse.incidents import Join
    from warehouse.lifecycle import Source

    with app.app_context():
        (first, *_) = services().incidents.apply(
            [
                Join("shop", feature, status=status, source=Source.DAGSTER, actor="dagster",
                     group_by=GroupBy.DATASET, psi=psi, partition="2026-11-10")
                for feature, status, psi in (
                    ("amount", "critical", 0.9), ("device", "warn", 0.2), ("channel", "warn", 0.1)
                )
            ]
        )  # fmt: skip
        assert first.incident is not None
        event = first.incident.id
    _sign_in_by_keyboard(chrome, served, "responder")
    chrome.get(f"{served}/console/incidents/{event}")

    def members() -> list[str]:
        rows = chrome.find_elements(By.CSS_SELECTOR, "table.members tbody tr")
        return [r.get_attribute("data-feature") for r in rows]

    assert members() == ["amount", "device", "channel"]
    chrome.find_element(By.CSS_SELECTOR, "input[aria-label='split device']").click()
    split = "//button[text()='Split the ticked members into a new incident']"
    _then(chrome, chrome.find_element(By.XPATH, split).click)
    new = int(chrome.current_url.rsplit("/", 1)[1])
    assert new != event and members() == ["device"]
    assert "Drift in shop: 1 feature since 2026-11-10 (device)" in chrome.title

    chrome.get(f"{served}/console/incidents/{event}")
    assert members() == ["amount", "channel"]
    chrome.find_element(By.ID, "merge-from").send_keys(str(new))
    _then(chrome, chrome.find_element(By.XPATH, "//button[text()='Merge into this one']").click)
    assert chrome.current_url.endswith(f"/console/incidents/{event}")
    assert members() == ["amount", "device", "channel"]
    timeline = [li.text for li in chrome.find_elements(By.CSS_SELECTOR, ".timeline li")]
    assert any(f"responder split: moved device to incident {new}" in t for t in timeline)
    assert any(f"responder merged: merged incident {new}" in t for t in timeline)
    chrome.get(f"{served}/console/incidents/{new}")
    assert chrome.find_element(By.ID, "status").text == "resolved"


def test_an_incident_shows_where_it_changed_with_each_segments_bars(app, served, chrome):
    hint = {
        "column": "country", "value": "DE", "share_reference": 0.3, "share_current": 0.31,
        "psi_within": 0.92, "explained": 0.82, "kind": "within", "hidden": False,
        "bins": {"labels": ["low", "mid", "high"], "reference": [0.3, 0.4, 0.3],
                 "current": [0.1, 0.3, 0.6]},
    }  # fmt: skip
    evidence = {
        "partition": "2026-11-10", "psi": 0.6, "where": "mostly country=DE: 82 % of the shift",
        "segments": [hint, {**hint, "value": "FR", "explained": 0.1, "bins": None}],
    }  # fmt: skip
    with app.app_context():
        incident = services().incidents.create(
            title="Drift in shop.amount", severity="high", actor="t", dataset="shop",
            feature="amount", evidence=evidence,
        )  # fmt: skip
    _sign_in_by_keyboard(chrome, served, "viewer")
    chrome.get(f"{served}/console/incidents/{incident.id}")
    assert chrome.find_element(By.ID, "where").text == "mostly country=DE: 82 % of the shift"
    rows = chrome.find_elements(By.CSS_SELECTOR, "#segments tbody tr")
    assert [r.find_element(By.TAG_NAME, "th").text for r in rows] == ["country=DE", "country=FR"]
    bars = [r.find_element(By.CSS_SELECTOR, "svg.explained rect.fill") for r in rows]
    widths = [b.rect["width"] for b in bars]  # as laid out by the browser
    assert widths[0] > 8 * widths[1] > 0
    drawn = rows[0].find_elements(By.CSS_SELECTOR, "svg.mini rect")
    assert len(drawn) == 6 and all(r.rect["height"] > 0 for r in drawn)  # 3 bins × 2 sides
    fill = chrome.execute_script(
        "return getComputedStyle(arguments[0]).fill", drawn[-1]
    )  # the current side in the stylesheet's blue
    assert fill == "rgb(23, 92, 211)"
    assert rows[1].find_elements(By.CSS_SELECTOR, "svg.mini") == []  # no bins: a dash
