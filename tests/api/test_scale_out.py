"""Two API instances behind nginx, as deploy/nginx/driftwatch.conf runs them: separate gunicorn
processes on their own ports, sharing PostgreSQL and Redis, scraped by the real Prometheus.

What one instance learns (a revoked token, a spent login allowance, an Alertmanager delivery)
the other must act on at once, and with one instance gone nginx keeps serving. Every process
started here (nginx, two gunicorns, Prometheus) is stopped by its PID."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import yaml

from scripts import harness
from tests.alert_rules.test_prometheus_e2e import prometheus_api
from tests.alert_rules.test_rules import tool
from tests.api.live import Api, client_address, gunicorn, migrated_env, race
from tests.services import (
    POSTGRES_URL,
    REDIS_HOST,
    REDIS_PORT,
    free_port,
    postgres_schema,
    require,
    wait_for,
)
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore, NewResult

EXAMPLE = harness.ROOT / "deploy" / "nginx" / "driftwatch.conf"
LOGIN_LIMIT = 8
WEBHOOK_TOKEN = "scale-out-" + "w" * 40
REDIS_DB = 5  # this module's own: flushed at the start, so no earlier run's limits count


def nginx_config(tmp: Path, port: int, upstreams: list[int]) -> Path:
    """The example site with its listen port and upstream servers replaced, inside a main
    config whose pid file, logs and temp files live in ``tmp``."""
    site = EXAMPLE.read_text()
    site, listens = re.subn(r"listen 127\.0\.0\.1:\d+;", f"listen 127.0.0.1:{port};", site)
    servers = iter(upstreams)
    site, replaced = re.subn(
        r"server 127\.0\.0\.1:\d+ ", lambda _: f"server 127.0.0.1:{next(servers)} ", site
    )
    assert (listens, replaced) == (1, len(upstreams)), "deploy/nginx/driftwatch.conf changed shape"
    (tmp / "driftwatch.conf").write_text(site)
    # As root, nginx's workers would run as nobody, who cannot enter pytest's 0700 tmp dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    temp = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in ("proxy", "fastcgi", "uwsgi"))
    main = tmp / "nginx.conf"
    main.write_text(
        f"""{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/client_body;
    scgi_temp_path {tmp}/scgi;
    {temp}
    include {tmp}/driftwatch.conf;
}}
"""
    )
    return main


def prometheus_config(tmp: Path, targets: list[str]) -> Path:
    config = tmp / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "driftwatch", "static_configs": [{"targets": targets}]}
                ],
            }
        )
    )
    return config


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require("Redis at 127.0.0.1:6379", lambda: redis.Redis(REDIS_HOST, REDIS_PORT).ping())
    nginx_binary = shutil.which("nginx") or "/usr/sbin/nginx"
    require("nginx (Debian package nginx)", lambda: os.stat(nginx_binary))
    prometheus = tool("prometheus")
    tmp = tmp_path_factory.mktemp("scale-out")
    redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB).flushdb()
    with postgres_schema() as (schema, connect), ExitStack() as stack:
        env = migrated_env(
            schema,
            REDIS_DB,
            LOGIN_RATE_LIMIT=f"{LOGIN_LIMIT} per minute",
            ALERTMANAGER_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        )
        db = Database.from_url(POSTGRES_URL, **connect)
        stack.callback(db.dispose)
        one, _ = stack.enter_context(gunicorn(tmp, env, 1, "instance-1"))
        two, two_process = stack.enter_context(gunicorn(tmp, env, 1, "instance-2"))
        ports = [int(api.base.rsplit(":", 1)[1]) for api in (one, two)]
        port = free_port()
        config = nginx_config(tmp, port, ports)
        nginx = harness.start(
            [nginx_binary, "-p", str(tmp), "-c", str(config), "-g", "daemon off;"],
            tmp / "nginx.out",
            env,
        )
        stack.callback(harness.stop, [nginx], signal.SIGTERM)
        harness.wait_ready(f"http://127.0.0.1:{port}/health", nginx, tmp / "nginx.out", 30)
        prom_port = free_port()
        targets = [api.base.removeprefix("http://") for api in (one, two)]
        prom = harness.start(
            [
                prometheus,
                f"--config.file={prometheus_config(tmp, targets)}",
                f"--storage.tsdb.path={tmp / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp / "prometheus.log",
            env,
        )
        stack.callback(harness.stop, [prom], signal.SIGTERM)
        harness.wait_ready(
            f"http://127.0.0.1:{prom_port}/-/ready", prom, tmp / "prometheus.log", 60
        )
        yield {
            "nginx": Api(f"http://127.0.0.1:{port}", tmp / "nginx-access.log"),
            "instances": (one, two),
            "second_process": two_process,
            "prometheus": f"http://127.0.0.1:{prom_port}",
            "results": DriftResultStore(db),
        }


def _refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError:
        return False
    except OSError:
        return True
    return False


def test_each_instance_is_ready_on_the_shared_stores(cluster):
    for api in (*cluster["instances"], cluster["nginx"]):
        status, body = api.json("GET", "/ready")
        assert (status, body["status"]) == (200, "ready")
        assert body["checks"] == {"database": "ok", "schema": "ok", "denylist (redis)": "ok"}
    # The per-process metrics are for Prometheus on each instance's own port, not for callers.
    assert cluster["nginx"].call("GET", "/metrics")[0] == 404


def test_a_token_revoked_through_one_instance_is_refused_by_the_other(cluster):
    one, two = cluster["instances"]
    pair = one.sign_in("rui")
    assert two.json("GET", "/incidents", token=pair["access_token"])[0] == 200
    assert one.call("POST", "/auth/logout", token=pair["access_token"])[0] == 204
    # At once: no wait, no cache to expire — the other instance asks the same Redis.
    assert two.json("GET", "/incidents", token=pair["access_token"])[0] == 401
    assert two.json("POST", "/auth/refresh", token=pair["refresh_token"])[0] == 401
    through_nginx = [
        cluster["nginx"].json("GET", "/incidents", token=pair["access_token"])[0] for _ in range(6)
    ]
    assert through_nginx == [401] * 6


def test_the_login_limit_is_shared_by_both_instances(cluster):
    nginx, (one, two) = cluster["nginx"], cluster["instances"]
    before = [api.requests_logged("/auth/token") for api in (one, two)]
    body = {"password": "not the password"}

    def attempt(i: int) -> int:
        status: int = nginx.json("POST", "/auth/token", {**body, "username": f"nobody-{i}"})[0]
        return status

    statuses = Counter(race(LOGIN_LIMIT * 3, attempt))
    # Limits kept per instance would let up to twice the limit through; Redis lets exactly it.
    assert statuses == {401: LOGIN_LIMIT, 429: LOGIN_LIMIT * 2}
    served = [
        api.requests_logged("/auth/token") - b for api, b in zip((one, two), before, strict=True)
    ]
    assert min(served) > 0 and sum(served) == LOGIN_LIMIT * 3, served
    # Another client (behind the same proxy) still signs in: the limit is per client.
    assert one.sign_in("ana", client_address())["access_token"]


def _delivery() -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "FeatureDriftCritical", "severity": "critical",
                   "dataset": "payments", "feature": "fee"},
        "annotations": {"summary": "PSI above 0.25"},
        "startsAt": "2026-12-06T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": "5ca1e0u7",
    }  # fmt: skip
    return {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "driftwatch",
            "alerts": [alert]}  # fmt: skip


def test_50_concurrent_identical_deliveries_make_one_incident(cluster):
    nginx, (one, two) = cluster["nginx"], cluster["instances"]
    route = "/alerts/alertmanager"
    before = [api.requests_logged(route) for api in (one, two)]
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    answers = race(50, lambda _: nginx.json("POST", route, _delivery(), headers=headers))
    assert {status for status, _ in answers} == {200}
    assert sum(body["opened"] for _, body in answers) == 1
    assert sum(body["ignored"] for _, body in answers) == 49
    served = [api.requests_logged(route) - b for api, b in zip((one, two), before, strict=True)]
    assert min(served) > 0 and sum(served) == 50, served
    token = one.sign_in("rui")["access_token"]
    status, page = one.json("GET", "/incidents?dataset=payments", token=token)
    assert status == 200
    (incident,) = page["items"]
    assert (incident["feature"], incident["occurrences"]) == ("fee", 1)


def _by_instance(prometheus: str, selector: str) -> dict[str, float]:
    """The latest value of each series ``selector`` matches, by its ``instance`` label."""
    found = prometheus_api(prometheus, f"query?query={quote(selector)}")["result"]
    return {sample["metric"]["instance"]: float(sample["value"][1]) for sample in found}


PSI = 'ml_feature_psi{dataset="orders",feature="amount"}'


def test_prometheus_scrapes_both_and_their_drift_gauges_agree(cluster):
    prometheus, results = cluster["prometheus"], cluster["results"]
    instances = {api.base.removeprefix("http://") for api in cluster["instances"]}
    up = 'up{job="driftwatch"}'
    wait_for(lambda: _by_instance(prometheus, up) == dict.fromkeys(instances, 1.0), 30, "both up")
    results.add([NewResult("orders", "amount", "2026-12-05", "r1", "critical", psi=0.31)])
    wait_for(lambda: _by_instance(prometheus, PSI) == dict.fromkeys(instances, 0.31), 30, "0.31")
    # A newer partition: both instances move together, read from the one warehouse.
    results.add([NewResult("orders", "amount", "2026-12-06", "r2", "ok", psi=0.04)])
    wait_for(lambda: _by_instance(prometheus, PSI) == dict.fromkeys(instances, 0.04), 30, "0.04")


def test_with_one_instance_down_nginx_keeps_serving(cluster):
    """Last in this module: it stops the second instance."""
    nginx, (one, two) = cluster["nginx"], cluster["instances"]
    token = one.sign_in("rui")["access_token"]
    harness.stop([cluster["second_process"]], sig=signal.SIGTERM)
    assert _refused(f"{two.base}/ready")
    assert one.json("GET", "/ready")[0] == 200
    statuses = [nginx.json("GET", "/incidents", token=token)[0] for _ in range(20)]
    assert statuses == [200] * 20
    delivery = _delivery()
    delivery["alerts"][0]["fingerprint"] = "0ther"
    delivery["alerts"][0]["labels"]["feature"] = "currency"
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    posted = [nginx.json("POST", "/alerts/alertmanager", delivery, headers=headers)[0]]
    posted += [nginx.call("POST", "/auth/logout", token=token)[0]]
    assert posted == [200, 204]
    # nginx did try the stopped one, and moved the request on instead of failing it.
    errors = (two.log.parent / "nginx-error.log").read_text()
    assert "Connection refused) while connecting to upstream" in errors
    alive, dead = (api.base.removeprefix("http://") for api in (one, two))
    wait_for(
        lambda: _by_instance(cluster["prometheus"], 'up{job="driftwatch"}') == {alive: 1, dead: 0},
        30,
        "Prometheus to see the stopped instance down",
    )
