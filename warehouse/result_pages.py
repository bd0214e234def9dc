"""Keyset pages of the results API. One dataset's drift results come newest partition first
(a re-run's rows newest first within it), filtered by feature, partition range and status,
read after ``(partition, id)`` of the last row, so page N costs what page 1 does at any
history; datasets come by name, after the last name."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import literal, select, tuple_

from warehouse.db import Database
from warehouse.incidents import InvalidCursor
from warehouse.result_tables import DriftReference, DriftResult

MAX_ID: Final = 2**63 - 1


@dataclass(frozen=True)
class ResultFilter:
    dataset: str
    feature: str | None = None
    partition_from: str | None = None
    partition_to: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class ResultPage:
    items: list[DriftResult]
    next_cursor: str | None
    references: dict[tuple[str, str], dict[str, Any]]
    """What each ``(partition, run_id)`` of the page was compared with (absent before 0012)."""

    def reference(self, row: DriftResult) -> dict[str, Any] | None:
        return self.references.get((row.partition, row.run_id))


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("not a cursor from this API") from None


def encode_cursor(partition: str, last_id: int) -> str:
    return _encode(f"r:{last_id}:{partition}")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """The ``(partition, id)`` a page ended at, or :class:`InvalidCursor`."""
    raw = _decode(cursor)
    try:
        prefix, last_id, partition = raw.split(":", 2)
        if prefix != "r" or not last_id.isdigit() or int(last_id) > MAX_ID or not partition:
            raise ValueError(raw)
        return partition, int(last_id)
    except ValueError:
        raise InvalidCursor("not a cursor from this API") from None


def encode_name_cursor(dataset: str) -> str:
    """The cursor of ``GET /datasets``' pages: the last dataset's name (pages by name)."""
    return _encode(f"d:{dataset}")


def decode_name_cursor(cursor: str) -> str:
    raw = _decode(cursor)
    if not raw.startswith("d:") or len(raw) < 3:
        raise InvalidCursor("not a cursor from this API")
    return raw[2:]


def _query(flt: ResultFilter, after: tuple[str, int] | None, limit: int) -> Any:
    query = select(DriftResult).where(DriftResult.dataset == flt.dataset)
    if flt.feature is not None:
        query = query.where(DriftResult.feature == flt.feature)
    if flt.partition_from is not None:
        query = query.where(DriftResult.partition >= flt.partition_from)
    if flt.partition_to is not None:
        query = query.where(DriftResult.partition <= flt.partition_to)
    if flt.status is not None:
        query = query.where(DriftResult.status == flt.status)
    if after is not None:
        bound = tuple_(literal(after[0]), literal(after[1]))
        query = query.where(tuple_(DriftResult.partition, DriftResult.id) < bound)
    order = (DriftResult.partition.desc(), DriftResult.id.desc())
    return query.order_by(*order).limit(limit + 1)


def result_page(db: Database, flt: ResultFilter, *, limit: int, cursor: str | None) -> ResultPage:
    after = decode_cursor(cursor) if cursor else None
    with db.reads() as session:
        rows = list(session.scalars(_query(flt, after, limit)))
        items, more = rows[:limit], len(rows) > limit
        references = _references(session, flt.dataset, {(r.partition, r.run_id) for r in items})
    last = items[-1] if more and items else None
    cursor_out = encode_cursor(last.partition, last.id) if last else None
    return ResultPage(items, cursor_out, references)


def _references(
    session: Any, dataset: str, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The references of a page's partitions and runs, in one query (a page of a thousand
    features of one day is one reference)."""
    if not keys:
        return {}
    query = select(DriftReference).where(
        DriftReference.dataset == dataset,
        tuple_(DriftReference.partition, DriftReference.run_id).in_(sorted(keys)),
    )
    return {(r.partition, r.run_id): r.reference for r in session.scalars(query)}
