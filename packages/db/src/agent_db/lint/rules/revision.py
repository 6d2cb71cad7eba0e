"""Rules on a revision as a whole, not one of its operations: the lock_timeout it runs with, and
its own ``lint_accept``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_db.lint.rules.base import RevisionRule, Rule

if TYPE_CHECKING:
    from agent_db.lint.prepare import PreparedRevision

_NO_TIMEOUT = frozenset({"0", "0ms", "0s", "0min", "0h"})


def _lock_timeout_disabled(prepared: PreparedRevision) -> tuple[str, str] | None:
    if prepared.lock_timeout.strip() not in _NO_TIMEOUT:
        return None
    own = prepared.revision.lock_timeout
    where = "the revision's lock_timeout" if own else "the environment's lock_timeout"
    return f"{where} is {prepared.lock_timeout!r}", f"SET lock_timeout = '{prepared.lock_timeout}';"


LOCK_TIMEOUT_DISABLED = RevisionRule(
    name="lock-timeout-disabled",
    summary="runs with lock_timeout = 0: a DDL statement that waits for a lock queues every "
    "query behind it for as long as the blocker lasts",
    safe_alternative="keep a lock_timeout (the environment's, or a per-revision `lock_timeout = "
    "'10s'`); the runner retries lock timeouts with backoff",
    check=_lock_timeout_disabled,
)

# Checked by agent_db.lint.accept while it reads the revision's lint_accept: each problem it
# finds is one finding of this rule, which no lint_accept entry can accept.
LINT_ACCEPT = Rule(
    name="lint-accept",
    summary="the revision's lint_accept is malformed: an unknown rule name or a reason too "
    "short to say why the finding is safe",
    safe_alternative='lint_accept = {"rule-name": "why this is safe here, in a sentence"}',
    acceptable=False,
)

REVISION_RULES = (LOCK_TIMEOUT_DISABLED,)
