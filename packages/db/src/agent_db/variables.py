"""Where configuration variables come from: the process environment, then a ``.env`` file.

The tutorial keeps ``DATABASE_URL`` in a ``.env`` file at the repository root (git-ignored).
The file is parsed with python-dotenv, never executed and never exported into ``os.environ``;
a variable the real environment sets, even to an empty value, always wins over the file's.
``AGENT_DOTENV_FILE`` names another file (the test suite empties it: no file); where the file
is, is :func:`agent_db.paths.dotenv_file`'s to say (this module imports nothing of agent_db).

``DATABASE_URL`` is the generic name the tutorial uses: only the environment with the embedded
fallback (dev) reads it, when its own variable is unset; elsewhere it is refused (see
:mod:`agent_db.settings`), because a generic variable must never point staging or prod anywhere.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dotenv import dotenv_values

GENERIC_URL_VARIABLE = "DATABASE_URL"
EXAMPLE_URL = "postgresql://USER:PASSWORD@HOST:5432/DBNAME"

logger = logging.getLogger("agent_db.settings")


@dataclass(frozen=True)
class Variable:
    """A configuration variable that has a value, and where that value was found."""

    name: str
    value: str  # stripped
    origin: str  # "the environment", or the .env file's name

    def describe(self) -> str:
        """``NAME`` or ``NAME (from .env)``, for messages (never the value)."""
        return self.name if self.origin == "the environment" else f"{self.name} (from {self.origin})"


def dotenv_variables(path: Path | None) -> dict[str, str]:
    """The variables of the ``.env`` file at ``path`` (empty when there is none); read again
    when it changes."""
    if path is None:
        return {}
    try:
        stat = path.stat()
    except OSError:  # no such file
        return {}
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


@cache
def _parse(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as error:
        announce(f"{path} is not readable UTF-8 text ({type(error).__name__}); its variables are not used")
        return {}
    return {name: value for name, value in values.items() if value is not None}


def lookup(name: str, dotenv: Path | None) -> Variable | None:
    """``name``'s value from the environment, else from the ``.env`` file at ``dotenv``
    (:func:`agent_db.paths.dotenv_file`); None when neither gives it a non-empty value (an empty
    value in the environment hides the file's)."""
    raw = os.environ.get(name)
    if raw is not None:
        return Variable(name, raw.strip(), "the environment") if raw.strip() else None
    from_file = dotenv_variables(dotenv).get(name, "").strip()
    if not from_file or dotenv is None:
        return None
    return Variable(name, from_file, dotenv.name)


def value_of(name: str, dotenv: Path | None) -> str:
    """``name``'s stripped value (environment first, then ``.env``), or ``""``."""
    found = lookup(name, dotenv)
    return found.value if found else ""


def environment_url(
    environment: str, variable: str, *, reads_generic: bool, dotenv: Path | None
) -> Variable | None:
    """The URL variable of ``environment``: ``variable`` (the environment, then ``.env``); with
    ``reads_generic`` (dev), ``DATABASE_URL`` when ``variable`` is unset, said once on stderr,
    as is a ``DATABASE_URL`` that ``variable`` hides."""
    own = lookup(variable, dotenv)
    generic = lookup(GENERIC_URL_VARIABLE, dotenv) if reads_generic else None
    if own is not None:
        if generic is not None and generic.value != own.value:
            announce(
                f"{environment}: using {own.describe()}; {generic.describe()} is set too and is "
                f"not used ({variable} wins)"
            )
        return own
    if generic is not None:
        announce(f"{environment}: {variable} is not set; using {generic.describe()}")
    return generic


def generic_url_refusal(environment: str, variable: str, dotenv: Path | None) -> str | None:
    """Why ``DATABASE_URL`` does not stand in for ``variable`` (unset) of an environment that
    does not read it (staging, prod), and what to set; None when ``DATABASE_URL`` is unset too."""
    generic = lookup(GENERIC_URL_VARIABLE, dotenv)
    if generic is None or variable == GENERIC_URL_VARIABLE:
        return None
    return (
        f"{variable} is not set; {generic.describe()} is, but only dev reads "
        f"{GENERIC_URL_VARIABLE}: a generic variable never points the {environment} environment "
        f"at a database. Nothing was run: export {variable}={EXAMPLE_URL} (or add it to .env)"
    )


@cache
def announce(message: str) -> None:
    """Say ``message`` once per process, on stderr (Python's last-resort handler when nothing
    configured logging; the API's structured handler when it did)."""
    logger.warning(message)
