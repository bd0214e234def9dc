"""The incident store's schema when the API starts: migrated in development, required to be
current in production, and reported by ``/ready`` everywhere.

A fresh database used to look like an outage: every call answered "the incident store is
unavailable" while ``/ready`` said 200.
"""

from __future__ import annotations

import sys
from typing import Final

import click
import structlog
from sqlalchemy.exc import SQLAlchemyError

from incident_api.settings import ConfigError, Environment, Settings
from warehouse.db import Database
from warehouse.migrate import current_revision, head_revision, upgrade

UPGRADE_COMMAND: Final = "flask --app incident_api db upgrade"
log = structlog.get_logger("incident_api.schema")


def behind(db: Database) -> str | None:
    """Why the schema does not match the code (None when it does); raises when the database
    cannot be reached."""
    current, head = current_revision(db.engine), head_revision()
    if current == head:
        return None
    return (
        f"the incident store's schema is at revision {current or 'none'}, this release needs {head}"
    )


def _running_db_command() -> bool:
    """``flask --app incident_api db …`` loads the app too: that is how the schema is fixed."""
    if click.get_current_context(silent=True) is None:
        return False
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    return "db" in words


def prepare(settings: Settings, db: Database) -> None:
    """Development: migrate now. Production: refuse to start on a schema that is behind (one
    line naming the command). A database that cannot be reached yet is left to ``/ready`` and
    the 503s: it may come up after the API."""
    if settings.environment is Environment.TEST or _running_db_command():
        return
    try:
        if settings.environment is Environment.DEVELOPMENT:
            if behind(db) is not None:
                upgrade(db.engine)
                log.info("incident store migrated", revision=head_revision())
            return
        problem = behind(db)
    except SQLAlchemyError as exc:
        log.warning("incident store unreachable at start", error=type(exc).__name__)
        return
    if problem is not None:
        raise ConfigError(f"{problem}: run `{UPGRADE_COMMAND}` first")
