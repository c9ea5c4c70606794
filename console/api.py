"""Console endpoints: profiles, sessions, messages and the chat stream.

Any logged-in user (session + CSRF) or an admin API key; objects are fetched through
console.ownership, so another user's id answers 404.
"""

from __future__ import annotations

from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from config.auth import user_auth
from console import catalog, chat, conversations, health
from console.models import Message, Profile, Session
from console.ownership import (
    editable_profile,
    manages_shared_profiles,
    owned,
    owned_message,
    owned_session,
    owner_of,
    profiles_visible_to,
    sessions_of,
    visible_profile,
)
from console.schemas import (
    ChatStreamIn,
    FoundList,
    MessageIn,
    MessageList,
    MessageOut,
    MessagePatch,
    ProfileIn,
    ProfileOut,
    ProfilePatch,
    SessionIn,
    SessionList,
    SessionOut,
    SessionPatch,
    SwitchIn,
)

# How much of the branch below a switched-to version one switch returns.
SWITCH_PAGE = 100

health_router = Router(tags=["health"])
# Console endpoints (profiles, sessions, messages, chat stream): any logged-in user.
router = Router(tags=["console"], auth=user_auth)


@health_router.get("/health", auth=None, response={200: dict, 503: dict})
def api_health(request: HttpRequest) -> Status[dict[str, Any]]:
    return Status(*health.report())


class Paging(Schema):
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000_000)


# --- profiles ------------------------------------------------------------------------


@router.get("/profiles", response=list[ProfileOut])
def list_profiles(request: HttpRequest) -> list[Profile]:
    return list(profiles_visible_to(owner_of(request)))


@router.post("/profiles", response={201: ProfileOut})
def create_profile(request: HttpRequest, payload: ProfileIn) -> Status[Profile]:
    owner = owner_of(request)
    may_share = manages_shared_profiles(request, "add")
    shared = payload.shared if payload.shared is not None else may_share
    if shared and not may_share:
        raise HttpError(403, "shared: creating shared profiles needs 'console.add_profile'.")
    if owner is None and not shared:
        raise ValidationError({"shared": ["an API key creates shared profiles only."]})
    fields = payload.model_dump(exclude={"shared"})
    return Status(201, Profile.objects.create(owner=None if shared else owner, **fields))


@router.get("/profiles/{profile_id}", response=ProfileOut)
def get_profile(request: HttpRequest, profile_id: str) -> Profile:
    return visible_profile(request, profile_id)


@router.patch("/profiles/{profile_id}", response=ProfileOut)
def update_profile(request: HttpRequest, profile_id: str, payload: ProfilePatch) -> Profile:
    profile = editable_profile(request, profile_id)
    for name, value in payload.model_dump(exclude_unset=True).items():
        if value is None:
            raise ValidationError({name: ["may not be null."]})
        setattr(profile, name, value)
    profile.save()
    return profile


@router.delete("/profiles/{profile_id}", response={204: None})
def delete_profile(request: HttpRequest, profile_id: str) -> Status[None]:
    editable_profile(request, profile_id, "delete").delete()
    return Status(204, None)


# --- sessions ------------------------------------------------------------------------


class SessionFilters(Paging):
    search: str = ""
    session_type: Literal["chat", "code", "documents", "playground"] | None = None


def session_out(request: HttpRequest, session_id: Any) -> Session:
    """A session with its totals, for responses."""
    sessions = conversations.with_totals(sessions_of(owner_of(request)))
    return owned(sessions, session_id, "Session")


def profile_for_body(request: HttpRequest, profile_id: int | None) -> Profile | None:
    if profile_id is None:
        return None
    try:
        return visible_profile(request, profile_id)
    except Http404:
        raise ValidationError({"profile_id": ["no such profile."]}) from None


@router.get("/sessions", response=SessionList)
def list_sessions(request: HttpRequest, filters: Query[SessionFilters]) -> dict[str, Any]:
    sessions = conversations.search(sessions_of(owner_of(request)), filters.search)
    if filters.session_type:
        sessions = sessions.filter(session_type=filters.session_type)
    count = sessions.count()
    page = conversations.with_totals(sessions)[filters.offset : filters.offset + filters.limit]
    return {"items": list(page), "count": count}


@router.post("/sessions", response={201: SessionOut})
def create_session(request: HttpRequest, payload: SessionIn) -> Status[Session]:
    session = Session.objects.create(
        user=owner_of(request),
        title=payload.title,
        session_type=payload.session_type,
        profile=profile_for_body(request, payload.profile_id),
        model=payload.model,
        overrides=payload.overrides.model_dump(exclude_none=True) if payload.overrides else {},
    )
    return Status(201, session_out(request, session.id))


@router.get("/sessions/{session_id}", response=SessionOut)
def get_session(request: HttpRequest, session_id: str) -> Session:
    return session_out(request, session_id)


@router.patch("/sessions/{session_id}", response=SessionOut)
def update_session(request: HttpRequest, session_id: str, payload: SessionPatch) -> Session:
    session = owned_session(request, session_id)
    changes = payload.model_dump(exclude_unset=True)
    if "profile_id" in changes:
        session.profile = profile_for_body(request, changes.pop("profile_id"))
    if "overrides" in changes:
        session.overrides = (
            payload.overrides.model_dump(exclude_none=True) if payload.overrides else {}
        )
        changes.pop("overrides")
    for name, value in changes.items():
        if value is None:
            raise ValidationError({name: ["may not be null."]})
        setattr(session, name, value)
    session.save()
    return session_out(request, session.id)


@router.delete("/sessions/{session_id}", response={204: None})
def delete_session(request: HttpRequest, session_id: str) -> Status[None]:
    owned_session(request, session_id).delete()
    return Status(204, None)


@router.post("/sessions/{session_id}/clone", response={201: SessionOut})
def clone_session(request: HttpRequest, session_id: str) -> Status[Session]:
    copy = conversations.clone(owned_session(request, session_id), owner_of(request))
    return Status(201, session_out(request, copy.id))


MESSAGE_ID = {"ge": 1, "le": 2**63 - 1}


class MessagePaging(Paging):
    before: int | None = Field(None, description="the messages just above this id", **MESSAGE_ID)
    after: int | None = Field(None, description="the messages just below this id", **MESSAGE_ID)
    around: int | None = Field(None, description="a page with this id in the middle", **MESSAGE_ID)
    newest: bool = Field(False, description="the last `limit` messages")


@router.get("/sessions/{session_id}/messages", response=MessageList)
def list_messages(
    request: HttpRequest, session_id: str, paging: Query[MessagePaging]
) -> conversations.Page:
    """The current branch, a page at a time; each message lists its versions."""
    return conversations.page_messages(
        owned_session(request, session_id),
        limit=paging.limit,
        offset=paging.offset,
        before=paging.before,
        after=paging.after,
        around=paging.around,
        newest=paging.newest,
    )


@router.post("/sessions/{session_id}/switch", response=MessageList)
def switch_version(request: HttpRequest, session_id: str, payload: SwitchIn) -> conversations.Page:
    """Show another version of a message: the current leaf moves to the newest message
    under it, and the answer is the branch from that message down (one page)."""
    session = owned_session(request, session_id)
    version = session.messages.filter(pk=payload.message_id).first()
    if version is None:
        raise ValidationError({"message_id": ["no such message in this session."]})
    conversations.switch(session, version.id)
    # The branch below the version's parent starts with the version itself.
    return conversations.page_messages(session, limit=SWITCH_PAGE, after=version.parent_id)


class FindQuery(Paging):
    q: str = Field(min_length=1, max_length=200)


@router.get("/sessions/{session_id}/search", response=FoundList)
def search_in_session(
    request: HttpRequest, session_id: str, query: Query[FindQuery]
) -> dict[str, Any]:
    """Find in chat: messages of the current branch containing `q`, oldest first."""
    found, count = conversations.search_branch(
        owned_session(request, session_id), query.q, limit=query.limit, offset=query.offset
    )
    return {"items": found, "count": count}


@router.post("/sessions/{session_id}/messages", response={201: MessageOut})
def add_message(request: HttpRequest, session_id: str, payload: MessageIn) -> Status[Message]:
    session = owned_session(request, session_id)
    if not payload.content.strip() and not payload.images:
        raise ValidationError({"content": ["write a message or attach an image."]})
    message = conversations.append(session, **payload.model_dump())
    session.save(update_fields=["updated_at"])
    return Status(201, message)


@router.get("/sessions/{session_id}/export")
def export_session(
    request: HttpRequest,
    session_id: str,
    format: Literal["md", "json"] = "md",
    branches: Literal["current", "all"] = "current",
) -> HttpResponse:
    """The current branch; `?branches=all` exports every version (JSON keeps parents)."""
    session = owned_session(request, session_id)
    every = branches == "all"
    if format == "json":
        body, content_type = conversations.export_json(session, every), "application/json"
    else:
        body, content_type = conversations.export_markdown(session, every), "text/markdown"
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    filename = conversations.export_filename(session, format)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- messages ------------------------------------------------------------------------


class MessageFilters(MessagePaging):
    session_id: str


@router.get("/messages", response=MessageList)
def list_session_messages(
    request: HttpRequest, filters: Query[MessageFilters]
) -> conversations.Page:
    return list_messages(request, filters.session_id, filters)


@router.get("/messages/{message_id}", response=MessageOut)
def get_message(request: HttpRequest, message_id: str) -> Message:
    return owned_message(request, message_id)


@router.patch("/messages/{message_id}", response=MessageOut)
def edit_message(request: HttpRequest, message_id: str, payload: MessagePatch) -> Message:
    message = owned_message(request, message_id)
    if payload.stopped:
        check_shortening(message, payload.content)
    message.content = payload.content
    message.save(update_fields=["content"])
    return message


def check_shortening(message: Message, shown: str) -> None:
    """A stopped answer is stored as the user saw it: the client may cut it to what it
    had painted, never lengthen or rewrite it."""
    if message.role != "assistant" or message.status != "stopped":
        raise ValidationError({"stopped": ["only a stopped answer can be cut to what was shown."]})
    if message.latency_ms is None:
        raise HttpError(409, "stopped: the answer is still being saved; try again.")
    if not message.content.startswith(shown):
        raise ValidationError({"content": ["must be a prefix of the stored answer."]})


@router.delete("/messages/{message_id}", response={204: None})
def delete_message(request: HttpRequest, message_id: str) -> Status[None]:
    """Deletes the message and every reply below it; the conversation then ends at the
    nearest remaining message of the branch."""
    message = owned_message(request, message_id)
    session = message.session
    on_branch = message.id in conversations.branch(session)
    message.delete()
    if on_branch:
        conversations.move_leaf(session, message.parent_id)
    conversations.recount(session)
    return Status(204, None)


# --- chat ----------------------------------------------------------------------------


@router.get("/chat/models", response=list[dict[str, Any]])
def picker_models(request: HttpRequest) -> list[dict[str, Any]]:
    return catalog.picker_entries()


@router.post("/chat/stream")
async def chat_stream(request: HttpRequest, payload: ChatStreamIn) -> StreamingHttpResponse:
    turn = await sync_to_async(chat.prepare)(request, payload, chat.request_id_of(request))
    return chat.streaming_response(turn)
