"""A throwaway copy of the agent_db package, imported instead of the checkout's by the commands a
test runs with ``PYTHONPATH`` pointing at it: for models that are broken or missing from the
registry, without touching the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import agent_db

PACKAGE = Path(agent_db.__file__).resolve().parent


def copy_package(folder: Path) -> Path:
    """A copy of the package at ``folder/src/agent_db``; returns the copy's folder (``.../agent_db``)."""
    copy = folder / "src" / "agent_db"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def imported_from(copy: Path) -> dict[str, str]:
    """The environment that makes a command import ``copy`` (it comes before the editable install)."""
    return {"PYTHONPATH": str(copy.parent)}


def insert_line(path: Path, after: str, line: str) -> int:
    """Insert ``line`` after the first line equal to ``after``; return its line number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    position = lines.index(after) + 1
    lines.insert(position, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return position + 1
