"""What the ``drift`` command shows people: a table of the scan and, for long scans on a
terminal, a progress bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, Final

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from drift.formatting import format_measure
from drift.hints import where
from drift.multivariate import MultivariateResult
from drift.results import FeatureResult
from drift.scan import ScanReport

LONG_SCAN_ROWS: Final = 1_000_000
"""Scans of at least this many rows show a progress bar (on a terminal only)."""

_STYLE: Final = {"ok": "green", "warn": "yellow", "critical": "bold red", "error": "magenta"}


def _progress(total_rows: int) -> Progress | None:
    if total_rows < LONG_SCAN_ROWS or not sys.stderr.isatty():
        return None
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


class ProgressHook:
    """Feeds row counts to a progress bar that exists only for long scans on a terminal."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task: Any = None

    def start(self, total_rows: int) -> None:
        self.bar = _progress(total_rows)
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("scanning", total=total_rows)

    def advance(self, rows: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, rows)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def render_table(report: ScanReport) -> None:
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
    console = Console(width=width, soft_wrap=False)
    table = Table(title=f"drift: {report.current} vs {report.reference} ({report.binning.value})")
    columns: list[tuple[str, Callable[[FeatureResult], str]]] = [
        ("feature", lambda r: r.feature),
        ("kind", lambda r: r.kind),
        ("status", lambda r: f"[{_STYLE[r.status.value]}]{r.status.value}[/]"),
        ("PSI", lambda r: format_measure(r.psi)),
        ("drift ratio", lambda r: format_measure(r.drift_ratio)),
        ("shift σ", lambda r: format_measure(r.mean_shift_std)),
        ("JS", lambda r: format_measure(r.js_distance)),
        ("missing Δ", lambda r: format_measure(r.missing_share_delta)),
        ("unseen", lambda r: format_measure(r.unseen_share)),
    ]
    if "chi2" in report.measures:
        columns.append(("χ² p", lambda r: format_measure(r.chi2_pvalue)))
    if "wasserstein" in report.measures:
        columns.append(("W₁ σ", lambda r: format_measure(r.wasserstein)))
    if any(r.segments is not None for r in report.features):
        columns.append(("where", lambda r: where(r.status, r.segments)))
    columns.append(("message", lambda r: r.message))
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for result in report.features:
        table.add_row(*(cell(result) for _, cell in columns))
    console.print(table)
    if report.multivariate is not None:
        console.print(multivariate_line(report.multivariate))
    s = report.summary()
    console.print(
        f"{s['features']} features: {s['ok']} ok, {s['warn']} warn, {s['critical']} critical, "
        f"{s['error']} error; worst PSI {format_measure(s['worst_psi'])}"  # type: ignore[arg-type]
    )


def multivariate_line(result: MultivariateResult) -> str:
    """The multivariate result in one line for people."""
    style = _STYLE.get(result.status.value, "")
    said = (
        f"multivariate: [{style}]{result.status.value}[/]"
        if style
        else (f"multivariate: {result.status.value}")
    )
    if result.reconstruction_error is None:
        return f"{said} — {result.message}"
    said += (
        f" — reconstruction error {format_measure(result.reconstruction_error)} (reference "
        f"{format_measure(result.reference_mean)} ± {format_measure(result.reference_std)}; "
        f"warn {format_measure(result.warn)}, critical {format_measure(result.critical)})"
    )
    if result.top_columns:
        said += f"; grew most in {', '.join(result.top_columns)}"
    return said
