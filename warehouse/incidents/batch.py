"""Touches in bulk: a batch's distinct fingerprints opened or touched with a fixed number of
queries, whatever its size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from warehouse.incidents.reads import EVENTS, LIVE, UNRESOLVED
from warehouse.incidents.requests import (
    Outcome,
    Request,
    Touch,
    new_incident,
    opened_event,
    touch,
)
from warehouse.lifecycle import Severity
from warehouse.models import Incident, IncidentEvent, utcnow
from warehouse.notifications.outbox import NotificationKind, outbox_row, record


def bulk_touchable(requests: Sequence[Request]) -> list[tuple[int, Touch]]:
    """Touches whose fingerprint and dedup key occur once in ``requests``: safe to apply in
    bulk, since no other request of the batch can see their effect."""
    fingerprints = Counter(r.fingerprint for r in requests)
    dedup_keys = Counter(r.dedup_key for r in requests if r.dedup_key is not None)
    return [
        (i, r)
        for i, r in enumerate(requests)
        if isinstance(r, Touch)
        and fingerprints[r.fingerprint] == 1
        and (r.dedup_key is None or dedup_keys[r.dedup_key] == 1)
    ]


def touch_many(
    session: Session,
    items: Sequence[tuple[int, Touch]],
    outcomes: list[Outcome | None],
) -> None:
    """Touch or open for ``items`` (distinct fingerprints), writing into ``outcomes``."""
    keys = [r.dedup_key for _, r in items if r.dedup_key is not None]
    seen = set(
        session.scalars(select(IncidentEvent.dedup_key).where(IncidentEvent.dedup_key.in_(keys)))
        if keys
        else ()
    )
    fingerprints = sorted({r.fingerprint for _, r in items})
    open_now = {
        incident.fingerprint: incident
        for incident in session.scalars(
            select(Incident)
            .where(
                Incident.fingerprint.in_(fingerprints),
                UNRESOLVED,
            )
            .order_by(Incident.fingerprint)
            .with_for_update()
        )
    }
    now = utcnow()
    fresh: list[tuple[int, Touch]] = []
    events: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    for i, request in items:
        incident = open_now.get(request.fingerprint)
        if request.dedup_key is not None and request.dedup_key in seen:
            outcomes[i] = Outcome(incident, duplicate=True)
        elif incident is not None:
            before = Severity(incident.severity)
            events.append(touch(incident, request, now))
            outcomes[i] = Outcome(incident, touched=True)
            if Severity(incident.severity).rank > before.rank:
                notices.append(
                    outbox_row(
                        incident,
                        NotificationKind.SEVERITY_RAISED,
                        now,
                        request.actor,
                        previous_severity=before.value,
                    )
                )
        else:
            fresh.append((i, request))
    if fresh:
        previous: dict[str, int] = {
            fingerprint: last
            for fingerprint, last in session.execute(
                select(Incident.fingerprint, func.max(Incident.id))
                .where(Incident.fingerprint.in_([r.fingerprint for _, r in fresh]), LIVE)
                .group_by(Incident.fingerprint)
            )
        }
        opened = [new_incident(r, now, previous.get(r.fingerprint)) for _, r in fresh]
        session.add_all(opened)
        session.flush()  # a concurrent opener makes this raise IntegrityError → retry
        for (i, request), incident in zip(fresh, opened, strict=True):
            events.append(opened_event(incident, request, now))
            notices.append(outbox_row(incident, NotificationKind.OPENED, now, request.actor))
            outcomes[i] = Outcome(incident, opened=True)
    session.flush()
    if events:
        # One executemany without RETURNING (nothing reads the events' ids here): as ORM
        # objects they went out as one long INSERT … RETURNING that psycopg re-parsed on
        # every delivery, too long for its statement cache (docs/benchmarks.md).
        session.execute(insert(EVENTS), events)
    record(session, notices)  # the outbox rows commit or roll back with the changes above
