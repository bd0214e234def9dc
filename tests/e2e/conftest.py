"""Fixtures shared with the API and pipeline tests."""

from tests.api.conftest import make_app  # noqa: F401 — re-exported fixtures
from tests.pipelines.conftest import env  # noqa: F401
