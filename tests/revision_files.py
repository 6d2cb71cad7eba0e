"""Temporary revision directories: a copy of the project's versions/ plus revisions a test writes.

Tests point ``AGENT_DB_VERSIONS_DIR`` at the copy, so they add revisions on top of whatever the
real history holds today (it grows) without touching the package.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from agent_db.alembic_config import VERSIONS_DIR
from agent_db.pipeline.graph import RevisionGraph


def copy_versions(destination: Path) -> Path:
    """A copy of the package's versions/ at ``destination``; returns it."""
    shutil.copytree(VERSIONS_DIR, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def project_head() -> str:
    return RevisionGraph.load(VERSIONS_DIR).single_head()


def write_revision(
    directory: Path,
    revision: str,
    down_revision: str | tuple[str, ...] | None,
    upgrade: str,
    *,
    downgrade: str = "pass",
    header: str = "",
    slug: str = "test",
    minute: int = 0,
) -> Path:
    """Write a revision file the way the template lays it out; ``upgrade``/``downgrade`` are
    function bodies, ``header`` module-level lines (``lint_accept = ...``, ``lock_timeout``)."""
    body = textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
    down = textwrap.indent(textwrap.dedent(downgrade).strip(), "    ")
    text = (
        f'"""{slug.replace("_", " ")}"""\n\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        "from agent_db.migrations import safe\n\n"
        f"revision = {revision!r}\n"
        f"down_revision = {down_revision!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n"
        f"{textwrap.dedent(header).strip()}\n\n\n"
        f"def upgrade() -> None:\n{body}\n\n\n"
        f"def downgrade() -> None:\n{down}\n"
    )
    path = directory / f"20991231_{minute:04d}_{revision}_{slug}.py"
    path.write_text(text, encoding="utf-8")
    return path
