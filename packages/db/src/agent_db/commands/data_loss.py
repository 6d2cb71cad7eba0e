"""What a downgrade would destroy, measured on the live database before anything runs.

A downgrade that drops a column or a table that holds data loses it for good, and the upgrade
back does not bring it back: re-adding ``is_active`` with its default re-enables every
deactivated account. So before reverting, each revision's downgrade SQL is rendered offline and
read for what it drops (tables, columns) or empties (``TRUNCATE``, ``DELETE``); each is counted
on the live database: rows of a table, and for a column the rows that hold a value and the rows
whose value differs from the column's default (what an upgrade back could not restore). A
downgrade that would lose anything needs ``--accept-data-loss``, on every environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from agent_db.database.catalog import BOOKKEEPING_TABLES
from agent_db.errors import SafetyRefusal
from agent_db.inputs import MAX_REASON_CHARS
from agent_db.revisions.render import render_downgrade

if TYPE_CHECKING:
    from agent_db.revisions.graph import RevisionGraph

COUNT_LIMIT = 1_000_000  # counting stops here: "more than a million rows" is answer enough

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"(?:{_NAME}\.)?{_NAME}"
_DROP_TABLE = re.compile(
    rf"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<tables>{_QUALIFIED}(?:\s*,\s*{_QUALIFIED})*)", re.I
)
_EMPTY_TABLE = re.compile(
    rf"\b(?:TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?|DELETE\s+FROM\s+(?:ONLY\s+)?)(?P<table>{_QUALIFIED})", re.I
)
_ALTER_TABLE = re.compile(
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{_QUALIFIED})(?P<rest>[^;]*)", re.I
)
_DROP_COLUMN = re.compile(rf"\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?P<column>{_NAME})", re.I)
# A default an upgrade back would write again: a literal, possibly cast (true, 0, 'draft'::text).
_CONSTANT_DEFAULT = re.compile(
    r"^\(?(?:'(?:[^']|'')*'|true|false|-?\d+(?:\.\d+)?)\)?(?:::[\w .\"\[\]]+)*$", re.I
)


def _unquote(name: str) -> str:
    """The table or column name of a (possibly schema-qualified, possibly quoted) identifier."""
    last: str = re.findall(_NAME, name)[-1]
    return last[1:-1].replace('""', '"') if last.startswith('"') else last.lower()


@dataclass(frozen=True)
class Loss:
    """One table or column a downgrade destroys, with how much it holds."""

    revision: str
    table: str
    column: str | None  # None: the whole table's rows
    rows: int  # rows of the table (capped at COUNT_LIMIT)
    with_value: int | None = None  # column: rows where it is not NULL
    not_default: int | None = None  # column: rows whose value differs from the default
    default: str | None = None

    @property
    def loses_data(self) -> bool:
        return bool(self.with_value) if self.column is not None else self.rows > 0

    def describe(self) -> str:
        more = "+" if self.rows >= COUNT_LIMIT else ""
        if self.column is None:
            return f"table {self.table}: {self.rows:,}{more} row(s) (revision {self.revision})"
        detail = f"{self.with_value:,}{more} row(s) hold a value"
        if self.not_default is not None and self.default is not None:
            detail += (
                f", {self.not_default:,} differ from its default {self.default} (an upgrade back resets them)"
            )
        return f"column {self.table}.{self.column}: {detail} (revision {self.revision})"

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DataLossReport:
    environment: str
    losses: list[Loss] = field(default_factory=list)

    @property
    def lossy(self) -> list[Loss]:
        return [loss for loss in self.losses if loss.loses_data]

    def summary(self) -> str:
        return "; ".join(loss.describe() for loss in self.lossy)

    def as_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "losses": [loss.as_json() for loss in self.losses]}


class DataLossRefusal(SafetyRefusal):
    """A downgrade would destroy data and ``--accept-data-loss`` was not given (exit 3)."""

    def __init__(self, report: DataLossReport) -> None:
        self.report = report
        lines = "\n  - ".join(loss.describe() for loss in report.lossy)
        super().__init__(
            f"downgrade of {report.environment} refused, nothing changed: it would destroy "
            f"data:\n  - {lines}\n"
            "Keep a copy of what you need first (pg_dump --data-only -t TABLE), then run again with "
            "--accept-data-loss; 'uv run invoke db.plan --env "
            f"{report.environment} --to REV' shows the SQL"
        )


def dropped_objects(sql: str) -> list[tuple[str, str | None]]:
    """(table, column) pairs a script drops or empties, in order; column None: the whole table."""
    found: list[tuple[str, str | None]] = []
    for statement in sql.split(";"):
        stripped = re.sub(r"--[^\n]*", "", statement).strip()
        if match := _DROP_TABLE.search(stripped):
            found += [(_unquote(t.strip()), None) for t in re.split(r"\s*,\s*", match.group("tables"))]
        elif match := _EMPTY_TABLE.search(stripped):
            found.append((_unquote(match.group("table")), None))
        elif match := _ALTER_TABLE.search(stripped):
            table = _unquote(match.group("table"))
            for action in match.group("rest").split(","):
                column = _DROP_COLUMN.match(action.strip())
                if column and column.group("column").upper() not in ("CONSTRAINT", "DEFAULT", "NOT"):
                    found.append((table, _unquote(column.group("column"))))
    return found


def assess_downgrade(
    connection: Connection, graph: RevisionGraph, revisions: list[str], environment: str
) -> DataLossReport:
    """What reverting ``revisions`` (newest first) destroys on the database of ``connection``."""
    report = DataLossReport(environment)
    whole_tables: set[str] = set()
    for revision in revisions:
        for table, column in dropped_objects(
            render_downgrade(graph, graph[revision], environment=environment)
        ):
            if table in whole_tables or table in BOOKKEEPING_TABLES or not _exists(connection, table, column):
                continue
            if column is None:
                whole_tables.add(table)
                report.losses = [loss for loss in report.losses if loss.table != table]
                report.losses.append(Loss(revision, table, None, _count_rows(connection, table)))
            else:
                report.losses.append(_column_loss(connection, revision, table, column))
    return report


def _exists(connection: Connection, table: str, column: str | None) -> bool:
    query = (
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attname = :c AND NOT attisdropped"
        if column
        else "SELECT to_regclass(:t)"
    )
    return (
        connection.execute(text(query), {"t": _quoted(connection, table), "c": column}).scalar() is not None
    )


def _quoted(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _count_rows(connection: Connection, table: str) -> int:
    query = f"SELECT count(*) FROM (SELECT 1 FROM {_quoted(connection, table)} LIMIT {COUNT_LIMIT}) AS sample"
    return int(connection.execute(text(query)).scalar_one())


def _column_loss(connection: Connection, revision: str, table: str, column: str) -> Loss:
    default = connection.execute(
        text(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = to_regclass(:t) AND a.attname = :c"
        ),
        {"t": _quoted(connection, table), "c": column},
    ).scalar()
    constant = default if default is not None and _CONSTANT_DEFAULT.match(default) else None
    quoted_table, quoted_column = _quoted(connection, table), _quoted(connection, column)
    differs = f"count(*) FILTER (WHERE {quoted_column} IS DISTINCT FROM {constant})" if constant else "NULL"
    rows, with_value, not_default = connection.execute(
        text(
            f"SELECT count(*), count({quoted_column}), {differs} FROM "
            f"(SELECT {quoted_column} FROM {quoted_table} LIMIT {COUNT_LIMIT}) AS sample"
        )
    ).one()
    return Loss(revision, table, column, int(rows), int(with_value), not_default, constant or default)


def accept_or_refuse_data_loss(
    connection: Connection,
    graph: RevisionGraph,
    revisions: list[str],
    environment: str,
    accepted: bool,
    reason: str | None,
) -> str | None:
    """Refuse a lossy downgrade unless ``accepted``; returns the reason to record (the given one,
    plus what was accepted as lost)."""
    if not revisions:
        return reason
    report = assess_downgrade(connection, graph, revisions, environment)
    if not report.lossy:
        return reason
    if not accepted:
        raise DataLossRefusal(report)
    note = f"accepted data loss (--accept-data-loss): {report.summary()}"
    combined = f"{reason}; {note}" if reason else note
    return combined[:MAX_REASON_CHARS]
