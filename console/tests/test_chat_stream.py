"""POST /api/chat/stream through the real gateway to a fake upstream on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, RequestFactory

from console import chat
from console.models import Message, Session
from console.schemas import ChatStreamIn
from usage.models import UsageLog

pytestmark = pytest.mark.django_db(transaction=True)

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/"
    "PchI7wAAAABJRU5ErkJggg=="
)


def parse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def stream(client: AsyncClient, **body: Any) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    response = await client.post("/api/chat/stream", body, content_type="application/json")
    if not response.streaming:
        return response.status_code, [("http", response.json())]
    raw = b"".join([part async for part in response.streaming_content])
    return response.status_code, parse(raw)


def text_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for name, data in events if name == "token")


@pytest.fixture(autouse=True)
async def _upstream_client_closed():  # type: ignore[no-untyped-def]
    """Close the database connection the sync_to_async thread opened (PostgreSQL would
    otherwise refuse to drop the test database). The gateway's session closes with the
    test's event loop (chat.http)."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
async def alice_async(alice) -> AsyncClient:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(alice)
    return client


@pytest.fixture
def session(alice, fake_provider) -> Session:  # type: ignore[no-untyped-def]
    return Session.objects.create(user=alice, title="New chat", model="fake/echo")


async def messages_of(session: Session) -> list[Message]:
    return [m async for m in Message.objects.filter(session=session).order_by("id")]


async def usage_rows() -> list[UsageLog]:
    return [u async for u in UsageLog.objects.order_by("id")]


async def test_it_streams_tokens_then_usage_then_done(alice_async, session):  # type: ignore[no-untyped-def]
    status, events = await stream(alice_async, session_id=str(session.id), content="hi there")
    assert status == 200
    names = [name for name, _ in events]
    assert names[:2] == ["start", "token"] and names[-2:] == ["usage", "done"]
    assert dict(events)["start"]["message_id"] == dict(events)["done"]["message_id"]
    assert text_of(events).strip() == "You said: hi there"
    usage = dict(events)["usage"]
    assert usage["prompt_tokens"] == 7 and usage["completion_tokens"] == 4
    assert usage["cost_usd"] == pytest.approx(7 * 0.000001 + 4 * 0.000002)


async def test_it_stores_the_user_message_and_the_answer_as_rows(alice_async, session):  # type: ignore[no-untyped-def]
    _, events = await stream(alice_async, session_id=str(session.id), content="hi there")
    user, answer = await messages_of(session)
    assert (user.role, user.content) == ("user", "hi there")
    assert (answer.role, answer.status, answer.model) == ("assistant", "ok", "echo")
    assert answer.content.strip() == "You said: hi there"
    assert dict(events)["done"]["message_id"] == answer.id
    assert answer.completion_tokens == 4 and answer.cost_usd > 0


async def test_the_gateway_writes_one_usage_record_for_the_session(alice_async, session, alice):  # type: ignore[no-untyped-def]
    await stream(alice_async, session_id=str(session.id), content="hi")
    [log] = await usage_rows()
    assert (log.source, log.user_id, log.session_id, log.status) == (
        "console",
        alice.id,
        session.id,
        "ok",
    )
    assert log.stream is True


async def test_the_first_message_titles_the_session(alice_async, session):  # type: ignore[no-untyped-def]
    await stream(alice_async, session_id=str(session.id), content="Plan a trip to Lisbon\nplease")
    await session.arefresh_from_db()
    assert session.title == "Plan a trip to Lisbon"


async def test_the_body_comes_from_profile_overrides_and_history(
    alice_async, session, terse, fake_llm
):  # type: ignore[no-untyped-def]
    session.profile = terse
    session.overrides = {"max_tokens": 99}
    await session.asave()
    await stream(alice_async, session_id=str(session.id), content="first")
    await stream(alice_async, session_id=str(session.id), content="second")
    body = fake_llm.requests[-1]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 99
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][0]["content"] == "Answer in one line."
    assert body["messages"][-1]["content"] == "second"


async def test_switching_profile_in_the_request_sticks_to_the_session(
    alice_async, session, terse, fake_llm
):  # type: ignore[no-untyped-def]
    await stream(alice_async, session_id=str(session.id), content="x", profile_id=terse.id)
    assert fake_llm.requests[-1]["messages"][0]["content"] == "Answer in one line."
    await session.arefresh_from_db()
    assert session.profile_id == terse.id


async def test_an_unknown_model_is_an_error_event_and_the_prompt_is_kept(alice_async, session):  # type: ignore[no-untyped-def]
    status, events = await stream(
        alice_async, session_id=str(session.id), content="hello?", model="nobody/none"
    )
    assert status == 200
    [(_, start), (name, data)] = events
    assert name == "error" and data["code"] == "model_not_found" and data["message"]
    user, failed = await messages_of(session)
    assert user.content == "hello?"
    assert (failed.status, failed.error_code) == ("error", "model_not_found")
    assert failed.parent_id == user.id and failed.error == data["message"]
    assert data["message_id"] == start["message_id"] == failed.id
    [log] = await usage_rows()
    assert log.status == "error"


async def test_an_upstream_503_is_an_error_event(alice_async, session):  # type: ignore[no-untyped-def]
    _, events = await stream(
        alice_async, session_id=str(session.id), content="x", model="fake/broken"
    )
    [(_, _), (name, data)] = events
    assert name == "error" and data["status"] >= 500


async def test_a_mid_stream_failure_keeps_the_partial_answer(alice_async, session):  # type: ignore[no-untyped-def]
    _, events = await stream(
        alice_async, session_id=str(session.id), content="a b c d", model="fake/flaky"
    )
    assert [name for name, _ in events][-1] == "error"
    assert text_of(events) == "You said: "
    _, answer = await messages_of(session)
    assert (answer.status, answer.content) == ("error", "You said: ")
    [log] = await usage_rows()
    assert log.status == "error"


async def test_a_stopped_stream_stores_the_partial_answer_and_one_usage_record(session, alice):  # type: ignore[no-untyped-def]
    request = RequestFactory().post("/api/chat/stream")
    request.user = alice
    payload = ChatStreamIn(session_id=str(session.id), content="go", model="fake/slow")
    turn = await sync_to_async(chat.prepare)(request, payload, "req-stop")
    events = chat.relay(turn)
    received = [await anext(events) for _ in range(4)]
    await events.aclose()  # what a client disconnect does to the response's iterator
    assert received[0].startswith("event: start")
    assert all(e.startswith("event: token") for e in received[1:])
    _, answer = await messages_of(session)
    assert answer.status == "stopped"
    assert answer.content == "word0 word1 word2 "
    [log] = await usage_rows()
    assert (log.status, log.request_id, log.session_id) == ("cancelled", "req-stop", session.id)


async def test_regenerate_adds_a_sibling_answer_and_keeps_the_first(alice_async, session, fake_llm):  # type: ignore[no-untyped-def]
    await stream(alice_async, session_id=str(session.id), content="once")
    _, events = await stream(alice_async, session_id=str(session.id), regenerate=True)
    assert text_of(events).strip() == "You said: once"
    user, first, second = await messages_of(session)
    assert (first.parent_id, second.parent_id) == (user.id, user.id)
    assert dict(events)["done"]["message_id"] == second.id
    await session.arefresh_from_db()
    assert session.current_leaf_id == second.id
    assert [m["role"] for m in fake_llm.requests[-1]["messages"]] == ["user"]


async def test_editing_the_last_user_message_and_resending(alice_async, session):  # type: ignore[no-untyped-def]
    await stream(alice_async, session_id=str(session.id), content="typo")
    _, events = await stream(
        alice_async, session_id=str(session.id), content="fixed", regenerate=True
    )
    assert text_of(events).strip() == "You said: fixed"
    typo, first_answer, fixed, answer = await messages_of(session)
    assert (typo.content, fixed.content) == ("typo", "fixed")
    assert fixed.parent_id == typo.parent_id and answer.parent_id == fixed.id
    assert answer.content.strip() == "You said: fixed"
    assert first_answer.parent_id == typo.id  # the old version keeps its answer


async def test_images_reach_a_vision_model_as_image_parts(alice_async, session, fake_llm):  # type: ignore[no-untyped-def]
    _, events = await stream(
        alice_async,
        session_id=str(session.id),
        content="what is this?",
        images=[PIXEL],
        model="fake/vision",
    )
    assert text_of(events) == "I see 1 image(s)."
    parts = fake_llm.requests[-1]["messages"][-1]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": PIXEL}}
    user, _ = await messages_of(session)
    assert user.images == [PIXEL]


async def test_a_playground_answers_one_prompt_with_several_models(
    alice_async, alice, fake_provider
):  # type: ignore[no-untyped-def]
    session = await Session.objects.acreate(
        user=alice, session_type="playground", model="fake/echo"
    )
    prompt = await Message.objects.acreate(session=session, role="user", content="compare")
    for model in ("fake/echo", "fake/vision"):
        _, events = await stream(
            alice_async, session_id=str(session.id), reply_to=prompt.id, model=model
        )
        assert dict(events)["done"]
    messages = await messages_of(session)
    assert [(m.role, m.model) for m in messages] == [
        ("user", ""),
        ("assistant", "echo"),
        ("assistant", "vision"),
    ]


async def test_bad_requests_are_named_before_any_stream(alice_async, session):  # type: ignore[no-untyped-def]
    status, [(_, body)] = await stream(alice_async, session_id=str(session.id), content="  ")
    assert status == 400 and body["detail"].startswith("content")
    status, [(_, body)] = await stream(
        alice_async, session_id=str(session.id), content="x", images=["nope"]
    )
    assert status == 422 and body["detail"].startswith("images")
    status, [(_, body)] = await stream(alice_async, content="x")
    assert status == 422 and body["detail"].startswith("session_id")


async def test_a_session_without_model_asks_for_one(alice_async, alice, fake_provider):  # type: ignore[no-untyped-def]
    session = await Session.objects.acreate(user=alice)
    status, [(_, body)] = await stream(alice_async, session_id=str(session.id), content="x")
    assert status == 400 and body["detail"].startswith("model")


async def test_another_users_session_answers_404(bob, session):  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(bob)
    status, [(_, body)] = await stream(client, session_id=str(session.id), content="x")
    assert status == 404
    assert await Message.objects.filter(session=session).acount() == 0


async def test_it_needs_a_login(session):  # type: ignore[no-untyped-def]
    status, _ = await stream(AsyncClient(), session_id=str(session.id), content="x")
    assert status == 401
