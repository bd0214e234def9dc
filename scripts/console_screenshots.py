"""Screenshots of the console's three main pages for the README, taken in Debian's chromium
from a running ``make demo`` (its data, its API on 127.0.0.1:8000).

    .venv/bin/python scripts/console_screenshots.py     # while make demo runs

Signs in as a ``screenshots`` responder it creates in the demo's database (the password is
random, used once and never printed) and writes docs/img/console-{incidents,incident,datasets}.png
in a desktop-sized window.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.harness import create_user, http_json, sign_in  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    password = secrets.token_urlsafe(16)
    if not create_user("screenshots", "responder", password):
        raise SystemExit("screenshots: the user exists; remove it or run on a fresh demo")
    token = sign_in(args.base, "screenshots", password)
    page = http_json(f"{args.base}/incidents?source=dagster&status=open&limit=200", token=token)
    if not page["items"]:
        raise SystemExit("screenshots: no open Dagster incident yet; wait for the demo")
    worst = max(page["items"], key=lambda i: i["evidence"].get("psi") or 0)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1280,800", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options
    )
    try:
        driver.get(f"{args.base}/console/login")
        driver.find_element(By.NAME, "username").send_keys("screenshots")
        driver.find_element(By.NAME, "password").send_keys(password + "\n")
        driver.find_element(By.CSS_SELECTOR, ".who")
        shots = {
            "console-incidents.png": "/console/",
            "console-incident.png": f"/console/incidents/{worst['id']}",
            "console-datasets.png": "/console/datasets",
        }
        args.out.mkdir(parents=True, exist_ok=True)
        for name, path in shots.items():
            driver.set_window_size(1280, 800)
            driver.get(f"{args.base}{path}")
            driver.find_element(By.TAG_NAME, "h1")
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, max(800, min(int(height), 1500)))  # the whole page
            driver.save_screenshot(str(args.out / name))
            print(f"screenshots: {args.out / name} ← {path}")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
