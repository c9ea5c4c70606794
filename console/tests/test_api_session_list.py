"""The session list reads the sessions' own counters: its queries neither grow with the
number of messages nor read the message table (unless a search text asks to)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from console.models import Message, Session

pytestmark = pytest.mark.django_db


def seed(user: Any, sessions: int, messages_each: int) -> None:
    for n in range(sessions):
        session = Session.objects.create(user=user, title=f"session {n}", model="fake/echo")
        Message.objects.bulk_create(
            Message(session=session, role="user", content=f"message {i}", prompt_tokens=3)
            for i in range(messages_each)
        )
        Session.objects.filter(pk=session.pk).update(
            message_count=messages_each, total_tokens=3 * messages_each
        )


def list_queries(client: Client, query: str = "limit=50") -> list[str]:
    """The request's queries, less the change signal's (read at most once a second, so
    present or not by timing)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/sessions?{query}")
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries if "coordination_" not in q["sql"]]


def test_the_list_reads_no_messages_however_many_there_are(
    as_alice: Client, alice: Any, django_assert_max_num_queries: Any
) -> None:
    seed(alice, sessions=3, messages_each=1)
    few = list_queries(as_alice)
    seed(alice, sessions=3, messages_each=200)

    with django_assert_max_num_queries(len(few) + 1):  # + the change signal's, perhaps
        many = list_queries(as_alice)

    assert len(many) == len(few) <= 6
    assert not [sql for sql in many if "console_message" in sql]


def test_the_list_carries_the_counters(as_alice: Client, alice: Any) -> None:
    seed(alice, sessions=2, messages_each=7)

    items = as_alice.get("/api/sessions").json()["items"]

    assert [(s["message_count"], s["total_tokens"]) for s in items] == [(7, 21), (7, 21)]


def test_a_search_text_looks_into_messages_in_the_same_number_of_queries(
    as_alice: Client, alice: Any
) -> None:
    seed(alice, sessions=3, messages_each=20)

    plain = list_queries(as_alice)
    searched = list_queries(as_alice, "limit=50&search=message%2019")

    assert len(searched) == len(plain)
    assert as_alice.get("/api/sessions?search=message%2019").json()["count"] == 3
