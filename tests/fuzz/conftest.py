"""Fixtures shared with the API tests."""

from tests.api.conftest import make_app  # noqa: F401 — re-exported fixture
