"""Alembic script directories that load only the revision files a run needs.

``ScriptDirectory`` imports every revision module to build its map; with thousands of revisions
that dominates a run that applies two of them. A run only executes the revisions on its path, so
the map holds those (loaded from their files) and, for their parents already applied, bare
``Revision`` entries with no parent: Alembic walks from them but never runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import Revision, RevisionMap

from agent_db.revisions.graph import RevisionGraph


def scripts_for(config: Config, graph: RevisionGraph, revisions: Iterable[str]) -> ScriptDirectory:
    """A script directory holding ``revisions`` (executable) and their parents (as markers)."""
    script = ScriptDirectory.from_config(config)
    chosen = list(dict.fromkeys(revisions))
    boundary = {
        parent
        for revision in chosen
        for parent in (*graph[revision].down_revisions, *graph[revision].depends_on)
        if parent not in chosen
    }

    def load() -> Iterator[Revision]:
        for parent in sorted(boundary):
            yield Revision(parent, None)
        for revision in chosen:
            loaded = Script._from_path(script, graph[revision].path)
            if loaded is not None:
                yield loaded

    script.revision_map = RevisionMap(load)
    return script
