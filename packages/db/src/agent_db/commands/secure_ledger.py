"""``db.secure-ledger``: make ``schema_ledger`` a record its writer cannot rewrite.

Applies :mod:`agent_db.database.ledger_security` to an environment's database through a
connection of a role that may (a superuser; the migrator itself cannot give the ledger away
without keeping a way back), under the migration lock, in one transaction: the ledger is created
or upgraded first, then given to its owner role, and the migrator's privileges cut to inserting
rows and finishing running ones. Before it commits it checks, as PostgreSQL sees it, that the
migrator has no way left to rewrite the ledger (superuser, owner membership, the schema's
ownership, a privilege through another role); if it has, nothing is committed and the message
names the way and its fix. Run again, it changes nothing and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from agent_db.database import lock
from agent_db.database.ledger_schema import (
    INSUFFICIENT_PRIVILEGE,
    LEDGER_TABLE,
    ensure_ledger,
    ledger_columns,
)
from agent_db.database.ledger_security import Action, apply, remaining_powers
from agent_db.database.pg_errors import sqlstate
from agent_db.database.target import Target
from agent_db.errors import ConfigError
from agent_db.inputs import shown
from agent_db.paths import dotenv_file
from agent_db.settings import load_settings
from agent_db.urls import parse_url, sync_url
from agent_db.variables import lookup

DEFAULT_OWNER = "agent_ledger_owner"
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]{0,99}")


@dataclass
class Secured:
    environment: str
    location: str
    connected_as: str
    owner: str
    migrator: str
    actions: list[Action] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(action.changed for action in self.actions)

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "location": self.location,
            "connected_as": self.connected_as,
            "owner": self.owner,
            "migrator": self.migrator,
            "changed": self.changed,
            "actions": [{"what": a.what, "changed": a.changed} for a in self.actions],
        }


def check_role_name(value: str, flag: str) -> str:
    if not _ROLE.fullmatch(value):
        raise ConfigError(
            f"{flag} {shown(value)!r} is not a role name this task accepts: lower-case letters, "
            "digits and '_', starting with a letter or '_', at most 63 characters"
        )
    return value


def admin_target(environment: str, url_env: str | None) -> Target:
    """``environment``'s database through the URL in ``url_env`` (a superuser's), when given;
    otherwise through the environment's own URL."""
    if url_env is None:
        return Target.resolve(environment)
    if not _VARIABLE.fullmatch(url_env):
        raise ConfigError(
            f"--url-env {shown(url_env)!r} is not a variable name (e.g. STAGING_ADMIN_DATABASE_URL)"
        )
    settings = load_settings(environment)
    found = lookup(url_env, dotenv_file())
    if found is None:
        raise ConfigError(
            f"{url_env} is not set; export {url_env}=postgresql://SUPERUSER:PASSWORD@HOST:5432/DBNAME "
            f"(the {settings.name} database, as a superuser)"
        )
    source = found.describe()
    return Target(settings, sync_url(parse_url(found.value, source=source)), url_source=source)


def secure_ledger(target: Target, *, migrator: str, owner: str = DEFAULT_OWNER) -> Secured:
    check_role_name(migrator, "--migrator")
    check_role_name(owner, "--owner")
    if owner == migrator:
        raise ConfigError(
            "--owner and --migrator name the same role; the ledger's owner must be another role"
        )
    with (
        target.connect(purpose="agent-db-secure-ledger", autocommit=True) as held,
        target.connect(purpose="agent-db-secure-ledger") as connection,
    ):
        lock.acquire(held, wait_seconds=target.settings.lock_wait_seconds)
        me = str(connection.execute(text("SELECT current_user")).scalar_one())
        _check_roles(connection, me, migrator, target)
        result = Secured(target.name, target.location, me, owner, migrator)
        try:
            before = ledger_columns(connection)
            ensure_ledger(connection, commit=False)
            after = ledger_columns(connection)
            made = "created" if not before else "upgraded to this toolkit's columns"
            ledger = Action(f"{LEDGER_TABLE} {made}", True) if before != after else None
            result.actions = [ledger or Action(f"{LEDGER_TABLE} present and current", False)]
            result.actions += apply(connection, owner, migrator)
        except DBAPIError as error:
            if sqlstate(error) != INSUFFICIENT_PRIVILEGE:
                raise
            said = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise ConfigError(
                f"role {me} may not secure the ledger of {target.name} ({said}); nothing was "
                "changed. Run it as a superuser: --url-env NAME, NAME holding a superuser's URL "
                "of the same database"
            ) from None
        powers = remaining_powers(connection, migrator)
        if powers:
            connection.rollback()
            raise ConfigError(
                f"the migrator {migrator} could still rewrite the ledger of {target.name}, so "
                "nothing was changed:\n  - " + "\n  - ".join(powers)
            )
        connection.commit()
    return result


def _check_roles(connection: Connection, me: str, migrator: str, target: Target) -> None:
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": migrator}).first()
    if exists is None:
        raise ConfigError(
            f"no role {migrator} on {target.location}; --migrator names the role your migrations "
            f"connect as ({target.settings.toolkit_url_variable}'s user)"
        )
    if me == migrator:
        raise ConfigError(
            f"connected as the migrator {migrator} itself: it cannot give the ledger away and keep "
            "no way back. Run it as a superuser: --url-env NAME, NAME holding a superuser's URL of "
            "the same database"
        )
