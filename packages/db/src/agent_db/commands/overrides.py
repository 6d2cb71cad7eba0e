"""``db.upgrade``'s overrides from its flags: ``--allow-protected`` (a protected environment
outside promotion, :mod:`.protected`) and ``--allow-live-consumers`` (the contract gate,
:mod:`.phase_gate`), which share one ``--reason``."""

from __future__ import annotations

from agent_db.commands.phase_gate import ConsumerOverride
from agent_db.commands.protected import ProtectedOverride
from agent_db.database.target import Target
from agent_db.errors import ConfigError


def upgrade_overrides(
    target: Target, allow_live_consumers: bool, allow_protected: bool, reason: str | None
) -> tuple[ProtectedOverride | None, ConsumerOverride | None]:
    """``db.upgrade``'s two overrides from its flags; ``--reason`` alone is a usage error."""
    if reason is not None and not (allow_protected or allow_live_consumers):
        raise ConfigError(
            "--reason alone changes nothing: it has to go with --allow-live-consumers (run "
            "contract revisions past live consumers) or --allow-protected (upgrade a protected "
            "environment outside promotion); add the one you mean, or leave it out"
        )
    protected = ProtectedOverride.checked(target, allow_protected, reason)
    consumers = (
        ConsumerOverride.checked(target, allow_live_consumers, reason, allow_protected)
        if allow_live_consumers
        else None
    )
    return protected, consumers
