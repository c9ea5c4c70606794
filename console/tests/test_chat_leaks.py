"""A console user never sees the upstream's text: the code and a plain message; the
(scrubbed) detail goes to the log."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from chat.tests.canary import (
    CANARY,
    OTHER_CANARY,
    assert_no_canary,
    echo_body,
    in_stream_error,
)
from chat.tests.upstreams import fake_anthropic, fake_gemini, fake_openai  # noqa: F401
from console.models import Message, Session
from providers.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _thread_connections_closed():  # type: ignore[no-untyped-def]
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture(params=["openai", "anthropic", "gemini"])
def leaky(request: pytest.FixtureRequest, transactional_db: Any) -> Any:
    kind = request.param
    server = request.getfixturevalue(f"fake_{kind}")
    Provider.objects.create(
        name="leaky", kind=kind, base_url=server.base_url, api_key=CANARY, models=["m"]
    )
    Provider.objects.create(name="other", base_url="http://127.0.0.1:9/v1", api_key=OTHER_CANARY)
    server.kind_name = kind
    return server


async def chat(alice: Any) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    client = AsyncClient()
    await client.aforce_login(alice)
    session = await Session.objects.acreate(user=alice, title="t", model="leaky/m")
    response = await client.post(
        "/api/chat/stream",
        {"session_id": str(session.id), "content": "hi"},
        content_type="application/json",
    )
    raw = b"".join([part async for part in response.streaming_content]).decode()
    events = []
    for block in raw.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return raw, events


@pytest.mark.parametrize("status", [400, 404, 422, 500])
async def test_a_status_error_is_a_plain_message_and_a_code(
    leaky, alice, read_logs, status
) -> None:  # type: ignore[no-untyped-def]
    leaky.fail(status, echo_body(leaky.kind_name, status))

    raw, events = await chat(alice)

    [(first, _), (name, data)] = events
    assert first == "start"
    assert name == "error" and data["code"]
    assert "Incorrect API key" not in data["message"]  # the upstream's words stay out
    stored = await Message.objects.aget(pk=data["message_id"])  # the failure is kept, plainly
    assert (stored.status, stored.error_code) == ("error", data["code"])
    assert stored.error == data["message"]
    assert_no_canary(stored.error)
    assert_no_canary(raw)
    logs = read_logs()
    assert "Incorrect API key provided: [redacted]" in logs  # the detail, for an operator
    assert_no_canary(logs)


async def test_a_mid_stream_error_is_plain_and_the_stored_message_too(
    leaky, alice, read_logs
) -> None:  # type: ignore[no-untyped-def]
    leaky.stream(["Hello", in_stream_error(leaky.kind_name)], delay_between=0.2)

    raw, events = await chat(alice)

    assert [name for name, _ in events][-1] == "error"
    assert_no_canary(raw)
    answer = await Message.objects.filter(role="assistant").alast()
    assert answer is not None and answer.status == "error"
    assert_no_canary(answer.error)
    assert_no_canary(read_logs())
