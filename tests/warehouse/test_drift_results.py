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
