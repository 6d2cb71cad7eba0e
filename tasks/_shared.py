"""What every task family shares: the error-to-exit-code wrapper, the common flag help, and
running a subprocess whose exit code becomes the task's."""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.exceptions import Exit

if TYPE_CHECKING:
    from agent_db.cli.progress import RichReporter
    from agent_db.database.target import Target

ROOT = Path(__file__).resolve().parent.parent

ENV_HELP = "environment: dev, staging or prod (files in environments/); default dev"
OVERRIDE_HELP = {
    "allow_protected": "required to do this on a protected environment (prod)",
    "reason": "why, recorded in the ledger (required with --allow-protected)",
}


def reports_errors[F: Callable[..., Any]](function: F) -> F:
    """Turn toolkit errors into a one-line message and the contract's exit code (1 failure,
    2 bad usage or configuration, 3 refused by a safety rule)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent_db.errors import AgentDbError

        try:
            return function(*args, **kwargs)
        except AgentDbError as error:
            from agent_db.cli.console import print_error

            print_error(str(error))
            raise Exit(code=error.exit_code) from None

    return wrapper  # type: ignore[return-value]


def run_or_exit(c: Context, command: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
    """Run ``command``; a non-zero exit becomes this task's exit code. ``env``, when given, is
    the whole environment of the command (invoke would otherwise merge it into ours, and a
    variable removed from it would still be passed on)."""
    options: dict[str, Any] = {"env": dict(env), "replace_env": True} if env is not None else {}
    result = c.run(shlex.join(command), warn=True, pty=False, **options)
    if result is None or result.exited != 0:
        raise Exit(code=result.exited if result is not None else 1)


def target(env: str) -> Target:
    from agent_db.database.target import Target

    return Target.resolve(env)


def reporter(env: str) -> RichReporter:
    from agent_db.cli.progress import RichReporter

    return RichReporter(env)
