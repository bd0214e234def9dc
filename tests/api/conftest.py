"""An API on a fresh SQLite file with the embedded denylist, and signed-in users per role."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import SQLAlchemyError

from incident_api import create_app
from incident_api.passwords import hash_password
from incident_api.services import services
from warehouse.db import Database
from warehouse.migrate import upgrade
from warehouse.users import Role

PASSWORD = "correct horse battery staple"


@functools.cache
def _hash(password: str) -> str:
    return hash_password(password)  # real bcrypt; computed once per password per run


def migrate(database_url: str) -> None:
    """What ``flask --app incident_api db upgrade`` does before a production start."""
    db = Database.from_url(database_url)
    try:
        upgrade(db.engine)
    except SQLAlchemyError:
        pass  # an unreachable store: the app under test answers 503s
    finally:
        db.dispose()


def production_app(config: dict[str, Any]) -> Flask:
    """``create_app(config)`` after migrating its store, as a production start expects."""
    migrate(str(config["database_url"]))
    return create_app(config)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    def make(span_exporter: Any = None, **overrides: Any) -> Flask:
        config = {
            "database_url": f"sqlite:///{tmp_path / 'api.db'}",
            "jwt_secret_key": secrets.token_urlsafe(48),
            "environment": "test",
            **overrides,
        }
        migrate(config["database_url"])  # production refuses to start on an empty store
        app = create_app(config, span_exporter=span_exporter)
        with app.app_context():
            upgrade(services().db.engine)
            for role in Role:
                if services().users.get(role.value) is None:
                    services().users.create(role.value, _hash(PASSWORD), role)
        return app

    return make


@pytest.fixture
def store_app(make_app: Callable[..., Flask], database_url: str) -> Iterator[Flask]:
    """The API on SQLite and on PostgreSQL (``database_url``'s two params)."""
    app = make_app(database_url=database_url)
    try:
        yield app
    finally:
        with app.app_context():
            services().db.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def headers(client: FlaskClient) -> Callable[[str], dict[str, str]]:
    """``headers("responder")`` → an Authorization header for that role's user."""
    return role_headers(client)


def role_headers(client: FlaskClient) -> Callable[[str], dict[str, str]]:
    """An Authorization header per role, each user signed in once."""
    cache: dict[str, dict[str, str]] = {}

    def for_role(role: str) -> dict[str, str]:
        if role not in cache:
            cache[role] = bearer(login(client, role)["access_token"])
        return cache[role]

    return for_role


class _AnyDatetime(type):
    """``isinstance(x, Clock)`` holds for every datetime, so code that checks what it was
    given (PyJWT encoding ``exp``) treats real datetimes as before."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, datetime)


class Clock(datetime, metaclass=_AnyDatetime):
    offset = timedelta()

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) + cls.offset


@pytest.fixture
def token_clock(monkeypatch: pytest.MonkeyPatch) -> type[Clock]:
    """One clock for whatever mints and checks tokens — PyJWT, the extension and ours — that a
    test moves forward (``token_clock.offset``) instead of sleeping past a window."""
    import flask_jwt_extended.tokens
    import jwt.api_jwt

    import incident_api.auth
    import incident_api.tokens

    Clock.offset = timedelta()
    modules = (jwt.api_jwt, flask_jwt_extended.tokens, incident_api.auth, incident_api.tokens)
    for module in modules:
        monkeypatch.setattr(module, "datetime", Clock)
    return Clock
