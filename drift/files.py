"""What every snapshot file source shares: a path checked once and named in every error."""

from __future__ import annotations

from pathlib import Path

from drift.errors import DriftInputError


def checked_path(path: str | Path, kind: str) -> Path:
    """``path`` as a Path, refused (as input, not as a bug) when it is not a readable file."""
    found = Path(path)
    if not found.exists():
        raise DriftInputError(f"{found}: no such file")
    if found.is_dir():
        raise DriftInputError(f"{found}: is a directory, expected a {kind} file")
    return found
