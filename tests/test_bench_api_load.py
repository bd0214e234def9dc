"""The load benchmark's pooling of rounds: p50/p99 of all requests, as one long run would give."""

from __future__ import annotations

from bench.api_load import Result, combine, pooled_percentile


def _round(requests: int, latencies_ms: list[float], rps: float = 100.0) -> Result:
    """A round whose 1,000 quantiles follow ``latencies_ms`` in equal parts."""
    per = 1000 // len(latencies_ms)
    quantiles = tuple(value for value in latencies_ms for _ in range(per))
    return Result("s", rps, 0.0, 0.0, requests, 0, 0, quantiles)


def test_pooled_percentiles_weigh_rounds_by_their_requests():
    fast = _round(9_000, [10.0])
    slow = _round(1_000, [50.0])  # 10 % of all requests
    assert pooled_percentile([fast, slow], 50) == 10.0
    assert pooled_percentile([fast, slow], 89) == 10.0
    assert pooled_percentile([fast, slow], 91) == 50.0
    assert pooled_percentile([fast, _round(50, [50.0])], 99) == 10.0  # 0.55 % slow


def test_combine_pools_and_sums():
    a = _round(1_000, [5.0, 7.0], rps=100)
    b = _round(3_000, [9.0, 11.0], rps=300)
    result = combine([a, b])
    assert (result.rps, result.requests) == (200.0, 4_000)
    assert result.p50_ms == 9.0  # 500 requests ≤ 5, 1000 ≤ 7, 2500 ≤ 9
    assert result.p99_ms == 11.0
