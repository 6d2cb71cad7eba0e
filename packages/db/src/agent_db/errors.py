"""Errors that the command surface turns into exit codes and one clear message.

Exit codes follow the command contract: 1 a failure while working, 2 bad usage or
configuration, 3 refused by a safety rule. Every message says what went wrong and how to fix it.
"""

from __future__ import annotations


class AgentDbError(Exception):
    """Base of the toolkit's errors; ``exit_code`` is what the command exits with."""

    exit_code = 1


class ConfigError(AgentDbError):
    """Bad usage or configuration: a wrong environment name, a missing URL, an unknown revision."""

    exit_code = 2


class SafetyRefusal(AgentDbError):
    """A safety rule refused the request; nothing was changed."""

    exit_code = 3


class DatabaseUnavailable(AgentDbError):
    """The database could not be reached or the work failed against it."""

    exit_code = 1


class MigrationFailed(AgentDbError):
    """A revision failed while being applied; the database stays at the last good revision."""

    exit_code = 1
