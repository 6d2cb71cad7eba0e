"""Where the checkout is: the ``environments/`` folder and the project root beside it.

Kept apart from the settings so that what only needs a path (the cache, the embedded server's
data, the lint's configuration) does not load the settings machinery.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent_db.errors import ConfigError

ENVIRONMENTS_DIR_VARIABLE = "AGENT_ENVIRONMENTS_DIR"
DOTENV_FILE_VARIABLE = "AGENT_DOTENV_FILE"


def find_environments_dir() -> Path:
    """The ``environments/`` folder: from ``AGENT_ENVIRONMENTS_DIR``, else the nearest one above
    the working directory, else the one of the checkout this package is installed from."""
    explicit = os.environ.get(ENVIRONMENTS_DIR_VARIABLE)
    if explicit:
        path = Path(explicit)
        if not path.is_dir():
            raise ConfigError(
                f"{ENVIRONMENTS_DIR_VARIABLE}={explicit} is not a directory; point it at the "
                "folder that holds dev.toml, staging.toml and prod.toml"
            )
        return path
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            candidate = folder / "environments"
            if (candidate / "dev.toml").is_file():
                return candidate
    raise ConfigError(
        "no environments/ folder found above the working directory; run from the project "
        f"checkout or set {ENVIRONMENTS_DIR_VARIABLE}"
    )


def project_root() -> Path:
    """The checkout's root: the folder that holds ``environments/``."""
    return find_environments_dir().resolve().parent


def dotenv_file() -> Path | None:
    """The ``.env`` file read for variables the environment does not set: ``AGENT_DOTENV_FILE``
    (empty: none), else ``.env`` at the project root (none outside a checkout)."""
    explicit = os.environ.get(DOTENV_FILE_VARIABLE)
    if explicit is not None:
        return Path(explicit) if explicit.strip() else None
    try:
        return project_root() / ".env"
    except ConfigError:  # no checkout here (an installed package): no .env either
        return None


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when inside it (what a person can open),
    else as given: for messages that name a file."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
