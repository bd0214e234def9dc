"""Load on the incident API: gunicorn (2 workers) on PostgreSQL and Redis, 10,000 incidents
seeded, wrk with 16 connections per scenario, all scenarios in one run.

    make bench-api            # or: python -m bench.api_load --duration 60

Scenarios: GET /health (the framework's floor), authenticated GET /incidents/{id},
GET /incidents?limit=50 with filters, the console's incident list (its first page, and a
filtered one, with the access cookie), POST /incidents, and Alertmanager deliveries of 100
alerts each (every delivery new: distinct startsAt; the same 100 incidents touched each time),
from 16 clients and from one. Each scenario's time is split into rounds (``--rounds``, default
12) taken in turn across the scenarios, so that a slower stretch of this shared machine falls on
all of them alike instead of skewing one ratio. Prints a markdown table with throughput, p50 and
p99 of all of a scenario's requests (the rounds' latency distributions pooled), errors and the
ratio of each throughput to /health's, then each round's ratio (its spread). Between two
wrk runs the harness waits until the server has answered what the last one left queued, so no
scenario starts behind another's requests (:func:`wait_until_idle`).
``--profile DIR`` records the workers with py-spy, in one round
(``python -m bench.hotspots DIR/scenario1.txt`` sums the stacks up).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import insert, text

from scripts.harness import BIN, ROOT, create_user, sign_in, start, stop, wait_ready
from warehouse.db import Database, make_engine
from warehouse.migrate import upgrade
from warehouse.models import Incident, utcnow

Scenario = tuple[str, Callable[[int], str]]
NEW_INCIDENT_LUA = """'{"title":"load","severity":"low","dataset":"ds1"}'"""
PASSWORD = "load test passphrase"
WEBHOOK_TOKEN = "bench-" + "w" * 40


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    quantiles: tuple[float, ...]
    """Latency (ms) at every 0.1 % from 0.1 % to 100 %, for pooling rounds (:func:`combine`)."""

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


QUANTILES_LUA = """
done = function(summary, latency, requests)
  for i = 1, 1000 do
    io.write(string.format("quantile %d %d\\n", i, latency:percentile(i / 10)))
  end
end
"""
"""Appended to every scenario's script: wrk prints the latency at each 0.1 %, in µs."""


def run_wrk(name: str, url: str, script: Path, duration: int, connections: int) -> Result:
    # A 30 s timeout instead of wrk's 2 s: a slow answer is measured, not dropped from the
    # latency distribution as a "timeout".
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    quantiles = tuple(
        int(us) / 1000
        for _, us in sorted(
            (int(i), us) for i, us in re.findall(r"^quantile (\d+) (\d+)$", out, re.M)
        )
    )
    if len(quantiles) != 1000:
        raise SystemExit(f"api_load: wrk gave no latencies for {name}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Result(
        name,
        rps,
        quantiles[499],  # 50.0 %
        quantiles[989],  # 99.0 %
        total,
        int(non2xx.group(1)) if non2xx else 0,
        sum(int(g) for g in socket.groups()) if socket else 0,
        quantiles,
    )


TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
SERVER_SIDE_OPEN = frozenset({"01", "08"})
"""Kernel TCP states of a connection the server still has to answer or close: ESTABLISHED
(being served, or waiting in the listen backlog) and CLOSE_WAIT (the client has gone)."""


def open_connections(port: int, tables: list[str]) -> int:
    """Connections to local ``port`` still open on the server's side, in the text of
    /proc/net/tcp and /proc/net/tcp6."""
    wanted = f":{port:04X}"
    count = 0
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[1].endswith(wanted) and fields[3] in SERVER_SIDE_OPEN:
                count += 1
    return count


def wait_until_idle(port: int, timeout: float = 60.0) -> None:
    """Wait until the server has dealt with every connection of the scenario that just ended.
    When wrk stops, up to one request per connection is still queued (sync workers take one at a
    time): leftover webhook deliveries kept the workers busy into the next scenario, whose first
    requests then waited behind them and became its p99 (docs/benchmarks.md). Says so on stderr
    when the server is still busy after ``timeout`` (the next scenario then starts behind it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tables = [table.read_text() for table in TCP_TABLES if table.exists()]
        if not tables or open_connections(port, tables) == 0:
            return
        time.sleep(0.02)
    print(f"api_load: the server was still busy {timeout:.0f} s after wrk stopped", file=sys.stderr)


def pooled_percentile(rounds: list[Result], percent: float) -> float:
    """The latency under which ``percent`` % of all the rounds' requests fell: each round's
    0.1 % quantiles, weighted by its request count, as one distribution (what one long run of
    wrk would report)."""
    points = sorted((value, r.requests / len(r.quantiles)) for r in rounds for value in r.quantiles)
    wanted = sum(weight for _, weight in points) * percent / 100
    seen = 0.0
    for value, weight in points:
        seen += weight
        if seen >= wanted - 1e-9:
            return value
    return points[-1][0]


def combine(rounds: list[Result]) -> Result:
    """One scenario's rounds as one result: throughput and counts over all of them; p50 and
    p99 of all their requests pooled."""
    return Result(
        rounds[0].name,
        sum(r.rps for r in rounds) / len(rounds),
        pooled_percentile(rounds, 50),
        pooled_percentile(rounds, 99),
        sum(r.requests for r in rounds),
        sum(r.non_2xx for r in rounds),
        sum(r.socket_errors for r in rounds),
        (),
    )


def lua(
    method: str,
    path_expr: str,
    token: str | None,
    body_expr: str | None = None,
    *,
    cookie: bool = False,
) -> str:
    """A wrk script; ``cookie`` sends the token as the console's access cookie instead."""
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if token and cookie:
        headers += f'wrk.headers["Cookie"] = "access_token_cookie={token}"\n'
    elif token:
        headers += f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    body = body_expr or "nil"
    return f"""{headers}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("{method}", {path_expr}, nil, {body})
end
"""


def webhook_lua(round_number: int = 0) -> str:
    """100 alerts per delivery; every delivery new (startsAt from the round, the wrk thread and
    a counter), so each one really opens or touches incidents instead of hitting the dedup fast
    path (microseconds: Alertmanager's nanoseconds are cut to what Python's datetime keeps)."""
    return f"""
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("id", threads)
end
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {WEBHOOK_TOKEN}"
counter = 0
request = function()
  counter = counter + 1
  local parts = {{}}
  for i = 0, 99 do
    parts[#parts + 1] = string.format(
      '{{"status":"firing","labels":{{"alertname":"LoadTest","severity":"warning",' ..
      '"instance":"i%d"}},"annotations":{{"summary":"load %d"}},' ..
      '"startsAt":"2026-11-27T00:{round_number:02d}:%02d.%06dZ",' ..
      '"generatorURL":"http://127.0.0.1:9090","fingerprint":"lt%04d"}}', i, i, id or 0, counter, i)
  end
  local body = '{{"version":"4","status":"firing","receiver":"driftwatch",' ..
    '"truncatedAlerts":0,"alerts":[' .. table.concat(parts, ",") .. ']}}'
  return wrk.format("POST", "/alerts/alertmanager", nil, body)
end
"""


def start_profiler(
    directory: Path | None, number: int, pid: int, duration: int
) -> subprocess.Popen[bytes] | None:
    """py-spy on gunicorn and its workers for the scenario's duration (collapsed stacks, which
    ``bench/hotspots.py`` sums up, and a flame graph)."""
    if directory is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "200",
            "--duration",
            str(duration),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(directory / f"scenario{number}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def seed(url: str, count: int) -> None:
    db = Database.from_url(url)
    upgrade(db.engine)
    now = utcnow()
    rows: list[dict[str, object]] = [
        dict(
            title=f"incident {i}",
            description="seeded",
            severity=("critical", "high", "medium", "low")[i % 4],
            status=("open", "acknowledged", "resolved")[i % 3],
            source="manual",
            dataset=f"ds{i % 20}",
            feature=f"f{i % 50}",
            fingerprint=f"seed:{i}",
            occurrences=1,
            first_seen_at=now,
            last_seen_at=now,
            evidence={},
            created_by="bench",
            created_at=now,
            updated_at=now,
        )
        for i in range(count)
    ]
    with db.transaction() as session:
        session.execute(insert(Incident), rows)
    with db.engine.connect() as conn:  # as autovacuum would (it is off on the test server)
        conn.execute(text("ANALYZE"))
        conn.commit()
    db.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="incident API load benchmark")
    parser.add_argument("--duration", type=int, default=60, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each scenario's workers with py-spy: collapsed stacks and an SVG in DIR",
    )
    parser.add_argument(
        "--only", metavar="TEXT", help="run only the scenarios whose name contains TEXT"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=12,
        help="split each scenario's duration into this many rounds, taken in turn across the "
        "scenarios, so that a slower stretch of a shared machine falls on all of them alike "
        "(1 with --profile)",
    )
    return parser.parse_args()


@contextmanager
def bench_schema(postgres: str) -> Iterator[str]:
    """A PostgreSQL schema of this run's own; the URL that uses it. Dropped afterwards."""
    schema = f"dw_bench_{secrets.token_hex(4)}"
    admin = make_engine(postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{postgres}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def running_api(args: argparse.Namespace, url: str, work: Path) -> Iterator[tuple[int, int]]:
    """gunicorn (2 workers, production settings) on ``url``, with the bench user; yields its
    PID and port once /ready answers, stops it afterwards."""
    port = 18000 + secrets.randbelow(1000)
    env = dict(
        os.environ,
        DATABASE_URL=url,
        REDIS_URL=args.redis,
        JWT_SECRET_KEY="bench-" + secrets.token_urlsafe(40),
        ALERTMANAGER_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        ENVIRONMENT="production",
        LOGIN_RATE_LIMIT="100000 per minute",
        GUNICORN_WORKERS="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        OTEL_SDK_DISABLED="true",
        PROMETHEUS_MULTIPROC_DIR=str(work / "prom"),
    )
    create_user("bench", "admin", PASSWORD, env)
    log = work / "gunicorn.log"
    process = start([str(BIN / "gunicorn"), "incident_api:create_app()"], log, env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", process, log, 30)
        yield process.pid, port
    finally:
        stop([process], signal.SIGTERM)


def scenarios(args: argparse.Namespace, token: str) -> list[Scenario]:
    found: list[Scenario] = [
        ("GET /health", lambda _: lua("GET", '"/health"', None)),
        (
            "GET /incidents/{id} (auth)",
            lambda _: lua("GET", f'"/incidents/" .. math.random(1, {args.incidents})', token),
        ),
        (
            "GET /incidents?limit=50&status=open&severity=high (auth)",
            lambda _: lua("GET", '"/incidents?limit=50&status=open&severity=high"', token),
        ),
        (
            "POST /incidents (auth)",
            lambda _: lua(
                "POST",
                '"/incidents"',
                token,
                '\'{"title":"load","severity":"low","dataset":"ds1"}\'',
            ),
        ),
        (
            "GET /console/ (cookie; the incident list page)",
            lambda _: lua("GET", '"/console/"', token, cookie=True),
        ),
        (
            "GET /console/?severity=high&status=resolved (cookie)",
            lambda _: lua("GET", '"/console/?severity=high&status=resolved"', token, cookie=True),
        ),
        ("POST /alerts/alertmanager (100 alerts)", webhook_lua),
        ("POST /alerts/alertmanager (100 alerts, 1 client)", webhook_lua),
    ]
    if args.only:
        found = [s for s in found if s[0] == "GET /health" or args.only in s[0]]
    return found


def measure(
    args: argparse.Namespace, chosen: list[Scenario], server: tuple[int, int], work: Path
) -> dict[str, list[Result]]:
    """Every scenario's rounds, taken in turn."""
    pid, port = server
    rounds = 1 if args.profile else max(1, args.rounds)
    seconds = max(1, args.duration // rounds)
    measured: dict[str, list[Result]] = {name: [] for name, _ in chosen}
    for round_number in range(rounds):
        for number, (name, script_for) in enumerate(chosen):
            script = work / f"s{number}-{round_number}.lua"
            script.write_text(script_for(round_number) + QUANTILES_LUA)
            recorder = start_profiler(args.profile, number, pid, seconds)
            connections = 1 if name.endswith("1 client)") else args.connections
            measured[name].append(
                run_wrk(name, f"http://127.0.0.1:{port}", script, seconds, connections)
            )
            wait_until_idle(port)
            if recorder is not None:
                recorder.wait(timeout=60)
    return measured


def report(args: argparse.Namespace, measured: dict[str, list[Result]]) -> list[Result]:
    """Print the markdown table (and each round's ratio); the pooled results."""
    names = list(measured)
    results = [combine(measured[name]) for name in names]
    rounds = len(measured[names[0]])
    floor = results[0].rps
    print(
        f"## incident API under load ({time.strftime('%Y-%m-%d %H:%M')}; gunicorn 2 "
        f"workers, PostgreSQL, Redis, {args.incidents:,} incidents, wrk -t2 "
        f"-c{args.connections}, {args.duration} s per scenario in {rounds} round(s) of "
        f"{max(1, args.duration // rounds)} s taken in turn; p50 and p99 of all the rounds' "
        "requests pooled)\n"
    )
    print("| scenario | req/s | ÷ /health | p50 | p99 | requests | non-2xx | socket errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.rps:,.0f} | {r.rps / floor:.0%} | {r.p50_ms:.1f} ms | "
            f"{r.p99_ms:.1f} ms | {r.requests:,} | {r.non_2xx} | {r.socket_errors} |"
        )
    if rounds > 1:
        print("\nEach round's req/s ÷ that round's /health (the spread of the ratio):\n")
        for name in names[1:]:
            pairs = zip(measured[name], measured[names[0]], strict=True)
            print(f"- {name}: " + " ".join(f"{m.rps / f.rps:.0%}" for m, f in pairs))
    return results


def main() -> int:
    args = parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("api_load: needs wrk (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="driftwatch-load-"))
    try:
        with bench_schema(args.postgres) as url:
            seed(url, args.incidents)
            with running_api(args, url, work) as server:
                token = sign_in(f"http://127.0.0.1:{server[1]}", "bench", PASSWORD)
                results = report(args, measure(args, scenarios(args, token), server, work))
        if any(r.errors for r in results):
            kept = ROOT / "var" / "bench-api-gunicorn.log"
            kept.parent.mkdir(exist_ok=True)
            shutil.copy(work / "gunicorn.log", kept)
            print(f"\nerrors: the server's log is in {kept.relative_to(ROOT)}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
