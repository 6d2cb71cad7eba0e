"""Agents, scoped to their owner: another user's agent is a 404, exactly like a missing one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from agent_api.database import SessionDep
from agent_api.deps import CurrentUser
from agent_api.errors import error_responses, not_found
from agent_api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, fetch_page
from agent_api.patching import apply_patch
from agent_api.schemas.agents import AgentCreate, AgentPage, AgentRead, AgentUpdate
from agent_api.schemas.common import MAX_BIGINT
from agent_db.models import Agent, AgentTool, Tool, User

router = APIRouter(prefix="/agents", tags=["agents"], responses=error_responses(401, 403))

AgentId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The agent's id")]
ToolId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The tool's id")]


def _owned(user: User) -> Select[Agent]:
    """Agents of ``user``, with their tools loaded by one extra query for the whole page
    (selectin), never one per agent."""
    return select(Agent).where(Agent.owner_id == user.id).options(selectinload(Agent.tools))


# One agent with its tools in one round trip (LEFT JOIN), built once with bound parameters.
# populate_existing: after attaching or detaching, the agent is read again in the same session.
_OWNED_AGENT = (
    select(Agent)
    .where(Agent.id == bindparam("agent_id"), Agent.owner_id == bindparam("owner_id"))
    .options(joinedload(Agent.tools))
    .execution_options(populate_existing=True)
)


async def owned_agent(session: SessionDep, user: User, agent_id: int) -> Agent:
    found = await session.scalars(_OWNED_AGENT, {"agent_id": agent_id, "owner_id": user.id})
    agent = found.unique().one_or_none()
    if agent is None:
        raise not_found("agent")
    return agent


@router.post(
    "",
    status_code=201,
    response_model=AgentRead,
    summary="Create an agent",
    responses=error_responses(409),
)
async def create_agent(body: AgentCreate, user: CurrentUser, session: SessionDep) -> Agent:
    agent = Agent(owner_id=user.id, **body.model_dump())
    session.add(agent)
    await session.flush()
    set_committed_value(agent, "tools", [])  # a new agent has none: no query needed
    return agent


@router.get("", response_model=AgentPage, summary="List your agents")
async def list_agents(
    user: CurrentUser,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> AgentPage:
    agents, next_cursor = await fetch_page(
        session, _owned(user), Agent.id, kind="a", cursor=cursor, limit=limit
    )
    return AgentPage(items=[AgentRead.model_validate(agent) for agent in agents], next_cursor=next_cursor)


@router.get(
    "/{agent_id}",
    response_model=AgentRead,
    summary="Read an agent",
    responses=error_responses(404),
)
async def read_agent(agent_id: AgentId, user: CurrentUser, session: SessionDep) -> Agent:
    return await owned_agent(session, user, agent_id)


@router.patch(
    "/{agent_id}",
    response_model=AgentRead,
    summary="Update an agent",
    responses=error_responses(404, 409),
)
async def update_agent(agent_id: AgentId, body: AgentUpdate, user: CurrentUser, session: SessionDep) -> Agent:
    return await apply_patch(session, await owned_agent(session, user, agent_id), body)


@router.delete(
    "/{agent_id}",
    status_code=204,
    response_class=Response,
    summary="Delete an agent with its conversations and messages",
    responses=error_responses(404),
)
async def delete_agent(agent_id: AgentId, user: CurrentUser, session: SessionDep) -> None:
    deleted = await session.scalar(
        delete(Agent).where(Agent.id == agent_id, Agent.owner_id == user.id).returning(Agent.id)
    )
    if deleted is None:
        raise not_found("agent")


@router.put(
    "/{agent_id}/tools/{tool_id}",
    response_model=AgentRead,
    summary="Attach a catalogue tool to an agent",
    responses=error_responses(404),
)
async def attach_tool(agent_id: AgentId, tool_id: ToolId, user: CurrentUser, session: SessionDep) -> Agent:
    """Idempotent: attaching a tool that is already attached changes nothing."""
    await owned_agent(session, user, agent_id)
    if await session.scalar(select(Tool.id).where(Tool.id == tool_id)) is None:
        raise not_found("tool")
    await session.execute(
        insert(AgentTool).values(agent_id=agent_id, tool_id=tool_id).on_conflict_do_nothing()
    )
    return await owned_agent(session, user, agent_id)


@router.delete(
    "/{agent_id}/tools/{tool_id}",
    response_model=AgentRead,
    summary="Detach a tool from an agent",
    responses=error_responses(404),
)
async def detach_tool(agent_id: AgentId, tool_id: ToolId, user: CurrentUser, session: SessionDep) -> Agent:
    """404 when the agent is not yours or the tool is not attached to it."""
    await owned_agent(session, user, agent_id)
    detached = await session.scalar(
        delete(AgentTool)
        .where(AgentTool.agent_id == agent_id, AgentTool.tool_id == tool_id)
        .returning(AgentTool.tool_id)
    )
    if detached is None:
        raise not_found("attached tool")
    return await owned_agent(session, user, agent_id)
