"""Alembic script directories that load only the revision files a run needs.

``ScriptDirectory`` imports every revision module to build its map; with thousands of revisions
that dominates a run that applies two of them. Alembic tolerates a map whose oldest entries name
parents it does not hold (it warns), so the runner and the plan hand it just the revisions on
their path and those revisions' parents.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionMap

from agent_db.pipeline.graph import RevisionGraph


def selected_scripts(config: Config, paths: Iterable[Path]) -> ScriptDirectory:
    """A ``ScriptDirectory`` whose revision map holds only the files in ``paths``."""
    script = ScriptDirectory.from_config(config)
    chosen = sorted({Path(p).resolve() for p in paths})

    def load() -> Iterator[Script]:
        for path in chosen:
            loaded = Script._from_path(script, path)
            if loaded is not None:
                yield loaded

    script.revision_map = RevisionMap(load)
    with warnings.catch_warnings():
        # "Revision X referenced from Y is not present": the parents we deliberately left out.
        warnings.simplefilter("ignore")
        script.revision_map.get_revisions("heads")
    return script


def scripts_for(config: Config, graph: RevisionGraph, revisions: Iterable[str]) -> ScriptDirectory:
    """A script directory holding ``revisions`` and their parents."""
    needed: set[str] = set()
    for revision in revisions:
        needed.add(revision)
        needed.update(graph[revision].down_revisions)
        needed.update(graph[revision].depends_on)
    return selected_scripts(config, (graph[r].path for r in needed))
