"""Migrations 0003 and 0004 turn yesterday's linear sessions into single-branch trees."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("console", "0002_operations_permissions")]
AFTER = [("console", "0004_message_tree_data")]


def migrate(targets):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_linear_sessions_become_single_branch_trees_with_totals() -> None:
    old = migrate(BEFORE)
    Session, Message = old.get_model("console", "Session"), old.get_model("console", "Message")
    chat = Session.objects.create(title="chat", session_type="chat")
    said = [
        Message.objects.create(session=chat, role=role, content=role, status=status,
                               prompt_tokens=3, completion_tokens=2, cost_usd=Decimal("0.25"))
        for role, status in [("user", "complete"), ("assistant", "complete"),
                             ("user", "complete"), ("assistant", "stopped")]
    ]  # fmt: skip
    playground = Session.objects.create(title="compare", session_type="playground")
    prompt = Message.objects.create(session=playground, role="user", content="q")
    answers = [
        Message.objects.create(session=playground, role="assistant", content=m, model=m)
        for m in ("a", "b")
    ]
    empty = Session.objects.create(title="empty")

    new = migrate(AFTER)
    Session, Message = new.get_model("console", "Session"), new.get_model("console", "Message")
    rows = list(Message.objects.filter(session_id=chat.id).order_by("id"))
    assert [m.parent_id for m in rows] == [None] + [m.id for m in said[:-1]]
    assert [m.status for m in rows] == ["ok", "ok", "ok", "stopped"]
    chat = Session.objects.get(pk=chat.pk)
    assert (chat.current_leaf_id, chat.message_count, chat.total_tokens) == (said[-1].id, 4, 20)
    assert chat.total_cost_usd == Decimal("1")
    assert [m.parent_id for m in Message.objects.filter(pk__in=[a.id for a in answers])] == [
        prompt.id,
        prompt.id,
    ]
    empty = Session.objects.get(pk=empty.pk)
    assert (empty.current_leaf_id, empty.message_count, empty.total_cost_usd) == (None, 0, 0)
    migrate(AFTER)  # leave the schema as the suite expects
