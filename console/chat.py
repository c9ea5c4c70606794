"""The console chat: a turn goes through Switchboard's own gateway and is relayed as SSE.

`prepare` stores the question (before any upstream call) — a new one, a new version of
one (`edit_of`) or none when an existing one is answered again (`answer_of`) — and the
answer's row, marked stopped until the stream ends; it builds the OpenAI body from the
profile, the session's overrides and the branch's history. `relay` yields the events
`start`, `token`, `usage`, `done` and `error`, and completes the answer's row when the
stream ends: ok, an error (code and plain message, also before the first token) or
stopped when the client goes away. Usage is recorded by the gateway (one UsageLog per
call), never here.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.utils import timezone

from chat import limits, outbound
from chat.errors import GatewayError
from chat.gateway import CallContext, open_stream
from console import conversations
from console.models import Message, MessageStatus, Profile, Role, Session, SessionType
from console.ownership import owned_session, visible_profile
from console.schemas import ChatStreamIn

# Older turns beyond this are left out of the upstream request; the model's context
# window is the real limit and a console conversation rarely needs more.
HISTORY_LIMIT = 200
TITLE_LENGTH = 60


@dataclass
class Turn:
    session: Session
    prompt: Message  # the user message being answered
    answer: Message  # stored at once, completed when the stream ends
    body: dict[str, Any]
    context: CallContext


def fail(field_name: str, message: str) -> ValidationError:
    return ValidationError({field_name: [message]})


# --- preparing a turn (sync, in a transaction) ----------------------------------------


def pick_profile(request: HttpRequest, session: Session, payload: ChatStreamIn) -> Profile | None:
    if payload.profile_id is None:
        return session.profile
    try:
        profile = visible_profile(request, payload.profile_id)
    except Http404 as exc:  # in a body it is a bad field, not a missing page
        raise fail("profile_id", "no such profile.") from exc
    session.profile = profile
    return profile


def pick_model(session: Session, profile: Profile | None, payload: ChatStreamIn) -> str:
    """The payload's model, else the session's. A new turn's model becomes the session's;
    answering a message again with another model uses it for that one answer only."""
    if payload.model:
        answering_again = payload.regenerate or payload.answer_of is not None
        if session.session_type != SessionType.PLAYGROUND and not answering_again:
            session.model = payload.model
        return payload.model
    model = session.model or (profile.model if profile else "")
    if not model:
        raise fail("model", "choose a model or route for this session.")
    return model


def prompt_for(session: Session, payload: ChatStreamIn) -> Message:
    """The user message this turn answers: an existing one (`answer_of`, `regenerate`),
    a new version of one (`edit_of`), or a new message at the end of the branch."""
    if payload.answer_of is not None:
        return user_message(session, payload.answer_of, "answer_of")
    if payload.edit_of is not None:
        return edit(session, user_message(session, payload.edit_of, "edit_of"), payload)
    if payload.regenerate:
        return regenerate_target(session, payload)
    require_text(payload)
    return conversations.append(
        session,
        parent=parent_for_new_question(session),
        role=Role.USER,
        content=payload.content,
        images=payload.images,
    )


def require_text(payload: ChatStreamIn) -> None:
    if not payload.content.strip() and not payload.images:
        raise fail("content", "write a message or attach an image.")


def user_message(session: Session, message_id: int, field_name: str) -> Message:
    prompt = session.messages.filter(pk=message_id, role=Role.USER).first()
    if prompt is None:
        raise fail(field_name, "no such user message in this session.")
    return prompt


def edit(session: Session, original: Message, payload: ChatStreamIn) -> Message:
    """A new version of `original`: a sibling (same parent); the old one keeps its answers."""
    require_text(payload)
    return conversations.append(
        session,
        parent=original.parent,
        role=Role.USER,
        content=payload.content,
        images=payload.images or original.images,
    )


def parent_for_new_question(session: Session) -> Message | None:
    """Where a new question goes: under the current leaf — unless the leaf is a failed
    answer. Failed answers are never sent upstream (see `history`), so a question under
    one would reach the model right after the question that failed: two user turns in
    a row. The new question becomes instead a new version of the failed one (a sibling,
    same parent), and the failed turn stays reachable as the other version."""
    leaf = session.current_leaf
    if leaf is None or not (leaf.role == Role.ASSISTANT and leaf.status == MessageStatus.ERROR):
        return leaf
    failed_question = leaf.parent
    return failed_question.parent if failed_question is not None else leaf


def regenerate_target(session: Session, payload: ChatStreamIn) -> Message:
    """The branch's last user message, answered again: the new answer becomes a sibling
    of the old one. New content (or images) in the payload is an edit of it."""
    path = conversations.branch(session)
    prompt = session.messages.filter(pk__in=path, role=Role.USER).order_by("-id").first()
    if prompt is None:
        raise fail("regenerate", "there is no user message to answer again.")
    if payload.content.strip() or payload.images:
        return edit(session, prompt, payload)
    return prompt


def retitle(session: Session, prompt: Message) -> None:
    if session.title in ("", "New chat") and prompt.content.strip():
        first_line = prompt.content.strip().splitlines()[0]
        # Markdown marks read as noise in a session list.
        session.title = first_line.strip("#>*_` ").replace("**", "")[:TITLE_LENGTH] or "New chat"


def wire_message(message: Message) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in message.images]
    return {"role": message.role, "content": parts}


def history(session: Session, prompt: Message) -> list[Message]:
    if session.session_type == SessionType.PLAYGROUND:
        return [prompt]  # a playground compares answers to one prompt, not a dialogue
    path = conversations.Tree.of(session).path_to(prompt.id)[-HISTORY_LIMIT:]
    sent = conversations.in_order(session, path)
    return [m for m in sent if not (m.role == Role.ASSISTANT and m.status == MessageStatus.ERROR)]


def openai_body(
    session: Session, profile: Profile | None, model: str, prompt: Message
) -> dict[str, Any]:
    overrides = session.overrides or {}
    system = overrides.get("system_prompt")
    if system is None:
        system = profile.system_prompt if profile else ""
    temperature = overrides.get("temperature", profile.temperature if profile else 0.7)
    max_tokens = overrides.get("max_tokens", profile.max_tokens if profile else 2048)
    messages = [{"role": "system", "content": system}] if system else []
    messages += [wire_message(m) for m in history(session, prompt)]
    return {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@transaction.atomic
def prepare(request: HttpRequest, payload: ChatStreamIn, request_id: str) -> Turn:
    session = owned_session(request, payload.session_id)
    profile = pick_profile(request, session, payload)
    model = pick_model(session, profile, payload)
    prompt = prompt_for(session, payload)
    retitle(session, prompt)
    # Also bumps updated_at: the session list is by recent activity. Not the totals:
    # `append` has just counted the question in the database, not in this object.
    session.save(update_fields=["title", "model", "profile", "current_leaf", "updated_at"])
    user = request.user if request.user.is_authenticated else None
    context = CallContext(
        request_id=request_id,
        source="console",
        user_id=user.id if user else None,
        session_id=str(session.id),
    )
    body = openai_body(session, profile, model, prompt)
    limits.admit_user(context, body)  # the console and the playground spend the user's quota
    return Turn(session, prompt, start_answer(session, prompt, model, request_id), body, context)


def start_answer(session: Session, prompt: Message, model: str, request_id: str) -> Message:
    """The answer's row, stored before the upstream call and marked stopped until the
    stream ends: its id goes to the client in the `start` event (to correct a stopped
    answer to what was shown), and a crash mid-answer leaves an honest row."""
    return conversations.append(
        session,
        parent=prompt,
        role=Role.ASSISTANT,
        model=model,
        status=MessageStatus.STOPPED,
        request_id=request_id,
    )


# --- relaying the stream (async) ------------------------------------------------------


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def delta_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    return (choices[0].get("delta") or {}).get("content") or ""


@dataclass
class Answer:
    """What the relay has seen so far; saved once as the assistant message."""

    turn: Turn
    started: float = field(default_factory=time.monotonic)
    parts: list[str] = field(default_factory=list)
    ttft_ms: int | None = None
    model: str = ""
    provider: str = ""
    usage: Any = None
    message: Message | None = None

    def add(self, text: str) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = elapsed_ms(self.started)
        self.parts.append(text)

    def save(self, status: str, error: GatewayError | None = None) -> Message:
        """Complete the answer's row with what was said and how it ended; an error keeps
        its code and a plain message, never the upstream's text."""
        usage = self.usage
        message = self.turn.answer
        conversations.finish(
            self.turn.session,
            message,
            content="".join(self.parts),
            model=self.model or self.turn.body["model"],
            provider=self.provider,
            status=status,
            error=outbound.plain_message(error) if error else "",
            error_code=error.code if error else "",
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cost_usd=Decimal(str(getattr(usage, "cost_usd", 0) or 0)),
            ttft_ms=self.ttft_ms,
            latency_ms=elapsed_ms(self.started),
        )
        Session.objects.filter(pk=self.turn.session.pk).update(updated_at=timezone.now())
        self.message = message
        return message


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def usage_event(message: Message) -> str:
    return sse(
        "usage",
        {
            "prompt_tokens": message.prompt_tokens,
            "completion_tokens": message.completion_tokens,
            "total_tokens": message.tokens,
            "cost_usd": float(message.cost_usd),
            "ttft_ms": message.ttft_ms,
            "latency_ms": message.latency_ms,
            "model": message.model,
            "provider": message.provider,
        },
    )


def error_event(exc: GatewayError, turn: Turn) -> str:
    outbound.log_for_operator(exc, "console chat")
    data: dict[str, Any] = {
        "message": outbound.plain_message(exc),
        "code": exc.code,
        "status": exc.status,
        "prompt_message_id": turn.prompt.id,
        "message_id": turn.answer.id,
    }
    return sse("error", data)


def start_event(turn: Turn) -> str:
    return sse(
        "start",
        {
            "message_id": turn.answer.id,
            "prompt_message_id": turn.prompt.id,
            "model": turn.body["model"],
        },
    )


async def shielded(call: Any, *args: Any) -> Any:
    """Run `call` to the end even when the surrounding task is being cancelled (the
    client went away): the partial answer and the upstream's close must still happen."""
    return await asyncio.shield(call(*args))


async def relay(turn: Turn) -> AsyncIterator[str]:
    """`start`, then tokens and `usage` + `done`, or `error`. A failure before the first
    token is stored too: an answer with status error, code and plain message."""
    answer = Answer(turn)
    stream: Any = None
    try:
        yield start_event(turn)
        try:
            stream = await open_stream(turn.body, turn.context)
        except GatewayError as exc:
            await sync_to_async(answer.save)(MessageStatus.ERROR, exc)
            yield error_event(exc, turn)
            return
        answer.model, answer.provider = stream.model, stream.provider
        async for event in relay_chunks(stream, answer):
            yield event
    finally:
        # Reached on a normal end, and on a disconnect (CancelledError / GeneratorExit):
        # close the upstream (the gateway records usage, "cancelled" if early) and keep
        # whatever was said, marked stopped.
        if answer.message is None:
            if stream is not None:
                await shielded(stream.aclose)
                answer.usage = getattr(stream, "usage", None)
            await shielded(sync_to_async(answer.save), MessageStatus.STOPPED)


async def relay_chunks(stream: Any, answer: Answer) -> AsyncIterator[str]:
    try:
        async for chunk in stream:
            text = delta_text(chunk)
            if text:
                answer.add(text)
                yield sse("token", {"text": text})
    except GatewayError as exc:
        await stream.aclose()
        answer.usage = stream.usage
        await sync_to_async(answer.save)(MessageStatus.ERROR, exc)
        yield error_event(exc, answer.turn)
        return
    await stream.aclose()
    answer.usage = stream.usage
    message = await sync_to_async(answer.save)(MessageStatus.OK)
    yield usage_event(message)
    yield sse("done", {"message_id": message.id, "prompt_message_id": answer.turn.prompt.id})


def request_id_of(request: HttpRequest) -> str:
    given = request.headers.get("x-request-id", "")
    return given[:64] if given else uuid.uuid4().hex


def streaming_response(turn: Turn) -> StreamingHttpResponse:
    response = StreamingHttpResponse(relay(turn), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response["x-request-id"] = turn.context.request_id
    return response
