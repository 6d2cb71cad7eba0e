"""The lint and safe-helper tests' view of ``tests.revisions``: revisions that may use
``agent_db.migrations.safe``, named by a slug, on top of the project's real head."""

from __future__ import annotations

from pathlib import Path

from agent_db.revisions.graph import RevisionGraph
from agent_db.versions import VERSIONS_DIR
from tests.revisions import add_revision, copy_history

SAFE_IMPORT = "from agent_db.migrations import safe  # noqa: E402"


def copy_versions(destination: Path) -> Path:
    """A copy of the package's versions/ at ``destination`` (a folder named versions)."""
    return copy_history(destination.parent)


def project_head() -> str:
    """The head of the package's own history, whatever AGENT_DB_VERSIONS_DIR points at."""
    return RevisionGraph.load(VERSIONS_DIR).single_head()


def write_revision(
    directory: Path,
    revision: str,
    down_revision: str | None,
    upgrade: str,
    *,
    downgrade: str = "pass",
    header: str = "",
    slug: str = "test",
) -> Path:
    """A revision whose bodies are the given statements; ``header`` holds module-level lines
    (``lint_accept = ...``, ``lock_timeout = ...``)."""
    return add_revision(
        directory,
        revision,
        down_revision,
        upgrade,
        downgrade,
        message=slug.replace("_", " "),
        header=f"{SAFE_IMPORT}\n{header}",
    )
