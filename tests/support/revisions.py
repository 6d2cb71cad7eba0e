"""Copies of the migration history, and revisions written into them: the one revision writer of
the tests and the benchmarks, and the two heads a test may mean."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.versions import VERSIONS_DIR


def copy_history(folder: Path, name: str = "versions") -> Path:
    """A copy of the package's versions/ at ``folder/name``, to write revisions into."""
    versions = folder / name
    shutil.copytree(VERSIONS_DIR, versions, ignore=shutil.ignore_patterns("__pycache__"))
    return versions


def configured_head() -> str:
    """The head of the history the toolkit reads right now: the folder AGENT_DB_VERSIONS_DIR
    points at (a test's copy, with whatever it added), else the package's own."""
    return default_graph().single_head()


def package_head() -> str:
    """The head of the package's own versions/, whatever AGENT_DB_VERSIONS_DIR points at: what
    a revision written on top of a fresh copy revises."""
    return RevisionGraph.load(VERSIONS_DIR).single_head()


def write_revision(
    versions: Path,
    revision: str,
    parent: str | None,
    upgrade: str,
    downgrade: str = "pass",
    *,
    message: str = "test",
    header: str = "",
) -> Path:
    """Write a revision file whose bodies are the given Python statements, laid out like the
    project's template, with ``op``, ``sa`` and the safe helpers (``safe``) imported. ``header``
    holds module-level lines (``lint_accept = ...``, ``lock_timeout = ...``). The file is named
    ``..._<revision>_<message, spaces as underscores, at most 30 characters>.py``."""
    path = versions / f"20991231_0000_{revision}_{message.replace(' ', '_')[:30]}.py"
    path.write_text(
        f'"""{message}\n\nRevision ID: {revision}\nRevises: {parent or ""}\n"""\n\n'
        "from collections.abc import Sequence\n\n"
        "import sqlalchemy as sa  # noqa: F401\nfrom alembic import op\n\n"
        "from agent_db.migrations import safe  # noqa: F401\n\n"
        f"revision: str = {revision!r}\n"
        f"down_revision: str | Sequence[str] | None = {parent!r}\n"
        "branch_labels: str | Sequence[str] | None = None\n"
        "depends_on: str | Sequence[str] | None = None\n"
        f"{header}\n\n"
        "def upgrade() -> None:\n" + _body(upgrade) + "\n\n\n"
        "def downgrade() -> None:\n" + _body(downgrade) + "\n"
    )
    return path


def _body(statements: str) -> str:
    return textwrap.indent(textwrap.dedent(statements).strip(), "    ")
