"""The census half of ``api.smoke``: a release is rolled out when the environment's census
(``schema_consumers``) shows a live API process of it, not only when some ``/ready`` answers.

Behind a balancer, ``/ready`` is answered by whichever replica the request reaches, and the
previous release is ready too while it still runs (its schema window allows the new expand
revisions). The census tells which builds are live: the release is there when a live consumer of
this environment runs this checkout's heads, and (when both are known) this commit. The contract
step that follows needs the other half, that no live process of an older build remains; its gate
checks that and names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent_db.database import consumers
from agent_db.database.consumers import LiveConsumer
from agent_db.database.target import Target
from agent_db.errors import AgentDbError


@dataclass(frozen=True)
class ReleaseBuild:
    """What a process of the release being deployed says about itself in the census."""

    heads: tuple[str, ...]
    commit: str | None  # None: unknown here, so only the heads are compared

    def describe(self) -> str:
        commit = f"commit {self.commit[:12]}, " if self.commit else ""
        return f"{commit}head {', '.join(head[:12] for head in self.heads) or 'base'}"

    def is_running_in(self, consumer: LiveConsumer) -> bool:
        if tuple(sorted(consumer.build_heads)) != tuple(sorted(self.heads)):
            return False
        if self.commit is None or consumer.build_commit is None:
            return True
        return _bare(consumer.build_commit) == _bare(self.commit)


def _bare(commit: str) -> str:
    return commit.strip().removesuffix("-dirty").lower()


def census_problem(live: list[LiveConsumer], release: ReleaseBuild, environment: str) -> str | None:
    """Why the census does not show the release yet, or None when it does."""
    mine = [c for c in live if c.environment == environment]
    if any(release.is_running_in(consumer) for consumer in mine):
        return None
    if not mine:
        return (
            f"the census of {environment} shows no live API process (none registered, or none "
            "heartbeating): is the new release running against this database?"
        )
    # No heartbeat ages here: the waiting log tells each new problem once, so the text must
    # stay the same while nothing changes.
    others = "; ".join(f"{c.host} pid {c.pid}, build {c.build}" for c in mine[:5])
    return (
        f"the census of {environment} shows no live process of this release ({release.describe()}) "
        f"yet; live: {others}"
    )


def census_check(target: Target, release: ReleaseBuild) -> Callable[[], str | None]:
    """A check ``smoke_check`` calls after each ready answer: reads the live census each time."""

    def check() -> str | None:
        try:
            with target.connect(purpose="agent-db-smoke") as connection:
                live = consumers.live_consumers(connection)
        except AgentDbError as error:  # e.g. the database restarting: retried like /ready
            return f"cannot read the census of {target.name}: {error}"
        return census_problem(live, release, target.name)

    return check
