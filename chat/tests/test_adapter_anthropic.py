from __future__ import annotations

import json
from typing import Any

import pytest

from chat.adapters.anthropic import AnthropicAdapter
from chat.adapters.base import UpstreamError
from chat.adapters.sse import SSEEvent, SSEParser

adapter = AnthropicAdapter()
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def build(stream: bool = False, **body: Any) -> Any:
    body.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return adapter.build_request(
        base_url="https://api.anthropic.com/v1", api_key="sk-ant-up", model="claude-sonnet-4",
        body=body, stream=stream,
    )  # fmt: skip


def test_it_posts_to_messages_with_the_key_and_version_headers() -> None:
    request = build()
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-up"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in request.headers
    assert request.json["model"] == "claude-sonnet-4"
    assert "stream" not in request.json
    assert build(stream=True).json["stream"] is True


def test_system_and_developer_messages_go_to_the_top_level_system() -> None:
    request = build(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hi"},
        ]
    )
    assert request.json["system"] == "Be brief.\n\nAnswer in French."
    assert request.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
    ]


def test_max_tokens_defaults_to_4096_because_anthropic_requires_it() -> None:
    assert build().json["max_tokens"] == 4096


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert build(max_tokens=100).json["max_tokens"] == 100
    assert build(max_tokens=100, max_completion_tokens=50).json["max_tokens"] == 50


def test_sampling_and_stop_sequences_are_translated() -> None:
    request = build(temperature=0.3, top_p=0.9, stop="END", user="u-1")
    assert request.json["temperature"] == 0.3
    assert request.json["top_p"] == 0.9
    assert request.json["stop_sequences"] == ["END"]
    assert request.json["metadata"] == {"user_id": "u-1"}
    assert build(stop=["a", "b"]).json["stop_sequences"] == ["a", "b"]


def test_temperature_above_anthropics_range_is_clamped_to_one() -> None:
    assert build(temperature=1.7).json["temperature"] == 1.0


def test_response_format_is_not_faked() -> None:
    request = build(response_format={"type": "json_object"})
    assert "response_format" not in request.json
    assert set(request.json) == {"model", "messages", "max_tokens"}


def test_consecutive_user_messages_are_merged() -> None:
    request = build(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert request.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_data_url_images_become_base64_sources_and_http_urls_url_sources() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    blocks = build(messages=[{"role": "user", "content": content}]).json["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    assert blocks[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }


@pytest.mark.parametrize(
    "url", ["ftp://example.com/cat.png", "data:image/png,notbase64", "data:image/png;base64,"]
)
def test_an_image_it_cannot_send_is_a_400_naming_the_field(url: str) -> None:
    content = [{"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(UpstreamError) as caught:
        build(messages=[{"role": "user", "content": "x"}, {"role": "user", "content": content}])
    assert caught.value.status == 400
    assert not caught.value.retryable
    assert caught.value.param == "messages[1].content[0].image_url.url"


def test_an_unsupported_content_part_is_a_400_naming_the_field() -> None:
    content = [{"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}}]
    with pytest.raises(UpstreamError) as caught:
        build(messages=[{"role": "user", "content": content}])
    assert caught.value.param == "messages[0].content[0].type"


def test_tools_become_input_schemas_and_tool_choice_is_mapped() -> None:
    request = build(tools=[WEATHER_TOOL], tool_choice="required")
    assert request.json["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert request.json["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_each_tool_choice_has_its_anthropic_form(choice: Any, expected: dict[str, Any]) -> None:
    assert build(tools=[WEATHER_TOOL], tool_choice=choice).json["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    request = build(tools=[WEATHER_TOOL], parallel_tool_calls=False)
    assert request.json["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_a_function_without_parameters_gets_an_empty_object_schema() -> None:
    tool = {"type": "function", "function": {"name": "now"}}
    assert build(tools=[tool]).json["tools"][0]["input_schema"] == {
        "type": "object",
        "properties": {},
    }


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },  # fmt: skip
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
        {"role": "user", "content": "Thanks"},
    ]
    turns = build(messages=messages).json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
    ]
    # Both results and the next user text share the one user turn, results first.
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
        {"type": "text", "text": "Thanks"},
    ]


def test_assistant_text_comes_before_its_tool_use() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    ]  # fmt: skip
    blocks = build(messages=messages).json["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["text", "tool_use"]


def test_tool_arguments_that_are_not_a_json_object_are_a_400() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
    ]  # fmt: skip
    with pytest.raises(UpstreamError) as caught:
        build(messages=messages)
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_a_tool_message_without_its_call_id_is_a_400() -> None:
    with pytest.raises(UpstreamError) as caught:
        build(messages=[{"role": "tool", "content": "x"}])
    assert caught.value.param == "messages[0].tool_call_id"


def test_an_unknown_role_is_a_400() -> None:
    with pytest.raises(UpstreamError) as caught:
        build(messages=[{"role": "wizard", "content": "x"}])
    assert caught.value.param == "messages[0].role"


# --- responses ---------------------------------------------------------------------------


def test_a_recorded_message_becomes_a_chat_completion(payload: Any) -> None:
    completion = adapter.parse_response(payload("anthropic_message.json"), model="claude")
    assert completion["object"] == "chat.completion"
    assert completion["id"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert completion["model"] == "claude-sonnet-4-20250514"
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi! My name is Claude."},
            "finish_reason": "stop",
        }
    ]
    # input 2095 + cache writes 100 + cache reads 1800: OpenAI's prompt_tokens counts all.
    assert completion["usage"] == {
        "prompt_tokens": 3995,
        "completion_tokens": 503,
        "total_tokens": 4498,
        # Cache writes keep their own count (OpenRouter's name): they are priced apart.
        "prompt_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 100},
    }


def test_a_recorded_tool_use_becomes_tool_calls(payload: Any) -> None:
    completion = adapter.parse_response(payload("anthropic_message_tool_use.json"), model="c")
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert (
        choice["message"]["content"] == "I'll check the current weather in San Francisco for you."
    )
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {
        "location": "San Francisco, CA",
        "unit": "celsius",
    }


def test_tool_use_alone_gives_null_content() -> None:
    message = {
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    assert adapter.parse_response(message, model="c")["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
     ("stop_sequence", "stop"), ("refusal", "content_filter"), (None, "stop")],
)  # fmt: skip
def test_stop_reasons_map_to_finish_reasons(stop_reason: str | None, finish_reason: str) -> None:
    message = {"content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason, "usage": {}}
    assert (
        adapter.parse_response(message, model="c")["choices"][0]["finish_reason"] == finish_reason
    )


# --- streams -----------------------------------------------------------------------------


def test_a_recorded_text_stream_becomes_chunks(replay: Any) -> None:
    translator = adapter.stream_translator(model="claude", include_usage=True)
    chunks = replay("anthropic_stream_text.sse", translator)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {"content": "!"},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"] == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
        assert chunk["model"] == "claude-opus-4-1-20250805"
        assert isinstance(chunk["created"], int)
    assert translator.done
    assert translator.finish_reason == "stop"


def test_without_include_usage_no_usage_chunk_is_sent_but_usage_is_known(replay: Any) -> None:
    translator = adapter.stream_translator(model="claude", include_usage=False)
    chunks = replay("anthropic_stream_text.sse", translator)
    assert all(c["choices"] for c in chunks)
    assert translator.usage == {"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}


def test_a_recorded_tool_use_stream_becomes_tool_call_deltas(replay: Any) -> None:
    translator = adapter.stream_translator(model="claude", include_usage=False)
    chunks = replay("anthropic_stream_tool_use.sse", translator, piece=11)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Okay, let's check the weather for San Francisco, CA:"
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert {c["index"] for c in calls} == {0}
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage == {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}


def test_an_error_event_mid_stream_raises_with_the_tokens_seen(replay: Any) -> None:
    translator = adapter.stream_translator(model="claude", include_usage=False)
    with pytest.raises(UpstreamError) as caught:
        replay("anthropic_stream_error.sse", translator)
    assert caught.value.message == "Overloaded"
    assert caught.value.retryable
    assert not translator.done
    assert translator.usage is not None
    assert translator.usage["prompt_tokens"] == 12


def test_a_stream_that_stops_early_is_not_done(payload: Any) -> None:
    raw = payload("anthropic_stream_text.sse")
    translator = adapter.stream_translator(model="claude", include_usage=False)
    for event in SSEParser().feed(raw[: raw.index(b"event: message_delta")]):
        translator.feed(event)
    assert not translator.done
    assert translator.finish_reason is None


def test_unknown_event_types_and_pings_are_skipped() -> None:
    translator = adapter.stream_translator(model="claude", include_usage=False)
    assert translator.feed(SSEEvent("ping", '{"type": "ping"}')) == []
    assert translator.feed(SSEEvent("future_event", '{"type": "future_event"}')) == []


def test_thinking_blocks_are_not_sent_as_content() -> None:
    translator = adapter.stream_translator(model="claude", include_usage=False)
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": ""},
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "hm"},
    }
    assert translator.feed(SSEEvent("content_block_start", json.dumps(start))) == []
    assert translator.feed(SSEEvent("content_block_delta", json.dumps(delta))) == []


# --- errors ------------------------------------------------------------------------------


def error_for(
    status: int, name: str, payload: Any, headers: dict[str, str] | None = None
) -> UpstreamError:
    return adapter.classify_error(status, json.dumps(payload(name)).encode(), headers or {})


def test_529_overloaded_is_retried(payload: Any) -> None:
    error = error_for(529, "anthropic_error_overloaded.json", payload)
    assert error.retryable
    assert error.message == "Overloaded"
    assert error.status == 502


def test_an_invalid_request_is_not_retried_and_keeps_anthropics_message(payload: Any) -> None:
    error = error_for(400, "anthropic_error_invalid_request.json", payload)
    assert not error.retryable
    assert error.status == 400
    assert error.type == "invalid_request_error"
    assert error.message.startswith("messages.0.content.1.image.source.media_type")


def test_a_bad_anthropic_key_cools_the_provider_not_the_client(payload: Any) -> None:
    error = error_for(401, "anthropic_error_authentication.json", payload)
    assert (error.auth, error.retryable, error.status) == (True, True, 502)
    assert "invalid x-api-key" in error.message


def test_rate_limits_carry_retry_after(payload: Any) -> None:
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}}
    error = adapter.classify_error(429, json.dumps(body).encode(), {"retry-after": "17"})
    assert (error.retryable, error.retry_after, error.code) == (True, 17.0, "rate_limited")


def test_an_earlier_refusal_is_replayed_as_assistant_text() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help."}]},
        {"role": "user", "content": "ok"},
    ]
    turn = build(messages=messages).json["messages"][1]
    assert turn == {"role": "assistant", "content": [{"type": "text", "text": "I can't help."}]}


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (["hello"], "messages[0]"),
        ([{"role": "assistant", "tool_calls": ["f"]}], "messages[0].tool_calls[0]"),
    ],
)
def test_malformed_messages_are_a_400_not_a_crash(messages: list[Any], param: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        build(messages=messages)
    assert (caught.value.status, caught.value.param) == (400, param)


def test_a_response_without_content_is_a_retryable_upstream_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_response({"type": "message"}, model="c")
    assert caught.value.retryable
