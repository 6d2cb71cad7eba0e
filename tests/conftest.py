"""The fixtures live in tests/fixtures/ (one module a topic), the helpers in tests/support/.
This file only registers them, and keeps every test hermetic."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.api",
    "tests.fixtures.reliability",
    "tests.fixtures.chaos_report",
    "tests.fixtures.deploy",
    "tests.fixtures.servers",
]

ENVIRONMENT_URL_VARIABLES = (
    "DEV_DATABASE_URL",
    "STAGING_DATABASE_URL",
    "PROD_DATABASE_URL",
    "STAGING_DIRECT_DATABASE_URL",
    "PROD_DIRECT_DATABASE_URL",
    "DATABASE_URL",
)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches a database through a variable it did not set itself."""
    for variable in ENVIRONMENT_URL_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("AGENT_DB_VERSIONS_DIR", raising=False)
    monkeypatch.delenv("AGENT_ENV", raising=False)
    # The developer's own .env at the repository root never reaches a test.
    monkeypatch.setenv("AGENT_DOTENV_FILE", "")
    monkeypatch.delenv("AGENT_DB_MANIFEST_KEY", raising=False)  # tests that sign set their own
