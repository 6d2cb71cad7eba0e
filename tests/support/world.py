"""A set of databases in known positions, and the assertion that a command changed none of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from tests.support.cli import Outcome, call_task
from tests.support.databases import conninfo
from tests.support.inspection import fingerprint

MAX_MESSAGE = 1500


@dataclass
class World:
    dev: URL
    staging: URL
    prod: URL
    versions: Path
    manifests: Path
    watchers: list[psycopg.Connection[tuple[object, ...]]] = field(default_factory=list)

    def fingerprints(self) -> tuple[str, ...]:
        if not self.watchers:
            for url in (self.dev, self.staging, self.prod):
                self.watchers.append(psycopg.connect(conninfo(url), autocommit=True))
        return tuple(fingerprint(connection) for connection in self.watchers)

    def files(self) -> set[str]:
        found = {p.name for p in self.versions.iterdir()}
        return found | {p.name for p in self.manifests.rglob("*")}


def assert_refused(outcome: Outcome, codes: tuple[int, ...] = (2,)) -> None:
    assert outcome.code in codes, outcome
    assert "Traceback" not in outcome.output
    assert outcome.stderr.startswith("error: "), outcome
    assert len(outcome.stderr) < MAX_MESSAGE, f"{len(outcome.stderr)} characters of message"
    assert "\x00" not in outcome.output
    assert "\x1b[2J" not in outcome.output


def refused_without_change(world: World, task: str, **flags: Any) -> Outcome:
    """Run the task; assert it is refused (exit 2 or 3, one message) and nothing changed."""
    before, files = world.fingerprints(), world.files()
    outcome = call_task(task, **flags)
    assert_refused(outcome, (2, 3))
    assert world.fingerprints() == before, f"{task} {flags!r:.200} changed a database"
    assert world.files() == files
    return outcome
