"""/v1/messages and /v1/messages/count_tokens (DESIGN.md "Other dialects"): the official
anthropic SDK against a running Switchboard, with real loopback upstreams speaking
Anthropic (passthrough), OpenAI and Gemini (translated)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest

from chat.models import ApiKey
from chat.tests.claude_upstream import REDACTED, TAMPERED, sign
from providers.models import ModelInfo, Provider
from routing.models import Route, RouteNode

MODEL = "claude-sonnet-4-5"
USER = {"role": "user", "content": "What is 2 + 2?"}
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def key(live_gateway: str) -> str:
    return ApiKey.issue("claude-code", scopes=["chat"])[1]


@pytest.fixture
def claude(live_gateway: str, key: str) -> anthropic.Anthropic:
    """The SDK as Claude Code configures it: ANTHROPIC_BASE_URL is the server's root."""
    return anthropic.Anthropic(base_url=live_gateway, api_key=key, max_retries=0, timeout=15)


@pytest.fixture
def http(live_gateway: str, key: str) -> httpx.Client:
    with httpx.Client(base_url=live_gateway, headers={"x-api-key": key}, timeout=15) as client:
        yield client


def provider(name: str, kind: str, base_url: str, model: str = MODEL) -> Provider:
    return Provider.objects.create(
        name=name, kind=kind, base_url=base_url, api_key=f"sk-{name}", models=[model]
    )


def route(name: str, *providers: Provider) -> Route:
    """A failover route over `providers`, in order, each serving its own first model."""
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


def events_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of an Anthropic event stream as a client reads it."""
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


# --- passthrough to an anthropic provider ------------------------------------------------


def test_a_message_passes_through_with_only_the_model_replaced(
    claude, fake_claude, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    fake_claude.think("Two and two make four.", "4")

    message = claude.messages.create(model=f"anthropic/{MODEL}", max_tokens=256, messages=[USER])

    thinking, redacted, text = message.content
    assert thinking.type == "thinking"
    assert thinking.signature == sign("Two and two make four.")
    assert (redacted.type, redacted.data) == ("redacted_thinking", REDACTED)
    assert text.text == "4"
    [sent] = fake_claude.requests
    assert json.loads(sent["raw"]) == {"model": MODEL, "max_tokens": 256, "messages": [USER]}
    assert sent["headers"]["x-api-key"] == "sk-anthropic"
    # The client's own version travels on (the SDK's, here).
    assert sent["headers"]["anthropic-version"] == claude.default_headers["anthropic-version"]
    [log] = usage_logs()
    assert (log.source, log.status, log.provider) == ("messages", "ok", "anthropic")
    assert log.model == MODEL
    assert (log.prompt_tokens, log.completion_tokens, log.estimated) == (12, 7, False)


def test_a_claude_code_request_arrives_byte_for_byte_except_model(
    http, fake_claude, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    route("sonnet", provider("anthropic", "anthropic", fake_claude.base_url))
    tools = [
        {
            "name": f"Tool{number}",
            "description": f"Tool number {number} — does things ✓",
            "input_schema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"path": {"type": "string", "description": "A path"}},
                "required": ["path"],
                "additionalProperties": False,
            },
        }
        for number in range(20)
    ]
    tools[-1]["cache_control"] = {"type": "ephemeral"}
    body = {
        "model": "sonnet",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>héllo</system-reminder>"},
                    {"type": "text", "text": "Fix the bug", "cache_control": {"type": "ephemeral"}},
                ],
            }
        ],
        "temperature": 1,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}},
        ],
        "tools": tools,
        "metadata": {"user_id": "user_0123_account_4567_session_89ab"},
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "stream": True,
        "a_field_from_the_future": {"nested": [1, 2.50, None]},
    }
    # Spacing and escapes a re-encoder would change.
    raw = json.dumps(body, separators=(", ", ":  "), ensure_ascii=True).encode()
    beta = "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming"
    fake_claude.think("Looking at the code.", "Fixed.")

    response = http.post(
        "/v1/messages",
        content=raw,
        headers={
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": beta,
        },
    )

    assert response.status_code == 200
    [sent] = fake_claude.requests
    assert sent["raw"] == raw.replace(b'"model":  "sonnet"', f'"model":  "{MODEL}"'.encode())
    assert sent["headers"]["anthropic-beta"] == beta
    assert [name for name, _ in events_of(response.text)][-1] == "message_stop"
    [log] = usage_logs()
    assert (log.route, log.stream, log.status) == ("sonnet", True, "ok")


def test_a_signed_thinking_block_survives_the_second_turn(claude, fake_claude) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    fake_claude.think("Two and two make four.", "It is 4.").think("Doubling 4.", "It is 8.")
    thinking = {"type": "enabled", "budget_tokens": 1024}

    with claude.messages.stream(
        model=f"anthropic/{MODEL}", max_tokens=2048, thinking=thinking, messages=[USER]
    ) as stream:
        text = "".join(stream.text_stream)
        first = stream.get_final_message()
    assert text == "It is 4."
    assert first.content[0].signature == sign("Two and two make four.")
    history = [
        USER,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "And doubled?"},
    ]

    second = claude.messages.create(
        model=f"anthropic/{MODEL}", max_tokens=2048, thinking=thinking, messages=history
    )

    assert second.content[-1].text == "It is 8."
    sent = fake_claude.requests[1]["json"]["messages"][1]["content"]
    assert sent[0]["signature"] == sign("Two and two make four.")
    assert sent[1] == {"type": "redacted_thinking", "data": REDACTED}
    # The upstream really checks: an altered block is refused, and the client hears it.
    history[1]["content"][0]["thinking"] = "Two and two make five."
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(model=f"anthropic/{MODEL}", max_tokens=2048, messages=history)
    assert TAMPERED in str(refused.value)
    assert refused.value.body["error"]["type"] == "invalid_request_error"


def test_anthropic_beta_reaches_the_upstream(claude, fake_claude) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    claude.beta.messages.create(
        model=f"anthropic/{MODEL}",
        max_tokens=64,
        messages=[USER],
        betas=["context-1m-2025-08-07", "token-efficient-tools-2025-02-19"],
    )
    [sent] = fake_claude.requests
    beta = sent["headers"]["anthropic-beta"]
    assert beta == "context-1m-2025-08-07,token-efficient-tools-2025-02-19"


@pytest.mark.parametrize("stream", [False, True])
def test_cache_tokens_are_recorded_and_priced_apart(
    claude, fake_claude, usage_logs, stream
) -> None:  # type: ignore[no-untyped-def]
    upstream = provider("anthropic", "anthropic", fake_claude.base_url)
    ModelInfo.objects.create(
        provider=upstream,
        model_id=MODEL,
        prompt_price=Decimal("0.000003"),
        completion_price=Decimal("0.000015"),
        cache_read_price=Decimal("0.0000003"),
        cache_write_price=Decimal("0.00000375"),
    )
    usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 1000,
        "output_tokens": 5,
    }
    fake_claude.think("Cached.", "Done.", usage=usage)
    request = {"model": f"anthropic/{MODEL}", "max_tokens": 64, "messages": [USER]}

    if stream:
        with claude.messages.stream(**request) as events:
            answer = events.get_final_message()
    else:
        answer = claude.messages.create(**request)

    assert answer.usage.cache_read_input_tokens == 1000
    [log] = usage_logs()
    assert (log.prompt_tokens, log.cache_read_tokens, log.cache_write_tokens) == (1210, 1000, 200)
    assert log.completion_tokens == 5
    expected = (
        10 * Decimal("0.000003")
        + 1000 * Decimal("0.0000003")
        + 200 * Decimal("0.00000375")
        + 5 * Decimal("0.000015")
    )
    assert log.cost_usd == expected
    assert log.priced


def test_count_tokens_is_forwarded_to_anthropic_and_estimated_elsewhere(
    claude, fake_claude, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    provider("openai", "openai", fake_openai.base_url, model="gpt-4o")
    fake_claude.count_tokens_answer = {"input_tokens": 4321}

    counted = claude.messages.count_tokens(model=f"anthropic/{MODEL}", messages=[USER])
    estimated = claude.messages.count_tokens(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "x" * 400}]
    )

    assert counted.input_tokens == 4321
    [sent] = fake_claude.requests
    assert sent["path"] == "/v1/messages/count_tokens"
    assert json.loads(sent["raw"])["model"] == MODEL
    assert 100 <= estimated.input_tokens <= 130
    assert fake_openai.requests == []


# --- translated for OpenAI-format and Gemini providers -----------------------------------


def test_a_messages_stream_from_an_openai_upstream(claude, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    provider("openai", "openai", fake_openai.base_url, model="gpt-4o")
    fake_openai.reply(text="Four, of course.", usage=(20, 4))

    with claude.messages.stream(model="openai/gpt-4o", max_tokens=64, messages=[USER]) as stream:
        names = [event.type for event in stream]
        message = stream.get_final_message()

    assert message.content[0].text == "Four, of course."
    assert (message.stop_reason, message.usage.output_tokens) == ("end_turn", 4)
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(names)
    [sent] = fake_openai.requests
    assert sent["json"]["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is 2 + 2?"}
    ]}]  # fmt: skip
    [log] = usage_logs()
    assert (log.source, log.prompt_tokens, log.completion_tokens) == ("messages", 20, 4)


def test_the_request_is_translated_for_openai(claude, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("openai", "openai_compatible", fake_openai.base_url, model="local")
    image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    claude.messages.create(
        model="openai/local",
        max_tokens=100,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these."},
                    {"type": "image", "source": image},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                ],
            }
        ],
        stop_sequences=["END"],
        metadata={"user_id": "user-7"},
        output_config={"effort": "xhigh"},
        # Sampling parameters older Claude models take (this SDK no longer offers them).
        extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},
    )
    [sent] = fake_openai.requests
    body = sent["json"]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [part.get("image_url") for part in body["messages"][1]["content"]] == [
        None,
        {"url": "data:image/png;base64,iVBORw0KGgo="},
        {"url": "https://x.test/a.jpg"},
    ]
    assert (body["stop"], body["temperature"], body["top_p"], body["top_k"]) == (
        ["END"], 0.5, 0.9, 40,
    )  # fmt: skip
    assert (body["max_tokens"], body["user"], body["reasoning_effort"]) == (100, "user-7", "high")


@pytest.mark.parametrize("upstream", ["fake_claude", "fake_openai", "fake_gemini"])
def test_a_tool_round_trip_through_each_format(claude, request, upstream) -> None:  # type: ignore[no-untyped-def]
    server = request.getfixturevalue(upstream)
    kind = {"fake_claude": "anthropic", "fake_openai": "openai", "fake_gemini": "gemini"}[upstream]
    provider("up", kind, server.base_url)
    server.reply(text="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    server.reply(text="It is 18 degrees in Paris.")
    question = {"role": "user", "content": "Weather in Paris?"}

    with claude.messages.stream(
        model=f"up/{MODEL}", max_tokens=200, tools=[WEATHER], messages=[question]
    ) as stream:
        first = stream.get_final_message()
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert first.stop_reason == "tool_use"

    second = claude.messages.create(
        model=f"up/{MODEL}",
        max_tokens=200,
        tools=[WEATHER],
        tool_choice={"type": "auto"},
        messages=[
            question,
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in first.content],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 C"}],
            },
        ],  # fmt: skip
    )

    assert second.content[0].text == "It is 18 degrees in Paris."
    sent = server.requests[1]["json"]
    if kind == "anthropic":
        assert sent["messages"][2]["content"][0]["tool_use_id"] == call.id
    elif kind == "openai":
        assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert sent["messages"][2] == {"role": "tool", "tool_call_id": call.id, "content": "18 C"}
        assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
        assert sent["tool_choice"] == "auto"
    else:
        parts = [part for content in sent["contents"] for part in content["parts"]]
        assert {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}} in parts
        response = {"name": "get_weather", "response": {"content": "18 C"}}
        assert {"functionResponse": response} in parts


def test_thinking_maps_to_reasoning_and_back_for_openai(claude, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("openai", "openai_compatible", fake_openai.base_url, model="deepseek-r1")
    fake_openai.stream([
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-r1",
         "choices": [{"index": 0, "delta": {"reasoning_content": "Adding."},
                      "finish_reason": None}]},
        "Four.",
    ])  # fmt: skip

    with claude.messages.stream(
        model="openai/deepseek-r1",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[USER],
    ) as stream:
        message = stream.get_final_message()

    assert [block.type for block in message.content] == ["thinking", "text"]
    assert (message.content[0].thinking, message.content[1].text) == ("Adding.", "Four.")
    assert fake_openai.requests[0]["json"]["reasoning_effort"] == "low"


def test_thinking_maps_to_gemini_thinking_config_and_back(claude, fake_gemini) -> None:  # type: ignore[no-untyped-def]
    provider("gemini", "gemini", fake_gemini.base_url, model="gemini-2.5-pro")
    thought = {"role": "model", "parts": [{"text": "Two plus two.", "thought": True}]}
    fake_gemini.stream([{"candidates": [{"content": thought, "index": 0}]}, "4"], usage=(5, 4))

    with claude.messages.stream(
        model="gemini/gemini-2.5-pro",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 10000},
        messages=[USER],
    ) as stream:
        message = stream.get_final_message()

    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None))
            for b in message.content] == [("thinking", "Two plus two."), ("text", "4")]  # fmt: skip
    assert message.usage.output_tokens == 4
    config = fake_gemini.requests[0]["json"]["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 24576, "includeThoughts": True}
    assert config["maxOutputTokens"] == 4096


# --- failover, mid-stream failure ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_mixed_route_fails_over_from_anthropic_to_openai_before_the_first_byte(
    claude, fake_claude, fake_openai, usage_logs, stream
) -> None:  # type: ignore[no-untyped-def]
    first = provider("anthropic", "anthropic", fake_claude.base_url)
    route("claude", first, provider("openai", "openai", fake_openai.base_url, model="gpt-4o"))
    fake_claude.fail(529)
    fake_openai.reply(text="Backup answer.")
    request = {"model": "claude", "max_tokens": 64, "messages": [USER]}

    if stream:
        with claude.messages.stream(**request) as events:
            message = events.get_final_message()
            headers = events.response.headers
    else:
        raw = claude.messages.with_raw_response.create(**request)
        message, headers = raw.parse(), raw.headers

    assert message.content[0].text == "Backup answer."
    assert (headers["x-switchboard-attempts"], headers["x-switchboard-provider"]) == ("2", "openai")
    [log] = usage_logs()
    assert (log.attempts, log.provider, log.status) == (2, "openai", "ok")
    assert Provider.objects.get(name="anthropic").consecutive_failures == 1


def test_reasoning_from_a_fallback_is_left_out_when_anthropic_serves_the_next_turn(
    claude, fake_claude, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    """Only Anthropic can sign thinking: a block made from another provider's reasoning
    would get the session's next turn refused by Anthropic."""
    first = provider("anthropic", "anthropic", fake_claude.base_url)
    route("claude", first, provider("openai", "openai", fake_openai.base_url, model="gpt-4o"))
    fake_claude.fail(503)
    reasoning = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                 "choices": [{"index": 0, "delta": {"reasoning_content": "Adding up."},
                              "finish_reason": None}]}  # fmt: skip
    fake_openai.stream([reasoning, "Four."])
    thinking = {"type": "enabled", "budget_tokens": 1024}
    with claude.messages.stream(
        model="claude", max_tokens=2048, thinking=thinking, messages=[USER]
    ) as stream:
        answer = stream.get_final_message()
    assert [block.type for block in answer.content] == ["thinking", "text"]
    history = [
        USER,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in answer.content]},
        {"role": "user", "content": "Sure?"},
    ]

    second = claude.messages.create(
        model="claude", max_tokens=2048, thinking=thinking, messages=history
    )

    assert second.content[0].text == "Hello from the fake upstream."  # Anthropic took it
    sent = fake_claude.requests[1]["json"]
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "Four."}]
    assert sent["thinking"] == thinking and sent["model"] == MODEL


def test_an_overloaded_error_event_before_the_answer_also_fails_over(
    claude, fake_claude, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    first = provider("anthropic", "anthropic", fake_claude.base_url)
    route("claude", first, provider("openai", "openai", fake_openai.base_url, model="gpt-4o"))
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake_claude.stream([overloaded])  # after message_start: nothing of the answer sent yet

    with claude.messages.stream(model="claude", max_tokens=64, messages=[USER]) as stream:
        text = "".join(stream.text_stream)

    assert text == "Hello from the fake upstream."
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize("upstream", ["fake_claude", "fake_openai"])
def test_a_mid_stream_cut_ends_in_one_error_event(http, request, usage_logs, upstream) -> None:  # type: ignore[no-untyped-def]
    server = request.getfixturevalue(upstream)
    if upstream == "fake_claude":
        provider("up", "anthropic", server.base_url)
        server.think("Half a thought.", "never sent", cut_after_thinking=True)
    else:
        provider("up", "openai", server.base_url)
        server.stream(["Hello", " world", "!"], cut_after=1)

    response = http.post(
        "/v1/messages",
        json={"model": f"up/{MODEL}", "max_tokens": 64, "messages": [USER], "stream": True},
    )

    events = events_of(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "error" and names.count("error") == 1
    assert "message_stop" not in names
    assert events[-1][1]["type"] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "content_block_delta" in names  # the part before the cut reached the client
    [log] = usage_logs()
    assert log.status == "error"
    # A cut inside the chunked body is a broken connection; one between chunks an early end.
    assert log.error_code in ("upstream_stream_error", "upstream_stream_incomplete")


def test_a_cut_inside_an_event_never_sends_half_of_it(http, fake_claude) -> None:  # type: ignore[no-untyped-def]
    provider("up", "anthropic", fake_claude.base_url)
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Hi"},
    }
    whole = f"event: content_block_delta\ndata: {json.dumps(delta)}\n\n".encode()
    # The first event whole, then half of the next one, then the connection drops.
    fake_claude.stream([whole, whole[:30]], cut_after=2, delay_between=0.05)

    response = http.post(
        "/v1/messages",
        json={"model": f"up/{MODEL}", "max_tokens": 64, "messages": [USER], "stream": True},
    )

    assert whole in response.content
    assert whole[:30] + b"event: error" not in response.content
    names = [name for name, _ in events_of(response.text)]  # every event parses
    assert names[-1] == "error" and names.count("content_block_delta") == 1


def test_the_sdk_raises_on_the_error_event(claude, fake_claude) -> None:  # type: ignore[no-untyped-def]
    provider("up", "anthropic", fake_claude.base_url)
    fake_claude.think("Half a thought.", "never sent", cut_after_thinking=True)
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(model=f"up/{MODEL}", max_tokens=64, messages=[USER]) as stream,
    ):
        stream.get_final_message()


# --- errors in Anthropic's shape -----------------------------------------------------------


def test_a_bad_gateway_key_is_an_authentication_error(live_gateway, fake_claude) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    client = anthropic.Anthropic(base_url=live_gateway, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        client.messages.create(model=f"anthropic/{MODEL}", max_tokens=8, messages=[USER])
    message = "Invalid, expired or revoked API key."
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": message},
    }
    no_key = httpx.post(f"{live_gateway}/v1/messages", json={}, timeout=5)
    assert no_key.status_code == 401
    assert "x-api-key" in no_key.json()["error"]["message"]
    assert fake_claude.requests == []


def test_a_bearer_token_works_too(live_gateway, key, fake_claude) -> None:  # type: ignore[no-untyped-def]
    """ANTHROPIC_AUTH_TOKEN: Claude Code then sends Authorization: Bearer."""
    provider("anthropic", "anthropic", fake_claude.base_url)
    client = anthropic.Anthropic(base_url=live_gateway, auth_token=key, max_retries=0)
    message = client.messages.create(model=f"anthropic/{MODEL}", max_tokens=8, messages=[USER])
    assert message.content[0].text == "Hello from the fake upstream."


def test_an_unknown_model_is_not_found(claude, usage_logs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(anthropic.NotFoundError) as refused:
        claude.messages.create(model="no-such-model", max_tokens=8, messages=[USER])
    assert refused.value.body["type"] == "error"
    assert refused.value.body["error"]["type"] == "not_found_error"
    [log] = usage_logs()
    assert (log.source, log.status, log.error_code) == ("messages", "error", "model_not_found")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}', "max_tokens"),
        (b'{"model": "m", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}',
         "messages.0.role"),
    ],
)  # fmt: skip
def test_a_malformed_body_is_an_invalid_request_error(http, body, named) -> None:  # type: ignore[no-untyped-def]
    response = http.post("/v1/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert named in error["error"]["message"]


def test_an_upstream_529_reaches_the_client_as_overloaded(claude, fake_claude) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    fake_claude.fail(529, message="Overloaded")
    with pytest.raises(anthropic.OverloadedError) as refused:
        claude.messages.create(model=f"anthropic/{MODEL}", max_tokens=8, messages=[USER])
    assert refused.value.status_code == 529
    assert refused.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_a_rate_limited_key_gets_a_rate_limit_error(live_gateway, fake_claude) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    raw = ApiKey.issue("limited", scopes=["chat"], rpm_limit=1)[1]
    client = anthropic.Anthropic(base_url=live_gateway, api_key=raw, max_retries=0)
    client.messages.create(model=f"anthropic/{MODEL}", max_tokens=8, messages=[USER])
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(model=f"anthropic/{MODEL}", max_tokens=8, messages=[USER])
    assert refused.value.body["error"]["type"] == "rate_limit_error"
    assert refused.value.response.headers["retry-after"]


def test_cached_tokens_from_an_openai_upstream_are_counted(claude, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    provider("openai", "openai", fake_openai.base_url, model="gpt-4o")
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 2,
            "total_tokens": 102,
            "prompt_tokens_details": {"cached_tokens": 64},
        },
    }
    fake_openai.fail(200, body=completion)  # a scripted body, sent with status 200

    message = claude.messages.create(model="openai/gpt-4o", max_tokens=8, messages=[USER])

    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (36, 64)
    [log] = usage_logs()
    assert (log.prompt_tokens, log.cache_read_tokens, log.cache_write_tokens) == (100, 64, 0)


def test_a_client_that_leaves_a_passthrough_stream_cancels_the_upstream(
    http, fake_claude, usage_logs
) -> None:  # type: ignore[no-untyped-def]
    provider("anthropic", "anthropic", fake_claude.base_url)
    fake_claude.stream([f"word{n} " for n in range(50)], delay_between=0.2)
    body = {"model": f"anthropic/{MODEL}", "max_tokens": 64, "messages": [USER], "stream": True}

    with http.stream("POST", "/v1/messages", json=body) as response:
        first = next(response.iter_bytes())
    assert b"content_block_delta" in first

    assert fake_claude.wait_for_disconnect(5)
    [log] = usage_logs()
    assert (log.status, log.error_code) == ("cancelled", "client_disconnected")
