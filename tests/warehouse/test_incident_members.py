"""One incident per root event, on SQLite and PostgreSQL: members join, recover and resolve it;
people split and merge; each event pages once; the upgrade folds open per-feature incidents."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import text

from tests.warehouse.test_outbox import _events as pages
from warehouse.db import Database
from warehouse.fingerprint import (
    GroupBy,
    dataset_fingerprint,
    drift_fingerprint,
    drift_group_fingerprint,
)
from warehouse.incidents import (
    GroupingConflict,
    IncidentNotFound,
    IncidentStore,
    Join,
    Note,
    Recover,
    UnknownMembers,
)
from warehouse.lifecycle import Source, Status
from warehouse.migrate import downgrade, upgrade

PSI = {"warn": 0.15, "critical": 0.4, "error": None}


def breach(
    feature: str,
    status: str = "critical",
    partition: str = "2026-11-10",
    dataset: str = "shop",
    key: str | None = None,
    group_by: GroupBy | None = GroupBy.DATASET,
    source: Source = Source.DAGSTER,
) -> Join:
    return Join(
        dataset,
        feature,
        status=status,
        source=source,
        actor="dagster",
        group_by=group_by,
        psi=PSI[status],
        partition=partition,
        measures={"psi": PSI[status]} if PSI[status] else {"schema_break": "missing"},
        evidence={"feature": feature, "partition": partition, "psi": PSI[status]},
        dedup_key=key or f"r:{dataset}:{feature}:{partition}:{status}",
    )


def healthy(feature: str, key: str, dataset: str = "shop") -> Recover:
    return Recover(dataset, feature, actor="dagster", dedup_key=key, note="2 healthy")


def members(store: IncidentStore, incident_id: int) -> dict[str, Any]:
    return {m.feature: m for m in store.members([incident_id]).get(incident_id, [])}


FIVE = ["amount", "session_minutes", "device", "payment_method", "delivery_days"]


def test_one_event_is_one_incident_with_its_members_and_one_page(database):
    store = IncidentStore(database)
    statuses = ["critical", "warn", "critical", "warn", "error"]
    outcomes = store.apply([breach(f, s) for f, s in zip(FIVE, statuses, strict=True)])
    assert [o.opened for o in outcomes] == [True, False, False, False, False]
    (incident,) = store.list().items
    assert incident.fingerprint == dataset_fingerprint("shop")
    assert incident.severity == "critical"  # the worst member's
    assert incident.feature is None  # more than one member
    assert incident.title == (
        "Drift and schema break in shop: 5 features since 2026-11-10 "
        "(amount, device, delivery_days, …)"
    )
    held = members(store, incident.id)
    assert list(held) == FIVE
    assert {(m.status, m.first_partition, m.last_partition) for m in held.values()} >= {
        ("critical", "2026-11-10", "2026-11-10"),
        ("error", "2026-11-10", "2026-11-10"),
    }
    assert held["amount"].measures == {"psi": 0.4}
    assert incident.evidence["feature"] == "amount"  # the worst member's evidence is drawn
    kinds = [e.kind for e in store.events(incident.id)]
    assert kinds == ["opened", *["member_added"] * 4]
    ((event, incident_id, payload),) = pages(database)  # paged once, listing all five
    assert (event, incident_id) == ("incident.opened", incident.id)
    assert [m["feature"] for m in payload["incident"]["members"]] == FIVE


def test_a_join_pages_only_when_it_raises_the_severity(database):
    store = IncidentStore(database)
    (opened,) = store.apply([breach("amount", "warn")])
    store.apply([breach("device", "warn")])  # a quiet join: timeline only
    assert [p[0] for p in pages(database)] == ["incident.opened"]
    store.apply([breach("rating", "critical"), breach("channel", "warn")])
    told = pages(database)
    assert [p[0] for p in told] == ["incident.opened", "incident.severity_raised"]
    change = told[-1][2]["change"]
    assert change == {"previous_severity": "medium", "new_members": ["rating", "channel"]}
    listed = [m["feature"] for m in told[-1][2]["incident"]["members"]]
    assert listed == ["amount", "device", "rating", "channel"]  # the quiet join is in the body
    assert opened.incident is not None
    events = store.events(opened.incident.id)
    assert [e.kind for e in events] == ["opened", "member_added", "member_added", "member_added"]
    assert events[1].note.startswith("device joined")


def test_members_recover_and_the_last_one_resolves_the_incident(database):
    store = IncidentStore(database)
    store.apply([breach("amount"), breach("device", "warn")])
    (incident,) = store.list().items
    (first,) = store.apply([healthy("amount", "h1")])
    assert (first.resolved, first.touched) == (False, True)
    assert members(store, incident.id)["amount"].recovered
    assert store.get(incident.id).status == "open"
    again = store.apply([healthy("amount", "h2")])[0]  # already recovered: nothing changes
    assert not again.resolved and not again.touched
    (last,) = store.apply([healthy("device", "h3")])
    assert last.resolved
    done = store.get(incident.id)
    assert done.status == "resolved"
    assert store.events(incident.id)[-1].note == "every member recovered: amount, device"
    assert [p[0] for p in pages(database)] == ["incident.opened", "incident.resolved"]
    # A later breach opens a new incident linked to the previous one.
    (recurrence,) = store.apply([breach("device", partition="2026-11-20")])
    assert recurrence.opened and recurrence.incident is not None
    assert recurrence.incident.previous_incident_id == incident.id
    opening = store.events(recurrence.incident.id)[0]
    assert opening.note == f"device opened it (recurrence of incident {incident.id})"
    assert list(members(store, recurrence.incident.id)) == ["device"]


def test_a_recovered_member_that_breaches_again_is_active_again(database):
    store = IncidentStore(database)
    store.apply([breach("amount"), breach("device")])
    store.apply([healthy("amount", "h1")])
    store.apply([breach("amount", partition="2026-11-12")])
    (incident,) = store.list().items
    amount = members(store, incident.id)["amount"]
    assert not amount.recovered
    assert (amount.first_partition, amount.last_partition) == ("2026-11-10", "2026-11-12")
    store.apply([healthy("device", "h2")])
    assert store.get(incident.id).status == "open"  # amount is breaching again


def test_group_by_feature_keeps_one_incident_per_feature(database):
    store = IncidentStore(database)
    store.apply([breach(f, group_by=GroupBy.FEATURE) for f in ("amount", "device")])
    incidents = store.list().items
    assert {i.fingerprint for i in incidents} == {
        drift_fingerprint("shop", "amount"),
        drift_fingerprint("shop", "device"),
    }
    assert {i.title for i in incidents} == {
        "Drift in shop: 1 feature since 2026-11-10 (amount)",
        "Drift in shop: 1 feature since 2026-11-10 (device)",
    }
    assert [p[0] for p in pages(database)] == ["incident.opened", "incident.opened"]


def test_the_webhook_groups_by_the_published_grouping(database):
    store = IncidentStore(database)
    unpublished = breach("amount", group_by=None, dataset="a")
    store.apply([unpublished, breach("device", group_by=None, dataset="a")])
    assert len(store.list().items) == 1  # by dataset when nothing was published
    store.publish_groupings({"b": GroupBy.FEATURE})
    store.publish_groupings({"b": GroupBy.FEATURE})  # unchanged: nothing to write
    store.apply([breach(f, group_by=None, dataset="b") for f in ("amount", "device")])
    keys = {i.fingerprint for i in store.list().items if i.dataset == "b"}
    assert keys == {drift_group_fingerprint("b", f, GroupBy.FEATURE) for f in ("amount", "device")}


def test_a_schema_break_alone_says_so_in_the_title(database):
    store = IncidentStore(database)
    (outcome,) = store.apply([breach("rating", "error")])
    assert outcome.incident is not None
    row = store.get(outcome.incident.id)
    assert row.title == "Schema break in shop.rating: column missing since 2026-11-10"
    assert row.severity == "high"


def test_history_goes_to_the_incident_holding_the_feature(database):
    store = IncidentStore(database)
    store.apply([breach("amount"), breach("device")])
    (incident,) = store.list().items
    fingerprint = dataset_fingerprint("shop")
    (noted,) = store.apply(
        [Note(fingerprint, actor="dagster", note="history: old day", member=("shop", "device"))]
    )
    assert noted.noted and noted.incident is not None and noted.incident.id == incident.id
    (nothing,) = store.apply(
        [Note(fingerprint, actor="dagster", note="x", member=("shop", "never"))]
    )
    assert nothing.incident is None


def test_split_moves_members_into_a_linked_incident(database):
    store = IncidentStore(database)
    store.apply([breach("amount"), breach("device", "warn"), breach("rating", "warn")])
    (original,) = store.list().items
    new = store.split(original.id, ["device", "rating"], actor="ann")
    assert new.previous_incident_id == original.id
    assert new.severity == "medium" and new.status == "open"
    assert list(members(store, new.id)) == ["device", "rating"]
    assert list(members(store, original.id)) == ["amount"]
    kept = store.get(original.id)
    assert kept.title == "Drift in shop: 1 feature since 2026-11-10 (amount)"
    assert kept.feature == "amount"
    assert store.events(original.id)[-1].note == f"moved device, rating to incident {new.id}"
    assert store.events(new.id)[0].note == f"split from incident {original.id}: device, rating"
    # Later breaches of a split-out feature go to the incident that now holds it …
    store.apply([breach("device", partition="2026-11-11")])
    assert store.get(new.id).severity == "critical"
    assert list(members(store, original.id)) == ["amount"]
    # … and of a new feature to the dataset's incident.
    store.apply([breach("channel", "warn", partition="2026-11-11")])
    assert list(members(store, original.id)) == ["amount", "channel"]


@pytest.mark.parametrize(
    ("features", "error"),
    [(["amount", "device"], GroupingConflict), (["nope"], UnknownMembers)],
)
def test_split_refuses_every_member_and_strangers(database, features, error):
    store = IncidentStore(database)
    store.apply([breach("amount"), breach("device")])
    (incident,) = store.list().items
    with pytest.raises(error):
        store.split(incident.id, features, actor="ann")
    assert list(members(store, incident.id)) == ["amount", "device"]  # nothing moved


def test_merge_moves_members_back_and_resolves_the_other(database):
    store = IncidentStore(database)
    store.apply([breach("amount", "warn"), breach("device")])
    (original,) = store.list().items
    split_out = store.split(original.id, ["device"], actor="ann")
    merged = store.merge(original.id, split_out.id, actor="bob")
    assert merged.id == original.id and merged.severity == "critical"
    assert list(members(store, original.id)) == ["amount", "device"]
    other = store.get(split_out.id)
    assert other.status == "resolved"
    assert [e.kind for e in store.events(split_out.id)][-2:] == ["merged_into", "transition"]
    assert store.events(split_out.id)[-1].note == f"merged into incident {original.id}"
    assert store.events(original.id)[-1].kind == "merged"
    told = [(p[0], p[1]) for p in pages(database)]
    assert told[-2:] == [
        ("incident.resolved", split_out.id),
        ("incident.severity_raised", original.id),
    ]


def test_merging_a_split_incident_into_its_dataset_hands_over_the_key(database):
    """The split incident absorbs the dataset's: new features of the dataset then join it."""
    store = IncidentStore(database)
    store.apply([breach("amount"), breach("device")])
    (original,) = store.list().items
    split_out = store.split(original.id, ["device"], actor="ann")
    store.merge(split_out.id, original.id, actor="ann")
    assert store.get(split_out.id).fingerprint == dataset_fingerprint("shop")
    store.apply([breach("channel", "warn")])
    assert sorted(members(store, split_out.id)) == ["amount", "channel", "device"]


def test_merge_refusals(database):
    store = IncidentStore(database)
    store.apply([breach("amount"), breach("amount", dataset="other")])
    shop, other = sorted(store.list().items, key=lambda i: i.dataset)[::-1]
    manual = store.create(title="by hand", severity="low", actor="ann", dataset="shop")
    with pytest.raises(GroupingConflict, match="different datasets"):
        store.merge(shop.id, other.id, actor="ann")
    with pytest.raises(GroupingConflict, match="members"):
        store.merge(shop.id, manual.id, actor="ann")
    with pytest.raises(GroupingConflict, match="itself"):
        store.merge(shop.id, shop.id, actor="ann")
    with pytest.raises(IncidentNotFound):
        store.merge(shop.id, 999_999, actor="ann")
    store.transition(other.id, Status.RESOLVED, actor="ann")
    with pytest.raises(GroupingConflict, match="resolved"):
        store.split(other.id, ["amount"], actor="ann")


def test_the_sensor_and_the_webhook_joining_at_once_leave_one_incident(database):
    """Two writers add ten members to one dataset's event at the same moment (a real race on
    PostgreSQL; queued writers on SQLite): one incident holds all ten."""
    store = IncidentStore(database)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(features: list[str], source: Source) -> None:
        try:
            start.wait()
            for feature in features:
                store.apply([breach(feature, group_by=None, source=source)])
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    names = [f"f{i}" for i in range(10)]
    threads = [
        threading.Thread(target=writer, args=(names[:5], Source.DAGSTER)),
        threading.Thread(target=writer, args=(names[5:], Source.ALERTMANAGER)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    (incident,) = store.list().items
    assert sorted(members(store, incident.id)) == sorted(names)
    assert [p[0] for p in pages(database)] == ["incident.opened"]


def _seed_per_feature(db: Database) -> None:
    """Incidents as revision 0009 kept them: one per feature, keyed by (dataset, feature)."""
    rows = [
        ("shop", "amount", "open", "critical", "2026-11-10"),
        ("shop", "device", "acknowledged", "medium", "2026-11-11"),
        ("shop", "rating", "resolved", "high", "2026-11-01"),
        ("other", "price", "open", "medium", "2026-11-12"),
    ]
    with db.engine.begin() as connection:
        for dataset, feature, status, severity, partition in rows:
            status_of = {"critical": "critical", "high": "error"}.get(severity, "warn")
            evidence = json.dumps(
                {"partition": partition, "psi": 0.3, "status": status_of, "bins": {"labels": []}}
            )
            connection.execute(
                text(
                    "INSERT INTO incidents (title, description, severity, status, source, "
                    "dataset, feature, fingerprint, occurrences, first_seen_at, last_seen_at, "
                    "evidence, created_by, created_at, updated_at) VALUES (:title, '', "
                    ":severity, :status, 'dagster', :dataset, :feature, :fp, 1, "
                    ":now, :now, :evidence, 'dagster', :now, :now)"
                ),
                {
                    "title": f"Drift in {dataset}.{feature}",
                    "severity": severity,
                    "status": status,
                    "dataset": dataset,
                    "feature": feature,
                    "fp": drift_fingerprint(dataset, feature),
                    "evidence": evidence,
                    "now": "2026-11-12 00:00:00+00:00",
                },
            )


def test_the_upgrade_folds_open_per_feature_incidents_into_one(database):
    downgrade(database.engine, "0009")
    _seed_per_feature(database)
    upgrade(database.engine)
    store = IncidentStore(database)
    by_feature = {i.title: i for i in store.list().items}
    assert len(by_feature) == 4
    live = [i for i in store.list().items if i.status != "resolved"]
    assert sorted(i.dataset for i in live) == ["other", "shop"]
    shop = next(i for i in live if i.dataset == "shop")
    assert shop.fingerprint == dataset_fingerprint("shop")
    assert shop.title == "Drift in shop: 2 features since 2026-11-10 (amount, device)"
    assert shop.severity == "critical" and shop.feature is None
    assert {m.feature: m.status for m in store.members([shop.id])[shop.id]} == {
        "amount": "critical",
        "device": "warn",
    }
    merged = next(i for i in store.list().items if i.feature == "device")
    assert merged.status == "resolved"
    assert store.events(merged.id)[-1].note == f"merged into incident {shop.id} on upgrade"
    # the resolved one keeps its own member (recovered) for its history
    rating = next(i for i in store.list().items if i.feature == "rating")
    ((member,),) = store.members([rating.id]).values()
    assert (member.status, member.recovered) == ("error", True)
    # and a new breach of the dataset joins the upgraded incident
    store.apply([breach("channel", "warn", group_by=None)])
    assert "channel" in members(store, shop.id)


def test_a_tick_that_also_recovers_other_features_still_pages_once_with_all(database):
    """A sensor tick interleaves joins with recoveries of features no incident holds: the
    opening is told once, at the end, listing every member."""
    store = IncidentStore(database)
    batch: list[Join | Recover] = []
    for n, feature in enumerate(FIVE):
        batch += [breach(feature), healthy(f"clean{n}", f"h{n}")]
    store.apply(batch)
    ((event, _, payload),) = pages(database)
    assert event == "incident.opened"
    assert [m["feature"] for m in payload["incident"]["members"]] == FIVE
    assert payload["incident"]["title"].startswith("Drift in shop: 5 features")


def test_an_incident_opened_and_resolved_in_one_delivery_is_told_in_that_order(database):
    store = IncidentStore(database)
    store.apply([breach("amount", source=Source.ALERTMANAGER), healthy("amount", "h")])
    assert [p[0] for p in pages(database)] == ["incident.opened", "incident.resolved"]


def test_a_member_starts_where_its_breach_streak_began(database):
    store = IncidentStore(database)
    since = Join(
        "shop", "amount", status="critical", source=Source.DAGSTER, actor="dagster",
        group_by=GroupBy.DATASET, partition="2026-11-13", since="2026-11-10",
    )  # fmt: skip
    (outcome,) = store.apply([since])
    assert outcome.incident is not None
    assert "since 2026-11-10" in store.get(outcome.incident.id).title
    amount = members(store, outcome.incident.id)["amount"]
    assert (amount.first_partition, amount.last_partition) == ("2026-11-10", "2026-11-13")
