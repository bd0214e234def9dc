"""warehouse.db: what the API's speed rests on — one connection per pinned unit of work, reads
outside transactions on PostgreSQL, a ping only for connections that sat idle, and plans made
for each execution's own parameters where a batch write needs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta

from sqlalchemy import event, select, text

from tests.services import POSTGRES_URL, TcpProxy, postgres_database, postgres_schema
from warehouse import engine as engine_module
from warehouse.db import Database, custom_plans
from warehouse.incidents import IncidentStore, Touch
from warehouse.lifecycle import Severity, Source
from warehouse.migrate import upgrade
from warehouse.models import Incident
from warehouse.users import UserStore


def _checkouts(db: Database) -> list[object]:
    seen: list[object] = []
    event.listen(db.engine, "checkout", lambda *args: seen.append(args[0]))
    return seen


def test_a_pinned_unit_of_work_checks_out_one_connection(database):
    users, incidents = UserStore(database), IncidentStore(database)
    checkouts = _checkouts(database)
    users.get("nobody")
    incidents.list()
    assert len(checkouts) == 2  # unpinned: one checkout per repository call
    checkouts.clear()
    token = database.pin()
    try:
        users.get("nobody")
        incidents.list()
        with database.transaction() as session:  # a write in between, on the same connection
            session.execute(select(Incident.id))
        users.get("nobody")
    finally:
        database.unpin(token)
    assert len(checkouts) == 1


def test_reads_skip_transactions_on_postgres_and_writes_keep_them():
    with postgres_database() as db:
        for pinned in (False, True):
            token = db.pin() if pinned else None
            try:
                with db.reads() as session:
                    session.execute(text("SELECT 1"))
                    assert session.connection().connection.dbapi_connection.autocommit
                with db.transaction() as session:
                    session.execute(text("SELECT 1"))
                    assert not session.connection().connection.dbapi_connection.autocommit
                    assert session.scalar(text("SELECT pg_current_xact_id()")) is not None
            finally:
                if token is not None:
                    db.unpin(token)


def _statements(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(
        db.engine, "before_cursor_execute", lambda _c, _cur, statement, *_: seen.append(statement)
    )
    return seen


def test_batch_writes_plan_each_execution_and_reads_keep_the_default():
    """A cached generic plan kept a sequential scan as a table grew (the webhook slowed 4×);
    re-planning every read cost throughput, so only the batch-write transaction asks for it."""
    with postgres_database() as db:
        upgrade(db.engine)
        with db.transaction() as session:
            custom_plans(session.connection())
            assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        with db.reads() as session:  # SET LOCAL ended with its transaction
            assert session.scalar(text("SHOW plan_cache_mode")) == "auto"
        statements = _statements(db)
        IncidentStore(db).apply(
            [Touch("fp", title="t", severity=Severity.LOW, source=Source.MANUAL, actor="a")]
        )
        assert statements[0] == "SET LOCAL plan_cache_mode = force_custom_plan"


class FakeClock:
    """The idle clock of warehouse.engine, moved only by the test: a connection is idle when the
    test says so, however long a read takes on a loaded machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def idle(self) -> None:
        self.now += engine_module.PING_AFTER_IDLE_SECONDS + 0.001


@contextmanager
def _behind_proxy(monkeypatch) -> Iterator[tuple[Database, TcpProxy, list, FakeClock]]:
    """A Database reaching PostgreSQL through a proxy the test can cut, on a clock the test
    moves, with every ping recorded."""
    clock = FakeClock()
    monkeypatch.setattr(engine_module, "clock", clock)
    with postgres_schema() as (_, kwargs):
        proxy = TcpProxy("127.0.0.1", 5432)
        proxy.start()
        url = POSTGRES_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        db = Database.from_url(url, **kwargs)
        pings: list[bool] = []
        real_ping = db.engine.dialect.do_ping
        monkeypatch.setattr(
            db.engine.dialect, "do_ping", lambda conn: pings.append(True) or real_ping(conn)
        )
        try:
            yield db, proxy, pings, clock
        finally:
            db.dispose()
            proxy.cut()


def test_a_connection_is_pinged_only_after_sitting_idle(monkeypatch):
    """One round trip per request saved: a connection checked in a moment ago is used as it is;
    one idle for longer is pinged, and a dead one is replaced before anyone uses it. A read that
    meets a connection which died while hot is run again on a fresh one."""
    with _behind_proxy(monkeypatch) as (db, proxy, pings, clock):

        def read() -> int:
            return int(db.read(lambda c: c.execute(text("SELECT 42")).scalar_one()))

        assert read() == 42
        assert read() == 42  # checked out again at once: no ping
        assert pings == []
        clock.idle()
        assert read() == 42  # idle: pinged, alive
        assert pings == [True]
        clock.idle()
        proxy.cut()  # the pooled connection dies while idle, as in a database restart
        proxy.start()
        assert read() == 42  # pinged, found dead, replaced before use: no error
        assert len(pings) >= 2
        pings.clear()
        proxy.cut()  # dies while hot: not pinged, the read fails once and is run again
        proxy.start()
        assert read() == 42
        assert pings == []


def _pinned(db: Database, work):
    token = db.pin()
    try:
        return work()
    finally:
        db.unpin(token)


def _backend_pid(db: Database) -> int:
    return int(db.read(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar_one()))


def test_the_database_holds_its_connection_from_one_pin_to_the_next():
    """Checking a connection out and in for every request is a share of every read: consecutive pins
    share one held connection; a concurrent pin gets its own from the pool, without waiting;
    nothing a unit of work left open reaches the next one; dispose() lets it go."""
    import threading

    with postgres_database() as db:
        checkouts = _checkouts(db)
        first = _pinned(db, lambda: _backend_pid(db))
        assert _pinned(db, lambda: _backend_pid(db)) == first
        assert len(checkouts) == 1 and db.engine.pool.checkedout() == 1

        seen: list[int] = []
        inside, done = threading.Event(), threading.Event()

        def other() -> None:
            def work() -> None:
                seen.append(_backend_pid(db))
                inside.set()
                done.wait(5)

            _pinned(db, work)

        def holder() -> None:
            thread.start()
            assert inside.wait(5)
            seen.append(_backend_pid(db))
            done.set()

        thread = threading.Thread(target=other)
        _pinned(db, holder)
        thread.join(5)
        assert seen[0] != seen[1] and first in seen  # the other pin was not made to wait
        assert db.engine.pool.checkedout() == 1  # the pooled one went back, the held one stays

        def leave_a_transaction_open() -> None:
            connection = db._bind(read=False)
            connection.execute(text("SELECT 1"))
            assert connection.in_transaction()

        _pinned(db, leave_a_transaction_open)
        assert _pinned(db, lambda: db._bind(read=False).in_transaction()) is False
        db.dispose()
        assert db.engine.pool.checkedout() == 0


def test_a_held_connection_that_died_while_idle_is_replaced(monkeypatch):
    with _behind_proxy(monkeypatch) as (db, proxy, pings, clock):
        first = _pinned(db, lambda: _backend_pid(db))
        assert _pinned(db, lambda: _backend_pid(db)) == first and pings == []  # hot
        clock.idle()
        _pinned(db, lambda: None)  # a request that never touches the database (/health)
        proxy.cut()
        proxy.start()
        second = _pinned(db, lambda: _backend_pid(db))  # still idle: pinged, dead, replaced
        assert second != first and pings == [True]
        proxy.cut()  # dies while hot: the read runs again on a fresh connection
        proxy.start()
        assert _pinned(db, lambda: _backend_pid(db)) not in (first, second)


def test_times_read_from_postgres_are_utc_whatever_the_sessions_default_zone():
    """UTCDateTime converts nothing on PostgreSQL: it relies on the TimeZone the engine sets on
    each connection. A role or server whose default zone is not UTC must not leak into reads."""
    with postgres_schema() as (schema, _):
        options = {"options": f"-csearch_path={schema} -cTimeZone=Asia/Kathmandu"}  # +05:45
        db = Database.from_url(POSTGRES_URL, connect_args=options)
        try:
            upgrade(db.engine)
            store = IncidentStore(db)
            written = store.create(title="t", severity=Severity.LOW, actor="a").created_at
            with db.reads() as session:
                entity = session.scalars(select(Incident)).one()
            row = store.list().items[0]
            for value in (entity.created_at, row.created_at, row.last_seen_at):
                assert value == written
                assert value.utcoffset() == timedelta(0)
                assert value.isoformat() == written.astimezone(UTC).isoformat()
        finally:
            db.dispose()


EVIDENCE = {
    "psi": 0.1,
    "tiny": 1e-300,
    "negative": -2.5e17,
    "count": 2**70,  # beyond 64 bits
    "flags": [True, False, None],
    "nested": {"ünïcode": "雪 ❄", "empty": {}, "list": [[], [1, [2.0]]]},
    "escaped": 'quote " backslash \\ newline \n tab \t',
}


def test_evidence_reads_back_as_written(database):
    """Evidence is parsed by pydantic-core's JSON parser, not the standard library's: the two
    must agree on every value an incident's evidence can hold."""
    store = IncidentStore(database)
    created = store.create(title="t", severity=Severity.LOW, actor="a", evidence=EVIDENCE)
    read = store.get(created.id).evidence
    assert read == EVIDENCE
    assert store.list().items[0].evidence == EVIDENCE
    with database.engine.connect() as connection:  # the stored text, parsed by json.loads
        stored = connection.scalar(text("SELECT CAST(evidence AS TEXT) FROM incidents"))
    # same values of the same types (PostgreSQL's jsonb itself turns -2.5e17 into an integer)
    assert json.dumps(read, sort_keys=True) == json.dumps(json.loads(stored), sort_keys=True)
