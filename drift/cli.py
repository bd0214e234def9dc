"""The ``drift`` command: profile a reference snapshot, scan a current one against it.

Exit codes: 0 scanned (nothing at or above ``--fail-on``), 1 drift at or above ``--fail-on``,
2 bad input (one line on stderr, never a traceback).

A whole ``drift scan`` process is measured against Evidently's (docs/benchmarks.md), so this
module imports only what a scan needs: the table renderer (rich) loads for tables alone, and
scipy only when a scipy-backed measure is asked for.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click
import pyarrow as pa

if TYPE_CHECKING:
    from drift.cli_output import ProgressHook

from drift.cli_options import (
    SNAPSHOT,
    columns_list,
    multivariate_option,
    schema_option,
    segment_options,
)
from drift.errors import DriftInputError
from drift.measures import DEFAULT_EPSILON
from drift.parquet import prefer_jemalloc
from drift.profile import DEFAULT_BINS, DEFAULT_TOP_K, MAX_LEVELS, Binning
from drift.profiler import profile_file
from drift.scan import scan
from drift.thresholds import ALL_MEASURES, MEASURES, Status, Thresholds, parse_measures

EXIT_OK: Final = 0
EXIT_DRIFT: Final = 1
EXIT_BAD_INPUT: Final = 2

_BINNING_HELP: Final = (
    "quantile: reference 1/n quantiles, open outer bins; equal-width: n equal parts of the "
    "reference range; evidently: Evidently 0.7's Sturges bins over reference ∪ current "
    "(ignores --bins, needs the reference Parquet file)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="driftwatch", prog_name="drift")
def cli() -> None:
    """Data drift between Parquet or CSV feature snapshots (PSI, drift ratio, JS distance, …)."""


@cli.command("profile")
@click.argument("snapshot", type=SNAPSHOT)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the profile JSON.",
)
@click.option("--columns", help="Comma-separated columns (default: every scorable column).")
@click.option(
    "--bins",
    "n_bins",
    type=click.IntRange(2, 1000),
    default=DEFAULT_BINS,
    show_default=True,
    help="Number of bins to pin.",
)
@click.option(
    "--binning",
    type=click.Choice(["quantile", "equal-width"]),
    default="quantile",
    show_default=True,
    help="How to pin numeric bins.",
)
@click.option(
    "--top-k",
    type=click.IntRange(1, MAX_LEVELS),
    default=DEFAULT_TOP_K,
    show_default=True,
    help="Categorical levels that get their own bin.",
)
@schema_option
@segment_options
@multivariate_option
def profile_command(
    snapshot: Path,
    output: Path,
    columns: str | None,
    n_bins: int,
    binning: str,
    top_k: int,
    types: dict[str, pa.DataType] | None,
    segment_by: list[str],
    segment_top_k: int,
    multivariate: bool,
) -> None:
    """Profile SNAPSHOT (Parquet, or CSV by its .csv name) once and save it as a reference.

    SNAPSHOT may be a directory (every Parquet and CSV file under it, e.g. a date=… partition
    folder) or a quoted glob ('days/*.parquet'), read as one snapshot in path order."""
    result = profile_file(
        snapshot,
        types=types,
        columns=columns_list(columns),
        binning=Binning(binning),
        n_bins=n_bins,
        top_k=top_k,
        segment_by=segment_by,
        segment_top_k=segment_top_k,
        multivariate=multivariate,
    )
    try:
        result.save(output)
    except OSError as exc:
        raise DriftInputError(f"{output}: cannot write profile ({exc.strerror})") from None
    click.echo(
        f"profiled {result.rows:,} rows × {len(result.columns)} columns → {output}", err=True
    )


@cli.command("scan")
@click.argument("reference", type=SNAPSHOT)
@click.argument("current", type=SNAPSHOT)
@click.option("--columns", help="Comma-separated columns (default: every scorable column).")
@click.option(
    "--binning",
    type=click.Choice([b.value for b in Binning]),
    default=None,
    help=_BINNING_HELP + "  [default: a saved profile's, else quantile]",
)
@click.option(
    "--bins",
    "n_bins",
    type=click.IntRange(2, 1000),
    default=None,
    help=f"Number of bins.  [default: a saved profile's, else {DEFAULT_BINS}]",
)
@click.option(
    "--top-k",
    type=click.IntRange(1, MAX_LEVELS),
    default=None,
    help=f"Categorical levels with their own bin.  [default: {DEFAULT_TOP_K}]",
)
@click.option(
    "--epsilon",
    type=click.FloatRange(min=0, min_open=True, max=0.5),
    default=DEFAULT_EPSILON,
    show_default=True,
    help="Share given to an empty bin on both sides.",
)
@click.option(
    "--thresholds",
    "thresholds_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with warn/critical levels per measure and per feature.",
)
@click.option(
    "--measures",
    "measures_text",
    default=",".join(MEASURES),
    show_default=True,
    help=f"Comma-separated measures that grade a feature, of: {', '.join(ALL_MEASURES)} "
    "(chi2 and wasserstein are computed only when named).",
)
@schema_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--fail-on",
    type=click.Choice(["warn", "critical"]),
    default=None,
    help="Exit 1 when any feature is at or above this status, or is an error.",
)
@segment_options
@multivariate_option
def scan_command(
    reference: Path,
    current: Path,
    columns: str | None,
    binning: str | None,
    n_bins: int | None,
    top_k: int | None,
    epsilon: float,
    thresholds_path: Path | None,
    measures_text: str,
    types: dict[str, pa.DataType] | None,
    output_format: str,
    fail_on: str | None,
    segment_by: list[str],
    segment_top_k: int,
    multivariate: bool,
) -> int:
    """Compare CURRENT (Parquet or CSV) with REFERENCE (Parquet, CSV or a saved profile).

    A file named *.csv (.csv.gz, .csv.bz2) is read as CSV, a profile is told by content. Either
    may be a directory (every Parquet and CSV file under it) or a quoted glob pattern. With
    segments (--segment-by, or a saved profile's), every feature lists the segments that
    explain most of its drift."""
    measures = parse_measures(measures_text)
    if binning == Binning.EVIDENTLY.value and n_bins is not None:
        click.echo(
            "drift: note: --binning evidently chooses Sturges bins; --bins is ignored", err=True
        )
    thresholds = Thresholds.load(thresholds_path) if thresholds_path else None
    hook = _progress_hook()
    try:
        report = scan(
            reference,
            current,
            binning=Binning(binning) if binning else None,
            n_bins=n_bins,
            top_k=top_k,
            epsilon=epsilon,
            thresholds=thresholds,
            columns=columns_list(columns),
            measures=measures,
            schema=types,
            on_start=hook.start if hook else None,
            on_batch=hook.advance if hook else None,
            segment_by=segment_by,
            segment_top_k=segment_top_k,
            multivariate=multivariate,
        )
    finally:
        if hook is not None:
            hook.stop()
    if output_format == "json":
        click.echo(json.dumps(report.as_dict(), allow_nan=False))
    else:
        from drift.cli_output import render_table  # rich: for people's tables only

        render_table(report)
    if fail_on is not None and report.fails(Status(fail_on)):
        return EXIT_DRIFT
    return EXIT_OK


def _progress_hook() -> ProgressHook | None:
    """A progress bar's feed, on a terminal only (rich is not loaded otherwise)."""
    if not sys.stderr.isatty():
        return None
    from drift.cli_output import ProgressHook

    return ProgressHook()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: every expected failure is one line on stderr and exit 2."""
    prefer_jemalloc()
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="drift", standalone_mode=False
        )
    except click.UsageError as exc:
        click.echo(f"drift: error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT
    except DriftInputError as exc:
        click.echo(f"drift: error: {exc}", err=True)
        return EXIT_BAD_INPUT
    except click.Abort:
        click.echo("drift: aborted", err=True)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
