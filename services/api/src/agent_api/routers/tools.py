"""The tool catalogue: every user reads it, superusers manage it.

Tools are shared rather than owned: a tool is code the platform runs, so which tools exist is
an operator's decision, while which of them an agent may call is its owner's (see the attach
and detach endpoints under ``/agents``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import delete, select

from agent_api.database import SessionDep
from agent_api.deps import CurrentUser, Superuser
from agent_api.errors import error_responses, not_found
from agent_api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, fetch_page
from agent_api.patching import apply_patch
from agent_api.schemas.common import MAX_BIGINT
from agent_api.schemas.tools import ToolCreate, ToolPage, ToolRead, ToolUpdate
from agent_db.models import Tool

router = APIRouter(prefix="/tools", tags=["tools"], responses=error_responses(401, 403))

ToolId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The tool's id")]


async def _tool_or_404(session: SessionDep, tool_id: int) -> Tool:
    tool = await session.get(Tool, tool_id)
    if tool is None:
        raise not_found("tool")
    return tool


@router.post(
    "",
    status_code=201,
    response_model=ToolRead,
    summary="Add a tool to the catalogue (superusers)",
    responses=error_responses(409),
)
async def create_tool(body: ToolCreate, _: Superuser, session: SessionDep) -> Tool:
    tool = Tool(**body.model_dump())
    session.add(tool)
    await session.flush()
    return tool


@router.get("", response_model=ToolPage, summary="List the catalogue")
async def list_tools(
    _: CurrentUser,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> ToolPage:
    tools, next_cursor = await fetch_page(
        session, select(Tool), Tool.id, kind="t", cursor=cursor, limit=limit
    )
    return ToolPage(items=[ToolRead.model_validate(t) for t in tools], next_cursor=next_cursor)


@router.get("/{tool_id}", response_model=ToolRead, summary="Read a tool", responses=error_responses(404))
async def read_tool(tool_id: ToolId, _: CurrentUser, session: SessionDep) -> Tool:
    return await _tool_or_404(session, tool_id)


@router.patch(
    "/{tool_id}",
    response_model=ToolRead,
    summary="Update a tool (superusers)",
    responses=error_responses(404, 409),
)
async def update_tool(tool_id: ToolId, body: ToolUpdate, _: Superuser, session: SessionDep) -> Tool:
    return await apply_patch(session, await _tool_or_404(session, tool_id), body)


@router.delete(
    "/{tool_id}",
    status_code=204,
    response_class=Response,
    summary="Remove a tool from the catalogue (superusers)",
    responses=error_responses(404),
)
async def delete_tool(tool_id: ToolId, _: Superuser, session: SessionDep) -> None:
    """Detaches it from every agent (the link rows cascade)."""
    deleted = await session.scalar(delete(Tool).where(Tool.id == tool_id).returning(Tool.id))
    if deleted is None:
        raise not_found("tool")
