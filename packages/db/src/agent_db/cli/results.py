"""What the ``db.*`` verbs print when they finish: the data they return, for people (stderr
for messages, stdout for data) or as one JSON document."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agent_db.cli.console import print_json, say
from agent_db.commands.history import HistoryEntry, docstring
from agent_db.commands.signing import KEY_VARIABLE

if TYPE_CHECKING:
    from agent_db.commands.manifest import ManifestWritten
    from agent_db.commands.migrate import RunResult
    from agent_db.commands.promote import PromotionResult
    from agent_db.commands.secure_ledger import Secured
    from agent_db.commands.verify import Verification
    from agent_db.revisions.graph import RevisionGraph


def print_run(result: RunResult, *, as_json: bool) -> None:
    """An upgrade, downgrade or stamp: where the environment is now."""
    if as_json:
        print_json(result.as_json())
        return
    after = ", ".join(result.after) or "base"
    if result.nothing_to_do:
        say(f"{result.environment}: nothing to do; at {after}")
    else:
        say(f"{result.environment}: now at {after}")
    say_held_back(result)


def say_held_back(result: RunResult) -> None:
    """What ``--phase expand`` left for the contract phase, and when to run it."""
    if not result.held_back:
        return
    say(
        f"{result.environment}: stopped before contract revision {result.held_back[0]} "
        f"({len(result.held_back)} revision(s) left for the contract phase); once the new build "
        "is rolled out and the old processes are gone, run again with --phase contract"
    )


def print_current(revisions: Sequence[str], graph: RevisionGraph) -> None:
    if not revisions:
        print("base (no revision applied)")
    for revision in revisions:
        mark = " (head)" if revision in graph.heads else ""
        known = "" if revision in graph else "  [unknown to this checkout]"
        print(f"{revision}{mark}{known}")


def print_heads(graph: RevisionGraph) -> None:
    for head in graph.heads:
        print(f"{head} (head)  {graph[head].message}")


def print_history(entries: Sequence[HistoryEntry], *, verbose: bool, root: Path) -> None:
    """Like ``alembic history``: one line per revision, or ``--verbose`` blocks with the
    parents, the file and the whole docstring."""
    for entry in entries:
        head = " (head)" if entry.is_head else ""
        envs = f"  <- {', '.join(entry.environments)}" if entry.environments else ""
        parents = ", ".join(entry.parents) or "<base>"
        if not verbose:
            print(f"{parents} -> {entry.revision}{head}, {entry.message} [{entry.phase}]{envs}")
            continue
        print(f"Rev: {entry.revision}{head}{envs}")
        print(f"Parent: {parents}")
        print(f"Phase: {entry.phase}")
        print(f"Path: {os.path.relpath(entry.path, root)}")
        print()
        for line in docstring(entry.path).splitlines():
            print(f"    {line}".rstrip())
        print()


def print_verification(result: Verification, *, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    if not result.ok:
        return  # the refusal says what failed
    unrecorded = result.checksums.unrecorded
    note = f" ({len(unrecorded)} applied revision(s) have no ledger record)" if unrecorded else ""
    say(f"{result.environment}: checksums match the files, no drift, ledger chain intact{note}")


def print_promotion(result: PromotionResult, *, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    after = ", ".join(result.run.after) or "base"
    done = "nothing to do" if not result.run.applied else f"applied {len(result.run.applied)}"
    say(
        f"{result.run.environment}: {done}; at {after} "
        f"({'short of' if result.run.held_back else '='} {result.source.environment}, read "
        f"{result.source.origin}); manifest written to {result.manifest_path}"
        f"{_signed(result.manifest_signed)}"
    )
    if result.source.note:
        say(f"source {result.source.environment}: {result.source.note}")
    say_held_back(result.run)


def _signed(signed: bool) -> str:
    return " (signed)" if signed else f" (unsigned: {KEY_VARIABLE} is not set)"


def print_manifest_written(result: ManifestWritten, *, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    at = ", ".join(result.manifest.position) or "base"
    say(f"{result.environment}: at {at}; manifest written to {result.path}{_signed(result.signed)}")


def print_secured(result: Secured, *, as_json: bool) -> None:
    """``db.secure-ledger``: each part of the setup, changed now or already so."""
    if as_json:
        print_json(result.as_json())
        return
    done = "secured" if result.changed else "already secured, nothing changed"
    say(
        f"{result.environment} ({result.location}, as {result.connected_as}): schema_ledger "
        f"{done}; owner {result.owner}, migrator {result.migrator}"
    )
    for action in result.actions:
        say(f"  {'changed' if action.changed else 'already'}: {action.what}")
