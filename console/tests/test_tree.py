"""Conversations as trees over the real API: versions, switching, failures that persist,
stopped answers cut to what was shown, deletes, find in chat and paging around a message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, RequestFactory

from console import chat
from console.models import Message, Session
from console.schemas import ChatStreamIn
from console.tests.test_chat_stream import stream

pytestmark = pytest.mark.django_db(transaction=True)
JSON = "application/json"


@pytest.fixture(autouse=True)
async def _connections_closed():  # type: ignore[no-untyped-def]
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
async def client(alice) -> AsyncClient:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(alice)
    return client


@pytest.fixture
def session(alice, fake_provider) -> Session:  # type: ignore[no-untyped-def]
    return Session.objects.create(user=alice, title="New chat", model="fake/echo")


async def turn(client: AsyncClient, session: Session, **body: Any) -> dict[str, dict[str, Any]]:
    status, events = await stream(client, session_id=str(session.id), **body)
    by_name = dict(events)
    if "http" in by_name:  # refused before streaming: the status with the body
        by_name["http"] = {"status": status, **by_name["http"]}
    return by_name


async def say(client: AsyncClient, session: Session, text: str, **body: Any) -> dict[str, Any]:
    events = await turn(client, session, content=text, **body)
    assert "done" in events, events
    return events


async def page(client: AsyncClient, session: Session, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/sessions/{session.id}/messages?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def contents(body: dict[str, Any]) -> list[str]:
    return [m["content"].strip() for m in body["items"]]


def sent_upstream(fake_llm: Any) -> list[tuple[str, str]]:
    return [(m["role"], m["content"].strip()) for m in fake_llm.requests[-1]["messages"]]


async def five_messages(client: AsyncClient, session: Session) -> None:
    for text in ("one", "two", "three"):
        await say(client, session, text)


# --- versions ------------------------------------------------------------------------


async def test_editing_a_middle_message_adds_a_version_and_sends_its_branch(
    client, session, fake_llm
):  # type: ignore[no-untyped-def]
    await five_messages(client, session)
    second = (await page(client, session))["items"][2]
    assert second["content"] == "two"
    events = await turn(client, session, edit_of=second["id"], content="TWO")
    assert "done" in events
    assert sent_upstream(fake_llm) == [
        ("user", "one"),
        ("assistant", "You said: one"),
        ("user", "TWO"),
    ]
    body = await page(client, session)
    assert contents(body) == ["one", "You said: one", "TWO", "You said: TWO"]
    edited = body["items"][2]
    assert edited["siblings"] == [second["id"], edited["id"]]
    assert edited["parent_id"] == second["parent_id"]


async def test_switching_versions_moves_the_leaf_to_the_newest_message_below(client, session):  # type: ignore[no-untyped-def]
    await five_messages(client, session)
    second = (await page(client, session))["items"][2]
    await turn(client, session, edit_of=second["id"], content="TWO")
    response = await client.post(
        f"/api/sessions/{session.id}/switch", {"message_id": second["id"]}, content_type=JSON
    )
    assert response.status_code == 200
    below = response.json()
    assert contents(below) == ["two", "You said: two", "three", "You said: three"]
    assert below["start"] == 2 and below["count"] == 6
    assert contents(await page(client, session))[-1] == "You said: three"
    await session.arefresh_from_db()
    assert session.current_leaf_id == below["items"][-1]["id"]


async def test_switching_to_a_message_of_another_session_is_refused(client, session, alice):  # type: ignore[no-untyped-def]
    await say(client, session, "mine")
    other = await Session.objects.acreate(user=alice, model="fake/echo")
    foreign = await Message.objects.filter(session=session).afirst()
    response = await client.post(
        f"/api/sessions/{other.id}/switch", {"message_id": foreign.id}, content_type=JSON
    )
    assert response.status_code == 400 and "message_id" in response.json()["detail"]


async def test_regenerating_with_another_model_keeps_both_answers_and_the_session_model(
    client, session
):  # type: ignore[no-untyped-def]
    await say(client, session, "compare")
    await say(client, session, "and again")
    question = (await page(client, session))["items"][0]
    events = await turn(client, session, answer_of=question["id"], model="fake/vision")
    assert "done" in events
    body = await page(client, session)
    answer = body["items"][1]
    assert answer["model"] == "vision" and len(answer["siblings"]) == 2
    assert contents(body) == ["compare", "I see 0 image(s)."]
    await session.arefresh_from_db()
    assert session.model == "fake/echo"
    first_answer = await Message.objects.aget(pk=answer["siblings"][0])
    assert first_answer.content.strip() == "You said: compare"


async def test_answering_a_message_of_another_user_names_the_field(client, session, bob):  # type: ignore[no-untyped-def]
    bobs = await Session.objects.acreate(user=bob, model="fake/echo")
    theirs = await Message.objects.acreate(session=bobs, role="user", content="bob's")
    events = await turn(client, session, answer_of=theirs.id)
    assert events["http"]["status"] == 400 and "answer_of" in events["http"]["detail"]
    events = await turn(client, session, edit_of=theirs.id, content="x")
    assert events["http"]["status"] == 400 and "edit_of" in events["http"]["detail"]


# --- failures ------------------------------------------------------------------------


async def test_a_failure_before_the_first_token_is_stored_and_retried_in_place(
    client, session, fake_llm
):  # type: ignore[no-untyped-def]
    events = await turn(client, session, content="will it work?", model="fake/broken")
    assert events["error"]["code"] and "overloaded" not in events["error"]["message"]
    body = await page(client, session)
    question, failed = body["items"]
    assert (failed["status"], failed["parent_id"]) == ("error", question["id"])
    assert failed["error_code"] == events["error"]["code"] and failed["error"]
    await session.arefresh_from_db()
    assert session.current_leaf_id == failed["id"]

    events = await turn(client, session, answer_of=question["id"], model="fake/echo")
    assert "done" in events
    assert await Message.objects.filter(session=session, role="user").acount() == 1
    retried = (await page(client, session))["items"][1]
    assert retried["siblings"] == [failed["id"], retried["id"]]
    assert sent_upstream(fake_llm) == [("user", "will it work?")]


async def test_a_new_question_after_a_failure_replaces_the_failed_one(client, session, fake_llm):  # type: ignore[no-untyped-def]
    await say(client, session, "first")
    await turn(client, session, content="lost", model="fake/broken")
    await say(client, session, "found", model="fake/echo")
    assert sent_upstream(fake_llm) == [
        ("user", "first"),
        ("assistant", "You said: first"),
        ("user", "found"),
    ]
    body = await page(client, session)
    assert contents(body) == ["first", "You said: first", "found", "You said: found"]
    assert len(body["items"][2]["siblings"]) == 2  # the failed question is a version


async def test_a_failure_mid_stream_keeps_the_partial_text(client, session):  # type: ignore[no-untyped-def]
    events = await turn(client, session, content="a b c", model="fake/flaky")
    assert "error" in events
    failed = (await page(client, session))["items"][1]
    assert failed["status"] == "error" and failed["content"] == "You said: "
    assert failed["error_code"] and failed["id"] == events["error"]["message_id"]


# --- stopped answers -----------------------------------------------------------------


async def stopped_answer(session: Session, alice: Any) -> Message:
    request = RequestFactory().post("/api/chat/stream")
    request.user = alice
    payload = ChatStreamIn(session_id=str(session.id), content="go", model="fake/slow")
    turn_ = await sync_to_async(chat.prepare)(request, payload, "req-stop")
    events = chat.relay(turn_)
    for _ in range(5):
        await anext(events)
    await events.aclose()
    return await Message.objects.aget(pk=turn_.answer.id)


async def test_a_stopped_answer_is_cut_to_what_was_shown_and_never_lengthened(
    client, session, alice
):  # type: ignore[no-untyped-def]
    answer = await stopped_answer(session, alice)
    assert answer.content == "word0 word1 word2 word3 "
    url = f"/api/messages/{answer.id}"
    longer = {"content": answer.content + "word4 ", "stopped": True}
    response = await client.patch(url, json.dumps(longer), content_type=JSON)
    assert response.status_code == 400 and "content" in response.json()["detail"]
    shown = {"content": "word0 word1 ", "stopped": True}
    response = await client.patch(url, json.dumps(shown), content_type=JSON)
    assert response.status_code == 200
    await answer.arefresh_from_db()
    assert (answer.content, answer.status) == ("word0 word1 ", "stopped")


async def test_only_a_stopped_answer_can_be_cut(client, session):  # type: ignore[no-untyped-def]
    await say(client, session, "fine")
    done = (await page(client, session))["items"][1]
    cut = {"content": "You", "stopped": True}
    response = await client.patch(f"/api/messages/{done['id']}", json.dumps(cut), content_type=JSON)
    assert response.status_code == 400 and "stopped" in response.json()["detail"]


# --- deletes and totals ----------------------------------------------------------------


async def test_deleting_a_message_removes_its_subtree_and_its_totals(client, session):  # type: ignore[no-untyped-def]
    await five_messages(client, session)
    await session.arefresh_from_db()
    assert session.message_count == 6 and session.total_tokens > 0
    second = (await page(client, session))["items"][2]
    assert (await client.delete(f"/api/messages/{second['id']}")).status_code == 204
    await session.arefresh_from_db()
    assert session.message_count == 2
    assert session.total_tokens == 7 + 3  # the first answer: 7 prompt + "You said: one"
    assert contents(await page(client, session)) == ["one", "You said: one"]


# --- find and paging ---------------------------------------------------------------------


def long_session(session: Session, n: int) -> list[int]:
    from console import conversations

    return [
        conversations.append(
            session, role="user" if i % 2 == 0 else "assistant", content=f"m{i}"
        ).id
        for i in range(n)
    ]


async def test_find_in_chat_searches_the_current_branch_only(client, session):  # type: ignore[no-untyped-def]
    await say(client, session, "the Aardvark question")
    await say(client, session, "unrelated")
    first = (await page(client, session))["items"][0]
    await turn(client, session, edit_of=first["id"], content="an aardvark, edited")
    response = await client.get(f"/api/sessions/{session.id}/search?q=AARDVARK")
    found = response.json()
    assert found["count"] == 2  # the edited question and its answer; not the old version
    assert all("aardvark" in item["snippet"].lower() for item in found["items"])
    assert (await client.get(f"/api/sessions/{session.id}/search?q=")).status_code == 422


async def test_a_page_around_a_message_far_back(client, session):  # type: ignore[no-untyped-def]
    ids = await sync_to_async(long_session)(session, 300)
    body = await page(client, session, f"around={ids[40]}&limit=20")
    assert [m["id"] for m in body["items"]] == ids[30:50]
    assert (body["start"], body["count"]) == (30, 300)
    after = await page(client, session, f"after={ids[49]}&limit=5")
    assert [m["id"] for m in after["items"]] == ids[50:55] and after["start"] == 50
    before = await page(client, session, f"before={ids[3]}&limit=50")
    assert [m["id"] for m in before["items"]] == ids[:3]


async def test_another_users_session_is_404_for_find_switch_and_paging(session, bob, client):  # type: ignore[no-untyped-def]
    await say(client, session, "private")
    other = AsyncClient()
    await other.aforce_login(bob)
    message = await Message.objects.filter(session=session).afirst()
    base = f"/api/sessions/{session.id}"
    assert (await other.get(f"{base}/search?q=private")).status_code == 404
    assert (await other.get(f"{base}/messages?around={message.id}")).status_code == 404
    switch = await other.post(f"{base}/switch", {"message_id": message.id}, content_type=JSON)
    assert switch.status_code == 404
    cut = json.dumps({"content": "", "stopped": True})
    assert (
        await other.patch(f"/api/messages/{message.id}", cut, content_type=JSON)
    ).status_code == 404


# --- a playground lists every answer of each prompt -----------------------------------


async def test_a_playground_page_holds_each_prompt_with_all_its_answers(
    client, alice, fake_provider
):  # type: ignore[no-untyped-def]
    playground = await Session.objects.acreate(user=alice, session_type="playground")
    for text in ("first", "second"):
        response = await client.post(
            f"/api/sessions/{playground.id}/messages", {"content": text}, content_type=JSON
        )
        prompt = response.json()
        for model in ("fake/echo", "fake/vision"):
            assert "done" in await turn(client, playground, answer_of=prompt["id"], model=model)
    body = await page(client, playground)
    assert [(m["role"], m["model"]) for m in body["items"]] == [
        ("user", ""),
        ("assistant", "echo"),
        ("assistant", "vision"),
        ("user", ""),
        ("assistant", "echo"),
        ("assistant", "vision"),
    ]
    assert body["count"] == 6


# --- a long history --------------------------------------------------------------------

LONG = 10_000


def seed_long_session(session: Session, n: int = LONG) -> list[int]:
    """n messages in one branch: inserted in bulk, then chained to their parents."""
    from console import conversations

    rows = [
        Message(session=session, role="user" if i % 2 == 0 else "assistant", content=f"m{i}")
        for i in range(n)
    ]
    rows = Message.objects.bulk_create(rows, batch_size=1000)
    for parent, child in zip(rows, rows[1:], strict=False):
        child.parent_id = parent.id
    Message.objects.bulk_update(rows[1:], ["parent"], batch_size=1000)
    conversations.move_leaf(session, rows[-1].id)
    conversations.recount(session)
    return [row.id for row in rows]


@pytest.mark.django_db
def test_the_first_screen_of_a_10000_message_session_is_quick(alice, as_alice) -> None:  # type: ignore[no-untyped-def]
    """The page costs a fixed few queries whatever the length (the tree is one query of
    two integer columns); the times are printed, for the README's figures, and bound
    loosely only: a shared test machine's load would make a tight bound flaky."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session = Session.objects.create(user=alice, model="fake/echo")
    seed_long_session(session)

    def median_ms(url: str) -> float:
        as_alice.get(url)  # warm: the first request imports and compiles
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert as_alice.get(url).status_code == 200
            timings.append((time.perf_counter() - started) * 1000)
        return sorted(timings)[2]

    newest_url = f"/api/sessions/{session.id}/messages?newest=true&limit=50"
    with CaptureQueriesContext(connection) as queries:
        assert len(as_alice.get(newest_url).json()["items"]) == 50
    assert len(queries) <= 6
    newest = median_ms(newest_url)
    chat_page = median_ms("/")
    found = median_ms(f"/api/sessions/{session.id}/search?q=m9999")
    print(f"{LONG} messages: newest page {newest:.1f} ms, chat page {chat_page:.1f} ms, "
          f"find {found:.1f} ms (medians of 5)")  # fmt: skip
    assert newest < 2000  # the goal is 100 ms (about 60 ms on an idle machine)
