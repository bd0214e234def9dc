"""Reading CSV snapshots as a stream of Arrow record batches (pyarrow's streaming reader).

Types are inferred by pyarrow from the file's first block unless given (``--schema``, or the
reference's types when a CSV is scanned against it), so a column that reads as integers in one
file and as decimals in another does not turn into a schema break.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.csv as pcsv

from drift.errors import DriftInputError
from drift.files import checked_path

CSV_SUFFIXES: Final = (".csv", ".csv.gz", ".csv.bz2")
"""Names read as CSV (compressed ones are decompressed by extension)."""
BLOCK_BYTES: Final = 4 << 20
"""Bytes parsed per batch: about as many rows as a Parquet row group of 25 features."""
_CATEGORICAL: Final = pa.dictionary(pa.int32(), pa.string())


def is_csv(path: str | Path) -> bool:
    return str(path).lower().endswith(CSV_SUFFIXES)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _unreadable(path: Path, exc: Exception) -> DriftInputError:
    """One line that says what pyarrow found and, for a value of the wrong type, the fix."""
    said = _one_line(exc)
    if "conversion error" in said:
        return DriftInputError(f"{path}: {said} (give the types with --schema)")
    return DriftInputError(f"{path}: not a readable CSV file ({said})")


def type_named(name: str) -> pa.DataType | None:
    """An Arrow type from its name (``int64``, ``double``/``float64``, ``string``, ``bool``…),
    or None for a name Arrow has no alias for."""
    alias: Callable[[str], pa.DataType] = pa.type_for_alias  # type: ignore[assignment]
    try:
        return alias(name)
    except ValueError:
        return None


def parse_type(name: str) -> pa.DataType:
    """:func:`type_named`, refusing names Arrow does not know."""
    found = type_named(name)
    if found is None:
        raise DriftInputError(f"unknown column type {name!r} (e.g. int64, float64, string, bool)")
    return found


def load_schema(path: str | Path) -> dict[str, pa.DataType]:
    """``--schema FILE``: a JSON object of column name → type name."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DriftInputError(f"{path}: cannot read schema ({exc.strerror})") from None
    except ValueError as exc:
        raise DriftInputError(f"{path}: not valid JSON ({_one_line(exc)})") from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise DriftInputError(f'{path}: expected a JSON object like {{"age": "int64"}}')
    types = {}
    for name, kind in raw.items():
        try:
            types[str(name)] = parse_type(kind)
        except DriftInputError as exc:
            raise DriftInputError(f"{path}: column {name}: {exc}") from None
    return types


def _read_type(type_: pa.DataType) -> pa.DataType:
    """Strings are read dictionary-encoded: drift counts their levels from the indices."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return _CATEGORICAL
    if pa.types.is_dictionary(type_):
        return _read_type(type_.value_type)
    return type_


def _widen(inferred: pa.DataType) -> pa.DataType:
    """An inferred integer column is read as float64: pyarrow infers from the first block
    only, and a "1.5" further down would otherwise end the stream."""
    return pa.float64() if pa.types.is_integer(inferred) else inferred


class CsvSource:
    """A CSV file opened for streaming; its schema is known before the first batch is read."""

    def __init__(
        self,
        path: str | Path,
        types: Mapping[str, pa.DataType] | None = None,
        *,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        """``types`` fixes the type of the columns it names; names the file lacks are ignored
        (the caller decides whether a missing column is an error)."""
        self.path = checked_path(path, "CSV")
        given = dict(types or {})
        self._block_bytes = block_bytes
        probe = self._open(None, {})
        try:
            inferred = probe.schema
        finally:
            probe.close()
        self.schema = pa.schema(
            [pa.field(f.name, _read_type(given.get(f.name, _widen(f.type)))) for f in inferred]
        )
        self.num_rows: int | None = None  # unknown until streamed

    @property
    def label(self) -> str:
        return str(self.path)

    def _open(
        self, columns: Sequence[str] | None, types: Mapping[str, pa.DataType]
    ) -> pcsv.CSVStreamingReader:
        convert = pcsv.ConvertOptions(
            column_types=dict(types),
            include_columns=list(columns) if columns is not None else None,
        )
        try:
            return pcsv.open_csv(
                str(self.path),  # a .gz/.bz2 name is decompressed by its extension
                read_options=pcsv.ReadOptions(block_size=self._block_bytes),
                convert_options=convert,
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise _unreadable(self.path, exc) from None

    def row_groups(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """Batches of ``columns`` in file order, each column read with the schema's type."""
        names = list(columns)
        reader = self._open(names, {name: self.schema.field(name).type for name in names})
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise _unreadable(self.path, exc) from None
                yield batch
        finally:
            reader.close()
