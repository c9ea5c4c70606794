"""Sessions as conversations: search, totals, clone, paging of messages, export."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, DecimalField, Exists, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from console.models import Message, Session


def with_totals(sessions: QuerySet[Session]) -> QuerySet[Session]:
    """Annotate message count, tokens and cost (the running total per session)."""
    # Meta.ordering is dropped from GROUP BY queries, so it is repeated here.
    return sessions.order_by("-updated_at", "-created_at").annotate(
        message_count=Count("messages"),
        total_tokens=Coalesce(
            Sum("messages__prompt_tokens") + Sum("messages__completion_tokens"), Value(0)
        ),
        total_cost_usd=Coalesce(
            Sum("messages__cost_usd"),
            Value(Decimal("0")),
            output_field=DecimalField(max_digits=20, decimal_places=8),
        ),
    )


def search(sessions: QuerySet[Session], text: str) -> QuerySet[Session]:
    """Sessions whose title or any message contains `text` (case-insensitive)."""
    text = text.strip()
    if not text:
        return sessions
    in_messages = Message.objects.filter(session=OuterRef("pk"), content__icontains=text)
    return sessions.filter(Q(title__icontains=text) | Exists(in_messages))


@dataclass(frozen=True)
class Page:
    items: list[Message]
    count: int


def page_messages(
    session: Session, *, limit: int, offset: int, before: int | None, newest: bool
) -> Page:
    """A page of a session's messages in chronological order.

    `before` (a message id) gives the `limit` messages just older than it — how the chat
    page fetches history on scroll; `newest` gives the last `limit`. Otherwise offset
    counts from the first message.
    """
    messages = session.messages.order_by("id")
    count = messages.count()
    if before is not None or newest:
        older = messages.filter(id__lt=before) if before is not None else messages
        items = list(older.order_by("-id")[offset : offset + limit])
        return Page(items=items[::-1], count=count)
    return Page(items=list(messages[offset : offset + limit]), count=count)


@transaction.atomic
def clone(session: Session, owner: Any) -> Session:
    messages = list(session.messages.order_by("id"))
    copy = Session.objects.create(
        user=owner,
        session_type=session.session_type,
        title=f"{session.title} (copy)"[:200],
        profile=session.profile,
        model=session.model,
        overrides=dict(session.overrides),
    )
    for message in messages:
        message.pk = None
        message.session = copy
    # bulk_create keeps the order by id, so the copy reads the same.
    Message.objects.bulk_create(messages)
    return copy


def message_record(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "images": message.images,
        "model": message.model,
        "provider": message.provider,
        "status": message.status,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "cost_usd": float(message.cost_usd),
        "created_at": message.created_at,
    }


def export_json(session: Session) -> str:
    body = {
        "id": str(session.id),
        "title": session.title,
        "session_type": session.session_type,
        "model": session.model,
        "profile": session.profile.name if session.profile else None,
        "overrides": session.overrides,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "messages": [message_record(m) for m in session.messages.order_by("id")],
    }
    return json.dumps(body, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def export_markdown(session: Session) -> str:
    lines = [f"# {session.title}", ""]
    meta = f"_{session.session_type} · {session.created_at:%Y-%m-%d %H:%M} UTC"
    lines += [meta + (f" · {session.model}_" if session.model else "_"), ""]
    for message in session.messages.order_by("id"):
        heading = f"## {message.role}"
        if message.model and message.role == "assistant":
            heading += f" ({message.model})"
        if message.status != "complete":
            heading += f" [{message.status}]"
        lines += [heading, "", message.content, ""]
        lines += [f"![image {n + 1}](attached)" for n in range(len(message.images))]
    return "\n".join(lines).rstrip() + "\n"


def export_filename(session: Session, extension: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in session.title).strip("-")
    return f"{stem[:60] or 'session'}.{extension}"
