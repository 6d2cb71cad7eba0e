"""Where the toolkit keeps derived data it can rebuild at any time (never anything of record)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CACHE_DIR_VARIABLE = "AGENT_DB_CACHE_DIR"


def cache_dir() -> Path:
    """``AGENT_DB_CACHE_DIR``, else ``.cache/agent-db`` in the checkout, else the user's cache."""
    explicit = os.environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    from agent_db.errors import AgentDbError
    from agent_db.paths import project_root

    try:
        return project_root() / ".cache" / "agent-db"
    except AgentDbError:
        return Path.home() / ".cache" / "agent-db"


def read_json(path: Path) -> Any:
    """The cached document, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Write atomically; a cache that cannot be written is simply not kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        return
