"""Which file an import-time failure came from, so the message blames it and not the history.

env.py imports the models (``agent_db.models``) before any revision runs, and Alembic imports
each revision file: a broken import in a model used to read as "the migration history does
not apply" or as a fault of whichever revision file was being rendered. The traceback knows
better. A failure is an import failure when the deepest frame of the project that runs a
module's top level (``<module>``) is not env.py itself (a revision's ``upgrade()`` runs inside
env.py's top level: that is a migration failing, not an import). It is blamed on the deepest
frame of the project: the line that raised, or the import that reached outside it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from agent_db.paths import shown_path
from agent_db.versions import versions_dir

PACKAGE_DIR = Path(__file__).resolve().parents[1]
ENV_PY = PACKAGE_DIR / "migrations" / "env.py"
CHAIN_DEPTH = 8  # causes and contexts followed to find the original failure


@dataclass(frozen=True)
class ImportFailure:
    """The file and line that raised while a module of the project was imported, and why."""

    path: Path
    line: int
    source: str
    error: BaseException

    @property
    def where(self) -> str:
        shown = shown_path(self.path)
        return f"{shown}:{self.line}" + (f" ({self.source})" if self.source else "")

    @property
    def fix(self) -> str:
        error = self.error
        if isinstance(error, ModuleNotFoundError) and error.name:
            top = error.name.split(".")[0]
            if top == PACKAGE_DIR.name:
                return f"Fix that import: the package has no module '{error.name}'"
            return (
                f"Fix that import (a typo?), or add the distribution that provides '{top}' to "
                "agent-db's dependencies ('uv add --package agent-db NAME')"
            )
        if isinstance(error, ImportError):
            return "Fix that import (the name it asks for does not exist there)"
        return "Fix that line"

    @property
    def in_a_revision(self) -> bool:
        return self.path.is_relative_to(versions_dir())

    def describe(self) -> str:
        """One message: what raised, where, who imported it, and the fix."""
        first_line = (str(self.error).strip().splitlines() or [""])[0]
        raised = f"{self.where} raised {type(self.error).__name__}: {first_line}"
        if self.in_a_revision:
            return (
                f"{raised} while Alembic imported that revision file. {self.fix}, then run the command again"
            )
        return (
            f"{raised} while being imported (migrations/env.py imports the models before any "
            f"revision runs); the revision files are not at fault. {self.fix}, then run the command again"
        )


def import_failure(error: BaseException) -> ImportFailure | None:
    """The import failure behind ``error`` (or behind its causes), None for anything else."""
    seen: BaseException | None = error
    for _ in range(CHAIN_DEPTH):
        if seen is None:
            return None
        found = _from_traceback(seen)
        if found is not None:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def _from_traceback(error: BaseException) -> ImportFailure | None:
    roots = (PACKAGE_DIR, versions_dir())
    frames = [
        frame for frame in traceback.extract_tb(error.__traceback__) if _inside(Path(frame.filename), roots)
    ]
    module_frames = [frame for frame in frames if frame.name == "<module>"]
    if not module_frames or Path(module_frames[-1].filename).resolve() == ENV_PY:
        return None
    last = frames[-1]
    return ImportFailure(Path(last.filename).resolve(), last.lineno or 0, (last.line or "").strip(), error)


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    if not path.is_absolute():  # <frozen importlib._bootstrap> and the like
        return False
    resolved = path.resolve()
    return any(resolved.is_relative_to(root) for root in roots)
