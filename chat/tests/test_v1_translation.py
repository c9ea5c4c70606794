"""/v1 end to end: the official openai SDK → Switchboard (a real server) → fake upstreams
speaking the OpenAI, Anthropic and Gemini wire formats."""

from __future__ import annotations

import json

import openai
import pytest

from chat.models import ApiKey
from providers.models import Provider
from routing.models import Route, RouteNode

UPSTREAM_KEY = "sk-upstream-SECRET-4321"


def make_route(name: str, *providers: Provider, strategy: str = "failover") -> Route:
    route = Route.objects.create(name=name, mode="auto")
    for priority, provider in enumerate(providers):
        RouteNode.objects.create(
            route=route,
            provider=provider,
            models=list(provider.models),
            strategy=strategy,
            priority=priority,
        )
    return route


@pytest.fixture
def client(live_gateway: str) -> openai.OpenAI:
    raw = ApiKey.issue("sdk", scopes=["chat"])[1]
    return openai.OpenAI(base_url=live_gateway + "/v1", api_key=raw, max_retries=0, timeout=10)


def provider(name: str, fake, kind: str, model: str) -> Provider:  # type: ignore[no-untyped-def]
    return Provider.objects.create(
        name=name, base_url=fake.base_url, kind=kind, api_key=UPSTREAM_KEY, models=[model]
    )


def test_non_streaming_through_an_openai_upstream(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    make_route("smart", provider("oa", fake_openai, "openai", "gpt-4o-mini"))
    fake_openai.reply(text="Hi there!", usage=(12, 3))

    raw = client.chat.completions.with_raw_response.create(
        model="smart", messages=[{"role": "user", "content": "Hello"}], temperature=0.2
    )
    completion = raw.parse()

    assert completion.choices[0].message.content == "Hi there!"
    assert completion.usage.prompt_tokens == 12
    assert raw.headers["x-switchboard-provider"] == "oa"
    assert raw.headers["x-switchboard-model"] == "gpt-4o-mini"
    assert raw.headers["x-switchboard-attempts"] == "1"
    assert float(raw.headers["x-switchboard-overhead-ms"]) >= 0
    assert raw.headers["x-request-id"]
    sent = fake_openai.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent["json"]["model"] == "gpt-4o-mini"
    assert sent["json"]["temperature"] == 0.2


def test_streaming_through_an_openai_upstream(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    make_route("smart", provider("oa", fake_openai, "openai", "gpt-4o-mini"))
    fake_openai.stream(chunks=["Once ", "upon ", "a time."])

    stream = client.chat.completions.create(
        model="smart",
        messages=[{"role": "user", "content": "Story?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Once upon a time."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert fake_openai.requests[-1]["json"]["stream"] is True


def test_anthropic_upstream_gets_its_own_format(client, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    make_route("claude", provider("an", fake_anthropic, "anthropic", "claude-3-5-haiku"))
    fake_anthropic.reply(text="Bonjour", usage=(20, 2))

    completion = client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
        ],
        max_tokens=50,
        stop=["\n\n"],
    )

    assert completion.choices[0].message.content == "Bonjour"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 20
    sent = fake_anthropic.requests[-1]
    assert sent["path"].endswith("/messages")
    assert sent["headers"]["x-api-key"] == UPSTREAM_KEY
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["json"]["system"] in (
        "Answer in French.",
        [{"type": "text", "text": "Answer in French."}],
    )
    assert [m["role"] for m in sent["json"]["messages"]] == ["user"]
    assert sent["json"]["max_tokens"] == 50
    assert sent["json"]["stop_sequences"] == ["\n\n"]


def test_anthropic_streaming_and_tools(client, fake_anthropic) -> None:  # type: ignore[no-untyped-def]
    make_route("claude", provider("an", fake_anthropic, "anthropic", "claude-3-5-haiku"))
    fake_anthropic.reply(text="", tool_calls=[{"name": "weather", "arguments": {"city": "Oslo"}}])
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]

    stream = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=tools,
        stream=True,
    )
    chunks = list(stream)

    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(arguments) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    sent = fake_anthropic.requests[-1]["json"]
    assert sent["tools"][0]["name"] == "weather"
    assert sent["tools"][0]["input_schema"]["properties"]["city"] == {"type": "string"}
    assert sent["stream"] is True
    assert sent["max_tokens"] > 0  # required by Anthropic, defaulted


def test_gemini_upstream_gets_its_own_format(client, fake_gemini) -> None:  # type: ignore[no-untyped-def]
    make_route("gem", provider("ge", fake_gemini, "gemini", "gemini-2.0-flash"))
    fake_gemini.reply(text="Hallo", usage=(7, 1))

    completion = client.chat.completions.create(
        model="gem",
        messages=[
            {"role": "system", "content": "Answer in German."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hallo!"},
            {"role": "user", "content": "Again"},
        ],
        max_tokens=20,
    )

    assert completion.choices[0].message.content == "Hallo"
    assert completion.usage.completion_tokens == 1
    sent = fake_gemini.requests[-1]
    assert sent["path"].endswith("/models/gemini-2.0-flash:generateContent")
    assert sent["headers"]["x-goog-api-key"] == UPSTREAM_KEY
    body = sent["json"]
    assert body["systemInstruction"]["parts"][0]["text"] == "Answer in German."
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"]["maxOutputTokens"] == 20


def test_gemini_streaming(client, fake_gemini) -> None:  # type: ignore[no-untyped-def]
    make_route("gem", provider("ge", fake_gemini, "gemini", "gemini-2.0-flash"))
    fake_gemini.stream(chunks=["Guten ", "Tag"])

    chunks = list(
        client.chat.completions.create(
            model="gem",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
        )
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Guten Tag"
    sent = fake_gemini.requests[-1]
    assert ":streamGenerateContent" in sent["path"]
    assert sent["query"].get("alt") == "sse"


def test_provider_slash_model_addresses_a_provider_directly(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    provider("oa", fake_openai, "openai", "gpt-4o-mini")
    completion = client.chat.completions.create(
        model="oa/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.choices[0].message.content
    assert fake_openai.requests[-1]["json"]["model"] == "gpt-4o-mini"


def test_models_lists_routes_and_provider_models(client, fake_openai) -> None:  # type: ignore[no-untyped-def]
    make_route("smart", provider("oa", fake_openai, "openai", "gpt-4o-mini"))
    ids = {model.id for model in client.models.list()}
    assert {"smart", "oa/gpt-4o-mini"} <= ids


def test_each_call_leaves_one_usage_record(client, fake_openai, usage_logs) -> None:  # type: ignore[no-untyped-def]
    make_route("smart", provider("oa", fake_openai, "openai", "gpt-4o-mini"))
    fake_openai.reply(text="one", usage=(5, 1)).stream(chunks=["t", "wo"])
    client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "1"}])
    list(
        client.chat.completions.create(
            model="smart", stream=True, messages=[{"role": "user", "content": "2"}]
        )
    )
    logs = usage_logs(2)
    assert [(log.stream, log.status, log.attempts) for log in logs] == [
        (False, "ok", 1),
        (True, "ok", 1),
    ]
    first, second = logs
    assert (first.prompt_tokens, first.completion_tokens, first.total_tokens) == (5, 1, 6)
    assert first.provider == "oa" and first.model == "gpt-4o-mini" and first.route == "smart"
    assert first.api_key.name == "sdk"
    assert first.latency_ms is not None
    assert second.ttft_ms is not None and second.completion_tokens > 0
