"""Why a database is at a revision this checkout does not have, and which way out is right.

Two different situations look the same from the files alone:

- the checkout is older than the code that migrated the database (someone deployed newer code):
  update the checkout;
- the revision was removed from the history after it ran there (``git revert`` of the commit
  that added it, once it had reached staging): updating helps nothing, the database keeps the
  revision's changes. Fix forward: restore the file and write a new revision that undoes it.

The ledger says which commit applied the revision; git says whether this checkout's history
contains that commit (then the file was removed since) and which commit deleted the file. When
git cannot tell (no repository, a shallow clone, a commit it never saw), both ways are given.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Literal

from agent_db.paths import project_root

Cause = Literal["reverted", "newer_code", "unknown"]
PROCEDURE = "docs/deployment.md, 'A revision was reverted after it reached an environment'"
_GIT_TIMEOUT = 10


@dataclass(frozen=True)
class UnknownRevision:
    revision: str
    applied_by: str | None  # the commit recorded in the ledger
    cause: Cause
    removed_by: str | None = None  # the commit that deleted its file, when git knows
    path: str | None = None  # where the file was, relative to the checkout


def _git(*args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        root = project_root()
    except Exception:
        return None
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False, cwd=root
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _in_history(commit: str) -> bool | None:
    """True when HEAD's history contains ``commit``, False when git knows it is not there,
    None when git cannot tell."""
    commit = commit.removesuffix("-dirty")
    known = _git("cat-file", "-e", f"{commit}^{{commit}}")
    if known is None or known.returncode != 0:
        return None
    result = _git("merge-base", "--is-ancestor", commit, "HEAD")
    if result is None or result.returncode not in (0, 1):
        return None
    return result.returncode == 0


def _deletion(revision: str) -> tuple[str, str] | None:
    """The commit that deleted the revision's file, and the file's path, when git knows them."""
    result = _git(
        "log", "-1", "--format=%H", "--diff-filter=D", "--name-only", "--",
        f":(glob)**/versions/*_{revision}_*.py",
    )  # fmt: skip
    if result is None or result.returncode != 0:
        return None
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return (lines[0], lines[1]) if len(lines) >= 2 else None


def diagnose(revision: str, applied_by: str | None) -> UnknownRevision:
    deleted = _deletion(revision)
    if deleted is not None:
        return UnknownRevision(revision, applied_by, "reverted", deleted[0], deleted[1])
    in_history = _in_history(applied_by) if applied_by else None
    causes: dict[bool | None, Cause] = {True: "reverted", False: "newer_code", None: "unknown"}
    cause = causes[in_history]
    return UnknownRevision(revision, applied_by, cause)


def _fix_forward(item: UnknownRevision, environment: str) -> str:
    if item.removed_by and item.path:
        restore = f"git checkout {item.removed_by[:12]}^ -- {item.path}"
    else:
        restore = "restore its file from the commit that added it"
    return (
        f"fix forward: {restore}, then write a new revision on top of it that undoes its changes "
        f'(uv run invoke db.revision -m "undo ...") and deploy both; {environment} keeps what '
        f"{item.revision} did until a revision undoes it (see {PROCEDURE})"
    )


def explain(items: list[UnknownRevision], environment: str) -> str:
    """One message for every revision of ``environment`` this checkout lacks."""
    parts = []
    for item in items:
        commit = f" by commit {item.applied_by[:12]}" if item.applied_by else ""
        if item.cause == "reverted":
            removed = f" (its file was deleted by commit {item.removed_by[:12]})" if item.removed_by else ""
            parts.append(
                f"{environment} is at revision {item.revision}, applied{commit}, which was removed "
                f"from the history after it ran there{removed}: updating the checkout will not bring "
                f"it back, and deleting a revision does not undo it. To continue, "
                + _fix_forward(item, environment)
            )
        elif item.cause == "newer_code":
            parts.append(
                f"{environment} is at revision {item.revision}, which this checkout does not have: "
                f"it was applied from newer code{commit}, which this checkout's history does not "
                "include; update your checkout (git pull) before migrating"
            )
        else:
            parts.append(
                f"{environment} is at revision {item.revision}, which this checkout does not have"
                f"{' (applied' + commit + ')' if commit else ''}. If the code that applied it is "
                "newer than this checkout, update your checkout before migrating. If it was "
                "reverted or deleted after it reached "
                f"{environment} (git cannot tell here), updating will not help: "
                + _fix_forward(item, environment)
            )
    return "; ".join(parts)
