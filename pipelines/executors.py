"""Where a run's steps execute, chosen by the environment the definitions load in.

``DRIFTWATCH_EXECUTOR=multiprocess`` (the default): in child processes of the run, at most
``DAGSTER_MAX_CONCURRENT`` at once. ``DRIFTWATCH_EXECUTOR=celery``: each step is a Celery task
on the broker ``DRIFTWATCH_CELERY_BROKER`` (Redis, e.g. ``redis://host:6379/0``), run by any
worker started with ``dagster-celery worker start -A dagster_celery.app -y
deploy/dagster/celery.yaml``; results come back through ``DRIFTWATCH_CELERY_BACKEND`` (default:
the broker). The broker and backend are read when a run starts, so the definitions load
without them, and a missing one fails the run with its name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from dagster import ExecutorDefinition, multiprocess_executor

from pipelines.config import ConfigError

EXECUTOR_ENV: Final = "DRIFTWATCH_EXECUTOR"
BROKER_ENV: Final = "DRIFTWATCH_CELERY_BROKER"
BACKEND_ENV: Final = "DRIFTWATCH_CELERY_BACKEND"
KINDS: Final = ("multiprocess", "celery")


def executor_for(environ: Mapping[str, str] = os.environ) -> ExecutorDefinition:
    """The executor ``environ`` asks for; an unknown kind is a :class:`ConfigError`."""
    kind = environ.get(EXECUTOR_ENV, "multiprocess").strip() or "multiprocess"
    if kind == "multiprocess":
        return multiprocess_executor.configured(
            {"max_concurrent": int(environ.get("DAGSTER_MAX_CONCURRENT", "2"))}
        )
    if kind == "celery":
        from dagster_celery import celery_executor

        if not environ.get(BROKER_ENV):
            raise ConfigError(
                f"{EXECUTOR_ENV}=celery needs {BROKER_ENV} (e.g. redis://host:6379/0)"
            )
        backend = BACKEND_ENV if environ.get(BACKEND_ENV) else BROKER_ENV
        return celery_executor.configured(
            {"broker": {"env": BROKER_ENV}, "backend": {"env": backend}}
        )
    raise ConfigError(f"{EXECUTOR_ENV} must be one of {', '.join(KINDS)}, not {kind!r}")
