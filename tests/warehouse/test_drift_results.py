"""Drift results of a partition are written once per run, even when the write is retried."""

import pytest

from warehouse.drift_results import DriftResultStore, NewResult


def _day(partition, run_id, psi=0.1):
    return [NewResult("orders", f, partition, run_id, "ok", psi=psi) for f in ("amount", "rating")]


def test_add_once_keeps_what_the_same_run_already_wrote(database):
    results = DriftResultStore(database)
    first = results.add_once(_day("2026-01-05", "run-1"))
    again = results.add_once(_day("2026-01-05", "run-1", psi=0.9))
    assert again == first and len(first) == 2
    assert [r.psi for r in results.after(0)] == [0.1, 0.1]
    # Another run of the same day is a re-run, which adds rows (results are append-only).
    rerun = results.add_once(_day("2026-01-05", "run-2", psi=0.9))
    assert rerun != first and [r.psi for r in results.after(0)] == [0.1, 0.1, 0.9, 0.9]
    assert results.partitions_recorded_by("orders", ["run-1"]) == {"2026-01-05"}


def test_add_once_takes_one_partition_of_one_run(database):
    results = DriftResultStore(database)
    with pytest.raises(ValueError, match="one partition of one run"):
        results.add_once(_day("2026-01-05", "run-1") + _day("2026-01-06", "run-1"))
    with pytest.raises(ValueError, match="one partition of one run"):
        results.add_once([])
    assert results.after(0) == []


def test_recent_partitions_of_many_features_equal_one_by_one(database):
    """The sensor reads a tick's windows at once (one lateral query on PostgreSQL): the same
    rows, newest partition first, a re-run's latest row per partition, as feature by feature."""
    store = DriftResultStore(database)
    for day in range(1, 9):
        for feature in ("a", "b"):
            runs = 3 if day % 3 == 0 else 1  # some days re-run
            for run in range(runs):
                status = "critical" if (day, feature) == (7, "a") else "ok"
                store.add([NewResult("shop", feature, f"2026-11-{day:02d}", f"r{run}", status)])
    store.add([NewResult("other", "a", "2026-11-02", "r0", "warn")])
    keys = [("shop", "a"), ("shop", "b"), ("other", "a"), ("shop", "none")]
    many = store.recent_partitions_many(keys, 4)
    for key in keys:
        assert [r.id for r in many[key]] == [r.id for r in store.recent_partitions(*key, 4)]
    assert [r.partition for r in many[("shop", "a")]] == [f"2026-11-{d:02d}" for d in (8, 7, 6, 5)]
    assert many[("shop", "a")][2].run_id == "r2" and many[("shop", "none")] == []
    assert store.recent_partitions_many([], 4) == {}
