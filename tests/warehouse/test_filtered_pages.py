"""A filtered page reads the rows it returns, not every newer incident that does not match.

The shape that hurt (docs/benchmarks.md): matching incidents are old, and many newer ones that
do not match were added since (statistics not yet refreshed, as between autovacuum runs). On
PostgreSQL's defaults the planner walked the primary key backwards past all of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest
from sqlalchemy import Connection, text

from tests.services import postgres_database
from warehouse.db import Database
from warehouse.incidents import IncidentFilter, IncidentStore
from warehouse.incidents.reads import PAGE_FILTERS
from warehouse.lifecycle import Severity, Status
from warehouse.migrate import upgrade

OLD, NEW, LIMIT = 3_000, 12_000, 50

_INSERT = """
INSERT INTO incidents (title, description, severity, status, source, dataset, feature,
                       fingerprint, occurrences, first_seen_at, last_seen_at, evidence,
                       created_by, created_at, updated_at)
SELECT 'incident ' || i, '', {severity}, {status}, 'manual', {dataset}, {feature},
       '{prefix}:' || i, 1, now(), now(), '{{}}', 'test', now(), now()
FROM generate_series(1, {count}) AS i
"""


@pytest.fixture(scope="module")
def crowded() -> Iterator[Database]:
    """Old incidents of every status and severity, then many newer open, low-severity ones
    (what a burst of POSTs leaves), analysed before the burst only."""
    with postgres_database() as db:
        upgrade(db.engine)
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                _INSERT.format(
                    severity="(ARRAY['critical','high','medium','low'])[mod(i, 4) + 1]",
                    status="(ARRAY['open','acknowledged','resolved'])[mod(i, 3) + 1]",
                    dataset="'ds' || mod(i, 5)",
                    feature="'f' || mod(i, 10)",
                    prefix="old",
                    count=OLD,
                )
            )
            # old drift incidents hold members (what ?feature= reads through its second walk)
            connection.exec_driver_sql(
                "INSERT INTO incident_members (incident_id, dataset, feature, status, measures, "
                "evidence, recovered, added_at, updated_at) SELECT id, dataset, 'm' || mod(id, "
                "10), 'warn', '{}', '{}', false, now(), now() FROM incidents"
            )
            connection.exec_driver_sql("ANALYZE incidents")
            connection.exec_driver_sql("ANALYZE incident_members")
            connection.exec_driver_sql(
                _INSERT.format(
                    severity="'low'",
                    status="'open'",
                    dataset="'ds1'",
                    feature="NULL",
                    prefix="new",
                    count=NEW,
                )
            )
        yield db


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(
    connection: Connection, flt: IncidentFilter, *, by_member: bool = False
) -> dict[str, Any]:
    statement, params = IncidentStore.page_query(flt, LIMIT, None, by_member=by_member)
    compiled = statement.compile(dialect=connection.dialect)
    result = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", compiled.construct_params(params)
    )
    plan: dict[str, Any] = result.scalar_one()[0]["Plan"]
    return plan


FILTERS = {
    "status and severity": IncidentFilter(status=Status.OPEN, severity=Severity.HIGH),
    "status": IncidentFilter(status=Status.ACKNOWLEDGED),
    "severity": IncidentFilter(severity=Severity.CRITICAL),
    "dataset and feature": IncidentFilter(dataset="ds3", feature="f3"),
}


@pytest.mark.parametrize("plan_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("name", FILTERS)
def test_a_filtered_page_reads_little_more_than_it_returns(
    crowded: Database, name: str, plan_mode: str
) -> None:
    # generic: what a statement psycopg has prepared (fifth use on) may be planned as
    with crowded.engine.begin() as connection:
        connection.execute(text(f"SET LOCAL plan_cache_mode = {plan_mode}"))
        plan = _explain(connection, FILTERS[name])
    nodes = list(_nodes(plan))
    returned = plan["Actual Rows"]
    read = sum(
        n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0)
        for n in nodes
    )
    assert returned == LIMIT + 1, name
    assert read <= 3 * LIMIT, (name, read, [n.get("Index Name") for n in nodes])
    assert not any(n.get("Index Name") == "incidents_pkey" for n in nodes), name


@pytest.mark.parametrize("plan_mode", ["force_custom_plan", "force_generic_plan"])
def test_a_member_page_reads_little_more_than_it_returns(crowded: Database, plan_mode: str):
    """``?feature=`` also walks drift incidents' members: through their index, not backwards
    through every newer incident."""
    with crowded.engine.begin() as connection:
        connection.execute(text(f"SET LOCAL plan_cache_mode = {plan_mode}"))
        plan = _explain(connection, IncidentFilter(dataset="ds3", feature="m3"), by_member=True)
    nodes = list(_nodes(plan))
    read = sum(n.get("Rows Removed by Filter", 0) for n in nodes)
    assert plan["Actual Rows"] == LIMIT + 1
    assert read <= 3 * LIMIT, (read, [n.get("Index Name") for n in nodes])
    page = IncidentStore(crowded).list(IncidentFilter(dataset="ds3", feature="m3"), limit=LIMIT)
    assert len(page.items) == LIMIT and {row.dataset for row in page.items} == {"ds3"}


def test_the_store_returns_the_newest_matches_first(crowded: Database) -> None:
    page = IncidentStore(crowded).list(FILTERS["status and severity"], limit=LIMIT)
    ids = [row.id for row in page.items]
    assert len(ids) == LIMIT and ids == sorted(ids, reverse=True)
    assert {(row.status, row.severity) for row in page.items} == {("open", "high")}
    following = IncidentStore(crowded).list(
        FILTERS["status and severity"], limit=LIMIT, cursor=page.next_cursor
    )
    assert following.items and following.items[0].id < ids[-1]


def test_every_filter_of_the_store_reaches_the_statement() -> None:
    # a field added to IncidentFilter without a condition would be ignored silently
    assert set(PAGE_FILTERS) == {field.name for field in fields(IncidentFilter)}


def test_a_pages_statement_is_built_once_per_combination_of_filters() -> None:
    """Built afresh per request, the statement and its cache key cost about a third of a page's
    read; values travel as parameters, so one statement serves every value."""
    first, params = IncidentStore.page_query(FILTERS["status and severity"], LIMIT, None)
    other = IncidentFilter(status=Status.RESOLVED, severity=Severity.LOW)
    again, other_params = IncidentStore.page_query(other, 10, "aWQ6MTIz")  # id:123
    assert params == {"status": "open", "severity": "high", "limit": LIMIT + 1}
    assert other_params == {"status": "resolved", "severity": "low", "before_id": 123, "limit": 11}
    assert first is IncidentStore.page_query(FILTERS["status and severity"], 5, None)[0]
    assert again is not first  # the cursor's condition makes another statement
    assert again is IncidentStore.page_query(other, 20, "aWQ6OTk5")[0]
    assert IncidentStore.page_query(FILTERS["status"], LIMIT, None)[0] is not first
