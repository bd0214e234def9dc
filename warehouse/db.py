"""Sessions on the engine (:mod:`warehouse.engine`): reads outside transactions where the
database allows it, and one connection pinned per unit of work (an API request).

Callers import the engine helpers from here too: one import for the storage's entry points.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from warehouse.engine import (
    answers,
    custom_plans,
    database_url,
    idle,
    make_engine,
    normalise_url,
    now,
)

__all__ = [
    "Database",
    "custom_plans",
    "database_url",
    "make_engine",
    "normalise_url",
]

T = TypeVar("T")


class _Held:
    """The connection a :class:`Database` keeps checked out from one pin to the next: checking a
    connection out and in for every request (pool bookkeeping, reset on return, isolation level
    set and reset) is a measurable share of a read. One unit of work at a time holds it
    (``lock``)."""

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
        if idle(held.released_at) and self.engine.dialect.name != "sqlite":  # as the pool does
            dbapi_connection = connection.connection.dbapi_connection
            if dbapi_connection is None or not answers(self.engine, dbapi_connection):
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
                self.held.released_at = now()  # idle from now (only if it was used)
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
        Rows need no Session, which roughly halves a hot read by primary key
        (docs/benchmarks.md). A read is idempotent, so when its connection
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
