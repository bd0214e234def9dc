"""The API fixtures, shared with tests/api."""

from tests.api.conftest import app, client, make_app  # noqa: F401 — re-exported fixtures
