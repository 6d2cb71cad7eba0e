"""The tutorial's plain Alembic commands from the repository root (``[tool.alembic]`` in the
root pyproject.toml), not only from packages/db."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy.engine import URL

from agent_db.commands import migrate
from tests.support.databases import target_for, url_text
from tests.support.paths import ROOT
from tests.support.revisions import configured_head


def test_alembic_current_from_the_repository_root_prints_the_revision(empty_url: URL) -> None:
    migrate.upgrade(target_for("dev", empty_url))
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "current"],
        cwd=ROOT,
        env={**os.environ, "DEV_DATABASE_URL": url_text(empty_url)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{configured_head()} (head)" in result.stdout
    assert "script_location" not in result.stderr
