"""The incident sensor with real cursors, and the run-failure sensor."""

import pytest
from dagster import DagsterInstance, build_run_status_sensor_context, build_sensor_context

from drift.thresholds import DEFAULT_LEVELS
from pipelines.defs.resources import WarehouseResource
from tests.pipelines.conftest import DATASET, day
from tests.pipelines.test_assets import run_day, run_reference
from warehouse.fingerprint import dataset_fingerprint, pipeline_fingerprint
from warehouse.incidents import IncidentFilter


def tick(env, cursor):
    sensor = env.defs.resolve_sensor_def("drift_incident_sensor")
    context = build_sensor_context(
        cursor=cursor, resources={"warehouse": WarehouseResource(database_url=env.database_url)}
    )
    result = sensor(context)
    return result


def open_incidents(env):
    """Each member feature of a not-resolved incident → that incident."""
    live = [i for i in env.incidents.list(IncidentFilter()).items if i.status != "resolved"]
    members = env.incidents.members([i.id for i in live])
    return {m.feature: i for i in live for m in members.get(i.id, [])}


def test_sensor_opens_touches_and_resolves(env):
    run_reference(env)
    run_day(env, 5)
    run_day(env, 6)
    first = tick(env, None)
    cursor = first.cursor
    assert int(cursor) == max(r.id for r in env.results.after(0))
    opened = open_incidents(env)
    assert set(opened) == {"amount", "device"}
    amount = opened["amount"]
    assert opened["device"].id == amount.id  # one event, one incident, two members
    assert amount.fingerprint == dataset_fingerprint(DATASET)
    assert amount.severity == "critical" and amount.source == "dagster"
    assert amount.evidence["partition"] == day(6).isoformat()
    assert amount.evidence["run_url"].endswith(f"/runs/{amount.evidence['run_id']}")
    assert amount.evidence["bins"]["labels"]
    psi = DEFAULT_LEVELS["psi"]  # the levels it was graded with, for the console's chart
    assert amount.evidence["levels"]["psi"] == {"warn": psi.warn, "critical": psi.critical}

    # A second tick with nothing new does nothing and keeps the cursor.
    second = tick(env, cursor)
    assert second.cursor is None  # not moved
    assert "no drift results after id" in second.skip_reason.skip_message
    assert open_incidents(env)["amount"].occurrences == 2  # a breach of each member

    # New breaches touch the open incident's members.
    run_day(env, 7)
    third = tick(env, cursor)
    assert open_incidents(env)["amount"].occurrences == 4
    members = env.incidents.members([amount.id])[amount.id]
    assert {(m.feature, m.first_partition, m.last_partition) for m in members} == {
        (f, day(6).isoformat(), day(7).isoformat()) for f in ("amount", "device")
    }
    cursor = third.cursor

    # One healthy partition is not enough (resolve_after: 2) …
    run_day(env, 8)
    cursor = tick(env, cursor).cursor
    assert set(open_incidents(env)) == {"amount", "device"}
    # … two in a row resolve, with a timeline event.
    run_day(env, 9)
    tick(env, cursor)
    assert open_incidents(env) == {}
    events = env.incidents.events(amount.id)
    assert events[-1].to_status == "resolved"
    assert events[-1].note == "every member recovered: amount, device"
    assert {e.note for e in events if e.kind == "member_recovered"} == {
        f"{f} recovered: 2 consecutive healthy partitions, latest {day(9).isoformat()}"
        for f in ("amount", "device")
    }


def test_replaying_a_batch_changes_nothing(env):
    """A tick that failed after writing some incidents is retried from the old cursor."""
    run_reference(env)
    run_day(env, 6)
    tick(env, None)
    tick(env, None)  # same batch again
    assert open_incidents(env)["amount"].occurrences == 2


def test_an_unreachable_store_fails_the_tick_and_the_old_cursor_replays(env):
    """A tick that raises returns no SensorResult, so Dagster keeps the cursor it had; what
    matters is that a tick from that cursor does the work."""
    run_reference(env)
    run_day(env, 6)
    sensor = env.defs.resolve_sensor_def("drift_incident_sensor")
    unreachable = WarehouseResource(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(Exception, match=r"connect|Connection|refused"):
        sensor(build_sensor_context(cursor="0", resources={"warehouse": unreachable}))
    assert open_incidents(env) == {}
    replayed = tick(env, "0")
    assert set(open_incidents(env)) == {"amount", "device"}
    assert int(replayed.cursor) == max(r.id for r in env.results.after(0))


def test_a_failure_mid_batch_is_completed_by_the_replay_without_doubling(env, monkeypatch):
    """The store fails after the first member of a batch is written (a deadlock, a lost
    connection): the tick's one transaction rolls back and the tick fails; the replay from the
    old cursor does all of it, once."""
    from sqlalchemy.exc import OperationalError

    import warehouse.incidents.store as store

    run_reference(env)
    run_day(env, 6)
    real_join = store.join
    calls = []

    def failing_second(session, request, ledger):
        calls.append(request.feature)
        if len(calls) == 2:
            raise OperationalError("INSERT …", {}, Exception("server closed the connection"))
        return real_join(session, request, ledger)

    monkeypatch.setattr(store, "join", failing_second)
    with pytest.raises(OperationalError):
        tick(env, "0")
    assert calls == ["amount", "device"]
    assert open_incidents(env) == {}  # the first member went with the rollback
    monkeypatch.setattr(store, "join", real_join)
    tick(env, "0")
    opened = open_incidents(env)
    assert set(opened) == {"amount", "device"}
    assert {i.occurrences for i in opened.values()} == {2}


def test_run_failure_sensor_opens_a_pipeline_incident(env):
    from dagster import DagsterEventType, materialize

    instance = DagsterInstance.ephemeral()
    run_reference(env)
    drift = env.defs.resolve_assets_def(["orders", "feature_drift"])
    failed = materialize(
        [drift], partition_key=day(30).isoformat(), instance=instance, raise_on_error=False
    )
    assert not failed.success
    run = instance.get_run_by_id(failed.run_id)
    failure = next(e for e in failed.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
    sensor = env.defs.resolve_sensor_def("drift_run_failure_sensor")
    context = build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
        resources={"warehouse": WarehouseResource(database_url=env.database_url)},
    ).for_run_failure()
    sensor(context)
    sensor(context)  # a re-delivered failure counts once
    (incident,) = env.incidents.list(IncidentFilter()).items
    assert incident.fingerprint == pipeline_fingerprint(run.job_name)
    assert incident.severity == "high"
    assert incident.evidence["partition"] == day(30).isoformat()
    assert incident.occurrences == 1


def _status_context(env, instance, result, event_type, sensor_name):
    from dagster import DagsterEventType

    run = instance.get_run_by_id(result.run_id)
    wanted = getattr(DagsterEventType, event_type)
    event = next(e for e in result.all_events if e.event_type == wanted)
    context = build_run_status_sensor_context(
        sensor_name=sensor_name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
        resources={"warehouse": WarehouseResource(database_url=env.database_url)},
    )
    return run, context


def test_a_pipeline_failure_resolves_when_the_partition_runs_again(env):
    """Day 30 has no snapshot: the run fails and opens the job's incident. A later success of
    an older day keeps it open; day 30 succeeding once its snapshot landed resolves it, and the
    timeline names the run that fixed it."""
    from dagster import materialize

    from tests.pipelines.conftest import snapshot

    instance = DagsterInstance.ephemeral()
    run_reference(env)
    drift = env.defs.resolve_assets_def(["orders", "feature_drift"])
    failure_sensor = env.defs.resolve_sensor_def("drift_run_failure_sensor")
    recovery_sensor = env.defs.resolve_sensor_def("drift_run_recovery_sensor")

    def run(day_number):
        return materialize(
            [drift],
            partition_key=day(day_number).isoformat(),
            instance=instance,
            raise_on_error=False,
        )

    failed = run(30)
    _, context = _status_context(env, instance, failed, "RUN_FAILURE", failure_sensor.name)
    failure_sensor(context.for_run_failure())
    (incident,) = env.incidents.list(IncidentFilter()).items
    assert incident.status == "open"

    older = run(5)
    assert older.success
    _, context = _status_context(env, instance, older, "RUN_SUCCESS", recovery_sensor.name)
    recovery_sensor(context)
    assert env.incidents.get(incident.id).status == "open"  # day 5 fixed nothing of day 30

    env.store.write(DATASET, day(30), snapshot(30, drifted=False))
    fixed = run(30)
    assert fixed.success
    _, context = _status_context(env, instance, fixed, "RUN_SUCCESS", recovery_sensor.name)
    recovery_sensor(context)
    recovery_sensor(context)  # a re-delivered success changes nothing more
    assert env.incidents.get(incident.id).status == "resolved"
    events = env.incidents.events(incident.id)
    assert events[-1].to_status == "resolved"
    assert (
        events[-1].note == f"run {fixed.run_id} (partition {day(30).isoformat()}) succeeded: fixed"
    )
    assert events[-2].note.startswith(f"kept open: run {older.run_id}")


def test_store_outage_fails_the_tick_and_loses_nothing(env):
    """PostgreSQL taken away mid-stream: the tick fails loudly with the cursor where it was;
    after recovery the next tick opens every incident that was due, once."""
    from urllib.parse import quote

    from tests.services import POSTGRES_URL, TcpProxy, postgres_schema
    from warehouse.db import Database
    from warehouse.drift_results import DriftResultStore, NewResult
    from warehouse.incidents import IncidentStore
    from warehouse.migrate import upgrade

    with postgres_schema() as (schema, _):
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        url = (
            POSTGRES_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            + f"?options={quote(f'-csearch_path={schema}')}&connect_timeout=2"
        )
        db = Database.from_url(url)
        upgrade(db.engine)
        DriftResultStore(db).add(
            [
                NewResult(DATASET, feature, "2026-01-06", "run-1", "critical", psi=0.5)
                for feature in ("amount", "device", "rating")
            ]
        )
        sensor = env.defs.resolve_sensor_def("drift_incident_sensor")

        def context(cursor):
            return build_sensor_context(
                cursor=cursor, resources={"warehouse": WarehouseResource(database_url=url)}
            )

        proxy.cut()
        with pytest.raises(Exception, match=r"connect|onnection|closed|server"):
            sensor(context("0"))

        proxy.start()
        store = IncidentStore(db)
        assert store.list().items == []  # the failed tick wrote nothing
        recovered = sensor(context("0"))
        (incident,) = store.list().items
        members = store.members([incident.id])[incident.id]
        assert {m.feature for m in members} == {"amount", "device", "rating"}
        sensor(context("0"))  # a retried tick from the old cursor doubles nothing
        assert [i.occurrences for i in store.list().items] == [3]
        assert int(recovered.cursor) == max(r.id for r in DriftResultStore(db).after(0))
        db.dispose()
        from pipelines.defs.resources import _database

        _database(url).dispose()
        proxy.cut()


def test_run_status_sensors_keep_to_driftwatch_runs(env):
    """They read runs of every code location (the CLI's runs belong to none), so they must
    recognise ours: a drift job, a selected watched asset, or a step of one."""
    from dagster import AssetKey, DagsterRun

    from pipelines.defs.sensors import watches

    def run(**fields):
        return DagsterRun(job_name=fields.pop("job_name", "__ASSET_JOB"), **fields)

    assert watches(run(job_name="orders_drift_job"), env.config)
    assert watches(
        run(asset_selection=frozenset({AssetKey(["orders", "feature_drift"])})), env.config
    )
    assert watches(run(step_keys_to_execute=["orders__reference_profile"]), env.config)
    # The drift asset as share steps (profile_steps > 1): its steps are "<asset>.<op>".
    assert watches(run(step_keys_to_execute=["orders__feature_drift.score_days"]), env.config)
    assert not watches(run(step_keys_to_execute=["orders__feature_drifts.x"]), env.config)
    assert not watches(run(job_name="billing_job"), env.config)
    assert not watches(
        run(asset_selection=frozenset({AssetKey(["billing", "invoices"])})), env.config
    )
    assert not watches(run(step_keys_to_execute=["billing__invoices"]), env.config)
