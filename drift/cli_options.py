"""Options the ``drift`` commands share: column lists, CSV types, segments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

import click

from drift.csv_source import load_schema
from drift.segments import DEFAULT_SEGMENT_TOP_K, MAX_SEGMENT_PROFILES, MAX_SEGMENT_TOP_K

F = TypeVar("F", bound=Callable[..., object])

SNAPSHOT: Final = click.Path(path_type=Path)
"""A file, a directory (every Parquet/CSV file under it) or a quoted glob pattern."""


def columns_list(value: str | None, option: str = "--columns") -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise click.BadParameter("empty column name in list", param_hint=option)
    return names


def _load_schema(_ctx: click.Context, _param: click.Parameter, path: Path | None) -> object:
    return load_schema(path) if path is not None else None


schema_option = click.option(
    "--schema",
    "types",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_load_schema,
    help='JSON file of CSV column types, e.g. {"age": "int64", "city": "string"} (default: a '
    "scanned CSV takes the reference's types, others are inferred; integers read as float64).",
)


def _segment_by(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str]:
    return columns_list(value, "--segment-by") or []


def segment_options(command: F) -> F:
    """``--segment-by`` and ``--segment-top-k``."""
    command = click.option(
        "--segment-top-k",
        type=click.IntRange(1, MAX_SEGMENT_TOP_K),
        default=DEFAULT_SEGMENT_TOP_K,
        show_default=True,
        help="Levels of each segment column with a segment of their own; the rest are OTHER.",
    )(command)
    return click.option(
        "--segment-by",
        callback=_segment_by,
        help="Comma-separated categorical or integer columns to cut the rows by: a profile "
        "per segment, and hints of where each feature changed (segment columns × "
        f"(top-K + 1) × features at most {MAX_SEGMENT_PROFILES:,}).",
    )(command)


multivariate_option = click.option(
    "--multivariate",
    is_flag=True,
    help="Also the rows' PCA reconstruction error against the reference's (relationships "
    "between columns: a shuffled column, a broken join); a profile saved with it brings it to "
    "every scan against it.",
)
