"""``api.grant-superuser``: operator actions on accounts that have no endpoint on purpose.

The first superuser cannot be made through the API (someone would have to be one already), so an
operator with the environment's database URL grants it here.
"""

from __future__ import annotations

from sqlalchemy import text

from agent_db.database.target import Target
from agent_db.errors import ConfigError


def grant_superuser(target: Target, username: str) -> None:
    """Make an existing, active account a superuser (the account registers itself first, so its
    password never passes through a command line)."""
    with target.connect(purpose="agent-api-admin") as connection:
        updated = connection.execute(
            text("UPDATE users SET is_superuser = true WHERE username = :u AND is_active"),
            {"u": username},
        ).rowcount
        connection.commit()
    if updated != 1:
        shown = username if len(username) <= 50 else f"{username[:50]}..."
        raise ConfigError(
            f"no active user named {shown!r} in {target.name}; register the account first "
            "(POST /api/v1/auth/register), then run this again"
        )
