"""A range of partitions in one run (the drift asset's backfill policy): the same results as a
run per day, written in partition order, a missing day named without losing the others, a
year of results read by the incident sensor in order, and a database restarted mid-range."""

import threading
from datetime import date, timedelta

import pytest
from dagster import materialize

from pipelines.backfill import retry_on_disconnect, score_range
from pipelines.references import FixedReferences
from pipelines.scoring import load_reference
from tests.pipelines.conftest import DATASET, FEATURES, day, make_config, snapshot
from tests.pipelines.test_assets import assets, checks, run_day, run_reference
from tests.pipelines.test_sensors import open_incidents, tick
from tests.services import OwnPostgres
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentFilter
from warehouse.migrate import upgrade

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
"""The run tags a backfill (and ``dagster asset materialize --partition-range``) sets."""


def run_range(env, first, last, *, on=day, **kwargs):
    tags = {RANGE_START: on(first).isoformat(), RANGE_END: on(last).isoformat()}
    return materialize([assets(env)[1]], tags=tags, **kwargs)


def _fixed(env):
    reference = load_reference(env.store, DATASET, "orders/reference_profile")
    return FixedReferences.of(reference, env.config.datasets[DATASET])


def day_of_2025(n):
    """Day ``n`` of 2025: a whole year of partitions that all lie in the past."""
    return date(2025, 1, 1) + timedelta(days=n - 1)


def measures(env, partition, run_id):
    return {
        r.feature: (r.status, r.psi, r.drift_ratio, r.js_distance, r.unseen_share, r.message)
        for r in env.results.for_partition(DATASET, partition)
        if r.run_id == run_id
    }


def test_a_range_in_one_run_scores_each_day_as_a_run_per_day_does(env):
    run_reference(env)
    ranged = run_range(env, 4, 9)
    assert ranged.success
    materialized = ranged.asset_materializations_for_node("orders__feature_drift")
    assert [m.partition for m in materialized] == [day(n).isoformat() for n in range(4, 10)]
    assert [m.metadata["rows"].value for m in materialized] == [4000] * 6
    assert [m.metadata["critical_count"].value for m in materialized] == [0, 0, 2, 2, 0, 0]
    # Written in partition order, each day's features together: the sensor reads by id.
    written = env.results.after(0)
    assert [r.partition for r in written] == [
        day(n).isoformat() for n in range(4, 10) for _ in FEATURES
    ]
    for n in range(4, 10):
        alone = run_day(env, n)
        assert alone.success
        partition = day(n).isoformat()
        by_day = measures(env, partition, alone.run_id)
        assert len(by_day) == len(FEATURES)
        assert by_day == measures(env, partition, ranged.run_id)


def test_a_range_grades_its_checks_over_every_day(env):
    run_reference(env)
    evaluations = checks(run_range(env, 4, 9))
    aggregate = evaluations["drift_within_thresholds"]
    assert not aggregate.passed
    assert aggregate.metadata["critical_partitions"].value == [
        day(6).isoformat(),
        day(7).isoformat(),
    ]
    assert aggregate.metadata["partitions"].value == f"{day(4).isoformat()}…{day(9).isoformat()}"
    amount = evaluations["amount"]
    assert not amount.passed and amount.metadata["breached_partitions"].value == 2
    assert amount.metadata["partition"].value == day(7).isoformat()  # the newest of the worst
    assert (
        evaluations["rating"].passed
        and evaluations["rating"].metadata["breached_partitions"].value == 0
    )


def test_a_missing_day_fails_the_run_and_keeps_the_others(env):
    run_reference(env)
    env.store.write(
        DATASET, day(12), snapshot(12, drifted=False), row_group_size=1500
    )  # 10, 11 missing
    result = run_range(env, 8, 12, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("orders__feature_drift").error
    assert failure.message.strip().endswith(
        f"Failure: 2 of 5 partitions could not be scored (first: no snapshot of orders for "
        f"{day(10).isoformat()}); 3 were"
    )
    materialized = result.asset_materializations_for_node("orders__feature_drift")
    assert [m.partition for m in materialized] == [day(n).isoformat() for n in (8, 9, 12)]
    assert {r.partition for r in env.results.after(0)} == {day(n).isoformat() for n in (8, 9, 12)}


def test_the_sensor_reads_a_year_in_one_run_in_order(tmp_path):
    """365 days (a small one each) in one run, drift on days 100–110 and 360–365 (``amount``
    and ``device``). The sensor reads the 1,460 results in two ticks, in id (= partition) order.
    As for any backfill, the present — the newest ``resolve_after`` days — decides: one open
    incident with a member per drifted feature, opened at day 364 and touched at 365 (each
    member reaching back to day 360, where its streak began). The older days were read before
    that incident existed, so they page nobody: the spring's breaches stay in drift_results and
    on the Dagster checks."""
    from pipelines.definitions import build_definitions
    from tests.pipelines.conftest import Env
    from warehouse.snapshots import SnapshotStore

    store = SnapshotStore(tmp_path / "warehouse")
    drifted = set(range(100, 111)) | set(range(360, 366))
    for n in range(1, 366):
        store.write(DATASET, day_of_2025(n), snapshot(n, drifted=n in drifted, rows=400))
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    db = Database.from_url(url)
    upgrade(db.engine)
    config = make_config(
        reference={"start": "2025-01-01", "end": "2025-01-03"}, partitions_start="2025-01-01"
    )
    env = Env(store.root, url, store, build_definitions(config, database=url,
              snapshots_root=str(store.root)), config, db)  # fmt: skip
    run_reference(env)
    assert run_range(env, 1, 365, on=day_of_2025).success
    assert len(env.results.after(0, limit=10_000)) == 365 * len(FEATURES)
    cursor, ticks = None, 0
    while (outcome := tick(env, cursor)).cursor is not None:
        cursor, ticks = outcome.cursor, ticks + 1
    assert ticks == 2  # 1,460 results, 1,000 a tick
    (incident,) = env.incidents.list(IncidentFilter()).items
    assert (incident.status, incident.occurrences) == ("open", 4)  # 2 members x 2 present days
    members = env.incidents.members([incident.id])[incident.id]
    # each member says where its streak began, though only days 364–365 are the present
    assert {(m.feature, m.first_partition, m.last_partition) for m in members} == {
        (f, day_of_2025(360).isoformat(), day_of_2025(365).isoformat())
        for f in ("amount", "device")
    }
    assert incident.evidence["partition"] == day_of_2025(365).isoformat()
    notes = [e.note or "" for e in env.incidents.events(incident.id)]
    assert [n.split(":")[0] + ":" + n.split(":")[1] for n in notes] == [
        f"amount opened it: partition {day_of_2025(364).isoformat()}",
        f"device joined: partition {day_of_2025(364).isoformat()}",
        f"amount: partition {day_of_2025(365).isoformat()}",
        f"device: partition {day_of_2025(365).isoformat()}",
    ]
    spring = env.results.for_partition(DATASET, day_of_2025(100).isoformat())
    assert {r.feature: r.status for r in spring}["amount"] == "critical"
    # Two healthy days later, the daily runs resolve it as usual.
    for n in (366, 367):
        store.write(DATASET, day_of_2025(n), snapshot(n, drifted=False, rows=400))
        drift = materialize([assets(env)[1]], partition_key=day_of_2025(n).isoformat())
        assert drift.success
    while (outcome := tick(env, cursor)).cursor is not None:
        cursor = outcome.cursor
    assert open_incidents(env) == {}


@pytest.fixture
def own_postgres():
    server = OwnPostgres()
    server.init()
    server.start()
    yield server
    server.remove()


def test_a_database_restart_between_two_days_is_waited_for(env, own_postgres):
    """The results go to a PostgreSQL server of our own, stopped right after day 5 is written
    and started again a second later: day 6's write meets a dead connection, then a refused
    one, and succeeds once the server is back. Every day is written exactly once."""
    run_reference(env)
    db = Database.from_url(own_postgres.url)
    upgrade(db.engine)
    results = DriftResultStore(db)
    restarted = threading.Event()

    def restart_after_day_5(partition, _done):
        if partition == day(5).isoformat():
            own_postgres.stop()
            threading.Timer(1.0, lambda: (own_postgres.start(), restarted.set())).start()

    partitions = [day(n).isoformat() for n in range(4, 9)]
    outcome = score_range(
        env.store,
        results,
        DATASET,
        env.config.datasets[DATASET],
        partitions=partitions,
        run_id="restart-test",
        references=_fixed(env),
        on_scored=restart_after_day_5,
    )
    assert restarted.wait(30)
    assert [p for p, _ in outcome.scored] == partitions and not outcome.failed
    written = results.after(0)
    assert [r.partition for r in written] == [p for p in partitions for _ in FEATURES]
    db.dispose()


def test_only_a_lost_connection_is_retried():
    from sqlalchemy.exc import IntegrityError, OperationalError

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return "written"

    assert retry_on_disconnect(flaky, wait=10) == "written" and len(calls) == 3

    def broken():
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    calls.clear()
    with pytest.raises(IntegrityError):
        retry_on_disconnect(broken, wait=10)
    assert len(calls) == 1

    def down():
        raise OperationalError("connect", {}, Exception("connection refused"))

    with pytest.raises(OperationalError):
        retry_on_disconnect(down, wait=0.5)


def test_dagster_asset_materialize_takes_a_partition_range_as_one_run(env, tmp_path):
    from tests.pipelines.test_dagster_cli_e2e import Cli

    cli = Cli(env, tmp_path)
    cli.materialize("reference_profile")
    days = f"{day(4).isoformat()}...{day(9).isoformat()}"
    out = cli.run("asset", "materialize", "--select", f"{DATASET}/feature_drift",
                  "--partition-range", days)  # fmt: skip
    assert out.count("RUN_SUCCESS") == 1
    written = env.results.after(0)
    assert sorted({r.partition for r in written}) == [day(n).isoformat() for n in range(4, 10)]
    assert len({r.run_id for r in written}) == 1


def test_a_write_whose_commit_got_through_but_not_its_answer_is_not_repeated(env):
    """Day 5's transaction commits, then the client hears "server closed the connection" (the
    acknowledgement was lost): the retry finds day 5 already written by this run and keeps it.
    Every day is written once."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from warehouse.models import DriftResult

    run_reference(env)
    lost = []

    def lose_the_answer(session):
        wrote = {o.partition for o in session.identity_map.values() if isinstance(o, DriftResult)}
        if day(5).isoformat() in wrote and not lost:
            lost.append(day(5))
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    event.listen(Session, "after_commit", lose_the_answer)
    try:
        outcome = score_range(
            env.store,
            env.results,
            DATASET,
            env.config.datasets[DATASET],
            partitions=[day(n).isoformat() for n in (4, 5, 6)],
            run_id="lost-ack",
            references=_fixed(env),
        )
    finally:
        event.remove(Session, "after_commit", lose_the_answer)
    assert lost == [day(5)]
    assert [p for p, _ in outcome.scored] == [day(n).isoformat() for n in (4, 5, 6)]
    assert [r.partition for r in env.results.after(0)] == [
        day(n).isoformat() for n in (4, 5, 6) for _ in FEATURES
    ]
    day_5 = dict(outcome.scored)[day(5).isoformat()]
    assert day_5.result_ids == [r.id for r in env.results.for_partition(DATASET, str(day(5)))]


def test_a_retry_finishes_what_failed_runs_wrote_and_a_rerun_of_a_success_recomputes():
    """root (succeeded) ← all (re-execute all: failed midway) ← resume (from failure): the
    resume skips what it and ``all`` wrote, not ``root``'s days; a re-execution of ``root``
    itself recomputes everything."""
    from types import SimpleNamespace

    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

    from pipelines.defs.assets import runs_that_wrote_before

    def run(run_id, status, parent=None):
        lineage = {"parent_run_id": parent, "root_run_id": "root" if parent else None}
        return DagsterRun(job_name="orders_drift_job", run_id=run_id, status=status, **lineage)

    with DagsterInstance.ephemeral() as instance:
        for made in (run("root", DagsterRunStatus.SUCCESS),
                     run("all", DagsterRunStatus.FAILURE, parent="root"),
                     run("resume", DagsterRunStatus.STARTED, parent="all"),
                     run("again", DagsterRunStatus.STARTED, parent="root")):  # fmt: skip
            instance.add_run(made)

        def wrote_before(run_id):
            context = SimpleNamespace(run=instance.get_run_by_id(run_id), instance=instance)
            return runs_that_wrote_before(context)

        assert wrote_before("resume") == ["resume", "all"]
        assert wrote_before("again") == ["again"]
        assert wrote_before("root") == ["root"]
