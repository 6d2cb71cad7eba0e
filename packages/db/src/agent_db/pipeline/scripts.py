"""Alembic script directories that load only the revision files a run needs.

``ScriptDirectory`` imports every revision module to build its map; with thousands of revisions
that dominates a run that applies two of them. So the runner and the plan hand it just the
revisions on their path, plus their parents as stand-ins: Alembic needs every parent a loaded
revision names in its map (a missing one is a ``KeyError``, not just the warning it prints
first), but it never runs a revision it only starts from, so a stand-in without a module and
without parents of its own serves, and the chain stops there.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import Revision, RevisionMap

from agent_db.pipeline.graph import RevisionGraph


def selected_scripts(config: Config, paths: Iterable[Path], boundary: Iterable[str] = ()) -> ScriptDirectory:
    """A ``ScriptDirectory`` whose revision map holds only the files in ``paths``, and a
    module-less stand-in for each revision id in ``boundary`` (start points, never run)."""
    script = ScriptDirectory.from_config(config)
    chosen = sorted({Path(p).resolve() for p in paths})
    stand_ins = sorted(set(boundary))

    def load() -> Iterator[Revision]:
        for path in chosen:
            loaded = Script._from_path(script, path)
            if loaded is not None:
                yield loaded
        for revision in stand_ins:
            yield Revision(revision, None)

    script.revision_map = RevisionMap(load)
    with warnings.catch_warnings():
        # "Revision X referenced from Y is not present": the parents we deliberately left out.
        warnings.simplefilter("ignore")
        script.revision_map.get_revisions("heads")
    return script


def scripts_for(config: Config, graph: RevisionGraph, revisions: Iterable[str]) -> ScriptDirectory:
    """A script directory holding ``revisions``, with stand-ins for their parents."""
    running = set(revisions)
    parents: set[str] = set()
    for revision in running:
        parents.update(graph[revision].down_revisions)
        parents.update(graph[revision].depends_on)
    return selected_scripts(config, (graph[r].path for r in running), parents - running)
