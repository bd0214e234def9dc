"""warehouse.db: what the API's speed rests on — one connection per pinned unit of work, reads
outside transactions on PostgreSQL, and plans made for each execution's own parameters."""

from __future__ import annotations

from sqlalchemy import event, select, text

from tests.services import postgres_database
from warehouse.db import Database
from warehouse.incidents import IncidentStore
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


def test_postgres_connections_plan_each_execution():
    """A cached generic plan kept a sequential scan as a table grew (the webhook slowed 4×)."""
    with postgres_database() as db, db.reads() as session:
        assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
