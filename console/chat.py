"""The console chat: a turn goes through Switchboard's own gateway and is relayed as SSE.

`prepare` stores the user message (before any upstream call) and builds the OpenAI body
from the profile, the session's overrides and its history; `relay` yields the events
`token`, `usage`, `done` and `error`, and saves the assistant message when the stream
ends — also a partial one, marked stopped, when the client goes away. Usage is recorded
by the gateway (one UsageLog per call), never here.
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
    if payload.model:
        if session.session_type != SessionType.PLAYGROUND:
            session.model = payload.model
        return payload.model
    model = session.model or (profile.model if profile else "")
    if not model:
        raise fail("model", "choose a model or route for this session.")
    return model


def prompt_for(session: Session, payload: ChatStreamIn) -> Message:
    if payload.reply_to is not None:
        return reply_target(session, payload.reply_to)
    if payload.regenerate:
        return regenerate_target(session, payload)
    if not payload.content.strip() and not payload.images:
        raise fail("content", "write a message or attach an image.")
    return conversations.append(
        session, role=Role.USER, content=payload.content, images=payload.images
    )


def reply_target(session: Session, message_id: int) -> Message:
    prompt = session.messages.filter(pk=message_id, role=Role.USER).first()
    if prompt is None:
        raise fail("reply_to", "no such user message in this session.")
    return prompt


def regenerate_target(session: Session, payload: ChatStreamIn) -> Message:
    """The branch's last user message, answered again: the new answer becomes a sibling
    of the old one. New content (or images) in the payload is an edit: a new version of
    that message, a sibling of it, and the old version keeps its answers."""
    path = conversations.branch(session)
    prompt = session.messages.filter(pk__in=path, role=Role.USER).order_by("-id").first()
    if prompt is None:
        raise fail("regenerate", "there is no user message to answer again.")
    if payload.content.strip() or payload.images:
        return conversations.append(
            session,
            parent=prompt.parent,
            role=Role.USER,
            content=payload.content,
            images=payload.images or prompt.images,
        )
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
    session.save()  # also bumps updated_at: the session list is by recent activity
    user = request.user if request.user.is_authenticated else None
    context = CallContext(
        request_id=request_id,
        source="console",
        user_id=user.id if user else None,
        session_id=str(session.id),
    )
    body = openai_body(session, profile, model, prompt)
    limits.admit_user(context, body)  # the console and the playground spend the user's quota
    return Turn(session, prompt, body, context)


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

    def save(self, status: str, error: str = "") -> Message:
        usage = self.usage
        message = conversations.append(
            self.turn.session,
            parent=self.turn.prompt,
            role=Role.ASSISTANT,
            content="".join(self.parts),
            model=self.model or self.turn.body["model"],
            provider=self.provider,
            status=status,
            error=error,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cost_usd=Decimal(str(getattr(usage, "cost_usd", 0) or 0)),
            ttft_ms=self.ttft_ms,
            latency_ms=elapsed_ms(self.started),
            request_id=self.turn.context.request_id,
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


def error_event(exc: GatewayError, turn: Turn, message: Message | None = None) -> str:
    outbound.log_for_operator(exc, "console chat")
    data: dict[str, Any] = {
        "message": outbound.plain_message(exc),
        "code": exc.code,
        "status": exc.status,
        "prompt_message_id": turn.prompt.id,
    }
    if message is not None:
        data["message_id"] = message.id
    return sse("error", data)


async def shielded(call: Any, *args: Any) -> Any:
    """Run `call` to the end even when the surrounding task is being cancelled (the
    client went away): the partial answer and the upstream's close must still happen."""
    return await asyncio.shield(call(*args))


async def relay(turn: Turn) -> AsyncIterator[str]:
    answer = Answer(turn)
    stream: Any = None
    try:
        try:
            stream = await open_stream(turn.body, turn.context)
        except GatewayError as exc:
            yield error_event(exc, turn)
            return
        answer.model, answer.provider = stream.model, stream.provider
        async for event in relay_chunks(stream, answer):
            yield event
    finally:
        # Reached on a normal end, and on a disconnect (CancelledError / GeneratorExit):
        # close the upstream (the gateway records usage, "cancelled" if early) and keep
        # whatever was said, marked stopped.
        if stream is not None and answer.message is None:
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
        message = await sync_to_async(answer.save)(MessageStatus.ERROR, outbound.plain_message(exc))
        yield error_event(exc, answer.turn, message)
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
