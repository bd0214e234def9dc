"""Dagster steps on Celery workers (DRIFTWATCH_EXECUTOR=celery), with the real engines: two
workers started as deploy/dagster/celery.yaml says, a Redis broker of our own, and the runs
started by ``dagster asset materialize`` as a user types it. Every process started here is
stopped by its PID (its process group)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from dagster import DagsterInstance

from scripts import harness
from tests.pipelines.conftest import DATASET, FEATURES, day
from tests.pipelines.test_dagster_cli_e2e import Cli
from tests.services import OwnRedis, wait_for

CELERY_YAML = harness.ROOT / "deploy" / "dagster" / "celery.yaml"


@dataclass
class Workers:
    cli: Cli
    broker: OwnRedis
    logs: dict[str, Path]

    def materialize(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [harness.BIN / "dagster", "asset", "materialize", "-m", "pipelines.definitions"]
        return subprocess.run(
            [str(part) for part in (*command, "--select", f"{DATASET}/feature_drift", *args)],
            cwd=harness.ROOT,
            env=self.cli.environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def steps_done(self, name: str) -> int:
        """Steps the worker ``name`` ran to the end (its log's succeeded tasks)."""
        log = self.logs[name].read_text(errors="replace")
        return len(re.findall(r"Task execute_plan\[[^\]]+\] succeeded", log))


def _ready_or_gone(log: Path, process: subprocess.Popen[bytes]) -> bool:
    """The worker said it is ready, or it exited (the caller then shows its log)."""
    ready = re.search(r"@\S+ ready\.", log.read_text(errors="replace"))
    return bool(ready) or process.poll() is not None


@pytest.fixture
def workers(env, tmp_path) -> Iterator[Workers]:
    broker = OwnRedis()
    broker.start()
    cli = Cli(env, tmp_path)
    cli.environ.update(
        DRIFTWATCH_EXECUTOR="celery",
        DRIFTWATCH_CELERY_BROKER=f"{broker.url.rsplit('/', 1)[0]}/0",
        DRIFTWATCH_CELERY_BACKEND=f"{broker.url.rsplit('/', 1)[0]}/1",
        PATH=f"{harness.BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    # The instance's SQLite storage is created once here, not raced by two starting workers.
    DagsterInstance.from_config(cli.environ["DAGSTER_HOME"]).dispose()
    logs, started = {}, []
    try:
        for name in ("w1", "w2"):
            logs[name] = tmp_path / f"{name}.log"
            command = [str(harness.BIN / "dagster-celery"), "worker", "start",
                       "-A", "dagster_celery.app", "-y", str(CELERY_YAML), "-n", name,
                       "--", "--concurrency=1"]  # fmt: skip
            started.append(harness.start(command, logs[name], cli.environ))
        for name, process in zip(logs, started, strict=True):
            wait_for(partial(_ready_or_gone, logs[name], process), 60, f"celery worker {name}")
            assert process.poll() is None, logs[name].read_text()[-3000:]
        cli.materialize("reference_profile")
        yield Workers(cli, broker, logs)
    finally:
        harness.stop(started, sig=signal.SIGTERM)
        broker.stop()


def test_a_backfill_runs_its_steps_on_both_workers(env, workers):
    ranges = [f"{day(4).isoformat()}...{day(6).isoformat()}",
              f"{day(7).isoformat()}...{day(9).isoformat()}"]  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda r: workers.materialize("--partition-range", r), ranges))
    for run in done:
        assert run.returncode == 0, run.stderr[-3000:]
        assert 'Submitting celery task for step "orders__feature_drift"' in run.stderr
    # The reference's step and the two ranges' steps, spread over both workers.
    ran = {name: workers.steps_done(name) for name in workers.logs}
    assert sum(ran.values()) == 3 and min(ran.values()) >= 1, ran
    written = env.results.after(0)
    assert sorted(r.partition for r in written) == sorted(
        day(n).isoformat() for n in range(4, 10) for _ in FEATURES
    )


def test_a_run_started_with_the_broker_down_fails_clearly_and_a_retry_succeeds(env, workers):
    workers.broker.stop()
    started = time.monotonic()
    failed = workers.materialize("--partition", day(6).isoformat())
    assert failed.returncode != 0
    said = failed.stderr + failed.stdout
    assert "Encountered error during celery task submission" in said
    assert f"connecting to 127.0.0.1:{workers.broker.port}. Connection refused" in said
    assert "RUN_FAILURE" in said
    assert time.monotonic() - started < 120
    assert env.results.after(0) == []
    workers.broker.start()  # the same port: the workers reconnect by themselves
    retried = workers.materialize("--partition", day(6).isoformat())
    assert retried.returncode == 0, retried.stderr[-3000:]
    assert sorted(r.feature for r in env.results.after(0)) == sorted(FEATURES)


def test_the_executor_is_chosen_by_the_environment():
    from pipelines.config import ConfigError
    from pipelines.executors import executor_for

    assert executor_for({}).name == "multiprocess"
    celery = executor_for({"DRIFTWATCH_EXECUTOR": "celery",
                           "DRIFTWATCH_CELERY_BROKER": "redis://127.0.0.1:6379/0"})  # fmt: skip
    assert celery.name == "celery"
    with pytest.raises(
        ConfigError, match="DRIFTWATCH_EXECUTOR=celery needs DRIFTWATCH_CELERY_BROKER"
    ):
        executor_for({"DRIFTWATCH_EXECUTOR": "celery"})
    with pytest.raises(ConfigError, match="must be one of multiprocess, celery, not 'dask'"):
        executor_for({"DRIFTWATCH_EXECUTOR": "dask"})
