"""A comparable picture of a database schema, read from the catalogs.

Drift detection compares a live database with the schema its migration history produces, and
the migration gates compare a schema before an upgrade with the schema after its downgrade.
Both need the same thing: tables, columns, indexes, constraints, sequences, views, enums,
functions, triggers, row-level security and its policies, storage options, comments, grants and
extensions of the current schema, as plain data, minus the migration bookkeeping (the queries,
and how they read alike on every PostgreSQL version, are in
:mod:`agent_db.database.snapshot_queries`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from agent_db.database.catalog import BOOKKEEPING_TABLES
from agent_db.database.snapshot_queries import QUERIES

_BOOKKEEPING_FUNCTIONS = frozenset({"schema_ledger_append_only", "schema_ledger_hash_chain"})
Snapshot = dict[str, dict[str, str]]


def _owner(kind: str, name: str) -> str:
    if kind == "grant":
        return name.split(" to ", 1)[0]
    return name.split(".", 1)[0]


def _is_bookkeeping(kind: str, name: str) -> bool:
    if kind == "function" or (kind == "comment" and "(" in name):
        return name.split("(", 1)[0] in _BOOKKEEPING_FUNCTIONS
    if kind == "extension":
        return False
    owner = _owner(kind, name)
    # Indexes and sequences (and grants and comments on them) carry their table's name first.
    return any(owner == table or owner.startswith(f"{table}_") for table in BOOKKEEPING_TABLES)


def _grantee(name: str) -> str:
    return name.rsplit(" to ", 1)[-1]


def schema_snapshot(connection: Connection, *, ignore_roles: Iterable[str] = ()) -> Snapshot:
    """The current schema as ``{kind: {name: definition}}``, without the bookkeeping tables.

    ``ignore_roles``: roles whose grants are the deployment's own setup (an API role granted
    access outside the migrations, say), left out of the comparison."""
    ignored = frozenset(ignore_roles)
    snapshot: Snapshot = {}
    for kind, query in QUERIES.items():
        rows = connection.execute(text(query)).all()
        snapshot[kind] = {
            str(name): str(definition)
            for name, definition in rows
            if not _is_bookkeeping(kind, str(name))
            and not (kind == "grant" and _grantee(str(name)) in ignored)
        }
    return snapshot


def snapshot_format() -> str:
    """Changes whenever what a snapshot holds changes: part of the key of cached snapshots."""
    digest = hashlib.sha256()
    for kind, query in sorted(QUERIES.items()):
        digest.update(f"{kind}\n{query}\n".encode())
    digest.update(",".join(sorted(BOOKKEEPING_TABLES | _BOOKKEEPING_FUNCTIONS)).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Difference:
    kind: str
    name: str
    live: str | None  # None: missing from the live database
    expected: str | None  # None: not produced by the migration history

    def describe(self) -> str:
        subject = f"{self.kind} {self.name}"
        if self.expected is None:
            return f"{subject} is in the database but not in the migration history ({self.live})"
        if self.live is None:
            return f"{subject} is missing from the database (expected: {self.expected})"
        return f"{subject} differs: database has {self.live!r}, history gives {self.expected!r}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "live": self.live, "expected": self.expected}


def compare(live: Snapshot, expected: Snapshot) -> list[Difference]:
    """Every difference between two snapshots, sorted by kind and name."""
    differences = []
    for kind in sorted(set(live) | set(expected)):
        have, want = live.get(kind, {}), expected.get(kind, {})
        for name in sorted(set(have) | set(want)):
            if have.get(name) != want.get(name):
                differences.append(Difference(kind, name, have.get(name), want.get(name)))
    return differences
