"""The revision graph, read straight from the revision files.

Alembic's ``RevisionMap`` imports every revision module and some of its walks are quadratic on
long linear histories (``alembic current`` takes ~44 s at 10,000 revisions). Status, plan,
history and no-op upgrades only need ids, parents and checksums (see :mod:`.revision_file`), so
the graph is built from those and walked in linear time. Alembic still runs the revisions
themselves.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from agent_db.cache import cache_dir, read_json, write_json
from agent_db.errors import ConfigError
from agent_db.inputs import shown
from agent_db.revisions.revision_file import Revision, is_revision_file, read_revision

__all__ = ["Revision", "RevisionGraph", "default_graph"]


@dataclass
class RevisionGraph:
    """Revisions by id, with parents, children, heads and linear-time walks."""

    revisions: dict[str, Revision]
    directory: Path | None = None
    _children: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        children: dict[str, list[str]] = {rev: [] for rev in self.revisions}
        for revision in self.revisions.values():
            for parent in (*revision.down_revisions, *revision.depends_on):
                if parent not in self.revisions:
                    raise ConfigError(
                        f"{revision.path}: revision {revision.id} names parent {parent!r}, "
                        "which no revision file defines"
                    )
                if parent in revision.down_revisions:
                    children[parent].append(revision.id)
        self._children = children

    @classmethod
    def load(cls, directory: Path, *, trust_cache: bool = True) -> RevisionGraph:
        """Read every revision file in ``directory``.

        Parsed files are cached by (mtime, size, inode), as git's index does, so a long history
        loads with one ``stat`` per file. ``trust_cache=False`` reads and hashes every file
        (verify and promote do: their checksums are evidence).
        """
        cache_path = _graph_cache_path(directory)
        loaded = read_json(cache_path) if trust_cache else None
        cached: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        records: dict[str, Any] = {}
        changed = False
        revisions: dict[str, Revision] = {}
        folder = str(directory)
        with os.scandir(directory) as entries:
            found = sorted((e.name, e) for e in entries if is_revision_file(e.name) and e.is_file())
        for name, entry in found:
            status = entry.stat()
            stamp = [status.st_mtime_ns, status.st_size, status.st_ino]
            file = f"{folder}/{name}"
            record = cached.get(name)
            revision = None
            if isinstance(record, list) and len(record) == 2 and record[0] == stamp:
                revision = Revision.from_cache(record[1], file)
            if revision is None:
                revision = read_revision(Path(file))
                record = [stamp, revision.as_cache()]
                changed = True
            records[name] = record
            if revision.id in revisions:
                raise ConfigError(
                    f"revision id {revision.id} is defined twice: "
                    f"{revisions[revision.id].path.name} and {name}; give one a new id"
                )
            revisions[revision.id] = revision
        if changed or len(records) != len(cached):
            write_json(cache_path, records)
        return cls(revisions, directory)

    def __len__(self) -> int:
        return len(self.revisions)

    def __contains__(self, revision: object) -> bool:
        return revision in self.revisions

    def __getitem__(self, revision: str) -> Revision:
        return self.revisions[revision]

    def children(self, revision: str) -> list[str]:
        return self._children[revision]

    @cached_property
    def heads(self) -> tuple[str, ...]:
        return tuple(sorted(rev for rev, kids in self._children.items() if not kids))

    @cached_property
    def bases(self) -> tuple[str, ...]:
        return tuple(sorted(r.id for r in self.revisions.values() if not r.down_revisions))

    def single_head(self) -> str:
        """The one head; a clear error when the history has branched."""
        heads = self.heads
        if len(heads) == 1:
            return heads[0]
        if not heads:
            raise ConfigError("the migration history is empty: create a revision with db.revision")
        files = ", ".join(f"{h} ({self.revisions[h].path.name})" for h in heads)
        raise ConfigError(
            f"the migration history has {len(heads)} heads: {files}; merge them with "
            "'uv run alembic -c packages/db/alembic.ini merge heads -m \"merge\"' "
            "or rebase one revision's down_revision onto the other"
        )

    def resolve(self, reference: str) -> str | None:
        """A full revision id from an id, a unique prefix, ``head`` or ``base`` (None).

        An empty reference is refused rather than read as base: ``--to "$TARGET"`` with the
        variable unset must not become a downgrade of everything.
        """
        reference = reference.strip()
        if not reference:
            raise ConfigError(
                "the revision is empty: name one (an id or a unique prefix), 'head', or 'base' "
                "to mean before the first revision; see 'uv run invoke db.history'"
            )
        if reference == "base":
            return None
        if reference == "head" or reference == "heads":
            return self.single_head()
        if reference in self.revisions:
            return reference
        if len(reference) > 64 or not re.fullmatch(r"[0-9A-Za-z_]+", reference):
            raise ConfigError(
                f"unknown revision {shown(reference)}: a revision is a hex id (or a unique "
                "prefix of one), 'head' or 'base'; see 'uv run invoke db.history'"
            )
        matches = [rev for rev in self.revisions if rev.startswith(reference)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ConfigError(
                f"unknown revision {reference!r}; see 'uv run invoke db.history' for the revisions"
            )
        raise ConfigError(f"revision prefix {reference!r} is ambiguous: {', '.join(sorted(matches))}")

    def ancestors(self, revisions: Iterable[str], *, inclusive: bool = True) -> set[str]:
        """Every revision reachable downward from ``revisions``."""
        start = list(revisions)
        seen: set[str] = set()
        queue = deque(start if inclusive else (p for r in start for p in self._parents(r)))
        while queue:
            current = queue.popleft()
            if current in seen:
                continue
            seen.add(current)
            queue.extend(self._parents(current))
        return seen

    def _parents(self, revision: str) -> tuple[str, ...]:
        rev = self.revisions[revision]
        return (*rev.down_revisions, *rev.depends_on)

    def ordered(self, subset: Iterable[str]) -> list[str]:
        """``subset`` in an order where every revision follows its parents (Kahn's algorithm)."""
        wanted = set(subset)
        pending = {rev: sum(1 for p in self._parents(rev) if p in wanted) for rev in wanted}
        ready = deque(sorted(rev for rev, count in pending.items() if count == 0))
        result: list[str] = []
        while ready:
            current = ready.popleft()
            result.append(current)
            for child in self._dependents(current):
                if child in pending:
                    pending[child] -= 1
                    if pending[child] == 0:
                        ready.append(child)
        if len(result) != len(wanted):
            raise ConfigError("the migration history has a cycle; check the down_revision values")
        return result

    def _dependents(self, revision: str) -> list[str]:
        kids = list(self._children[revision])
        kids.extend(r.id for r in self._depends_on_index.get(revision, ()))
        return kids

    @cached_property
    def _depends_on_index(self) -> dict[str, list[Revision]]:
        index: dict[str, list[Revision]] = {}
        for revision in self.revisions.values():
            for dependency in revision.depends_on:
                index.setdefault(dependency, []).append(revision)
        return index

    def upgrade_path(self, current: Sequence[str], target: str | None) -> list[str]:
        """Revisions an upgrade from ``current`` to ``target`` applies, in order."""
        if target is None:
            return []
        applied = self.ancestors(current)
        return self.ordered(self.ancestors([target]) - applied)

    def downgrade_path(self, current: Sequence[str], target: str | None) -> list[str]:
        """Revisions a downgrade from ``current`` to ``target`` reverts, newest first."""
        keep = self.ancestors([target]) if target else set()
        return list(reversed(self.ordered(self.ancestors(current) - keep)))

    def linear_order(self) -> list[str]:
        """Every revision, parents first."""
        return self.ordered(self.revisions)

    def relative(self, current: Sequence[str], steps: int) -> str | None:
        """The revision ``steps`` below the current one (``-1`` is its parent); None is base."""
        if len(current) != 1:
            raise ConfigError(
                "a relative revision needs a single current revision; the database is at "
                f"{', '.join(current) or 'base'}: name the target revision instead"
            )
        position: str | None = current[0]
        for _ in range(-steps):
            if position is None:
                raise ConfigError(f"cannot go {steps} revisions down: base is reached before that")
            parents = self.revisions[position].down_revisions
            if len(parents) > 1:
                raise ConfigError(f"{position} is a merge of {', '.join(parents)}; name the target revision")
            position = parents[0] if parents else None
        return position


def _graph_cache_path(directory: Path) -> Path:
    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "graphs" / f"{key}.json"


def default_graph(*, trust_cache: bool = True) -> RevisionGraph:
    """The graph of this checkout's revisions (see ``alembic_config.versions_dir``)."""
    from agent_db.versions import versions_dir

    return RevisionGraph.load(versions_dir(), trust_cache=trust_cache)
