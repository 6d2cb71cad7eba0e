"""Checks every writing verb makes before it touches a database: protected environments,
positions this checkout does not know, relative revisions that make sense."""

from __future__ import annotations

import re

from sqlalchemy import Connection

from agent_db.commands import unknown_revisions
from agent_db.database import ledger
from agent_db.database.target import Target
from agent_db.errors import ConfigError, SafetyRefusal
from agent_db.inputs import shown
from agent_db.revisions.graph import RevisionGraph

MIN_OVERRIDE_REASON = 20
MIN_OVERRIDE_WORDS = 3
MAX_RELATIVE_STEPS = 100_000
_RELATIVE = re.compile(r"-([0-9]+)")


def require_override(target: Target, action: str, allow_protected: bool, reason: str | None) -> None:
    """Protected environments refuse downgrade and stamp without an explicit, reasoned override."""
    if not target.settings.protected:
        return
    if not allow_protected:
        raise SafetyRefusal(
            f"{action} on {target.name} refused: {target.name} is a protected environment. If it "
            f'is really needed, run again with --allow-protected --reason "why"; the reason '
            "is recorded in the ledger"
        )
    if not is_real_reason(reason):
        raise SafetyRefusal(
            f"{action} on {target.name} refused: --allow-protected needs --reason with a real "
            f"explanation (at least {MIN_OVERRIDE_REASON} characters and {MIN_OVERRIDE_WORDS} words, "
            'such as "INC-42: roll back the flags column"); it is recorded in the ledger'
        )


def is_real_reason(reason: str | None) -> bool:
    """Long enough to say something a reviewer can check: "aaaaaaaaaa" or "because!!!" is not."""
    if not reason:
        return False
    words = [word for word in reason.split() if any(ch.isalnum() for ch in word)]
    distinct = {ch for ch in reason.lower() if ch.isalnum()}
    return (
        len(reason.strip()) >= MIN_OVERRIDE_REASON and len(words) >= MIN_OVERRIDE_WORDS and len(distinct) >= 5
    )


def check_known(
    graph: RevisionGraph, current: tuple[str, ...], environment: str, connection: Connection | None = None
) -> None:
    """Refuse to work from a revision this checkout does not have, saying which way out is right:
    update the checkout (newer code migrated it), or fix forward (the revision was reverted after
    it ran there). ``connection`` lets the ledger say which commit applied it."""
    unknown = [rev for rev in current if rev not in graph]
    if not unknown:
        return
    commits = ledger.applied_commits(connection, unknown) if connection is not None else {}
    items = [unknown_revisions.diagnose(rev, commits.get(rev)) for rev in unknown]
    raise SafetyRefusal(unknown_revisions.explain(items, environment))


def relative_steps(reference: str) -> int | None:
    """``-N`` as a number of steps down (negative), or None when ``reference`` is not relative.

    ASCII digits only (``str.isdigit`` also accepts '²', which ``int`` refuses), and bounded
    (``int`` refuses more than 4,300 digits)."""
    match = _RELATIVE.fullmatch(reference.strip())
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) > 6 or not 0 < int(digits) <= MAX_RELATIVE_STEPS:
        raise ConfigError(
            f"a relative downgrade needs a number of steps between 1 and {MAX_RELATIVE_STEPS}, "
            f"such as -1 (got {shown(reference)})"
        )
    return -int(digits)
