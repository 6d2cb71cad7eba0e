"""Revision-graph scale: our commands against plain Alembic on long linear histories.

For each size, a temporary copy of the versions folder gets N no-op revisions on top of the
project's history, and a database is brought to head (the project's revisions applied, the
generated ones recorded as applied with their checksums in the ledger, as a long-lived database
would have them). Then, in the same run: `db.current`, `db.status`, `db.plan`, a no-op
`db.upgrade`, plain `alembic current` and plain `alembic upgrade head`.

    uv run invoke bench.graph [--sizes 1000,5000,10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import psycopg

from bench.common import (
    Timing,
    alembic,
    alembic_ini_for,
    create_database,
    drop_database,
    invoke,
    machine,
    server_url,
    time_command,
    with_database,
)
from tests.support.revisions import copy_history, package_head, write_revision


def generate(folder: Path, count: int) -> tuple[Path, list[str]]:
    versions, parent = copy_history(folder), package_head()
    generated = []
    for index in range(count):
        revision = f"b{index:011x}"
        write_revision(
            versions,
            revision,
            parent,
            'op.execute("SELECT 1")',
            'op.execute("SELECT 1")',
            message=f"generated step {index}",
        )
        generated.append(revision)
        parent = revision
    return versions, generated


def bring_to_head(url: str, versions: Path, generated: list[str]) -> None:
    """The project's revisions applied for real; the generated ones recorded as applied."""
    from sqlalchemy import make_url

    from agent_db.commands import migrate
    from agent_db.database.target import Target
    from agent_db.revisions.graph import RevisionGraph, default_graph
    from agent_db.settings import load_settings

    migrate.upgrade(Target(load_settings("dev"), make_url(url)), default_graph().single_head())
    graph = RevisionGraph.load(versions)
    with psycopg.connect(url, autocommit=True) as connection:
        with connection.cursor().copy(
            "COPY schema_ledger (run_id, revision, direction, checksum, environment, actor, "
            "tool_version, outcome, finished_at) FROM STDIN"
        ) as copy:
            for revision in generated:
                copy.write_row(
                    (
                        "00000000-0000-0000-0000-000000000000",
                        revision,
                        "upgrade",
                        graph[revision].checksum,
                        "dev",
                        "bench",
                        "bench",
                        "success",
                        "now",
                    )
                )
        connection.execute("UPDATE alembic_version SET version_num = %s", (generated[-1],))


def run(sizes: list[int], repeat: int) -> str:
    lines = [
        "| revisions | db.current | db.status | db.plan | db.upgrade (no-op) | alembic current | alembic upgrade head (no-op) | load average |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-graph-") as folder:
            versions, generated = generate(Path(folder), size)
            database = create_database(f"graph{size}")
            try:
                url = with_database(server_url(), database)
                bring_to_head(url, versions, generated)
                env = {
                    **os.environ,
                    "AGENT_DB_VERSIONS_DIR": str(versions),
                    "DEV_DATABASE_URL": url,
                    "AGENT_DB_REFERENCE_URL": server_url(),
                    "AGENT_DB_CACHE_DIR": str(Path(folder) / "cache"),
                    "NO_COLOR": "1",
                }
                # Warm-up: fills the revision cache and builds the drift reference once.
                time_command(invoke("db.status", "--json"), env, 1, "warm-up")
                ini = alembic_ini_for(versions, Path(folder))
                slow_repeat = max(1, repeat if size <= 1000 else min(repeat, 3))
                timings: list[Timing] = [
                    time_command(invoke("db.current"), env, repeat, "db.current"),
                    time_command(invoke("db.status", "--json"), env, repeat, "db.status"),
                    time_command(invoke("db.plan"), env, repeat, "db.plan"),
                    time_command(invoke("db.upgrade"), env, repeat, "db.upgrade"),
                    time_command(alembic("current", ini=ini), env, slow_repeat, "alembic current"),
                    time_command(
                        alembic("upgrade", "head", ini=ini), env, slow_repeat, "alembic upgrade head"
                    ),
                ]
            finally:
                drop_database(database)
        load = "/".join(f"{x:.2f}" for x in os.getloadavg())
        lines.append(f"| {size:,} | " + " | ".join(t.cell() for t in timings) + f" | {load} |")
        print(lines[-1], flush=True)
    return "\n".join([f"Machine: {machine()}", "", *lines])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    print(run([int(s) for s in arguments.sizes.split(",")], arguments.repeat))


if __name__ == "__main__":
    main()
