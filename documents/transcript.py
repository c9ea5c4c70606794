"""Documents questions kept in a console session: the question as a user message, the
answer (or how it failed) as an assistant message with its citations.

So a documents session reads like any conversation after a reload, and its totals count
what its questions cost. Messages go through console.conversations.append, the one way a
message is made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from chat.gateway import Usage
from console import conversations
from console.models import Message, MessageStatus, Role, Session, SessionType
from console.ownership import owned_session

TITLE_LENGTH = 80
UNTITLED = ("", "New chat")


def documents_session(request: HttpRequest, session_id: str) -> Session:
    """The caller's documents session; another user's (or no such) session is a 404."""
    session = owned_session(request, session_id)
    if session.session_type != SessionType.DOCUMENTS:
        raise ValidationError(
            {"session_id": [f"a {session.session_type} session; questions go to documents ones."]}
        )
    return session


@dataclass
class Transcript:
    """One question of a session: saved when asked, its answer saved once when it ends."""

    session: Session
    prompt: Message
    request_id: str
    started: float = field(default_factory=time.monotonic)
    ttft_ms: int | None = None
    answer: Message | None = None

    @classmethod
    def begin(cls, session: Session, question: str, request_id: str) -> Transcript:
        prompt = conversations.append(session, role=Role.USER, content=question)
        title = question.strip().splitlines()[0].strip("#>*_` ")[:TITLE_LENGTH]
        Session.objects.filter(pk=session.pk, title__in=UNTITLED).update(title=title or "New chat")
        return cls(session, prompt, request_id)

    def first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = elapsed_ms(self.started)

    def save(
        self,
        content: str,
        *,
        status: str = MessageStatus.OK,
        citations: list[dict[str, Any]] | None = None,
        model: str = "",
        provider: str = "",
        usage: Usage | None = None,
        error: str = "",
        error_code: str = "",
    ) -> Message:
        self.answer = conversations.append(
            self.session,
            parent=self.prompt,
            role=Role.ASSISTANT,
            content=content,
            status=status,
            citations=[stored_citation(c) for c in citations or []],
            model=model,
            provider=provider,
            error=error,
            error_code=error_code,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cost_usd=Decimal(str(usage.cost_usd if usage else 0)),
            ttft_ms=self.ttft_ms,
            latency_ms=elapsed_ms(self.started),
            request_id=self.request_id,
        )
        Session.objects.filter(pk=self.session.pk).update(updated_at=timezone.now())
        return self.answer

    def ids(self) -> dict[str, int]:
        """The saved messages' ids, for the client's answer event."""
        ids = {"prompt_message_id": self.prompt.id}
        if self.answer is not None:
            ids["message_id"] = self.answer.id
        return ids


STORED_KEYS = ("number", "document_id", "document_title", "chunk_id", "page_or_section", "quote")


def stored_citation(citation: dict[str, Any]) -> dict[str, Any]:
    """What a message keeps of a citation: where the passage is and what it says, plus the
    title as it was then (a document deleted later still names itself)."""
    return {key: citation[key] for key in STORED_KEYS if key in citation}


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
