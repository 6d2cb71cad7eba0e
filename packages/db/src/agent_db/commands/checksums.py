"""Checksums: catch a revision file edited after it was applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from agent_db.database import ledger
from agent_db.revisions.graph import RevisionGraph


@dataclass(frozen=True)
class ChecksumMismatch:
    revision: str
    file: str
    recorded: str
    current: str

    def describe(self) -> str:
        return (
            f"revision {self.revision} ({self.file}) was applied with checksum "
            f"{self.recorded[:12]}... but the file now has {self.current[:12]}...: it was edited "
            "after it was applied"
        )

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ChecksumReport:
    mismatches: list[ChecksumMismatch]
    unrecorded: list[str]  # applied, but no successful upgrade in the ledger

    def as_json(self) -> dict[str, Any]:
        return {
            "mismatches": [m.as_json() for m in self.mismatches],
            "unrecorded": self.unrecorded,
        }


def compare_checksums(
    recorded: dict[str, str | None], graph: RevisionGraph, applied: set[str]
) -> ChecksumReport:
    """``recorded`` (revision -> checksum from a ledger or a manifest) against the files."""
    mismatches, unrecorded = [], []
    for revision in graph.ordered(applied & set(graph.revisions)):
        checksum = recorded.get(revision)
        if checksum is None:
            unrecorded.append(revision)
        elif checksum != graph[revision].checksum:
            mismatches.append(
                ChecksumMismatch(
                    revision,
                    graph[revision].path.name,
                    checksum,
                    graph[revision].checksum,
                )
            )
    return ChecksumReport(mismatches, unrecorded)


def check_applied(connection: Connection, graph: RevisionGraph, current: tuple[str, ...]) -> ChecksumReport:
    """Applied revisions of a live database against the files of this checkout."""
    return compare_checksums(
        ledger.successful_checksums(connection),
        graph,
        graph.ancestors(c for c in current if c in graph),
    )
