"""The revision history, newest first, with where each environment stands."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_db.commands.positions import Position
from agent_db.revisions.graph import RevisionGraph
from agent_db.revisions.phases import graph_phases


@dataclass(frozen=True)
class HistoryEntry:
    revision: str
    parents: tuple[str, ...]
    message: str
    path: str
    is_head: bool
    environments: tuple[str, ...]
    phase: str = "expand"  # agent_db.revisions.phases

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "parents": list(self.parents),
            "message": self.message,
            "path": self.path,
            "is_head": self.is_head,
            "phase": self.phase,
            "environments": list(self.environments),
        }


def history(graph: RevisionGraph, positions: Sequence[Position] = ()) -> list[HistoryEntry]:
    where: dict[str, list[str]] = {}
    for position in positions:
        for revision in position.revisions or ():
            where.setdefault(revision, []).append(position.environment)
    heads = set(graph.heads)
    phases = graph_phases(graph)
    return [
        HistoryEntry(
            revision=rev,
            parents=graph[rev].down_revisions,
            message=graph[rev].message,
            path=str(graph[rev].path),
            is_head=rev in heads,
            environments=tuple(where.get(rev, ())),
            phase=phases[rev],
        )
        for rev in reversed(graph.linear_order())
    ]


def docstring(path: str) -> str:
    """A revision file's whole docstring (for ``--verbose``)."""
    module = ast.parse(Path(path).read_text(encoding="utf-8"))
    return ast.get_docstring(module) or ""
