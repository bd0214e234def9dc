"""The per-feature drift families of ``/metrics`` (PSI, drift ratio, status per dataset and
feature), written as exposition text directly: they are tens of thousands of samples at a large
team's size, and prometheus_client's encoder spends several microseconds on each (escaping and
validating every label name per sample). Their headers still come from the encoder, so the
format (Prometheus text or OpenMetrics) is the one the scraper asked for."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Encoder = Callable[[Any], bytes]
EOF = "# EOF\n"


@dataclass(frozen=True)
class FeatureFamily:
    name: str
    documentation: str
    field: int
    """Which value of a row (:class:`FeatureRow`'s order) the samples carry."""


FeatureRow = tuple[str, str, float | None, float | None, int]
"""dataset, feature, psi, drift_ratio, status code."""


class _Headers(Collector):
    def __init__(self, family: FeatureFamily) -> None:
        self.family = family

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(self.family.name, self.family.documentation, labels=["dataset"])


def _label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: float) -> str:
    if math.isfinite(value):
        return repr(float(value))
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]  # +Inf, -Inf, NaN


def render(
    families: Sequence[FeatureFamily],
    rows: Sequence[FeatureRow],
    encode: Encoder,
    names: Iterable[str] | None = None,
) -> str:
    """``families`` over ``rows`` in the format ``encode`` writes, without its ``# EOF``."""
    wanted = set(names) if names else None
    labels = [f'{{dataset="{_label(r[0])}",feature="{_label(r[1])}"}} ' for r in rows]
    out: list[str] = []
    for family in families:
        if wanted is not None and family.name not in wanted:
            continue
        out.append(encode(_Headers(family)).decode().removesuffix(EOF))
        name, field = family.name, family.field
        out += [
            f"{name}{label}{_number(row[field])}\n"  # type: ignore[arg-type]  # not None here
            for row, label in zip(rows, labels, strict=True)
            if row[field] is not None
        ]
    return "".join(out)
