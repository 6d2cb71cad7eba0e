"""The one way a PATCH changes a row: the fields the client sent, then a flush.

The flush runs the UPDATE inside the handler, so a unique or foreign-key violation (a name taken
by a concurrent request) reaches the error handlers as the usual 409 before the response is
built, and the row returned carries what the database now holds (``updated_at``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agent_api.schemas.common import PatchModel


async def apply_patch[Row](session: AsyncSession, row: Row, changes: PatchModel) -> Row:
    """Set on ``row`` each field present in ``changes``; ``null`` leaves a field as it is,
    except for the fields the schema's ``null_clears`` names (see :class:`PatchModel`)."""
    clears = changes.null_clears
    for field, value in changes.model_dump(exclude_unset=True).items():
        if value is not None or field in clears:
            setattr(row, field, value)
    await session.flush()
    return row
