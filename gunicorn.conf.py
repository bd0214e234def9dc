"""gunicorn settings for production: ``gunicorn 'incident_api:create_app()'`` (this file is
read from the working directory). Workers come from GUNICORN_WORKERS or WEB_CONCURRENCY."""

import multiprocessing
import os
import shutil
import sys
from pathlib import Path
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(
    os.environ.get("GUNICORN_WORKERS")
    or os.environ.get("WEB_CONCURRENCY")
    or multiprocessing.cpu_count() * 2 + 1
)
# Sync workers by default: measured with wrk (docs/benchmarks.md), gthread workers (2 or 4
# threads) served reads no faster than sync ones, and on one day far slower (one worker took most
# keep-alive connections while the other idled). GUNICORN_THREADS > 1 switches to gthread.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycling workers is off by default: a new worker spends ~1.5 s importing the app, and at a
# few hundred requests per second a small limit restarted each worker every few seconds (the
# 1.7 s p99 in docs/benchmarks.md). Set GUNICORN_MAX_REQUESTS to bound a slow leak.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None  # the app writes one structured line per request
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The app (and its OpenTelemetry span processor thread) is created in each worker after the
# fork, never inherited from the master.
preload_app = False


# prometheus_client's multiprocess mode: every worker writes its samples to this directory and
# /metrics adds them up. It must be set before workers import prometheus_client.
def _home() -> Path:
    from warehouse.home import home  # DRIFTWATCH_HOME, whatever the working directory

    return home()


os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_home() / "prometheus-multiproc"))


def on_starting(server: Any) -> None:
    """Refuse bad configuration in one line before any worker boots (each would print a
    traceback and exit), then wipe the samples of an earlier run: stale files would be added
    to the new counts."""
    from incident_api.schema import prepare
    from incident_api.settings import ConfigError, load_settings
    from incident_api.tracing import protocol
    from warehouse.db import Database

    try:
        settings = load_settings()
        protocol()  # an OTLP protocol this service cannot speak: one line, before the workers
        # once, here: development migrates before the workers race to; production refuses a
        # schema that is behind the code
        db = Database.from_url(settings.database_url)
        try:
            prepare(settings, db)
        finally:
            db.dispose()
    except ConfigError as exc:
        sys.stderr.write(f"driftwatch: {exc}\n")
        sys.exit(1)
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
