"""Static files under names that carry their content hash (``console.3f2a9c1b.css``), so a
page can let browsers keep them for a year and a new release is fetched at once."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Final

STATIC: Final = Path(__file__).parent / "static"


@cache
def fingerprints() -> dict[str, str]:
    """``console.css`` → ``console.<hash>.css`` for every static file."""
    names = {}
    for path in sorted(STATIC.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        names[path.name] = f"{path.stem}.{digest}{path.suffix}"
    return names


@cache
def by_fingerprint() -> dict[str, Path]:
    return {hashed: STATIC / name for name, hashed in fingerprints().items()}
