"""The read side at a large team's size (issue 34), side by side with the code before it.

Seeds a PostgreSQL database of its own with DATASETS × FEATURES drift results per day for the
first history length (60 days), a million incidents, and serves it with two gunicorns of two
workers each: this checkout ("new") and a git worktree of ``--baseline`` ("old", the code path
before the stored present). It times each page over HTTP (median of ``--repeat``; bytes are the
body's), then the incident sensor over a whole day of new results (DATASETS × FEATURES,
written through the results store as the pipelines write them), each code in its own process
(``bench/sensor_day.py``). Then it extends history to the second length (365 days) and
measures again.

    python -m bench.read_side                        # the defaults: 500 datasets of 100 features
    python -m bench.read_side --datasets 50 --days 10,30 --incidents 10000   # a quick look

Every server is bound to 127.0.0.1 and stopped by its PID; the database is dropped at the end
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from incident_api.passwords import hash_password
from scripts.harness import free_port
from warehouse.db import Database, make_engine
from warehouse.migrate import upgrade
from warehouse.present import PresentStore
from warehouse.users import Role, UserStore

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIRST_DAY = "2025-01-01"
SEED_DAY = """
INSERT INTO drift_results (dataset, feature, partition, run_id, status, psi, drift_ratio,
    mean_shift_std, js_distance, missing_share_delta, unseen_share, message, evaluated_at)
SELECT 'ds' || lpad(d::text, 4, '0'), 'f' || lpad(f::text, 3, '0'),
       to_char(CAST(:first AS date) + CAST(:day AS int), 'YYYY-MM-DD'), 'seed-' || :day,
       CASE WHEN h < 0.004 THEN 'critical' WHEN h < 0.03 THEN 'warn' ELSE 'ok' END,
       CASE WHEN h < 0.004 THEN 0.3 + h WHEN h < 0.03 THEN 0.1 + h ELSE h / 10 END,
       h / 5, h, h / 3, 0.0, 0.0, '',
       CAST(:first AS timestamptz) + make_interval(days => CAST(:day AS int), hours => 2)
FROM generate_series(0, CAST(:datasets AS int) - 1) AS d,
     generate_series(0, CAST(:features AS int) - 1) AS f,
     LATERAL (SELECT abs(hashtext(d || ':' || f || ':' || :day)) / 2147483648.0 AS h) AS r
"""
SEED_INCIDENTS = """
INSERT INTO incidents (title, description, severity, status, source, dataset, fingerprint,
    occurrences, first_seen_at, last_seen_at, evidence, created_by, created_at, updated_at,
    resolved_at)
SELECT 'Drift in ds' || lpad((i % n)::text, 4, '0'), '',
       (ARRAY['critical', 'high', 'medium', 'low'])[1 + i % 4],
       CASE WHEN is_open THEN 'open' ELSE 'resolved' END, 'dagster',
       'ds' || lpad((i % n)::text, 4, '0'), 'bench:' || i, 1, at, at, '{}', 'dagster',
       at, at, CASE WHEN is_open THEN NULL ELSE at END
FROM generate_series(CAST(:start AS int), CAST(:stop AS int)) AS i,
     LATERAL (SELECT CAST(:datasets AS int) AS n,
                     i > CAST(:total AS int) - CAST(:open AS int) AS is_open,
                     timestamptz '2024-01-01' + make_interval(mins => i) AS at) AS t
"""


@dataclass
class Shape:
    datasets: int
    features: int
    incidents: int
    open_incidents: int


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@contextmanager
def bench_database(name: str, keep: bool) -> Iterator[str]:
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_days(db: Database, shape: Shape, days: range) -> float:
    """Results for ``days`` (one statement per day, so ids follow the days), then the present
    rebuilt from them (timed: what ``results rebuild-present`` costs at this size)."""
    params = {"first": FIRST_DAY, "datasets": shape.datasets, "features": shape.features}
    for day in days:
        with db.engine.begin() as connection:
            connection.execute(text(SEED_DAY), {**params, "day": day})
        if day % 30 == 0:
            say(f"  seeded day {day}")
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE drift_results"))
    started = time.perf_counter()
    PresentStore(db).rebuild()
    return time.perf_counter() - started


def seed_incidents(db: Database, shape: Shape) -> None:
    step = 100_000
    for start in range(1, shape.incidents + 1, step):
        stop = min(start + step - 1, shape.incidents)
        params = {"datasets": shape.datasets, "total": shape.incidents}
        params |= {"open": shape.open_incidents, "start": start, "stop": stop}
        with db.engine.begin() as connection:
            connection.execute(text(SEED_INCIDENTS), params)
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE incidents"))


class Server:
    """gunicorn with two workers serving ``code`` (a checkout) on a free loopback port."""

    def __init__(self, code: Path, database_url: str, secret: str, home: Path) -> None:
        self.port = free_port()
        self.database_url = database_url
        home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(code),
            "DATABASE_URL": database_url,
            "JWT_SECRET_KEY": secret,
            "ENVIRONMENT": "test",
            "DRIFTWATCH_HOME": str(home),
            "PROMETHEUS_MULTIPROC_DIR": str(home / "metrics"),
            "GUNICORN_WORKERS": "2",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_TIMEOUT": "900",
            "LOGIN_RATE_LIMIT": "1000 per minute",
        }
        env.pop("REDIS_URL", None)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.log = (home / "gunicorn.log").open("w")
        self.process = subprocess.Popen(
            [str(gunicorn), "incident_api:create_app()"],
            cwd=code, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/health", timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit(f"bench: gunicorn for {code} did not start (see {home}/gunicorn.log)")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()

    def get(self, path: str, token: str) -> tuple[float, int]:
        """Seconds and body bytes of one GET (200 or the bench stops)."""
        headers = {"Authorization": f"Bearer {token}", "Cookie": f"access_token_cookie={token}"}
        request = urllib.request.Request(f"{self.base}{path}", headers=headers)
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=900) as response:
            body = response.read()
            status, landed = response.status, response.geturl()
        elapsed = time.perf_counter() - started
        if status != 200 or landed != f"{self.base}{path}":
            raise SystemExit(f"bench: GET {path} answered {status} at {landed}")
        return elapsed, len(body)

    def token(self, password: str) -> str:
        body = json.dumps({"username": "bench", "password": password}).encode()
        request = urllib.request.Request(
            f"{self.base}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            token: str = json.load(response)["access_token"]
            return token


def sensor_day(code: Path, url: str, day: int, shape: Shape) -> dict[str, float]:
    """``bench/sensor_day.py`` with ``code``'s warehouse and pipelines (its own process)."""
    script = ROOT / "bench" / "sensor_day.py"
    args = [sys.executable, str(script), url, str(day), str(shape.datasets), str(shape.features)]
    done = subprocess.run(
        args, env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: the sensor day failed for {code}:\n{done.stderr[-2000:]}")
    timed: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if timed["stored_present"] != float(code == ROOT):  # the old code has no stored present
        raise SystemExit(f"bench: {code} did not run its own code for the sensor day")
    return timed


PAGES: list[tuple[str, str, bool]] = [
    ("/metrics", "/metrics", True),
    ("datasets page", "/console/datasets", True),
    ("datasets page, worst = critical", "/console/datasets?worst=critical", False),
    ("one dataset's grid", "/console/datasets/ds0007", False),
    ("incident list (console)", "/console/", True),
    ("API page of incidents", "/incidents?limit=50", True),
    ("API page of resolved incidents, deep", "/incidents?status=resolved&limit=50&cursor=", True),
    ("GET /datasets", "/datasets?limit=50", False),
    ("GET /datasets/{dataset}/results", "/datasets/ds0007/results?limit=100", False),
    ("... filtered by feature", "/datasets/ds0007/results?feature=f007&limit=100", False),
]
"""(label, path, also served by the old code): the old grid is its datasets page."""


def deep_cursor(incidents: int) -> str:
    from warehouse.incidents.reads import encode_cursor

    return encode_cursor(incidents // 2)


def measure_pages(
    servers: dict[str, Server], password: str, repeat: int, shape: Shape
) -> dict[str, dict[str, tuple[float, int]]]:
    """Median of ``repeat`` after a warm-up request; a page whose warm-up took over 5 s (the
    old code's slowest) is measured by that one request."""
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for label, path, old_too in PAGES:
        if path.endswith("cursor="):
            path += deep_cursor(shape.incidents)
        for side, server in servers.items():
            if side == "old" and not old_too:
                continue
            token = server.token(password)  # access tokens last 15 minutes: one per page
            first = server.get(path, token)
            runs = [first] if first[0] > 5 else [server.get(path, token) for _ in range(repeat)]
            seconds = statistics.median(r[0] for r in runs)
            out.setdefault(label, {})[side] = (seconds, runs[0][1])
            say(f"  {label} [{side}]: {seconds:.3f} s, {runs[0][1]:,} bytes ({len(runs)} runs)")
    return out


def stage(
    shape: Shape,
    servers: dict[str, Server],
    codes: dict[str, Path],
    password: str,
    repeat: int,
    first_sensor_day: int,
) -> dict[str, Any]:
    pages = measure_pages(servers, password, repeat, shape)
    url = servers["new"].database_url
    # the old code writes no present: its day comes first, the new code's day then moves it
    old = sensor_day(codes["old"], url, first_sensor_day, shape)
    say(f"  sensor, old code: {old}")
    new = sensor_day(codes["new"], url, first_sensor_day + 1, shape)
    say(f"  sensor, new code: {new}")
    return {"pages": pages, "sensor": {"old": old, "new": new}}


def _cell(value: tuple[float, int] | None) -> str:
    if value is None:
        return "—"
    seconds, size = value
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
    return f"{seconds:.3f} s, {shown}"


def table(stages: dict[int, dict[str, Any]]) -> str:
    lengths = sorted(stages)
    head = "| read | " + " | ".join(f"{n} d old | {n} d new" for n in lengths) + " |"
    lines = [head, "|---|" + "---:|" * (2 * len(lengths))]
    for label, _, _ in PAGES:
        cells = []
        for n in lengths:
            got = stages[n]["pages"].get(label, {})
            cells += [_cell(got.get("old")), _cell(got.get("new"))]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for key, label in (
        ("sensor_s", "sensor: a day's new results, every tick"),
        ("tick_s", "sensor: one tick (1,000 results)"),
    ):
        cells = []
        for n in lengths:
            sensor = stages[n]["sensor"]
            cells += [f"{sensor['old'][key]:.2f} s", f"{sensor['new'][key]:.2f} s"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    sensors = [stages[n]["sensor"] for n in lengths]
    writes = " | ".join(
        f"{s['old']['write_s']:.2f} s | {s['new']['write_s']:.2f} s" for s in sensors
    )
    lines.append(f"| writing the day's results, a transaction per dataset | {writes} |")
    rebuild = " | ".join(f"— | {stages[n]['rebuild_s']:.1f} s" for n in lengths)
    lines.append(f"| `results rebuild-present` | {rebuild} |")
    return "\n".join(lines)


def worktree(commit: str, where: Path) -> Path:
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(where), commit],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return where


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--days", default="60,365", help="history lengths, comma-separated")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--open-incidents", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", default="64577ba", help="the commit of the old code")
    parser.add_argument("--database", default="driftwatch_bench_read_side")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.days.split(",")]
    shape = Shape(args.datasets, args.features, args.incidents, args.open_incidents)
    stages: dict[int, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="dw-read-side-") as scratch,
        bench_database(args.database, args.keep) as url,
    ):
        work = Path(scratch)
        old_code = worktree(args.baseline, work / "old")
        db = Database.from_url(url)
        upgrade(db.engine)
        password = "bench-" + os.urandom(8).hex()
        UserStore(db).create("bench", hash_password(password), Role.ADMIN)
        say(f"seeding {shape.incidents:,} incidents")
        seed_incidents(db, shape)
        secret = os.urandom(32).hex()
        servers: dict[str, Server] = {}
        seeded = 0
        try:
            codes = {"new": ROOT, "old": old_code}
            for side, code in codes.items():
                servers[side] = Server(code, url, secret, work / f"home-{side}")
            try:  # the old side must really be the old code: it has no results API
                servers["old"].get("/datasets", servers["old"].token(password))
                raise SystemExit("bench: the old server serves GET /datasets: not the baseline")
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
            for n, length in enumerate(lengths):
                say(f"seeding days {seeded}..{length - 1}")
                rebuild = seed_days(db, shape, range(seeded, length))
                seeded = length
                say(f"{length} days of history: measuring")
                stages[length] = stage(shape, servers, codes, password, args.repeat, 1000 + 2 * n)
                stages[length]["rebuild_s"] = rebuild
        finally:
            for server in servers.values():
                server.stop()
            db.dispose()
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old_code)], cwd=ROOT, check=False
            )
    print(json.dumps({"shape": shape.__dict__, "stages": stages}, indent=1, default=str))
    print(table(stages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
