"""Every call into Alembic's private API, in one place.

Alembic's public commands (``command.upgrade``) build a full ``ScriptDirectory``, importing every
revision module, and walk its map; with thousands of revisions that dominates a run that applies
two. The toolkit instead hands Alembic a script directory holding only the revisions a run needs
and asks it for the steps to one destination. That needs ``Script._from_path`` and the
``_upgrade_revs`` / ``_downgrade_revs`` / ``_stamp_revs`` walks, which are private: an Alembic
upgrade that changes them breaks this file and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import Revision, RevisionMap

if TYPE_CHECKING:
    from agent_db.revisions.graph import RevisionGraph


StepDirection = Literal["upgrade", "downgrade", "stamp"]


def scripts_for(config: Config, graph: RevisionGraph, revisions: Iterable[str]) -> ScriptDirectory:
    """A script directory holding ``revisions`` (executable) and their parents (as markers).

    Parents already applied are bare ``Revision`` entries with no parent: Alembic walks from
    them but never runs them.
    """
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


def steps_to(
    script: ScriptDirectory, direction: StepDirection, destination: str, start: Sequence[str] | None = None
) -> Callable[[Any, Any], Any]:
    """The ``fn`` Alembic's environment calls for the steps from the live position (or
    ``start``, offline) to ``destination``."""

    def steps(rev: Any, context: Any) -> Any:
        # Offline, Alembic's walk accepts the parents as a tuple although it is typed as a str.
        current: Any = rev if start is None else tuple(start)
        if direction == "upgrade":
            return script._upgrade_revs(destination, current)
        if direction == "downgrade":
            return script._downgrade_revs(destination, current)
        return script._stamp_revs(destination, current)

    return steps


def run_environment(
    config: Config,
    script: ScriptDirectory,
    steps: Callable[[Any, Any], Any],
    *,
    destination: str,
    as_sql: bool = False,
    starting_rev: str | None = None,
) -> None:
    """Run ``env.py`` with ``steps``, as ``alembic upgrade`` would (``as_sql``: render only)."""
    with EnvironmentContext(
        config,
        script,
        fn=steps,
        as_sql=as_sql,
        starting_rev=starting_rev,
        destination_rev=destination,
        tag=None,
    ):
        script.run_env()
