"""Messages: appended to one of the caller's conversations, listed in order by cursor.

Appending updates the conversation first (``message_count + 1``, ``last_message_at``), in the
same transaction as the insert. That UPDATE also takes the conversation's row lock, so appends
to one conversation are serialised and draw their ids in commit order: a reader paging with
``id > cursor`` can never miss a message that commits later with a smaller id.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Path
from sqlalchemy import Table, bindparam, exists, func, insert, select, update

from agent_api.database import SessionDep
from agent_api.deps import CurrentUser
from agent_api.errors import ApiError, error_responses, not_found
from agent_api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, cut_page, decode_cursor
from agent_api.schemas.common import MAX_BIGINT
from agent_api.schemas.messages import MessageCreate, MessagePage, MessageRead
from agent_db.models import Conversation, Message, User

router = APIRouter(
    prefix="/conversations/{conversation_id}/messages",
    tags=["messages"],
    responses=error_responses(401, 403, 404),
)

ConversationId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The conversation's id")]

# The statements are built once, with bound parameters: building a SQLAlchemy statement costs
# more than running it here (bench/RESULTS.md). Messages are read and returned as plain rows:
# nothing changes them after the insert, so the ORM's identity map would only cost time.
MESSAGES = cast(Table, Message.__table__)
_OWNED = select(Conversation.id).where(
    Conversation.id == bindparam("conversation_id"), Conversation.user_id == bindparam("user_id")
)
# A page in one round trip: the ownership test is an uncorrelated EXISTS, which PostgreSQL
# evaluates once. An empty result is then told apart (an empty page, or not yours) by _OWNED.
_PAGE = (
    select(MESSAGES)
    .where(
        MESSAGES.c.conversation_id == bindparam("conversation_id"),
        MESSAGES.c.id > bindparam("after"),
        exists(_OWNED),
    )
    .order_by(MESSAGES.c.id)
    .limit(bindparam("limit"))
)
_BUMP = (
    update(Conversation)
    .where(Conversation.id == bindparam("cid"), Conversation.user_id == bindparam("uid"))
    # GREATEST: now() is when this transaction began; an append that began earlier but waited
    # for the row lock must not move last_message_at back past one that committed meanwhile.
    .values(
        message_count=Conversation.message_count + 1,
        last_message_at=func.greatest(Conversation.last_message_at, func.now()),
        updated_at=func.now(),
    )
    .returning(Conversation.id)
    .execution_options(synchronize_session=False)
)
# The columns come from the parameters (conversation_id and MessageCreate's fields).
_APPEND = insert(MESSAGES).returning(*MESSAGES.c)


async def _require_conversation(session: SessionDep, user: User, conversation_id: int) -> None:
    found = await session.scalar(_OWNED, {"conversation_id": conversation_id, "user_id": user.id})
    if found is None:
        raise not_found("conversation")


@router.post("", status_code=201, response_model=MessageRead, summary="Append a message")
async def append_message(
    conversation_id: ConversationId, body: MessageCreate, user: CurrentUser, session: SessionDep
) -> MessageRead:
    bumped = await session.scalar(_BUMP, {"cid": conversation_id, "uid": user.id})
    if bumped is None:
        raise not_found("conversation")
    row = (await session.execute(_APPEND, {"conversation_id": conversation_id, **body.model_dump()})).one()
    return MessageRead.model_validate(row)


@router.get("", response_model=MessagePage, summary="List a conversation's messages, oldest first")
async def list_messages(
    conversation_id: ConversationId,
    user: CurrentUser,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> MessagePage:
    """Messages appended while you page show up on later pages; none is skipped or repeated."""
    try:
        after = decode_cursor("m", cursor)
    except ApiError:
        # Someone else's conversation is a 404 whatever the cursor, as a missing one is.
        await _require_conversation(session, user, conversation_id)
        raise
    parameters = {"conversation_id": conversation_id, "user_id": user.id, "after": after, "limit": limit + 1}
    rows = (await session.execute(_PAGE, parameters)).all()
    if not rows:
        await _require_conversation(session, user, conversation_id)
    messages, next_cursor = cut_page(rows, kind="m", limit=limit)
    return MessagePage(items=[MessageRead.model_validate(m) for m in messages], next_cursor=next_cursor)
