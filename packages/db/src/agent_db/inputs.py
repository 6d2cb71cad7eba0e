"""Checks on text that people and scripts hand to the commands, before anything touches a database.

Flags reach the toolkit from shells, CI variables and other scripts, so they can hold anything:
NUL bytes (which PostgreSQL text refuses, and paths cannot contain), control characters that
garble a terminal or a log, megabytes pasted by accident, or quote characters that would break a
generated Python file. Each check refuses such a value up front with a message that names the
flag and what to do (exit 2), so a bad value never fails halfway through a run.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent_db.errors import ConfigError

MAX_REASON_CHARS = 2000
MAX_MESSAGE_CHARS = 200
MAX_PATH_CHARS = 1024
# C0 controls except tab and newline, DEL, and C1 controls: never meant, often harmful.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(value: str, limit: int = 60) -> str:
    """``value`` shortened and quoted for a message: hostile input must not flood the output."""
    text = value if len(value) <= limit else f"{value[:limit]}...({len(value)} characters)"
    return repr(text)


def check_reason(reason: str | None) -> str | None:
    """The ``--reason`` of an override, stored in the ledger as written."""
    if reason is None:
        return None
    _refuse_controls(reason, "--reason", allow_newlines=True)
    if len(reason) > MAX_REASON_CHARS:
        raise ConfigError(
            f"--reason is {len(reason)} characters long; keep it under {MAX_REASON_CHARS} (a "
            "sentence or two, with a link to the incident or ticket)"
        )
    return reason


def check_revision_message(message: str) -> str:
    """``db.revision -m``: it becomes the first line of a Python docstring and the file name.

    A triple quote or a backslash would end or escape that docstring and turn the rest of the
    message into code that runs whenever the revision is loaded.
    """
    _refuse_controls(message, "-m/--message", allow_newlines=False)
    if not message.strip():
        raise ConfigError('a revision needs a message: db.revision -m "add agents table"')
    if len(message) > MAX_MESSAGE_CHARS:
        raise ConfigError(
            f"-m/--message is {len(message)} characters long; keep it under {MAX_MESSAGE_CHARS} "
            "(say what the revision does; details go in the file's docstring)"
        )
    if '"""' in message or "\\" in message:
        raise ConfigError(
            f"-m/--message {shown(message)} contains a triple quote or a backslash, which would "
            "break the revision file's docstring; rephrase it without them"
        )
    return message


def check_path(value: str, flag: str) -> Path:
    """A file path given on the command line (``--manifest``, ``--manifest-out``)."""
    _refuse_controls(value, flag, allow_newlines=False)
    if not value.strip():
        raise ConfigError(f"{flag} is empty; give a file path such as manifests/staging.json")
    if len(value) > MAX_PATH_CHARS:
        raise ConfigError(f"{flag} is {len(value)} characters long; give a path under {MAX_PATH_CHARS}")
    return Path(value)


def _refuse_controls(value: str, flag: str, *, allow_newlines: bool) -> None:
    found = (_CONTROL if allow_newlines else _CONTROL_OR_NEWLINE).search(value)
    if found is None:
        return
    character = found.group()
    name = "a NUL byte" if character == "\x00" else f"the control character {character!r}"
    raise ConfigError(f"{flag} contains {name}; pass plain text (value: {shown(value)})")
