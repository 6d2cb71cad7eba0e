"""Keyset pagination with opaque cursors.

A page is ``WHERE id > :after ORDER BY id LIMIT :limit + 1``: one index range scan whatever the
page number, and stable while rows are inserted (a new row has a larger id, so it shows up on a
later page; no row is skipped or repeated). The cursor wraps the last id seen with the kind of
list it belongs to; clients must treat it as opaque, which leaves room to change its contents.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from fastapi import Query
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from agent_api.errors import ApiError, ErrorDetail
from agent_api.schemas.common import MAX_BIGINT

DEFAULT_LIMIT = 50
MAX_LIMIT = 100

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}")]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page; omit for the first page",
    ),
]


class HasId(Protocol):
    @property
    def id(self) -> int: ...


def encode_cursor(kind: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).rstrip(b"=").decode()


def _invalid_cursor() -> ApiError:
    return ApiError(
        422,
        "invalid_cursor",
        "the cursor is not valid for this list; start again without one",
        details=[ErrorDetail(loc=["query", "cursor"], msg="invalid cursor", type="invalid_cursor")],
    )


def decode_cursor(kind: str, cursor: str | None) -> int:
    """The last id of the previous page (0 without a cursor)."""
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        found_kind, _, value = raw.partition(":")
        last_id = int(value) if value.isdigit() else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid_cursor() from None
    if found_kind != kind or not 0 < last_id <= MAX_BIGINT:
        raise _invalid_cursor()
    return last_id


async def fetch_page[M: HasId](
    session: AsyncSession,
    query: Select[M],
    id_column: InstrumentedAttribute[int],
    *,
    kind: str,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[M], str | None]:
    """One page of ``query`` (which must select one entity) and the cursor of the next."""
    after = decode_cursor(kind, cursor)
    statement = query.where(id_column > after).order_by(id_column).limit(limit + 1)
    rows: list[Any] = list((await session.scalars(statement)).all())
    return cut_page(rows, kind=kind, limit=limit)


def cut_page[R: HasId](rows: Sequence[R], *, kind: str, limit: int) -> tuple[Sequence[R], str | None]:
    """``rows`` fetched with ``LIMIT limit + 1``: the page, and the next cursor when there is more."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(kind, rows[-1].id)
