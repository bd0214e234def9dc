"""Dagster steps on Celery workers (DRIFTWATCH_EXECUTOR=celery), with the real engines: two
workers started as deploy/dagster/celery.yaml says, a Redis broker of our own, and the runs
started by ``dagster asset materialize`` as a user types it. Every process started here is
stopped by its PID (its process group)."""

from __future__ import annotations

import contextlib
import json
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
from tests.pipelines.conftest import DATASET, FEATURES, day, make_config
from tests.pipelines.test_dagster_cli_e2e import Cli
from tests.services import OwnRedis, wait_for

CELERY_YAML = harness.ROOT / "deploy" / "dagster" / "celery.yaml"


@dataclass
class Workers:
    cli: Cli
    broker: OwnRedis
    logs: dict[str, Path]
    pids: dict[str, int]

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """``command`` in the checkout, with the runs' environment; it must end in 5 min."""
        return subprocess.run(
            command,
            cwd=harness.ROOT,
            env=self.cli.environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def materialize(self, *args: str) -> subprocess.CompletedProcess[str]:
        dagster = str(harness.BIN / "dagster")
        select = ["--select", f"{DATASET}/feature_drift"]
        return self.run(
            dagster, "asset", "materialize", "-m", "pipelines.definitions", *select, *args
        )

    def steps_received(self, name: str) -> int:
        log = self.logs[name].read_text(errors="replace")
        return len(re.findall(r"Task execute_plan\[[^\]]+\] received", log))

    def steps_done(self, name: str) -> int:
        """Steps the worker ``name`` ran to the end (its log's succeeded tasks)."""
        log = self.logs[name].read_text(errors="replace")
        return len(re.findall(r"Task execute_plan\[[^\]]+\] succeeded", log))


def _wait_group_gone(group: int, timeout: float = 30) -> None:
    """Wait until no process of the group is left; SIGKILL what remains after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _ready_or_gone(log: Path, process: subprocess.Popen[bytes]) -> bool:
    """The worker said it is ready, or it exited (the caller then shows its log)."""
    ready = re.search(r"@\S+ ready\.", log.read_text(errors="replace"))
    return bool(ready) or process.poll() is not None


@pytest.fixture
def dataset_overrides(request) -> dict[str, object]:
    """How a test's driftwatch.yaml differs from conftest's (indirect parametrization): the
    workers read it once, when they first load the definitions."""
    return getattr(request, "param", {})


@pytest.fixture
def workers(env, tmp_path, dataset_overrides) -> Iterator[Workers]:
    broker = OwnRedis()
    broker.start()
    env.config = make_config(**dataset_overrides)
    cli = Cli(env, tmp_path)
    cli.environ.update(
        DRIFTWATCH_EXECUTOR="celery",
        DRIFTWATCH_CELERY_BROKER=f"{broker.url.rsplit('/', 1)[0]}/0",
        DRIFTWATCH_CELERY_BACKEND=f"{broker.url.rsplit('/', 1)[0]}/1",
        PATH=f"{harness.BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    # The example's settings, but a lost worker's step is handed on ~60 s after it was taken
    # (looked for every 2 s), not after an hour (and up to 100 s more). Every step here ends
    # well within 60 s, so none still running is handed on.
    setting = "        visibility_timeout: 3600\n"
    example = CELERY_YAML.read_text()
    assert example.count(setting) == 1
    celery_yaml = tmp_path / "celery.yaml"
    celery_yaml.write_text(example.replace(setting, (
        "        visibility_timeout: 60\n"
        "        unacked_restore_interval: 2\n"
        "        unacked_restore_throttle: 1\n")))  # fmt: skip
    # The instance's SQLite storage is created once here, not raced by two starting workers.
    DagsterInstance.from_config(cli.environ["DAGSTER_HOME"]).dispose()
    logs, started = {}, []
    try:
        for name in ("w1", "w2"):
            logs[name] = tmp_path / f"{name}.log"
            command = [str(harness.BIN / "dagster-celery"), "worker", "start",
                       "-A", "dagster_celery.app", "-y", str(celery_yaml), "-n", name,
                       "--", "--concurrency=1"]  # fmt: skip
            started.append(harness.start(command, logs[name], cli.environ))
        for name, process in zip(logs, started, strict=True):
            wait_for(partial(_ready_or_gone, logs[name], process), 60, f"celery worker {name}")
            assert process.poll() is None, logs[name].read_text()[-3000:]
        cli.materialize("reference_profile")
        yield Workers(cli, broker, logs, {n: p.pid for n, p in zip(logs, started, strict=True)})
    finally:
        harness.stop(started, sig=signal.SIGTERM)
        for process in started:  # the celery processes of its group finish after the launcher
            _wait_group_gone(process.pid)
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


def _run_log(workers: Workers, run_id: str) -> list:
    with DagsterInstance.from_config(workers.cli.environ["DAGSTER_HOME"]) as instance:
        return list(instance.all_logs(run_id))


def _step_attempts(workers: Workers, run_id: str) -> list[tuple[str, str]]:
    """(step, Celery worker) for each start of a step, in order (the executor's events)."""
    ran = []
    for record in _run_log(workers, run_id):
        event = record.dagster_event
        if event is None or not event.is_engine_event or not event.step_key:
            continue
        metadata = event.engine_event_data.metadata
        if "Celery worker" in metadata:
            ran.append((event.step_key, str(metadata["Celery worker"].value).split("@")[0]))
    return ran


@pytest.mark.parametrize("dataset_overrides", [{"profile_steps": 2}], indirect=True)
def test_a_backfill_profiles_each_day_in_shares_on_both_workers(env, workers):
    """One backfill run of days 4–9 with the drift asset as two share steps and a scoring
    step: the two shares run on different workers, and each day is written once — the
    same results as the one-step asset gives (tests/pipelines/test_shares.py)."""
    days = f"{day(4).isoformat()}...{day(9).isoformat()}"
    run = workers.materialize("--partition-range", days)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("RUN_SUCCESS") == 1
    run_id = re.findall(r" - ([0-9a-f-]{36}) - ", run.stderr)[0]
    ran = dict(_step_attempts(workers, run_id))
    assert set(ran) == {"orders__feature_drift.profile_share_0",
                        "orders__feature_drift.profile_share_1",
                        "orders__feature_drift.score_days"}, ran  # fmt: skip
    shares = {
        ran["orders__feature_drift.profile_share_0"],
        ran["orders__feature_drift.profile_share_1"],
    }
    assert shares == {"w1", "w2"}, ran
    written = env.results.after(0)
    assert [r.partition for r in written] == [
        day(n).isoformat() for n in range(4, 10) for _ in FEATURES
    ]
    assert {r.run_id for r in written} == {run_id}


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


def _children(pid: int) -> list[int]:
    """The PIDs whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _reexecute_from_failure(workers: Workers, run_id: str) -> subprocess.CompletedProcess[str]:
    """What the UI's "Re-execute from failure" does, on the same code and instance (which
    carries the parent's partition-range tags over, as here)."""
    script = f"""
from dagster import DagsterInstance, ReexecutionOptions, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository
repo = ReconstructableRepository.for_module("pipelines.definitions", "defs")
job = repo.get_reconstructable_job("orders_drift_job")
with DagsterInstance.get() as instance:
    options = ReexecutionOptions.from_failure({run_id!r}, instance)
    parent = instance.get_run_by_id({run_id!r})
    tags = {{k: v for k, v in parent.tags.items() if k.startswith("dagster/asset_partition")}}
    result = execute_job(job, instance=instance, reexecution_options=options, tags=tags)
    print("reexecuted", result.run_id, result.success)
"""
    return workers.run(str(harness.BIN / "python"), "-c", script)


FIRST, LAST = 10, 159
"""A 150-day range, long enough to kill its step in the middle."""


def _start_long_range(env, workers: Workers) -> tuple[subprocess.Popen[str], str]:
    """The 150-day range run as ``dagster job execute``, once ≥ 10 days are written; and the
    name of the worker running its step."""
    import shutil

    template = env.store.files(DATASET, day(4))[0]
    for n in range(FIRST, LAST + 1):
        target = env.store.partition_dir(DATASET, day(n))
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, target / "part-0.parquet")
    tags = json.dumps({"dagster/asset_partition_range_start": day(FIRST).isoformat(),
                       "dagster/asset_partition_range_end": day(LAST).isoformat()})  # fmt: skip
    command = [str(harness.BIN / "dagster"), "job", "execute", "-m", "pipelines.definitions",
               "-j", "orders_drift_job", "--tags", tags]  # fmt: skip
    running = subprocess.Popen(
        command, cwd=harness.ROOT, env=workers.cli.environ,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_for(lambda: len(env.results.after(0, limit=10_000)) >= 10 * len(FEATURES), 120, "10 days")
    received = [n for n in workers.logs if workers.steps_received(n) > workers.steps_done(n)]
    assert len(received) == 1, received
    return running, received[0]


def _finished(running: subprocess.Popen[str], timeout: float) -> str:
    """The run's output once it ended; killed (and the test failed) if it had not in time."""
    try:
        return running.communicate(timeout=timeout)[0]
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()


def _results_per_day(env) -> dict[str, int]:
    by_day: dict[str, int] = {}
    for result in env.results.after(0, limit=10_000):
        by_day[result.partition] = by_day.get(result.partition, 0) + 1
    return by_day


def test_a_step_killed_mid_run_fails_the_run_and_its_retry_finishes_the_range(env, workers):
    """The process running the step is killed (as the OOM killer would) after some days of a
    150-day range were written: the run fails, every day is either whole or absent, and a
    re-execution from failure writes the rest — no day twice."""
    running, worker = _start_long_range(env, workers)
    celery_main = _children(workers.pids[worker])
    (pool_child,) = [c for main in celery_main for c in _children(main)]
    os.kill(pool_child, signal.SIGKILL)
    output = _finished(running, timeout=120)
    assert running.returncode != 0
    assert "Worker exited prematurely: signal 9 (SIGKILL)" in output
    by_day = _results_per_day(env)
    assert set(by_day.values()) == {len(FEATURES)}  # whole days only
    assert 10 <= len(by_day) < LAST - FIRST + 1
    failed_run = (
        re.search(r"RUN_FAILURE", output) and re.findall(r" - ([0-9a-f-]{36}) - ", output)[0]
    )
    retried = _reexecute_from_failure(workers, failed_run)
    assert retried.returncode == 0 and "reexecuted" in retried.stdout, retried.stderr[-3000:]
    assert retried.stdout.strip().endswith("True"), retried.stderr[-4000:]
    assert _results_per_day(env) == {
        day(n).isoformat(): len(FEATURES) for n in range(FIRST, LAST + 1)
    }


def test_a_worker_killed_mid_step_hands_the_step_to_the_other_worker(env, workers):
    """The worker itself (Celery's main process, and with it the step's process) is killed
    mid-step. The step was not acknowledged (``task_acks_late``), so after the visibility
    timeout the broker hands it to the other worker, which skips the days the first attempt
    wrote and writes the rest: the run succeeds by itself, every day once."""
    running, worker = _start_long_range(env, workers)
    for celery_main in _children(workers.pids[worker]):
        os.kill(celery_main, signal.SIGKILL)
    written_when_killed = len(_results_per_day(env))
    output = _finished(running, timeout=240)  # without late acknowledgement: hangs for good
    assert running.returncode == 0, output[-3000:]
    assert "RUN_SUCCESS" in output
    assert _results_per_day(env) == {
        day(n).isoformat(): len(FEATURES) for n in range(FIRST, LAST + 1)
    }
    (other,) = set(workers.logs) - {worker}
    run_id = re.findall(r" - ([0-9a-f-]{36}) - ", output)[0]
    step = "orders__feature_drift"
    assert _step_attempts(workers, run_id) == [(step, worker), (step, other)]
    said = [r.user_message for r in _run_log(workers, run_id)]
    skipped = [m for m in said if "of 150 partitions were already recorded" in m]
    assert len(skipped) == 1 and int(skipped[0].split()[0]) >= written_when_killed, skipped
