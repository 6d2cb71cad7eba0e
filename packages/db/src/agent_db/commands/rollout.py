"""``api.rollout``: the hook that deploys the API's new release to an environment.

How the API runs differs from one hosting platform to the next (a container service, Kubernetes,
a VM), so the project does not guess: the deploy workflow runs the command the environment names in
``API_ROLLOUT_COMMAND`` (a GitHub environment variable), after the migrations succeeded. With none
configured the step says so plainly and succeeds, so a fresh fork can deploy its schema before it
has anywhere to run the API.

The command is split like a shell would split it but run without a shell; it gets the release's
coordinates in its environment (``AGENT_ENV``, ``AGENT_RELEASE_COMMIT``, ``AGENT_SCHEMA_HEAD``),
and those three, with the images the deploy workflow's image job pushed (``API_IMAGE``,
``MIGRATE_IMAGE``, passed by the step), and only those, are also substituted where the command
names them, so ``--image $API_IMAGE`` works without a shell. It also gets whatever secrets the
workflow step passes it. Only the program's name is reported (``RolloutResult``, the
error messages): the rest of the command may carry tokens.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_db.database import ledger
from agent_db.errors import AgentDbError, ConfigError
from agent_db.revisions.graph import default_graph
from agent_db.settings import load_settings, project_root

ROLLOUT_COMMAND_VARIABLE = "API_ROLLOUT_COMMAND"
IMAGE_VARIABLES = ("API_IMAGE", "MIGRATE_IMAGE")  # set by the step, from the image job
_NAMES = "|".join(("AGENT_ENV", "AGENT_RELEASE_COMMIT", "AGENT_SCHEMA_HEAD", *IMAGE_VARIABLES))
_RELEASE_REFERENCE = re.compile(rf"\$(?:\{{({_NAMES})\}}|({_NAMES})\b)")


class RolloutFailed(AgentDbError):
    """The rollout command failed or timed out (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class RolloutResult:
    environment: str
    program: str | None  # None: no command configured, nothing was run
    seconds: float = 0.0

    @property
    def configured(self) -> bool:
        return self.program is not None


def not_configured_message(environment: str) -> str:
    return (
        f"no API rollout configured for {environment}: {ROLLOUT_COMMAND_VARIABLE} is empty, so this "
        "step deployed nothing and the API still runs its previous release. Set "
        f"{ROLLOUT_COMMAND_VARIABLE} (a variable of the GitHub environment) to the command that "
        "deploys the API; see docs/deployment.md"
    )


def parse_command(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise ConfigError(f"{ROLLOUT_COMMAND_VARIABLE} cannot be split into words: {error}") from None
    if not argv:
        raise ConfigError(f"{ROLLOUT_COMMAND_VARIABLE} holds no command")
    return argv


def release_environment(environment: str) -> dict[str, str]:
    """What the command learns about the release, beside the job's own environment."""
    return {
        "AGENT_ENV": environment,
        "AGENT_RELEASE_COMMIT": ledger.git_commit() or "",
        "AGENT_SCHEMA_HEAD": ",".join(default_graph().heads),
    }


def substitute_release(argv: list[str], release: dict[str, str]) -> list[str]:
    """``$AGENT_ENV``, ``$AGENT_RELEASE_COMMIT``, ``$AGENT_SCHEMA_HEAD``, ``$API_IMAGE`` and
    ``$MIGRATE_IMAGE`` (or ``${...}``) in the words replaced by their values; nothing else is
    expanded. An image the command names but the step was not given is a configuration error:
    the command would otherwise deploy an empty image name."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in IMAGE_VARIABLES:
            return release[name]
        image = os.environ.get(name, "")
        if not image.strip():
            raise ConfigError(
                f"{ROLLOUT_COMMAND_VARIABLE} names ${name}, but this step has no {name}: pass it in the "
                "step's env from the image job (deploy.yml: needs.image.outputs), or name the image "
                "in the command"
            )
        return image

    return [_RELEASE_REFERENCE.sub(value, word) for word in argv]


def rollout(
    environment: str,
    *,
    command: str | None = None,
    timeout: float = 900.0,
    run: Callable[..., subprocess.CompletedProcess[Any]] = subprocess.run,
) -> RolloutResult:
    """Run the rollout command for ``environment``; nothing (and say so) when none is configured."""
    load_settings(environment)  # an unknown environment is a usage error before anything runs
    text = command if command is not None else os.environ.get(ROLLOUT_COMMAND_VARIABLE, "")
    if not text.strip():
        return RolloutResult(environment, None)
    release = release_environment(environment)
    argv = substitute_release(parse_command(text), release)
    program = Path(argv[0]).name
    started = time.monotonic()
    try:
        completed = run(
            argv,
            env={**os.environ, **release},
            cwd=project_root(),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"the rollout command's program {program!r} was not found on this runner; check "
            f"{ROLLOUT_COMMAND_VARIABLE} and install the tool in an earlier step"
        ) from None
    except PermissionError:
        raise ConfigError(f"the rollout command's program {program!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise RolloutFailed(
            f"rollout of {environment} ({program}) did not finish within {timeout:.0f}s and was "
            "stopped; the platform may still be rolling out: check it before retrying"
        ) from None
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        raise RolloutFailed(
            f"rollout of {environment} failed: {program} exited with {completed.returncode} after "
            f"{seconds:.0f}s (its output is above); the database is already migrated, so the "
            "previous API release keeps running on the new schema until the rollout is retried"
        )
    return RolloutResult(environment, program, seconds)
