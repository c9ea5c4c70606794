"""Every parameter is honoured, translated, or refused (DESIGN.md "The OpenAI-compatible
API"): chat completions from the official openai SDK through a running Switchboard to
loopback Anthropic and Gemini upstreams, each parameter of the list either reaching the
upstream translated or refused with 400 unsupported_parameter naming it."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from chat.adapters.anthropic import OUTPUT_TOOL
from chat.models import ApiKey
from providers.models import Provider

USER = [{"role": "user", "content": "What is 2 + 2?"}]


class Address(BaseModel):
    city: str


class Person(BaseModel):
    name: str
    home: Address
    nickname: str | None


@pytest.fixture
def client(live_gateway: str) -> openai.OpenAI:
    key = ApiKey.issue("honest", scopes=["chat"])[1]
    return openai.OpenAI(base_url=f"{live_gateway}/v1", api_key=key, max_retries=0, timeout=15)


def provider(name: str, kind: str, base_url: str, model: str) -> Provider:
    return Provider.objects.create(
        name=name, kind=kind, base_url=base_url, api_key=f"sk-{name}", models=[model]
    )


@pytest.fixture
def claude(fake_anthropic):  # type: ignore[no-untyped-def]
    provider("claude", "anthropic", fake_anthropic.base_url, "claude-test")
    return fake_anthropic


@pytest.fixture
def gemini(fake_gemini):  # type: ignore[no-untyped-def]
    provider("gem", "gemini", fake_gemini.base_url, "gemini-test")
    return fake_gemini


# --- Anthropic ---------------------------------------------------------------------------


def test_json_schema_reaches_anthropic_as_a_forced_tool(client, claude) -> None:  # type: ignore[no-untyped-def]
    answer = {"name": "Ada", "home": {"city": "London"}, "nickname": None}
    claude.reply("", tool_calls=[{"name": OUTPUT_TOOL, "arguments": answer}])

    parsed = client.chat.completions.parse(
        model="claude/claude-test", messages=USER, response_format=Person
    )

    message = parsed.choices[0].message
    assert message.parsed == Person(**answer)
    assert not message.tool_calls
    assert parsed.choices[0].finish_reason == "stop"
    sent = claude.requests[0]["json"]
    [tool] = sent["tools"]
    assert tool["name"] == OUTPUT_TOOL
    assert tool["input_schema"]["properties"]["home"] == {"$ref": "#/$defs/Address"}
    assert sent["tool_choice"] == {"type": "tool", "name": OUTPUT_TOOL}


def test_a_streamed_structured_answer_from_anthropic_is_content(client, claude) -> None:  # type: ignore[no-untyped-def]
    claude.reply("", tool_calls=[{"name": OUTPUT_TOOL, "arguments": {"answer": 4}}])

    chunks = list(
        client.chat.completions.create(
            model="claude/claude-test", messages=USER, stream=True,
            response_format={"type": "json_object"},
        )
    )  # fmt: skip

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"answer": 4}
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)


def test_reasoning_effort_and_cache_tokens_with_anthropic(  # type: ignore[no-untyped-def]
    client, fake_claude, usage_logs
) -> None:
    provider("claude", "anthropic", fake_claude.base_url, "claude-test")
    fake_claude.think(
        "Two and two make four.", "4",
        usage={"input_tokens": 5, "cache_read_input_tokens": 100,
               "cache_creation_input_tokens": 20, "output_tokens": 9},
    )  # fmt: skip

    completion = client.chat.completions.create(
        model="claude/claude-test", messages=USER, reasoning_effort="low", max_tokens=300
    )

    sent = fake_claude.requests[0]["json"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["max_tokens"] == 1324
    message = completion.choices[0].message
    assert message.content == "4"
    assert message.reasoning_content == "Two and two make four."  # type: ignore[attr-defined]
    assert completion.usage.prompt_tokens == 125
    assert completion.usage.prompt_tokens_details.cached_tokens == 100
    [log] = usage_logs()
    assert (log.cache_read_tokens, log.cache_write_tokens, log.prompt_tokens) == (100, 20, 125)


def test_n_with_anthropic_is_n_parallel_calls_merged(client, claude, usage_logs) -> None:  # type: ignore[no-untyped-def]
    claude.reply("first", usage=(10, 1)).reply("second", usage=(10, 1))

    completion = client.chat.completions.create(model="claude/claude-test", messages=USER, n=2)

    assert sorted(c.message.content for c in completion.choices) == ["first", "second"]
    assert [c.index for c in completion.choices] == [0, 1]
    assert len(claude.requests) == 2
    assert all("n" not in r["json"] for r in claude.requests)
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (20, 2)
    [log] = usage_logs()
    assert (log.prompt_tokens, log.completion_tokens) == (20, 2)


def test_n_cannot_be_streamed_from_anthropic(client, claude) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="claude/claude-test", messages=USER, n=2, stream=True)
    assert (refused.value.body["code"], refused.value.body["param"]) == (
        "unsupported_parameter", "n"
    )  # fmt: skip
    assert claude.requests == []


@pytest.mark.parametrize(
    ("params", "named"),
    [({"logprobs": True}, "logprobs"), ({"seed": 42}, "seed"),
     ({"frequency_penalty": 0.5}, "frequency_penalty")],
)  # fmt: skip
def test_what_anthropic_cannot_do_is_refused_by_name(client, claude, params, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="claude/claude-test", messages=USER, **params)
    assert (refused.value.body["code"], refused.value.body["param"]) == (
        "unsupported_parameter", named
    )  # fmt: skip
    assert claude.requests == []


# --- Gemini --------------------------------------------------------------------------------


def test_json_schema_reaches_gemini_with_refs_inlined(client, gemini) -> None:  # type: ignore[no-untyped-def]
    answer = {"name": "Ada", "home": {"city": "London"}, "nickname": None}
    gemini.reply(json.dumps(answer))

    parsed = client.chat.completions.parse(
        model="gem/gemini-test", messages=USER, response_format=Person, seed=7
    )

    assert parsed.choices[0].message.parsed == Person(**answer)
    config = gemini.requests[0]["json"]["generationConfig"]
    schema = config["responseSchema"]
    assert schema["properties"]["home"]["properties"]["city"]["type"] == "string"
    assert schema["properties"]["nickname"]["nullable"] is True
    assert schema["properties"]["nickname"]["type"] == "string"
    assert "$defs" not in json.dumps(schema)
    assert config["seed"] == 7


def test_reasoning_and_cache_tokens_from_gemini(client, gemini, usage_logs) -> None:  # type: ignore[no-untyped-def]
    # A whole generateContent answer as Gemini sends it with thinking and a cache hit
    # (a scripted "failure" with status 200 is sent as is).
    gemini.fail(200, body={
        "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
            {"text": "Adding.", "thought": True}, {"text": "4"}]}}],
        "usageMetadata": {"promptTokenCount": 50, "cachedContentTokenCount": 40,
                          "candidatesTokenCount": 1, "thoughtsTokenCount": 6},
    })  # fmt: skip

    completion = client.chat.completions.create(
        model="gem/gemini-test", messages=USER, reasoning_effort="medium"
    )

    thinking = gemini.requests[0]["json"]["generationConfig"]["thinkingConfig"]
    assert thinking["thinkingBudget"] == 8192
    message = completion.choices[0].message
    assert (message.content, message.reasoning_content) == ("4", "Adding.")  # type: ignore[attr-defined]
    assert completion.usage.prompt_tokens_details.cached_tokens == 40
    assert completion.usage.completion_tokens_details.reasoning_tokens == 6
    [log] = usage_logs()
    assert (log.cache_read_tokens, log.completion_tokens) == (40, 7)


def test_logprobs_are_refused_for_gemini(client, gemini) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gem/gemini-test", messages=USER, logprobs=True, top_logprobs=2
        )
    assert (refused.value.body["code"], refused.value.body["param"]) == (
        "unsupported_parameter", "logprobs"
    )  # fmt: skip
    assert gemini.requests == []


def test_n_reaches_gemini_as_candidate_count(client, gemini) -> None:  # type: ignore[no-untyped-def]
    client.chat.completions.create(model="gem/gemini-test", messages=USER, n=2)
    assert gemini.requests[0]["json"]["generationConfig"]["candidateCount"] == 2
