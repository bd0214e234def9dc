"""The load benchmark's pooling of rounds: p50/p99 of all requests, as one long run would give."""

from __future__ import annotations

from bench.api_load import Result, combine, open_connections, pooled_percentile


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


TCP_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4650 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0
   1: 0100007F:4650 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0
   2: 0100007F:4650 0100007F:D432 08 00000000:00000000 00:00000000 00000000     0        0 3 1 0
   3: 0100007F:4650 0100007F:D433 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0
   4: 0100007F:D434 0100007F:4650 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0
   5: 0100007F:1F90 0100007F:D435 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0
"""
TCP6_TABLE = """\
  sl  local_address                         remote_address                        st
   0: 0000000000000000FFFF00000100007F:4650 0000000000000000FFFF00000100007F:D436 08 0
"""


def test_open_connections_counts_the_servers_unfinished_ones():
    # port 18000 = 0x4650: one being served, one whose client left (CLOSE_WAIT), one in tcp6;
    # not the listening socket, a TIME_WAIT, the client's own end, or another port
    assert open_connections(18000, [TCP_TABLE, TCP6_TABLE]) == 3
    assert open_connections(8080, [TCP_TABLE]) == 1
    assert open_connections(18001, [TCP_TABLE, TCP6_TABLE]) == 0
