"""Real services the tests use, and what to do when one is missing.

Under CI (``CI=true``) a missing service fails the test with a message naming it; elsewhere the
test is skipped with that message.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from warehouse.db import Database, make_engine

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def require(service: str, probe: Callable[[], object]) -> None:
    try:
        probe()
    except Exception as exc:  # any failure to reach it
        message = f"{service} is not available: {type(exc).__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_schema() -> Iterator[tuple[str, dict[str, object]]]:
    """A fresh schema on the test PostgreSQL, dropped afterwards: runs never collide."""
    admin = make_engine(POSTGRES_URL)
    require("PostgreSQL at 127.0.0.1:5432 (database test)", lambda: admin.connect().close())
    schema = f"dw_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def postgres_database() -> Iterator[Database]:
    with postgres_schema() as (_, kwargs):
        db = Database.from_url(POSTGRES_URL, **kwargs)
        try:
            yield db
        finally:
            db.dispose()
