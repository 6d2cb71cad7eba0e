"""Messages: appended to one of the caller's conversations, listed in order by cursor.

Appending updates the conversation first (``message_count + 1``, ``last_message_at``), in the
same transaction as the insert. That UPDATE also takes the conversation's row lock, so appends
to one conversation are serialised and draw their ids in commit order: a reader paging with
``id > cursor`` can never miss a message that commits later with a smaller id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import func, insert, select, update

from agent_api.database import SessionDep
from agent_api.deps import CurrentUser
from agent_api.errors import error_responses, not_found
from agent_api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, fetch_page
from agent_api.schemas.common import MAX_BIGINT
from agent_api.schemas.messages import MessageCreate, MessagePage, MessageRead
from agent_db.models import Conversation, Message

router = APIRouter(
    prefix="/conversations/{conversation_id}/messages",
    tags=["messages"],
    responses=error_responses(401, 403, 404),
)

ConversationId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The conversation's id")]


@router.post("", status_code=201, response_model=MessageRead, summary="Append a message")
async def append_message(
    conversation_id: ConversationId, body: MessageCreate, user: CurrentUser, session: SessionDep
) -> Message:
    bumped = await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user.id)
        .values(
            message_count=Conversation.message_count + 1,
            last_message_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Conversation.id)
    )
    if bumped is None:
        raise not_found("conversation")
    inserted = await session.scalars(
        insert(Message).values(conversation_id=conversation_id, **body.model_dump()).returning(Message)
    )
    message: Message = inserted.one()
    return message


@router.get("", response_model=MessagePage, summary="List a conversation's messages, oldest first")
async def list_messages(
    conversation_id: ConversationId,
    user: CurrentUser,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> MessagePage:
    """Messages appended while you page show up on later pages; none is skipped or repeated."""
    owned = await session.scalar(
        select(Conversation.id).where(Conversation.id == conversation_id, Conversation.user_id == user.id)
    )
    if owned is None:
        raise not_found("conversation")
    messages, next_cursor = await fetch_page(
        session,
        select(Message).where(Message.conversation_id == conversation_id),
        Message.id,
        kind="m",
        cursor=cursor,
        limit=limit,
    )
    return MessagePage(items=[MessageRead.model_validate(m) for m in messages], next_cursor=next_cursor)
