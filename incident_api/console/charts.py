"""SVG geometry for the incident page, computed here and drawn by the templates: reference vs
current share per bin, and a feature's PSI over its recent partitions with its warn and
critical levels. Plain numbers in, plain coordinates out (the templates escape every text)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from incident_api.safe import number

WIDTH: Final = 640
HEIGHT: Final = 220
MARGIN: Final = 36


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    share: float


@dataclass(frozen=True)
class BinChart:
    reference: list[Bar]
    current: list[Bar]
    labels: list[tuple[float, str]]
    top: float


MINI: Final = (160, 40, 2)
"""Width, height and margin of a segment's own small bin chart."""
EXPLAINED_WIDTH: Final = 120
SEGMENT_ROWS: Final = 10


def bin_chart(
    bins: Mapping[str, Any] | None, size: tuple[int, int, int] = (WIDTH, HEIGHT, MARGIN)
) -> BinChart | None:
    """Paired bars per bin, or None when the evidence has no bins (a schema break, an alert)."""
    width, height, margin = size
    if not isinstance(bins, Mapping):
        return None
    labels = bins.get("labels")
    shares = [bins.get("reference"), bins.get("current")]
    if not isinstance(labels, list) or not all(isinstance(v, list) for v in shares):
        return None  # stored evidence of another shape: drawn as nothing, never an error
    read = [[number(v) for v in side or []] for side in shares]
    if any(v is None or v < 0 for side in read for v in side):
        return None
    reference, current = ([v for v in side if v is not None] for side in read)
    if not labels or len(reference) != len(labels) or len(current) != len(labels):
        return None
    labels = [str(label) for label in labels]
    top = max(max(reference), max(current), 1e-9)
    slot = (width - 2 * margin) / len(labels)
    bar = slot * 0.38
    plot = height - 2 * margin

    def bars(shares: Sequence[float], offset: float) -> list[Bar]:
        out = []
        for i, (label, share) in enumerate(zip(labels, shares, strict=True)):
            tall = plot * share / top
            x = margin + i * slot + offset
            out.append(Bar(x, height - margin - tall, bar, tall, label, share))
        return out

    ticks = [(margin + (i + 0.5) * slot, label) for i, label in enumerate(labels)]
    return BinChart(bars(reference, slot * 0.1), bars(current, slot * 0.52), ticks, top)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    partition: str
    psi: float
    status: str


@dataclass(frozen=True)
class Line:
    y: float
    value: float
    name: str


@dataclass(frozen=True)
class TrendChart:
    points: list[Point]
    path: str
    levels: list[Line]
    top: float


def psi_trend(
    results: Sequence[tuple[str, float | None, str]], levels: Mapping[str, float]
) -> TrendChart | None:
    """``results``: (partition, psi, status), any order; ``levels``: warn/critical."""
    known = sorted((p, psi, s) for p, psi, s in results if psi is not None)
    if not known:
        return None
    values = [psi for _, psi, _ in known if psi is not None]
    top = max([*values, *levels.values(), 1e-9]) * 1.1
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    step = plot_w / max(1, len(known) - 1)

    def y(value: float) -> float:
        return HEIGHT - MARGIN - plot_h * value / top

    points = [
        Point(MARGIN + i * step, y(psi), partition, psi, status)
        for i, (partition, psi, status) in enumerate(known)
        if psi is not None
    ]
    path = " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(points))
    lines = [Line(y(value), value, name) for name, value in sorted(levels.items())]
    return TrendChart(points, path, lines, top)


@dataclass(frozen=True)
class SegmentRow:
    """One segment hint as the console draws it."""

    column: str
    value: str
    kind: str
    hidden: bool
    share_reference: float
    share_current: float
    psi_within: float | None
    explained: float
    bar: float
    """Width of the explained bar (explained clipped to 0…1)."""
    bins: BinChart | None


def segment_rows(records: object) -> list[SegmentRow]:
    """Stored segment hints, most-explaining first, as table rows; a record of another shape
    (evidence anyone could have posted) is left out, never an error."""
    if not isinstance(records, list):
        return []
    rows = []
    for record in records[:SEGMENT_ROWS]:
        if not isinstance(record, Mapping):
            continue
        column, value, kind = record.get("column"), record.get("value"), record.get("kind")
        shares = [number(record.get(k)) for k in ("share_reference", "share_current", "explained")]
        if not isinstance(column, str) or not isinstance(value, str) or None in shares:
            continue
        reference, current, explained = (float(v or 0.0) for v in shares)
        rows.append(
            SegmentRow(
                column=column,
                value=value,
                kind="mix" if kind == "mix" else "within",
                hidden=record.get("hidden") is True,
                share_reference=reference,
                share_current=current,
                psi_within=number(record.get("psi_within")),
                explained=explained,
                bar=EXPLAINED_WIDTH * min(1.0, max(0.0, explained)),
                bins=bin_chart(record.get("bins"), MINI),
            )
        )
    return rows
