"""What every task family shares: the error-to-exit-code wrapper, the common flag help, and
running a subprocess whose exit code becomes the task's."""

from __future__ import annotations

import contextlib
import functools
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.exceptions import Exit

if TYPE_CHECKING:
    from agent_db.cli.progress import RichReporter
    from agent_db.database.target import Target

ROOT = Path(__file__).resolve().parent.parent

ENV_HELP = "environment: dev, staging or prod (files in environments/); default dev"
PHASE_HELP = (
    "expand: pending revisions up to the first contract one (before the rollout); contract: from "
    "there on (after it); all (default): both, each contract revision gated on the census"
)
CONSUMER_OVERRIDE_HELP = {
    "phase": PHASE_HELP,
    "allow_live_consumers": "run contract revisions although live consumers' builds do not know "
    "them (needs --reason; on a protected environment also --allow-protected)",
    "allow_protected": "with --allow-live-consumers on a protected environment (prod)",
    "reason": "why, recorded in the ledger (required with --allow-live-consumers)",
}
UPGRADE_OVERRIDE_HELP = {
    **CONSUMER_OVERRIDE_HELP,
    "allow_protected": "upgrade a protected environment (prod) outside db.promote, or with "
    "--allow-live-consumers there (needs --reason)",
    "reason": "why, recorded in the ledger (required with --allow-protected or --allow-live-consumers)",
}
OVERRIDE_HELP = {
    "allow_protected": "required to do this on a protected environment (prod)",
    "reason": "why, recorded in the ledger (required with --allow-protected)",
}


def reports_errors[F: Callable[..., Any]](function: F) -> F:
    """Turn toolkit errors into a one-line message and the contract's exit code (1 failure,
    2 bad usage or configuration, 3 refused by a safety rule); a closed stdout (``| head``)
    ends the command quietly with 141 (agent_db/cli/pipes.py). Every task wears it."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent_db.errors import AgentDbError

        try:
            result = function(*args, **kwargs)
            sys.stdout.flush()  # inside the try: what print() still buffers may meet a closed pipe
            return result
        except AgentDbError as error:
            from agent_db.cli.console import print_error

            print_error(str(error))
            raise Exit(code=error.exit_code) from None
        except BrokenPipeError:  # the reader of our stdout stopped early (| head): see cli/pipes.py
            from agent_db.cli.pipes import CLOSED_STDOUT_EXIT, discard_stdout

            discard_stdout()
            raise Exit(code=CLOSED_STDOUT_EXIT) from None

    wrapper.reports_errors = True  # type: ignore[attr-defined]  # tests check every task has it
    return wrapper  # type: ignore[return-value]


def run_or_exit(c: Context, command: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
    """Run ``command``; a non-zero exit becomes this task's exit code. ``env``, when given, is
    the whole environment of the command (invoke would otherwise merge it into ours, and a
    variable removed from it would still be passed on)."""
    options: dict[str, Any] = {"env": dict(env), "replace_env": True} if env is not None else {}
    result = c.run(shlex.join(command), warn=True, pty=False, **options)
    if result is None or result.exited != 0:
        raise Exit(code=result.exited if result is not None else 1)


@contextlib.contextmanager
def json_refusals(as_json: bool) -> Iterator[None]:
    """With ``--json``, a refusal that carries data (the contract gate's: what was applied, who
    blocks) is printed as the command's JSON document too, before the usual message and exit."""
    try:
        yield
    except Exception as error:
        describe = getattr(error, "as_json", None)
        if as_json and callable(describe):
            from agent_db.cli.console import print_json

            print_json(describe())
        raise


def target(env: str) -> Target:
    from agent_db.database.target import Target

    return Target.resolve(env)


def reporter(env: str) -> RichReporter:
    from agent_db.cli.progress import RichReporter

    return RichReporter(env)
