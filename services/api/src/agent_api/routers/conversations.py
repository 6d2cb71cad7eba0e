"""Conversations of the caller with one of their agents; anyone else's are a 404.

``message_count`` is NULL on a row the release's backfill (revision ``ece12879f6e3``) has not
counted yet: such a row is answered with its count and last message computed from
``messages`` (what the backfill will store), never a 500. Appends leave it NULL
(``NULL + 1``) for the backfill to count, which stays right under concurrent appends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import delete, func, select

from agent_api.database import SessionDep
from agent_api.deps import CurrentUser
from agent_api.errors import error_responses, not_found
from agent_api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, fetch_page
from agent_api.patching import apply_patch
from agent_api.schemas.common import MAX_BIGINT
from agent_api.schemas.conversations import (
    ConversationCreate,
    ConversationPage,
    ConversationRead,
    ConversationUpdate,
)
from agent_db.models import Agent, Conversation, Message, User

router = APIRouter(tags=["conversations"], responses=error_responses(401, 403, 404))

AgentId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The agent's id")]
ConversationId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The conversation's id")]


async def _require_agent(session: SessionDep, user: User, agent_id: int) -> None:
    found = await session.scalar(select(Agent.id).where(Agent.id == agent_id, Agent.owner_id == user.id))
    if found is None:
        raise not_found("agent")


async def owned_conversation(session: SessionDep, user: User, conversation_id: int) -> Conversation:
    conversation = await session.scalar(
        select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user.id)
    )
    if conversation is None:
        raise not_found("conversation")
    return conversation


async def as_read(session: SessionDep, conversations: Sequence[Conversation]) -> list[ConversationRead]:
    """The answer for each conversation; those not counted yet are counted here, in one query."""
    uncounted = [c.id for c in conversations if c.message_count is None]
    counts: dict[int, tuple[int, object]] = {}
    if uncounted:
        rows = await session.execute(
            select(Message.conversation_id, func.count(), func.max(Message.created_at))
            .where(Message.conversation_id.in_(uncounted))
            .group_by(Message.conversation_id)
        )
        counts = {row[0]: (int(row[1]), row[2]) for row in rows}
    answers = []
    for conversation in conversations:
        if conversation.message_count is not None:
            answers.append(ConversationRead.model_validate(conversation))
            continue
        count, last = counts.get(conversation.id, (0, None))
        fields = {name: getattr(conversation, name) for name in ConversationRead.model_fields}
        answers.append(
            ConversationRead.model_validate({**fields, "message_count": count, "last_message_at": last})
        )
    return answers


async def _one(session: SessionDep, conversation: Conversation) -> ConversationRead:
    return (await as_read(session, [conversation]))[0]


@router.post(
    "/agents/{agent_id}/conversations",
    status_code=201,
    response_model=ConversationRead,
    summary="Start a conversation with one of your agents",
)
async def create_conversation(
    agent_id: AgentId, body: ConversationCreate, user: CurrentUser, session: SessionDep
) -> ConversationRead:
    await _require_agent(session, user, agent_id)
    conversation = Conversation(agent_id=agent_id, user_id=user.id, title=body.title)
    session.add(conversation)
    await session.flush()
    return await _one(session, conversation)


@router.get(
    "/agents/{agent_id}/conversations",
    response_model=ConversationPage,
    summary="List your conversations with an agent",
)
async def list_conversations(
    agent_id: AgentId,
    user: CurrentUser,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> ConversationPage:
    await _require_agent(session, user, agent_id)
    query = select(Conversation).where(Conversation.agent_id == agent_id, Conversation.user_id == user.id)
    conversations, next_cursor = await fetch_page(
        session, query, Conversation.id, kind="c", cursor=cursor, limit=limit
    )
    return ConversationPage(
        items=await as_read(session, conversations),
        next_cursor=next_cursor,
    )


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationRead,
    summary="Read a conversation",
)
async def read_conversation(
    conversation_id: ConversationId, user: CurrentUser, session: SessionDep
) -> ConversationRead:
    return await _one(session, await owned_conversation(session, user, conversation_id))


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationRead,
    summary="Rename a conversation",
)
async def update_conversation(
    conversation_id: ConversationId,
    body: ConversationUpdate,
    user: CurrentUser,
    session: SessionDep,
) -> ConversationRead:
    patched = await apply_patch(session, await owned_conversation(session, user, conversation_id), body)
    return await _one(session, patched)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a conversation with its messages",
)
async def delete_conversation(
    conversation_id: ConversationId, user: CurrentUser, session: SessionDep
) -> None:
    deleted = await session.scalar(
        delete(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user.id)
        .returning(Conversation.id)
    )
    if deleted is None:
        raise not_found("conversation")
