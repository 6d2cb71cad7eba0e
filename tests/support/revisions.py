"""Temporary copies of the migration history with extra revisions, for pipeline tests."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from agent_db.revisions.graph import default_graph
from agent_db.versions import VERSIONS_DIR


def copy_history(folder: Path) -> Path:
    versions = folder / "versions"
    shutil.copytree(VERSIONS_DIR, versions, ignore=shutil.ignore_patterns("__pycache__"))
    return versions


def project_head() -> str:
    return default_graph().single_head()


def add_revision(
    versions: Path,
    revision: str,
    parent: str | None,
    upgrade: str,
    downgrade: str = "pass",
    *,
    message: str | None = None,
    header: str = "",
) -> Path:
    """Write a revision file whose bodies are the given Python statements."""
    message = message or f"test revision {revision}"
    path = versions / f"20991231_0000_{revision}_{message.replace(' ', '_')[:30]}.py"
    path.write_text(
        f'"""{message}\n\nRevision ID: {revision}\nRevises: {parent or ""}\n"""\n\n'
        "from collections.abc import Sequence\n\n"
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision: str = {revision!r}\n"
        f"down_revision: str | Sequence[str] | None = {parent!r}\n"
        "branch_labels: str | Sequence[str] | None = None\n"
        "depends_on: str | Sequence[str] | None = None\n"
        f"{header}\n\n"
        "def upgrade() -> None:\n" + textwrap.indent(textwrap.dedent(upgrade).strip(), "    ") + "\n\n\n"
        "def downgrade() -> None:\n" + textwrap.indent(textwrap.dedent(downgrade).strip(), "    ") + "\n"
    )
    return path
