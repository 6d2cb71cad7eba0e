"""Bring dev to head, then promote staging, printing each step with its time (JSON lines).

    DEV_DATABASE_URL=... STAGING_DATABASE_URL=... AGENT_DB_VERSIONS_DIR=... python -m bench.promote_timeline

The same calls ``uv run invoke db.upgrade`` and ``uv run invoke db.promote --to staging`` make
(the runner: migration lock, the environment's lock/statement timeouts, retries, ledger), with
a reporter that stamps every step so the benchmark can line them up with the traffic.
Events on stdout: {"t": unix time, "event": "start|finish|retry|waiting|done|error", ...}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_db.database.lock import LockHolder
    from agent_db.revisions.graph import Revision


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"t": time.time(), "event": event, **fields}), flush=True)


class TimelineReporter:
    def waiting_for_lock(self, holder: LockHolder | None, remaining_seconds: float) -> None:
        emit("waiting", holder=holder.describe() if holder else None)

    def run_started(self, direction: str, revisions: list[Revision]) -> None:
        emit("run", direction=direction, revisions=[r.id for r in revisions])

    def step_started(self, revision: Revision, index: int, total: int, attempt: int) -> None:
        emit("start", revision=revision.id, message=revision.message, attempt=attempt)

    def step_finished(self, revision: Revision, seconds: float) -> None:
        emit("finish", revision=revision.id, seconds=seconds)

    def step_retrying(self, revision: Revision, message: str, delay: float) -> None:
        emit("retry", revision=revision.id, message=message, delay=delay)

    def run_finished(self) -> None:
        return None


def main() -> int:
    from agent_db.commands import migrate
    from agent_db.commands.promote import promote
    from agent_db.database.target import Target
    from agent_db.errors import AgentDbError

    manifest = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("manifests/bench-staging.json")
    try:
        migrate.upgrade(Target.resolve("dev"))
        emit("dev-ready")
        result = promote("staging", manifest_out=manifest, reporter=TimelineReporter())
    except AgentDbError as error:
        emit("error", message=str(error), exit_code=error.exit_code)
        return error.exit_code
    emit("done", applied=result.run.applied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
