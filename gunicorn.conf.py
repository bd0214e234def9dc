"""gunicorn settings for production: ``gunicorn 'incident_api:create_app()'`` (this file is
read from the working directory). Workers come from GUNICORN_WORKERS or WEB_CONCURRENCY."""

import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(
    os.environ.get("GUNICORN_WORKERS")
    or os.environ.get("WEB_CONCURRENCY")
    or multiprocessing.cpu_count() * 2 + 1
)
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = 2000  # recycle workers to bound slow leaks
max_requests_jitter = 200
accesslog = None  # the app writes one structured line per request
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The app (and its OpenTelemetry span processor thread) is created in each worker after the
# fork, never inherited from the master.
preload_app = False

# prometheus_client's multiprocess mode: every worker writes its samples to this directory and
# /metrics adds them up. It must be set before workers import prometheus_client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "var/prometheus-multiproc")


def on_starting(server: Any) -> None:
    """Wipe the samples of an earlier run: stale files would be added to the new counts."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
