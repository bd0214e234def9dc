"""schemathesis against /openapi.json: every operation, signed in and anonymous; no 5xx and no
response that contradicts the document. On the real PostgreSQL (SQLite accepts what PostgreSQL
refuses, e.g. NUL characters). Bounded here (``make test``); docs/reliability.md has a long run:
``FUZZ_EXAMPLES=200 .venv/bin/pytest tests/fuzz``."""

import atexit
import os
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import text

from incident_api import create_app
from incident_api.passwords import hash_password
from incident_api.services import services
from tests.services import POSTGRES_URL, require
from warehouse.db import make_engine
from warehouse.migrate import upgrade
from warehouse.users import Role

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
PASSWORD = "fuzzing passphrase"


SCHEMA = f"dw_fuzz_{uuid.uuid4().hex[:12]}"


def _drop_schema_now() -> None:
    app = globals().get("APP")
    if app is not None:
        with app.app_context():
            services().db.dispose()
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    admin.dispose()


def _app():
    admin = make_engine(POSTGRES_URL)
    require(
        "PostgreSQL at 127.0.0.1:5432 (database test)",
        lambda: admin.connect().close(),
        module_level=True,
    )
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    # Made at import (schemathesis reads the schema at collection), so a run that collects this
    # module but runs none of its tests (-x, -k) must still drop it: at exit, not in a fixture.
    atexit.register(_drop_schema_now)
    app = create_app(
        {
            "database_url": f"{POSTGRES_URL}?options={quote(f'-csearch_path={SCHEMA}')}",
            "jwt_secret_key": secrets.token_urlsafe(48),
            "environment": "test",
            "alertmanager_webhook_token": "fuzz-" + "t" * 40,
            "login_rate_limit": "100000 per minute",
        }
    )
    with app.app_context():
        upgrade(services().db.engine)
        services().users.create("admin", hash_password(PASSWORD), Role.ADMIN)
        services().incidents.create(title="seed", severity="low", actor="admin")
    return app


APP = _app()


@pytest.fixture(scope="module", autouse=True)
def _drop_schema() -> Iterator[None]:
    yield
    _drop_schema_now()
    atexit.unregister(_drop_schema_now)  # at exit, other tests' tracing is shut down: log noise


def _sign_in() -> str:
    answer = APP.test_client().post("/auth/token", json={"username": "admin", "password": PASSWORD})
    return str(answer.get_json()["access_token"])


TOKEN = _sign_in()
# 413 (body over MAX_CONTENT_LENGTH) is how this API rejects a body too large to read; the
# check's default list of rejection statuses lacks it.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        }
    }
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=CONFIG)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_signed_in(case):
    # Cursors are opaque tokens the API hands out: a schema-valid string it never issued is
    # rightly refused (422), so "every schema-valid request is accepted" does not apply.
    # A case whose headers schemathesis made invalid on purpose (e.g. without the bearer token
    # the security scheme requires) goes out as generated: adding our token would turn it valid.
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    # A logout revokes its token: it gets one of its own, not the one the other cases use.
    token = _sign_in() if case.path == "/auth/logout" else TOKEN
    headers = None if negative_headers else {"Authorization": f"Bearer {token}"}
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])


@schema.parametrize()
@settings(
    max_examples=max(3, EXAMPLES // 3), deadline=None, suppress_health_check=list(HealthCheck)
)
def test_anonymous(case):
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
