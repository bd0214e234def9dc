"""Engine and sessions from ``DATABASE_URL`` (default: a SQLite file under ./var)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic_core import from_json
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session

T = TypeVar("T")
DEFAULT_DATABASE_URL: Final = "sqlite:///var/driftwatch.db"
PING_AFTER_IDLE_SECONDS: Final = 1.0
"""A pooled connection idle for longer is pinged before use (see :func:`_ping_when_idle`)."""
RANDOM_PAGE_COST: Final = 1.1
"""PostgreSQL's planner cost of a random page read in our sessions (its default is 4; its docs
suggest 1.1 where the data is cached or on SSD). See :func:`_session_settings`."""


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here (SQLAlchemy would pick
    psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's BEGIN (below) manage transactions; the driver's own would defer locks.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def custom_plans(connection: Connection) -> None:
    """Plan this transaction's statements for their own parameters. psycopg prepares a statement
    on its fifth use, and PostgreSQL may then keep a generic plan made while a table was small:
    the webhook's dedup lookup kept a sequential scan of incident_events as the table grew, and a
    100-alert delivery went from 96 to 380 ms over 500 deliveries (docs/benchmarks.md). Only the
    batch writes need it; everywhere else re-planning each read cost throughput."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _idle(since: float) -> bool:
    return time.monotonic() - since > PING_AFTER_IDLE_SECONDS


def _answers(engine: Engine, dbapi_connection: Any) -> bool:
    """Whether the connection answers the dialect's ping (the one ``pool_pre_ping`` uses)."""
    try:
        engine.dialect.do_ping(dbapi_connection)
    except engine.dialect.loaded_dbapi.Error:
        return False
    return True


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling without a round trip per checkout: ``pool_pre_ping``
    pings on every checkout — one round trip per API request. A connection checked in less than
    a second ago is alive as far as a ping could tell, so only older ones are pinged; a dead one
    is replaced before use (DisconnectionError makes the pool connect afresh)."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("checked_in_at")
        if checked_in is not None and not _idle(checked_in):
            return
        if not _answers(engine, dbapi_connection):
            raise DisconnectionError("stale pooled connection")


def _session_settings(dbapi_connection: Any, _record: Any) -> None:
    """Settings for each of our PostgreSQL sessions, made when it connects.

    - ``random_page_cost`` (:data:`RANDOM_PAGE_COST`): a filtered page walks an index such as
      ``(status, severity, id)`` backwards and fetches its rows in nearly heap order, but the
      planner judges that locality by the leading column and, at a random page cost of 4, chose
      to walk the primary key instead, reading every newer incident that did not match (2–3 ms
      a page, 15,000 rows read for 51; docs/architecture.md, "Filtered pages").
    - ``TimeZone`` UTC: psycopg then returns ``timestamptz`` values in UTC already, so
      :class:`warehouse.models.UTCDateTime` has nothing to convert on PostgreSQL (converting 6
      columns of 51 rows was a fifth of a filtered page's read), whatever the server's or the
      role's default zone is.
    """
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET random_page_cost = {RANDOM_PAGE_COST}")
        cursor.execute("SET TimeZone = 'UTC'")
    dbapi_connection.autocommit = autocommit


def _sqlite_begin_immediate(connection: Any) -> None:
    # Writers take the lock at BEGIN, so check-then-insert (IncidentStore.apply) is race-free.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default :func:`database_url`), with SQLite made safe for
    concurrent writers and its directory created.

    JSON columns are parsed by pydantic-core's parser: the standard library's ``json.loads``
    took 6.7 µs for the bytes ``{}`` that psycopg hands over (it detects and decodes the
    encoding first), ``from_json`` 0.3 µs — a tenth of a filtered page's time (50 rows) in
    cProfile."""
    kwargs.setdefault("json_deserializer", from_json)
    resolved = make_url(normalise_url(url or database_url()))
    if resolved.get_backend_name() == "sqlite":
        if resolved.database and resolved.database != ":memory:":
            Path(resolved.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    engine = create_engine(resolved, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _session_settings)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


class _Held:
    """The connection a :class:`Database` keeps checked out from one pin to the next: checking a
    connection out and in for every request (pool bookkeeping, reset on return, isolation level
    set and reset) cost ~5 % of a read. One unit of work at a time holds it (``lock``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connection: Connection | None = None
        self.released_at = 0.0

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class _Pin:
    """One connection, taken on first use, for every session of a unit of work: the held one
    when it is free, else one checked out from the pool for this unit of work."""

    def __init__(self, engine: Engine, held: _Held | None) -> None:
        self.engine = engine
        self.held = held
        self.connection: Connection | None = None

    def get(self) -> Connection:
        if self.connection is None and self.held is not None:
            self.connection = self._take_held(self.held)
        if self.connection is None or self.connection.invalidated:
            if self.held is not None:
                self.held.close()  # before connecting: a failed connect must not leave it held
            elif self.connection is not None:
                self.connection.close()
            self.connection = None
            self.connection = self.engine.connect()
            if self.held is not None:
                self.held.connection = self.connection
        return self.connection

    def _take_held(self, held: _Held) -> Connection | None:
        connection = held.connection
        if connection is None or connection.closed or connection.invalidated:
            return None
        if _idle(held.released_at) and self.engine.dialect.name != "sqlite":  # as the pool does
            dbapi_connection = connection.connection.dbapi_connection
            if dbapi_connection is None or not _answers(self.engine, dbapi_connection):
                connection.invalidate()
                return None
        return connection

    def release(self) -> None:
        connection, self.connection = self.connection, None
        if self.held is None:
            if connection is not None:
                connection.close()
            return
        try:
            if connection is not None:
                self.held.released_at = time.monotonic()  # idle from now (only if it was used)
                try:
                    if not connection.invalidated and connection.in_transaction():
                        connection.rollback()  # nothing is left open for the next unit of work
                except DBAPIError:
                    connection.invalidate()
        finally:
            self.held.lock.release()


class Database:
    """An engine and its sessions: what the repositories are built on.

    Reads (:meth:`reads`) run without a transaction on PostgreSQL (autocommit: each statement
    is its own snapshot, as it would be under READ COMMITTED anyway), which saves the BEGIN and
    ROLLBACK round trips; writes (:meth:`transaction`) get a real one. Between :meth:`pin` and
    :meth:`unpin` (the API wraps each request in them) every session runs on one connection,
    which the Database keeps checked out for the next pin (a second, concurrent pin gets one from
    the pool); it is pinged first when it sat idle, like a pooled one.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pin: ContextVar[_Pin | None] = ContextVar(f"pin-{id(self)}", default=None)
        self._held = _Held()
        # SQLite keeps its transactions for reads: BEGIN IMMEDIATE is how it orders writers.
        self._autocommit_reads = engine.dialect.name == "postgresql"
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._autocommit_reads
            else engine
        )

    @classmethod
    def from_url(cls, url: str | None = None, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    def _bind(self, *, read: bool) -> Engine | Connection:
        pin = self._pin.get()
        if pin is None:
            return self._reader if read else self.engine
        connection = pin.get()
        if self._autocommit_reads:
            level = "AUTOCOMMIT" if read else connection.default_isolation_level
            if connection.get_execution_options().get("isolation_level") != level:
                connection.execution_options(isolation_level=level)
        return connection

    def reads(self) -> Session:
        """A session for reading ORM entities only (``with db.reads() as session``)."""
        return Session(self._bind(read=True), expire_on_commit=False)

    def read(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` for Core reads: on the pinned connection, or one from the pool.
        Rows need no Session: a hot read by primary key took 527 µs through a Session and 278 µs
        on the connection (docs/benchmarks.md). A read is idempotent, so when its connection
        turns out dead (the database restarted since it was last used) it runs once more on a
        fresh one instead of failing."""
        for attempt in (1, 2):
            try:
                return self._read_once(work)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_once(self, work: Callable[[Connection], T]) -> T:
        bind = self._bind(read=True)
        if isinstance(bind, Connection):
            try:
                return work(bind)
            finally:
                if not bind.invalidated:
                    bind.rollback()  # ends the autobegun transaction (AUTOCOMMIT: no round trip)
        with bind.connect() as connection:
            return work(connection)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed when the block ends without an error."""
        with Session(self._bind(read=False), expire_on_commit=False) as session, session.begin():
            yield session

    def pin(self) -> Token[_Pin | None]:
        """Pin until :meth:`unpin` is given the returned token (for request hooks)."""
        held = self._held if self._held.lock.acquire(blocking=False) else None
        return self._pin.set(_Pin(self.engine, held))

    def unpin(self, token: Token[_Pin | None]) -> None:
        pin = self._pin.get()
        self._pin.reset(token)
        if pin is not None:
            pin.release()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if self._held.lock.acquire(blocking=False):
            try:
                self._held.close()
            finally:
                self._held.lock.release()
        self.engine.dispose()
