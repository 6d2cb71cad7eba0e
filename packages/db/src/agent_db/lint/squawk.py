"""squawk on the rendered SQL: every revision in one subprocess call.

squawk (the ``squawk-cli`` wheel, a Rust binary) is the well-kept linter for PostgreSQL
migrations. Each revision's SQL is written to ``<revision>.sql`` in a temporary folder and all of
them are checked at once, because starting squawk once per revision would dominate the run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_db.errors import ConfigError
from agent_db.paths import project_root

CONFIG_FILE = ".squawk.toml"
TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class SquawkViolation:
    key: str  # which SQL text: the name it was handed in under
    rule: str
    line: int  # 0-based, as squawk reports
    line_end: int
    message: str
    help: str | None
    level: str


def squawk_binary() -> Path:
    """The squawk executable of this environment (``uv sync`` installs it with the dev group)."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file():
        return beside
    found = shutil.which("squawk")
    if found:
        return Path(found)
    raise ConfigError(
        "squawk is not installed in this environment: run 'uv sync' (squawk-cli is in the dev "
        "dependency group), then run db.lint again"
    )


def config_path() -> Path:
    path = project_root() / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path} is missing: db.lint needs the project's squawk configuration "
            "(which rules it adopts and why)"
        )
    return path


def run_squawk(sql_by_key: dict[str, str]) -> list[SquawkViolation]:
    """Violations for each SQL text, keyed as given (keys must be file-name safe)."""
    if not sql_by_key:
        return []
    binary, config = squawk_binary(), config_path()
    with tempfile.TemporaryDirectory(prefix="agent-db-lint-") as folder:
        files = []
        for key, sql in sql_by_key.items():
            path = Path(folder) / f"{key}.sql"
            path.write_text(sql, encoding="utf-8")
            files.append(str(path))
        result = subprocess.run(
            [str(binary), "--config", str(config), "--reporter", "json", *files],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    if result.returncode not in (0, 1):
        raise ConfigError(
            f"squawk failed (exit {result.returncode}): {(result.stderr or result.stdout).strip()[:500]}"
        )
    try:
        raw: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise ConfigError(f"squawk printed something that is not JSON: {result.stdout[:300]!r}") from None
    return [
        SquawkViolation(
            key=Path(item["file"]).stem,
            rule=str(item["rule_name"]),
            line=int(item["line"]),
            line_end=int(item.get("line_end", item["line"])),
            message=str(item["message"]),
            help=item.get("help"),
            level=str(item.get("level", "Warning")),
        )
        for item in raw
    ]
