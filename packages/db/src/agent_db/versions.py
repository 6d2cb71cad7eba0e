"""Where the revision files are, without importing Alembic (fast commands only need this)."""

from __future__ import annotations

import os
from pathlib import Path

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"
VERSIONS_DIR_VARIABLE = "AGENT_DB_VERSIONS_DIR"


def versions_dir() -> Path:
    """The package's versions/, or ``AGENT_DB_VERSIONS_DIR`` (a copy used by benchmarks and by
    tests that write revisions)."""
    override = os.environ.get(VERSIONS_DIR_VARIABLE)
    return Path(override).resolve() if override else VERSIONS_DIR
