"""Which revisions a plain ``db.lint`` checks: the ones this branch adds or changes.

A pull request should be judged on what it brings, so the default scope is the revision files
under versions/ that differ from ``git merge-base HEAD main`` (committed, staged, edited or
untracked). When that cannot be worked out (no git, not a checkout, no main branch) the lint
says so and checks every revision: failing safe means linting more, never less.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from agent_db.revisions.graph import RevisionGraph
from agent_db.revisions.phases import MAP_FILE, load_phase_map, map_path

MAIN_BRANCHES = ("main", "origin/main")


@dataclass(frozen=True)
class Scope:
    """``paths`` None means every revision; ``note`` says how the scope was chosen."""

    paths: frozenset[Path] | None
    note: str
    base: str | None = None
    mode: str = field(default="changed")


def _git(directory: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def everything(note: str = "all revisions (--all)") -> Scope:
    return Scope(None, note, mode="all")


def changed_revisions(versions: Path) -> Scope:
    """Revision files under ``versions`` added or changed since the merge base with main."""
    top = _git(versions, "rev-parse", "--show-toplevel")
    if top is None:
        return everything(f"{versions} is not in a git checkout (or git is missing): linting all revisions")
    base = None
    for branch in MAIN_BRANCHES:
        base = _git(versions, "merge-base", "HEAD", branch)
        if base:
            break
    if not base:
        return everything(
            "no main branch to compare with (git merge-base HEAD main failed): linting all revisions"
        )
    base = base.strip()
    diff = _git(versions, "diff", "--name-only", "--diff-filter=ACMR", "-z", base, "--", ".")
    untracked = _git(versions, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    if diff is None or untracked is None:
        return everything("git could not list the changed files: linting all revisions")
    root = Path(top.strip())
    paths = {(root / name).resolve() for name in diff.split("\0") if name}
    # ls-files prints paths relative to the directory it runs in.
    paths |= {(versions / name).resolve() for name in untracked.split("\0") if name}
    revisions = frozenset(p for p in paths if p.suffix == ".py" and p.parent == versions.resolve())
    note = f"revisions added or changed since {base[:12]} (git merge-base HEAD main)"
    if map_path(versions).resolve() in paths:
        # A changed phase map changes what its revisions are checked against: lint them too.
        revisions |= _mapped_revisions(versions)
        note += f", and those {MAP_FILE} names (it changed)"
    return Scope(revisions, f"{note}; --all for the whole history", base)


def _mapped_revisions(versions: Path) -> frozenset[Path]:
    graph = RevisionGraph.load(versions)
    named = load_phase_map(versions).phases
    return frozenset(graph[rev].path.resolve() for rev in named if rev in graph)
