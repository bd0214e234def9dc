"""What a request needs from the outside world, built once per app and kept in
``app.extensions``: the view code asks :func:`services` instead of importing globals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from flask import current_app

from incident_api.denylist import Denylist
from incident_api.settings import Settings
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentStore
from warehouse.notifications import NotificationStore
from warehouse.present import PresentStore
from warehouse.sessions import SessionStore
from warehouse.users import UserStore

KEY: Final = "driftwatch"


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    incidents: IncidentStore
    users: UserStore
    sessions: SessionStore
    denylist: Denylist
    notifications: NotificationStore
    results: DriftResultStore
    present: PresentStore


def services() -> Services:
    found: Services = current_app.extensions[KEY]
    return found
