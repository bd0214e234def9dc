"""promtool and amtool on the rules and configs; rules read only metrics that exist."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from incident_api.metric_names import EXPORTED
from tests.services import require

RULES = Path(__file__).resolve().parents[2] / "alert_rules"
CONTRACT = {"model_accuracy", "llm_cost_usd_total"}
OURS = re.compile(r"\b((?:flask_http|ml_feature|driftwatch)_[a-z_]+)\b")


def tool(name: str) -> str:
    require(
        f"{name} (Debian prometheus / prometheus-alertmanager)",
        lambda: shutil.which(name) or (_ for _ in ()).throw(FileNotFoundError(name)),
    )
    found = shutil.which(name)
    assert found
    return found


def run(*args: str) -> str:
    done = subprocess.run(args, cwd=RULES, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_rules_are_valid():
    assert "SUCCESS: 15 rules found" in run(
        tool("promtool"), "check", "rules", "driftwatch.rules.yml"
    )


def test_rules_unit_tests_cover_every_alert_both_ways():
    out = run(tool("promtool"), "test", "rules", "driftwatch.rules.test.yml")
    assert "SUCCESS" in out
    rules = yaml.safe_load((RULES / "driftwatch.rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "driftwatch.rules.test.yml").read_text())["tests"]
    firing, quiet = set(), set()
    for case in tests:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == alerts, alerts - firing
    assert quiet == alerts, alerts - quiet


def test_example_configs_are_valid():
    assert "SUCCESS" in run(tool("promtool"), "check", "config", "prometheus.yml")
    assert "SUCCESS" in run(tool("amtool"), "check-config", "alertmanager.yml")
    prometheus = yaml.safe_load((RULES / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["driftwatch.rules.yml"]
    assert prometheus["scrape_configs"][0]["metrics_path"] == "/metrics"
    (receiver,) = yaml.safe_load((RULES / "alertmanager.yml").read_text())["receivers"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"].endswith("/alerts/alertmanager")
    assert hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["type"] == "Bearer"
    assert "credentials" not in hook["http_config"]["authorization"]  # a file, not a secret


def test_rules_read_only_metrics_that_exist(app, client):
    """Every metric of ours a rule reads appears in a real /metrics scrape; the rest are the
    documented model-service contract."""
    from incident_api.services import services
    from warehouse.drift_results import DriftResultStore, NewResult

    with app.app_context():
        DriftResultStore(services().db).add(
            [
                NewResult("d", "f", "2026-11-27", "r", "ok", psi=0.01, drift_ratio=0.0),
                NewResult("d", "(multivariate)", "2026-11-27", "r", "ok"),
            ]
        )
    client.get("/health")
    scraped = client.get("/metrics").get_data(as_text=True)
    text = (RULES / "driftwatch.rules.yml").read_text()
    used = set(OURS.findall(text))
    assert used, "the rules read no driftwatch metric?"
    for sample in used:
        name = re.sub(r"_(bucket|count|sum)$", "", sample)  # a histogram's series
        assert name in EXPORTED, name
        assert re.search(rf"^{sample}[{{ ]", scraped, re.MULTILINE), sample
    every = set(re.findall(r"\b([a-z_]+)(?:\{|\[| [<>=]| offset)", text))
    others = {
        m
        for m in every
        if m not in used and not m.startswith(("rate", "sum", "increase", "histogram", "time"))
    }
    assert others <= CONTRACT, others
    readme = (RULES / "README.md").read_text()
    for name in CONTRACT:
        assert f"`{name}`" in readme
