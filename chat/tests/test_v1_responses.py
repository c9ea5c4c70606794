"""/v1/responses (DESIGN.md "Other dialects"): the official openai SDK against a running
Switchboard, with real loopback upstreams speaking OpenAI's Responses (passthrough) and
chat completions, Anthropic and Gemini (translated)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import openai
import pytest
from django.utils import timezone

from chat.models import ApiKey, StoredResponse
from chat.tasks import prune_stored_responses
from providers.models import Provider
from routing.models import Route, RouteNode

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


@pytest.fixture
def key(live_gateway: str) -> str:
    return ApiKey.issue("agent", scopes=["chat"])[1]


@pytest.fixture
def client(live_gateway: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_gateway}/v1", api_key=key, max_retries=0, timeout=15)


def provider(name: str, kind: str, base_url: str, model: str = "gpt-test") -> Provider:
    return Provider.objects.create(
        name=name, kind=kind, base_url=base_url, api_key=f"sk-{name}", models=[model]
    )


def route(name: str, *providers: Provider) -> Route:
    created = Route.objects.create(name=name, mode="auto")
    for priority, member in enumerate(providers):
        RouteNode.objects.create(
            route=created,
            provider=member,
            models=[member.models[0]],
            strategy="failover",
            priority=priority,
        )
    return created


# --- translated through chat completions -------------------------------------------------


def test_a_plain_string_input_becomes_a_response(client, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    fake_openai.reply("Four.", usage=(12, 3))

    response = client.responses.create(
        model="compat/gpt-test", input="What is 2 + 2?", instructions="Be brief."
    )

    assert response.output_text == "Four."
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 3)
    [sent] = fake_openai.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    [log] = usage_logs()
    assert (log.source, log.status, log.provider, log.model) == (
        "responses", "ok", "compat", "gpt-test"
    )  # fmt: skip
    assert (log.prompt_tokens, log.completion_tokens) == (12, 3)


def test_items_with_text_and_images_translate_to_chat_parts(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    image = "data:image/png;base64,iVBORw0KGgo="

    client.responses.create(
        model="compat/gpt-test",
        input=[
            {"role": "developer", "content": "Describe images."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": image, "detail": "low"},
                ],
            },
        ],
        max_output_tokens=50,
        temperature=0.2,
    )

    [sent] = fake_openai.requests
    assert sent["json"]["messages"] == [
        {"role": "system", "content": "Describe images."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            ],
        },
    ]
    assert (sent["json"]["max_tokens"], sent["json"]["temperature"]) == (50, 0.2)


def test_a_tool_round_trip_through_function_call_output(client, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    provider("claude", "anthropic", fake_anthropic.base_url, "claude-test")
    fake_anthropic.reply("", tool_calls=[{"id": "toolu_1", "name": "get_weather",
                                          "arguments": {"city": "Paris"}}])  # fmt: skip
    fake_anthropic.reply("Sunny in Paris.")

    first = client.responses.create(
        model="claude/claude-test", input="Weather in Paris?", tools=[WEATHER]
    )
    [call] = first.output
    assert (call.type, call.name, call.call_id) == ("function_call", "get_weather", "toolu_1")
    assert json.loads(call.arguments) == {"city": "Paris"}

    second = client.responses.create(
        model="claude/claude-test",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
    )

    assert second.output_text == "Sunny in Paris."
    assert second.previous_response_id == first.id
    sent = fake_anthropic.requests[1]["json"]
    assert sent["tools"][0]["name"] == "get_weather"
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"
    result = sent["messages"][2]["content"][0]
    assert (result["type"], result["tool_use_id"], result["content"]) == (
        "tool_result", "toolu_1", "sunny"
    )  # fmt: skip


def test_text_format_json_schema_reaches_the_upstream(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    fake_openai.reply('{"answer": 4}')
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }

    response = client.responses.create(
        model="compat/gpt-test",
        input="2 + 2?",
        text={"format": {"type": "json_schema", "name": "sum", "schema": schema, "strict": True}},
        reasoning={"effort": "low"},
        tool_choice="auto",
    )

    assert json.loads(response.output_text) == {"answer": 4}
    sent = fake_openai.requests[0]["json"]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "sum", "schema": schema, "strict": True},
    }
    assert (sent["reasoning_effort"], sent["tool_choice"]) == ("low", "auto")


def test_a_translated_stream_through_the_sdk_stream_helper(  # type: ignore[no-untyped-def]
    client, fake_gemini, usage_logs
) -> None:
    provider("gem", "gemini", fake_gemini.base_url, "gemini-test")
    fake_gemini.stream(["Hello ", "there ", "friend."], usage=(7, 3))

    with client.responses.stream(model="gem/gemini-test", input="Hi") as stream:
        events = list(stream)
        final = stream.get_final_response()

    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.done" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello there friend."
    assert final.output_text == "Hello there friend."
    assert (final.usage.input_tokens, final.usage.output_tokens) == (7, 3)
    [log] = usage_logs()
    assert (log.source, log.stream, log.prompt_tokens, log.completion_tokens) == (
        "responses", True, 7, 3
    )  # fmt: skip
    # Stored like a non-streaming answer.
    assert client.responses.retrieve(final.id).output_text == "Hello there friend."


def test_a_streamed_tool_call_sends_argument_events(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    fake_openai.reply("", tool_calls=[{"id": "call_9", "name": "get_weather",
                                       "arguments": {"city": "Oslo"}}])  # fmt: skip

    with client.responses.stream(model="compat/gpt-test", input="Oslo?", tools=[WEATHER]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()

    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    [call] = final.output
    assert (call.type, call.call_id, json.loads(call.arguments)) == (
        "function_call", "call_9", {"city": "Oslo"}
    )  # fmt: skip


def test_a_mid_stream_failure_is_response_failed(
    live_gateway, key, fake_openai, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    fake_openai.stream(["one ", "two ", "three"], cut_after=2)

    with httpx.Client(timeout=15) as http:
        reply = http.post(
            f"{live_gateway}/v1/responses",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "compat/gpt-test", "input": "count", "stream": True},
        )

    assert reply.status_code == 200
    assert "[DONE]" not in reply.text
    names = [line[len("event: ") :] for line in reply.text.splitlines() if line.startswith("event")]
    assert names[-1] == "response.failed"
    assert "response.completed" not in names
    [log] = usage_logs()
    assert (log.status, log.error_code) == ("error", "upstream_stream_error")


# --- passthrough to an openai provider ----------------------------------------------------


def test_an_openai_provider_gets_its_own_responses_endpoint(
    client, fake_openai, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    provider("openai", "openai", fake_openai.base_url)
    fake_openai.reply("Native answer.", usage=(20, 4))

    response = client.responses.create(
        model="openai/gpt-test", input="Hi", reasoning={"effort": "minimal"}, store=True
    )

    assert response.output_text == "Native answer."
    [sent] = fake_openai.requests
    assert sent["path"] == "/v1/responses"
    assert sent["headers"]["authorization"] == "Bearer sk-openai"
    assert sent["json"]["model"] == "gpt-test"
    assert sent["json"]["reasoning"] == {"effort": "minimal"}
    assert sent["json"]["input"] == [{"type": "message", "role": "user", "content": "Hi"}]
    [log] = usage_logs()
    assert (log.source, log.prompt_tokens, log.completion_tokens) == ("responses", 20, 4)
    assert client.responses.retrieve(response.id).output_text == "Native answer."


def test_a_native_stream_is_relayed(client, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    provider("openai", "openai", fake_openai.base_url)
    fake_openai.stream(["A ", "B"], usage=(5, 2))

    with client.responses.stream(model="openai/gpt-test", input="Hi") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()

    assert text == "A B"
    assert final.output_text == "A B"
    assert fake_openai.requests[0]["json"]["stream"] is True
    [log] = usage_logs()
    assert (log.stream, log.prompt_tokens, log.completion_tokens) == (True, 5, 2)
    assert client.responses.retrieve(final.id).output_text == "A B"


def test_a_failing_openai_provider_fails_over_to_a_translated_one(  # type: ignore[no-untyped-def]
    client, fake_openai, fake_anthropic, usage_logs
) -> None:
    route(
        "smart",
        provider("openai", "openai", fake_openai.base_url),
        provider("claude", "anthropic", fake_anthropic.base_url, "claude-test"),
    )
    fake_openai.fail(503)
    fake_anthropic.reply("From Claude.")

    response = client.responses.create(model="smart", input="Hi")

    assert response.output_text == "From Claude."
    [log] = usage_logs()
    assert (log.provider, log.attempts) == ("claude", 2)


# --- stored responses ---------------------------------------------------------------------


def test_previous_response_id_sends_the_earlier_turns(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    fake_openai.reply("Nice to meet you, Ada.")
    fake_openai.reply("Your name is Ada.")

    first = client.responses.create(model="compat/gpt-test", input="I am Ada.")
    client.responses.create(
        model="compat/gpt-test", input="What is my name?", previous_response_id=first.id
    )

    assert fake_openai.requests[1]["json"]["messages"] == [
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is my name?"},
    ]


def test_a_stored_responses_input_items_are_listed(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    first = client.responses.create(model="compat/gpt-test", input="I am Ada.")
    second = client.responses.create(
        model="compat/gpt-test", input="Who am I?", previous_response_id=first.id
    )

    items = client.responses.input_items.list(second.id, order="asc").data

    assert [item.type for item in items] == ["message", "message", "message"]
    assert [item.role for item in items] == ["user", "assistant", "user"]  # type: ignore[union-attr]


def test_a_stored_response_belongs_to_its_key(live_gateway, client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    made = client.responses.create(model="compat/gpt-test", input="Hi")
    other = openai.OpenAI(
        base_url=f"{live_gateway}/v1",
        api_key=ApiKey.issue("other", scopes=["chat"])[1],
        max_retries=0,
    )

    assert client.responses.retrieve(made.id).output_text == made.output_text
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="compat/gpt-test", input="x", previous_response_id=made.id)

    client.responses.delete(made.id)

    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


def test_store_false_keeps_nothing(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    made = client.responses.create(model="compat/gpt-test", input="Hi", store=False)

    assert not StoredResponse.objects.exists()
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


def test_expired_responses_are_invisible_then_pruned(client, fake_openai, settings) -> None:  # type: ignore[no-untyped-def]
    provider("compat", "openai_compatible", fake_openai.base_url)
    made = client.responses.create(model="compat/gpt-test", input="Hi")
    kept = client.responses.create(model="compat/gpt-test", input="Hi again")
    stored = StoredResponse.objects.get(id=made.id)
    assert stored.expires_at > timezone.now() + timedelta(days=29)
    StoredResponse.objects.filter(id=made.id).update(expires_at=timezone.now())

    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)
    assert prune_stored_responses() == 1
    assert list(StoredResponse.objects.values_list("id", flat=True)) == [kept.id]


# --- refusals -------------------------------------------------------------------------------


def test_what_cannot_be_translated_is_refused_by_name(client, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    provider("claude", "anthropic", fake_anthropic.base_url, "claude-test")

    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="claude/claude-test", input="Hi", tools=[{"type": "web_search"}]
        )

    error = refused.value.body
    assert (error["code"], error["param"]) == ("unsupported_parameter", "tools[0].type")
    assert fake_anthropic.requests == []


def test_a_bad_input_is_400_naming_it(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="x", input=[])
    assert refused.value.body["param"] == "input"


def test_reasoning_effort_reaches_anthropic_and_its_thinking_comes_back(  # type: ignore[no-untyped-def]
    client, fake_claude
) -> None:
    provider("claude", "anthropic", fake_claude.base_url, "claude-test")
    fake_claude.think("Two and two.", "4").think("Two and two.", "4")

    made = client.responses.create(
        model="claude/claude-test", input="2 + 2?", reasoning={"effort": "high"}
    )
    with client.responses.stream(model="claude/claude-test", input="2 + 2?") as stream:
        kinds = [event.type for event in stream]
        streamed = stream.get_final_response()

    assert fake_claude.requests[0]["json"]["thinking"]["budget_tokens"] == 24576
    for response in (made, streamed):
        reasoning, message = response.output
        assert reasoning.type == "reasoning"
        assert reasoning.summary[0].text == "Two and two."
        assert response.output_text == "4"
    assert "response.reasoning_summary_text.delta" in kinds


def test_a_native_stream_that_breaks_ends_with_response_failed(  # type: ignore[no-untyped-def]
    live_gateway, key, fake_openai, usage_logs
) -> None:
    provider("openai", "openai", fake_openai.base_url)
    fake_openai.stream(["one ", "two ", "three"], cut_after=2)

    with httpx.Client(timeout=15) as http:
        reply = http.post(
            f"{live_gateway}/v1/responses",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "openai/gpt-test", "input": "count", "stream": True},
        )

    events = [
        json.loads(line[len("data: ") :])
        for line in reply.text.splitlines()
        if line.startswith("data: ")
    ]
    assert events[-1]["type"] == "response.failed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert not StoredResponse.objects.exists()
    [log] = usage_logs()
    assert (log.status, log.error_code) == ("error", "upstream_stream_error")


def test_reasoning_made_elsewhere_is_not_sent_to_openai(  # type: ignore[no-untyped-def]
    client, fake_claude, fake_openai
) -> None:
    provider("claude", "anthropic", fake_claude.base_url, "claude-test")
    provider("openai", "openai", fake_openai.base_url)
    fake_claude.think("Hm.", "4")
    first = client.responses.create(model="claude/claude-test", input="2 + 2?")

    client.responses.create(
        model="openai/gpt-test", input="And 3 + 3?", previous_response_id=first.id
    )

    sent = fake_openai.requests[0]["json"]["input"]
    assert [item.get("type") for item in sent] == ["message", "message", "message"]
    assert sent[1]["content"][0]["text"] == "4"
