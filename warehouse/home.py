"""``DRIFTWATCH_HOME``: the one directory that holds what a machine keeps for driftwatch — the
development SQLite file, the development signing key, the metrics of gunicorn's workers and the
snapshot warehouse — so that starting from another directory finds the same data and tokens.

Default: ``var/`` of the checkout this code runs from (absolute, whatever the working
directory), or ``$XDG_DATA_HOME/driftwatch`` (``~/.local/share/driftwatch``) for an installed
package.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def home() -> Path:
    given = os.environ.get("DRIFTWATCH_HOME")
    if given:
        return Path(given).expanduser().absolute()
    if (CHECKOUT / "pyproject.toml").exists():
        return CHECKOUT / "var"
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "driftwatch"


def default_database_url() -> str:
    """The development store: a SQLite file in :func:`home`."""
    return f"sqlite:///{home() / 'driftwatch.db'}"
