"""The engine from ``DATABASE_URL`` (default: a SQLite file in DRIFTWATCH_HOME) and the settings
each of its connections gets: SQLite made safe for concurrent writers, PostgreSQL sessions planned
and zoned for our reads, stale pooled connections found before use."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from pydantic_core import from_json
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from warehouse.home import default_database_url

PING_AFTER_IDLE_SECONDS: Final = 1.0
"""A pooled connection idle for longer is pinged before use (see :func:`_ping_when_idle`)."""
clock: Callable[[], float] = time.monotonic
"""Seconds for idle checks; tests replace it to make a connection idle without sleeping."""
RANDOM_PAGE_COST: Final = 1.1
"""PostgreSQL's planner cost of a random page read in our sessions (its default is 4; its docs
suggest 1.1 where the data is cached or on SSD). See :func:`_session_settings`."""


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or default_database_url()


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
    the webhook's dedup lookup kept a sequential scan of incident_events as the table grew, and
    deliveries slowed down as it did (docs/benchmarks.md). Only the batch writes need it;
    everywhere else re-planning each read cost throughput."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def now() -> float:
    """The idle clock's reading (:data:`clock`)."""
    return clock()


def idle(since: float) -> bool:
    """Whether a connection checked in at ``since`` has sat idle long enough to be pinged."""
    return clock() - since > PING_AFTER_IDLE_SECONDS


def answers(engine: Engine, dbapi_connection: Any) -> bool:
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
        record.info["checked_in_at"] = clock()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("checked_in_at")
        if checked_in is not None and not idle(checked_in):
            return
        if not answers(engine, dbapi_connection):
            raise DisconnectionError("stale pooled connection")


def _session_settings(dbapi_connection: Any, _record: Any) -> None:
    """Settings for each of our PostgreSQL sessions, made when it connects.

    - ``random_page_cost`` (:data:`RANDOM_PAGE_COST`): a filtered page walks an index such as
      ``(status, severity, id)`` backwards and fetches its rows in nearly heap order, but the
      planner judges that locality by the leading column and, at a random page cost of 4, chose
      to walk the primary key instead, reading every newer incident that did not match
      (docs/architecture.md, "Filtered pages").
    - ``TimeZone`` UTC: psycopg then returns ``timestamptz`` values in UTC already, so
      :class:`warehouse.models.UTCDateTime` has nothing to convert on PostgreSQL (converting
      every time of a page was a visible share of its read), whatever the server's or the
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
    detects and decodes the encoding of the bytes psycopg hands over first, which made it a
    visible share of a filtered page's time (docs/benchmarks.md)."""
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
