"""Protected environments (prod) change schema only through the promotion gates.

``db.promote`` applies what the ``promote_from`` environment has run successfully, under its
gate (:mod:`agent_db.commands.promote`). Every other way forward is refused there (exit 3,
nothing changed), naming ``db.promote``: ``db.upgrade`` and the plain Alembic CLI. Only
``--allow-protected --reason "..."`` gets ``db.upgrade`` past, and the ledger records the reason
on every step of that run (downgrade and stamp have their own override, :func:`require_override`).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_db.commands.guards import require_override
from agent_db.database.target import Target
from agent_db.errors import SafetyRefusal
from agent_db.inputs import check_reason
from agent_db.settings import DatabaseSettings


@dataclass(frozen=True)
class ProtectedOverride:
    """``--allow-protected --reason``: upgrade a protected environment outside promotion."""

    reason: str

    @property
    def ledger_reason(self) -> str:
        """What the ledger's ``reason`` holds for each step of the run."""
        return f"--allow-protected (upgrade outside promotion): {self.reason}"

    @classmethod
    def checked(cls, target: Target, allow_protected: bool, reason: str | None) -> ProtectedOverride | None:
        """The override when asked for; refused (exit 3) on a protected environment without a
        real reason. Checked before anything connects."""
        if not allow_protected:
            return None
        reason = check_reason(reason)
        require_override(target, "upgrade", allow_protected, reason)
        return cls(reason) if reason else None


def promotion_hint(settings: DatabaseSettings) -> str:
    """How revisions reach ``settings``' environment: the command to run."""
    if settings.promote_from:
        return (
            f"revisions reach {settings.name} only by promotion from {settings.promote_from}: run "
            f"'uv run invoke db.promote --to {settings.name}', which applies what "
            f"{settings.promote_from} has run successfully, never further"
        )
    return f"{settings.name} has no promote_from environment to promote from"


def refuse_unpromoted_upgrade(settings: DatabaseSettings) -> SafetyRefusal:
    """``db.upgrade`` on a protected environment without the override."""
    return SafetyRefusal(
        f"upgrade on {settings.name} refused, nothing changed: {settings.name} is a protected "
        f"environment; {promotion_hint(settings)}. If a change outside promotion is really "
        'needed, run again with --allow-protected --reason "why"; the reason is recorded in the '
        "ledger"
    )
