"""Safe-migration helpers for revision files: changes that keep the API serving.

Use them inside ``upgrade()`` / ``downgrade()``:

- :func:`create_index_concurrently` / :func:`drop_index_concurrently`: build or drop an index
  without blocking writes. They run in an autocommit block (``CONCURRENTLY`` cannot run in a
  transaction); the runner's migration lock lives on another connection, so it stays held. An
  invalid index left by an interrupted build is detected and rebuilt. The build runs in one
  process, leaving the other cores to the traffic.
- :func:`add_foreign_key_not_valid` + :func:`validate_constraint` (and
  :func:`add_check_not_valid`): add the constraint without scanning the table under an
  exclusive lock, then validate it under a lock that lets reads and writes go on.
- :func:`backfill_in_batches`: a data migration in short transactions of ``batch_size`` rows,
  with progress (a bar at a terminal, lines in CI, the share done in ``db.status``); it is
  resumable because each batch only touches rows still to do.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection, TextClause, text
from sqlalchemy.exc import DBAPIError

from agent_db.migrations.work_progress import IndexBuildWatch, WorkProgress, estimated_rows


def _quote(identifier: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote(identifier)


def _offline() -> bool:
    return op.get_context().as_sql


def _index_state(name: str) -> str | None:
    """'valid', 'invalid' or None (absent) for the index ``name`` in the current schema."""
    if _offline():
        return None
    row = (
        op.get_bind()
        .execute(
            text(
                "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
                "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"name": name},
        )
        .first()
    )
    if row is None:
        return None
    return "valid" if row[0] else "invalid"


def create_index_concurrently(
    name: str,
    table: str,
    columns: Sequence[str],
    *,
    unique: bool = False,
    where: str | None = None,
    using: str | None = None,
    parallel_workers: int | None = 0,
) -> None:
    """``CREATE INDEX CONCURRENTLY`` in an autocommit block; rebuilds an invalid leftover.

    ``parallel_workers`` is PostgreSQL's ``max_parallel_maintenance_workers`` for the build.
    The default, 0, builds in one process: with parallel workers a build on a live database
    takes every core from the traffic it is meant not to disturb (on 2 cores: p99 2.1x instead
    of 1.2x the baseline, for the same build time; bench/RESULTS.md). ``None`` leaves the
    server's setting.
    """
    with op.get_context().autocommit_block():
        if parallel_workers is not None:
            op.execute(f"SET max_parallel_maintenance_workers = {int(parallel_workers)}")
        try:
            if _index_state(name) == "invalid":
                # A build that was interrupted (killed, cancelled, lock timeout) leaves an INVALID
                # index that is maintained on writes but never used: drop it and build again.
                op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
            with IndexBuildWatch(op.get_bind(), name) if not _offline() else contextlib.nullcontext():
                op.create_index(
                    name,
                    table,
                    list(columns),
                    unique=unique,
                    postgresql_concurrently=True,
                    postgresql_where=text(where) if where else None,
                    postgresql_using=using,
                    if_not_exists=True,
                )
        finally:
            if parallel_workers is not None:
                op.execute("RESET max_parallel_maintenance_workers")


def drop_index_concurrently(name: str, table: str) -> None:
    """``DROP INDEX CONCURRENTLY IF EXISTS`` in an autocommit block."""
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def add_foreign_key_not_valid(
    name: str,
    source_table: str,
    referent_table: str,
    local_columns: Sequence[str],
    remote_columns: Sequence[str],
    *,
    ondelete: str | None = None,
) -> None:
    """Add a foreign key without checking existing rows (brief lock, no table scan).

    Follow it with :func:`validate_constraint`, ideally in a revision of its own.
    """
    op.create_foreign_key(
        name,
        source_table,
        referent_table,
        list(local_columns),
        list(remote_columns),
        ondelete=ondelete,
        postgresql_not_valid=True,
    )


def add_check_not_valid(name: str, table: str, condition: str) -> None:
    """Add a CHECK constraint without checking existing rows; validate it afterwards."""
    op.execute(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} CHECK ({condition}) NOT VALID")


def validate_constraint(table: str, name: str) -> None:
    """``VALIDATE CONSTRAINT``: scans the table under SHARE UPDATE EXCLUSIVE (reads and writes
    continue)."""
    op.execute(f"ALTER TABLE {_quote(table)} VALIDATE CONSTRAINT {_quote(name)}")


def _analyze(connection: Connection, table: str) -> None:
    """Fresh statistics before the batches. A column added by an earlier revision has none, so
    the planner takes ``column IS NULL`` for a rare case and answers every batch with a scan of
    the whole table and a sort, instead of walking the primary key: 480 ms instead of 15 ms a
    batch on 200k rows (bench/RESULTS.md). ANALYZE reads a fixed-size sample and blocks no reads
    or writes; if it cannot get its lock within lock_timeout the backfill goes on without it."""
    try:
        connection.execute(text(f"ANALYZE {_quote(table)}"))
    except DBAPIError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        print(f"  could not analyze {table} first ({reason}); going on", file=sys.stderr, flush=True)


def backfill_in_batches(
    table: str,
    *,
    set_clause: str,
    pending: str,
    key: str = "id",
    batch_size: int = 10_000,
    pause_seconds: float = 0.0,
    label: str | None = None,
) -> int:
    """Update rows matching ``pending`` in batches of ``batch_size``, each in its own transaction.

    ``pending`` must stop matching a row once it is done (for example ``message_count IS
    NULL``): that is what makes an interrupted backfill resume where it stopped. Each batch
    starts after the last key of the previous one, so finding it is an index range scan rather
    than a scan of everything already done (which made a backfill quadratic in the table's
    size); at the end of the table, rows passed over (locked by live traffic, or inserted
    behind) are swept up from the start. A batch holds its rows' locks until it commits: size
    batches so that one takes a fraction of a second. The table is analyzed first (see
    :func:`_analyze`). Progress goes to stderr. Returns the number of rows updated. Offline
    (``--sql``) it renders the ANALYZE and one batch, in the autocommit block they run in.
    """
    quoted_table, quoted_key = _quote(table), _quote(key)
    statement = (
        f"UPDATE {quoted_table} SET {set_clause} WHERE {quoted_key} IN ("
        f"SELECT {quoted_key} FROM {quoted_table} WHERE {pending} "
        f"ORDER BY {quoted_key} LIMIT {int(batch_size)} FOR UPDATE SKIP LOCKED)"
    )
    if _offline():
        # Rendered as it runs: the block commits what came before, then each batch on its own.
        with op.get_context().autocommit_block():
            op.execute(f"ANALYZE {quoted_table}")
            op.execute(
                f"-- repeated in batches of {int(batch_size)} rows, each after the last key of the "
                f"one before, until no row is updated\n{statement}"
            )
        return 0

    def batch(after: bool) -> str:
        # The count and the last key of the batch, in the batch's own statement.
        bound = f"{quoted_key} > :after AND " if after else ""
        return (
            f"WITH batch AS (UPDATE {quoted_table} SET {set_clause} WHERE {quoted_key} IN ("
            f"SELECT {quoted_key} FROM {quoted_table} WHERE {bound}({pending}) "
            f"ORDER BY {quoted_key} LIMIT {int(batch_size)} FOR UPDATE SKIP LOCKED) "
            f"RETURNING {quoted_key}) SELECT count(*), max({quoted_key}) FROM batch"
        )

    first, following = text(batch(after=False)), text(batch(after=True))
    with op.get_context().autocommit_block():
        # In the autocommit block every statement is its own transaction: each batch commits
        # (and releases its row locks) before the next one starts.
        connection = op.get_bind()
        _analyze(connection, table)
        estimate = estimated_rows(connection, f"SELECT 1 FROM {quoted_table} WHERE {pending}")
        with WorkProgress(label or f"backfill {table}", estimate, connection=connection) as progress:
            return _batches(
                connection, progress, (first, following), quoted_table, pending, batch_size, pause_seconds
            )


def _batches(
    connection: Connection,
    progress: WorkProgress,
    statements: tuple[TextClause, TextClause],
    quoted_table: str,
    pending: str,
    batch_size: int,
    pause_seconds: float,
) -> int:
    """The batches of :func:`backfill_in_batches`, until no row is pending; rows updated."""
    first, following = statements
    done = 0
    last_key: object = None
    while True:
        if last_key is None:
            updated, last = connection.execute(first).one()
        else:
            updated, last = connection.execute(following, {"after": last_key}).one()
        done += int(updated)
        if updated:
            last_key = last
            progress.update(done)
        if updated < batch_size:
            # The end of the table. SKIP LOCKED may have passed over rows that live traffic
            # holds, and rows may have arrived behind the last key: look again from the start.
            remaining = connection.execute(
                text(f"SELECT EXISTS (SELECT 1 FROM {quoted_table} WHERE {pending})")
            ).scalar_one()
            if not remaining:
                return done
            last_key = None
            if not updated:
                time.sleep(0.1)
        if pause_seconds:
            time.sleep(pause_seconds)
