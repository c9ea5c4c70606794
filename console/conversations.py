"""Sessions as conversations: the message tree, totals, search, clone, paging, export.

Messages form a tree (Message.parent). What a conversation "is" at any moment is the
branch from the root to the session's current leaf; every other version stays stored.
All new messages go through `append`, which also keeps the session's running totals
(so the session list reads three columns instead of scanning messages).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from console.models import Message, Role, Session, SessionType

# --- the tree ------------------------------------------------------------------------


@dataclass
class Tree:
    """A session's message ids and parents, read in one query of two integer columns
    (about 10 ms for 10,000 messages), enough to walk branches without loading text."""

    parents: dict[int, int | None]
    children: dict[int | None, list[int]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, session: Session) -> Tree:
        pairs = session.messages.order_by("id").values_list("id", "parent_id")
        tree = cls(parents=dict(pairs))
        for message_id, parent_id in tree.parents.items():
            tree.children[parent_id].append(message_id)  # ids ascend: oldest sibling first
        return tree

    def path_to(self, leaf_id: int | None) -> list[int]:
        """Ids from the root down to `leaf_id`, inclusive."""
        path: list[int] = []
        while leaf_id is not None and leaf_id in self.parents:
            path.append(leaf_id)
            leaf_id = self.parents[leaf_id]
        return path[::-1]

    def newest_leaf_under(self, message_id: int) -> int:
        """Follow the newest child down: where a switched-to branch continues."""
        while self.children.get(message_id):
            message_id = self.children[message_id][-1]
        return message_id

    def siblings(self, message_id: int) -> list[int]:
        """`message_id` and the other versions of it (same parent), oldest first."""
        return self.children[self.parents[message_id]]


def branch(session: Session) -> list[int]:
    """The current conversation: message ids from the root to the current leaf."""
    return Tree.of(session).path_to(session.current_leaf_id)


def append(session: Session, *, parent: Message | None | str = "leaf", **fields: Any) -> Message:
    """Store a message under `parent` (by default the current leaf), make it the leaf
    and add it to the session's totals. The caller saves nothing else for this."""
    parent_id = session.current_leaf_id if parent == "leaf" else getattr(parent, "id", None)
    message = Message.objects.create(session=session, parent_id=parent_id, **fields)
    count_in(session, message)
    move_leaf(session, message.id)
    return message


def finish(session: Session, message: Message, **fields: Any) -> bool:
    """Complete an answer stored early by `append` (its row exists from the stream's
    start, so a stop or a crash still leaves it): write the final fields and add its
    tokens and cost to the totals. False when the message was deleted meanwhile."""
    for name, value in fields.items():
        setattr(message, name, value)
    if not Message.objects.filter(pk=message.pk).update(**fields):
        return False
    Session.objects.filter(pk=session.pk).update(
        total_tokens=F("total_tokens")
        + int(message.prompt_tokens)
        + int(message.completion_tokens),
        total_cost_usd=F("total_cost_usd") + Decimal(str(message.cost_usd)),
    )
    return True


def switch(session: Session, message_id: int) -> int:
    """Show another version: the leaf becomes the newest message under `message_id`
    (which must be in the session; the caller checks)."""
    leaf = Tree.of(session).newest_leaf_under(message_id)
    move_leaf(session, leaf)
    return leaf


def move_leaf(session: Session, leaf_id: int | None) -> None:
    session.current_leaf_id = leaf_id
    Session.objects.filter(pk=session.pk).update(current_leaf_id=leaf_id)


def count_in(session: Session, message: Message) -> None:
    """Add a new (or newly completed) message's tokens and cost to the session totals."""
    Session.objects.filter(pk=session.pk).update(
        message_count=F("message_count") + 1,
        total_tokens=F("total_tokens")
        + int(message.prompt_tokens)
        + int(message.completion_tokens),
        total_cost_usd=F("total_cost_usd") + Decimal(str(message.cost_usd)),
    )


def recount(session: Session) -> None:
    """Totals summed afresh: after deletes (a subtree may go at once)."""
    totals = session.messages.aggregate(
        count=Count("id"),
        tokens=Coalesce(Sum("prompt_tokens") + Sum("completion_tokens"), Value(0)),
        cost=Coalesce(
            Sum("cost_usd"),
            Value(Decimal("0")),
            output_field=DecimalField(max_digits=20, decimal_places=8),
        ),
    )
    Session.objects.filter(pk=session.pk).update(
        message_count=totals["count"], total_tokens=totals["tokens"], total_cost_usd=totals["cost"]
    )


def with_totals(sessions: QuerySet[Session]) -> QuerySet[Session]:
    """Sessions in list order; the totals are columns of the session itself."""
    return sessions.order_by("-updated_at", "-created_at")


def search(sessions: QuerySet[Session], text: str) -> QuerySet[Session]:
    """Sessions whose title or any message contains `text` (case-insensitive)."""
    text = text.strip()
    if not text:
        return sessions
    in_messages = Message.objects.filter(session=OuterRef("pk"), content__icontains=text)
    return sessions.filter(Q(title__icontains=text) | Exists(in_messages))


@dataclass(frozen=True)
class Page:
    """Messages of the current branch; `start` is the first one's index on the branch
    and `count` the branch's length, so a client knows what lies above and below."""

    items: list[Message]
    count: int
    start: int = 0


def page_messages(
    session: Session,
    *,
    limit: int,
    offset: int = 0,
    before: int | None = None,
    after: int | None = None,
    around: int | None = None,
    newest: bool = False,
) -> Page:
    """A page of the current branch, root first.

    `before` / `after` (message ids on the branch) give the `limit` messages just above
    or below — how the chat page pages on scroll; `around` a page with that message in
    the middle (find in chat); `newest` the last `limit`; otherwise offset counts from
    the first message. Each message carries `siblings`: the ids of its versions, from
    the same one-query tree. A playground's branch lists every answer of each prompt.
    """
    tree = Tree.of(session)
    path = shown_path(session, tree)
    start, stop = page_bounds(path, limit=limit, offset=offset, before=before, after=after,
                              around=around, newest=newest)  # fmt: skip
    ids = path[start:stop]
    items = in_order(session, ids)
    for message in items:
        message.siblings = tree.siblings(message.id)  # type: ignore[attr-defined]
    return Page(items=items, count=len(path), start=start)


def shown_path(session: Session, tree: Tree) -> list[int]:
    """The branch as the chat shows it: in a playground each prompt is followed by all
    its answers (the models compared), not only the one on the branch."""
    path = tree.path_to(session.current_leaf_id)
    if session.session_type != SessionType.PLAYGROUND:
        return path
    roles = dict(session.messages.filter(pk__in=path).values_list("id", "role"))
    shown: list[int] = []
    for message_id in path:
        if roles.get(message_id) == Role.USER:
            shown += [message_id, *tree.children.get(message_id, [])]
        elif tree.parents[message_id] is None or roles.get(tree.parents[message_id]) != Role.USER:
            shown.append(message_id)
    return shown


def page_bounds(
    path: list[int],
    *,
    limit: int,
    offset: int,
    before: int | None,
    after: int | None,
    around: int | None,
    newest: bool,
) -> tuple[int, int]:
    """The slice of `path` a page shows. An id that is not on the branch gives an empty
    page (a stale client asking about a version it no longer shows)."""
    where = {message_id: index for index, message_id in enumerate(path)}
    if around is not None:
        if around not in where:
            return 0, 0
        start = max(0, min(where[around] - limit // 2, len(path) - limit))
        return start, start + limit
    if after is not None:
        start = where[after] + 1 + offset if after in where else len(path)
        return start, start + limit
    if before is not None or newest:
        end = where.get(before, 0) if before is not None else len(path)
        end = max(0, end - offset)
        return max(0, end - limit), end
    return offset, offset + limit


@dataclass(frozen=True)
class Found:
    message_id: int
    snippet: str


SNIPPET = 60


def search_branch(
    session: Session, text: str, *, limit: int, offset: int
) -> tuple[list[Found], int]:
    """Messages of the current branch containing `text` (case-insensitive), oldest
    first, each with a snippet around the first match."""
    text = text.strip()
    if not text:
        return [], 0
    on_path = set(shown_path(session, Tree.of(session)))
    rows = session.messages.filter(content__icontains=text).order_by("id")
    hits = [(i, content) for i, content in rows.values_list("id", "content") if i in on_path]
    page = hits[offset : offset + limit]
    return [Found(i, snippet(content, text)) for i, content in page], len(hits)


def snippet(content: str, text: str) -> str:
    at = content.lower().find(text.lower())
    begin, end = max(0, at - SNIPPET), at + len(text) + SNIPPET
    prefix, suffix = ("…" if begin else ""), ("…" if end < len(content) else "")
    return prefix + " ".join(content[begin:end].split()) + suffix


def in_order(session: Session, ids: list[int]) -> list[Message]:
    by_id = session.messages.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]


@transaction.atomic
def clone(session: Session, owner: Any) -> Session:
    """A copy with every branch; the copy's leaf is the same message as the original's."""
    copy = Session.objects.create(
        user=owner,
        session_type=session.session_type,
        title=f"{session.title} (copy)"[:200],
        profile=session.profile,
        model=session.model,
        overrides=dict(session.overrides),
        message_count=session.message_count,
        total_tokens=session.total_tokens,
        total_cost_usd=session.total_cost_usd,
    )
    new_ids: dict[int, int] = {}
    # Parents have smaller ids than their children, so each parent is copied first.
    for message in session.messages.order_by("id"):
        old_id = message.id
        message.pk = None
        message.session = copy
        message.parent_id = new_ids.get(message.parent_id) if message.parent_id else None
        message.save(force_insert=True)
        new_ids[old_id] = message.id
    move_leaf(copy, new_ids.get(session.current_leaf_id))
    return copy


def message_record(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "parent_id": message.parent_id,
        "role": message.role,
        "content": message.content,
        "images": message.images,
        "model": message.model,
        "provider": message.provider,
        "status": message.status,
        "error_code": message.error_code,
        "citations": message.citations,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "cost_usd": float(message.cost_usd),
        "created_at": message.created_at,
    }


def exported(session: Session, all_branches: bool) -> list[Message]:
    """The current branch, or every message (with parents) for `?branches=all`."""
    if all_branches:
        return list(session.messages.order_by("id"))
    return in_order(session, branch(session))


def export_json(session: Session, all_branches: bool = False) -> str:
    body = {
        "id": str(session.id),
        "title": session.title,
        "session_type": session.session_type,
        "model": session.model,
        "profile": session.profile.name if session.profile else None,
        "overrides": session.overrides,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "current_leaf_id": session.current_leaf_id,
        "messages": [message_record(m) for m in exported(session, all_branches)],
    }
    return json.dumps(body, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def export_markdown(session: Session, all_branches: bool = False) -> str:
    lines = [f"# {session.title}", ""]
    meta = f"_{session.session_type} · {session.created_at:%Y-%m-%d %H:%M} UTC"
    lines += [meta + (f" · {session.model}_" if session.model else "_"), ""]
    for message in exported(session, all_branches):
        heading = f"## {message.role}"
        if message.model and message.role == "assistant":
            heading += f" ({message.model})"
        if message.status != "ok":
            heading += f" [{message.status}]"
        lines += [heading, "", message.content, ""]
        lines += [f"![image {n + 1}](attached)" for n in range(len(message.images))]
    return "\n".join(lines).rstrip() + "\n"


def export_filename(session: Session, extension: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in session.title).strip("-")
    return f"{stem[:60] or 'session'}.{extension}"
