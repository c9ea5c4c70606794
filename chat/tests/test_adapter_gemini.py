from __future__ import annotations

import json
from typing import Any

import pytest

from chat.adapters.base import UpstreamError
from chat.adapters.gemini import GeminiAdapter
from chat.adapters.sse import SSEEvent

adapter = GeminiAdapter()
BASE = "https://generativelanguage.googleapis.com/v1beta"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def build(stream: bool = False, model: str = "gemini-2.0-flash", **body: Any) -> Any:
    body.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return adapter.build_request(
        base_url=BASE, api_key="AIza-up", model=model, body=body, stream=stream
    )


def test_it_posts_generate_content_with_the_goog_key_header() -> None:
    request = build()
    assert request.url == f"{BASE}/models/gemini-2.0-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "AIza-up"
    assert "key=" not in request.url  # the key never travels in the URL


def test_streams_use_stream_generate_content_as_sse() -> None:
    assert build(stream=True).url == f"{BASE}/models/gemini-2.0-flash:streamGenerateContent?alt=sse"


def test_a_models_prefix_in_the_model_id_is_not_doubled() -> None:
    assert (
        build(model="models/gemini-2.5-pro").url == f"{BASE}/models/gemini-2.5-pro:generateContent"
    )


def test_system_messages_become_the_system_instruction_and_roles_user_and_model() -> None:
    request = build(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "How are you?"},
        ]
    )
    assert request.json["systemInstruction"] == {
        "parts": [{"text": "Be brief.\n\nAnswer in French."}]
    }
    assert request.json["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "How are you?"}]},
    ]


def test_consecutive_turns_of_one_role_are_merged_for_alternation() -> None:
    request = build(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert request.json["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]


def test_generation_config_carries_sampling_limits_and_stops() -> None:
    request = build(
        temperature=0.4, top_p=0.8, max_tokens=999, max_completion_tokens=256, stop=["END"],
        n=2, seed=7, presence_penalty=0.1, frequency_penalty=0.2,
    )  # fmt: skip
    assert request.json["generationConfig"] == {
        "temperature": 0.4,
        "topP": 0.8,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
    }


def test_a_plain_request_has_no_generation_config() -> None:
    assert "generationConfig" not in build().json


def test_json_object_asks_for_a_json_mime_type() -> None:
    config = build(response_format={"type": "json_object"}).json["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_json_schema_becomes_a_response_schema_gemini_accepts() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "who"},
            "tags": {"type": "array", "items": {"type": "string", "additionalProperties": False}},
            "age": {"type": ["integer", "null"]},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": schema, "strict": True},
    }
    config = build(response_format=response_format).json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "who"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "age": {"type": "integer", "nullable": True},
        },
        "required": ["name"],
    }


def test_refs_are_inlined_and_nullable_unions_mapped() -> None:
    """What pydantic emits for a nested model and an Optional field."""
    schema = {
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "title": "Address",
            }
        },
        "type": "object",
        "properties": {
            "home": {"$ref": "#/$defs/Address"},
            "work": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
            "nick": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Nick"},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        },
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
    got = build(response_format=response_format).json["generationConfig"]["responseSchema"]
    address = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "title": "Address",
    }
    assert got["properties"] == {
        "home": address,
        "work": {**address, "default": None, "nullable": True},
        "nick": {"type": "string", "title": "Nick", "nullable": True},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
    }


def test_a_recursive_schema_is_refused_not_truncated() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    with pytest.raises(UpstreamError) as refused:
        build(response_format={"type": "json_schema", "json_schema": {"schema": schema}})
    assert refused.value.code == "unsupported_parameter"


def test_reasoning_effort_becomes_a_thinking_budget() -> None:
    config = build(reasoning_effort="low").json["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}


@pytest.mark.parametrize("params", [{"logprobs": True}, {"top_logprobs": 3}, {"logit_bias": {}}])
def test_logprobs_and_the_like_are_refused_by_name(params) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UpstreamError) as refused:
        build(**params)
    named = next(iter(params))
    assert (refused.value.code, refused.value.param) == ("unsupported_parameter", named)


def test_seed_and_n_reach_gemini() -> None:
    config = build(seed=3, n=2).json["generationConfig"]
    assert (config["seed"], config["candidateCount"]) == (3, 2)


def test_text_response_format_changes_nothing() -> None:
    assert "generationConfig" not in build(response_format={"type": "text"}).json


def test_images_become_inline_data_or_file_data_with_a_guessed_mime_type() -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a/cat.png?size=2"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
    ]
    parts = build(messages=[{"role": "user", "content": content}]).json["contents"][0]["parts"]
    assert parts == [
        {"text": "Compare"},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a/cat.png?size=2"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render"}},
    ]


def test_an_image_url_of_another_scheme_is_a_400() -> None:
    content = [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]
    with pytest.raises(UpstreamError) as caught:
        build(messages=[{"role": "user", "content": content}])
    assert caught.value.status == 400
    assert caught.value.param == "messages[0].content[0].image_url.url"


def test_tools_become_function_declarations_with_a_cleaned_schema() -> None:
    request = build(tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}])
    assert request.json["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string"},
                            "unit": {"type": "string", "nullable": True},
                        },
                        "required": ["city"],
                    },
                },
                {"name": "now", "description": ""},
            ]
        }
    ]
    assert "toolConfig" not in request.json


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_becomes_a_function_calling_mode(choice: Any, config: dict[str, Any]) -> None:
    request = build(tools=[WEATHER_TOOL], tool_choice=choice)
    assert request.json["toolConfig"] == {"functionCallingConfig": config}


def test_tool_calls_and_results_become_function_call_and_response_parts() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "get_time", "arguments": '{"city": "Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 18}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
    ]  # fmt: skip
    contents = build(messages=messages).json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_time", "args": {"city": "Rome"}}},
    ]
    # Gemini matches responses to calls by name; a non-object result is wrapped.
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
        {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
    ]


def test_a_tool_result_for_no_known_call_is_a_400() -> None:
    with pytest.raises(UpstreamError) as caught:
        build(messages=[{"role": "tool", "tool_call_id": "call_9", "content": "x"}])
    assert caught.value.param == "messages[0].tool_call_id"


# --- responses ---------------------------------------------------------------------------


def test_a_recorded_response_becomes_a_chat_completion(payload: Any) -> None:
    completion = adapter.parse_response(payload("gemini_generate_content.json"), model="gemini")
    assert completion["id"] == "Wq5vaMbGAsmxz7IP1dKWmQc"
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "gemini-2.5-flash"
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "AI learns patterns from data to make predictions or decisions.",
            },
            "finish_reason": "stop",
        }
    ]
    # Thinking tokens are billed as output, so they count as completion tokens.
    assert completion["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 632,
        "total_tokens": 640,
        "completion_tokens_details": {"reasoning_tokens": 620},
    }


def test_a_recorded_function_call_becomes_tool_calls(payload: Any) -> None:
    completion = adapter.parse_response(payload("gemini_function_call.json"), model="gemini")
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "schedule_meeting"
    assert json.loads(call["function"]["arguments"])["attendees"] == ["Bob", "Alice"]
    assert completion["usage"]["total_tokens"] == 141


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
     ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("OTHER", "stop")],
)  # fmt: skip
def test_finish_reasons_map(reason: str, finish: str) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert adapter.parse_response(body, model="g")["choices"][0]["finish_reason"] == finish


def test_thought_parts_are_not_part_of_the_answer() -> None:
    parts = [{"text": "hmm", "thought": True}, {"text": "42"}]
    body = {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}
    assert adapter.parse_response(body, model="g")["choices"][0]["message"]["content"] == "42"


def test_a_blocked_prompt_is_an_empty_content_filter_answer(payload: Any) -> None:
    completion = adapter.parse_response(payload("gemini_prompt_blocked.json"), model="gemini")
    assert completion["choices"][0]["finish_reason"] == "content_filter"
    assert completion["choices"][0]["message"]["content"] == ""
    assert completion["usage"]["prompt_tokens"] == 9


def test_several_candidates_become_several_choices() -> None:
    body = {"candidates": [
        {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0},
        {"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1},
    ]}  # fmt: skip
    choices = adapter.parse_response(body, model="g")["choices"]
    assert [(c["index"], c["message"]["content"]) for c in choices] == [(0, "a"), (1, "b")]


# --- streams -----------------------------------------------------------------------------


def test_a_recorded_crlf_stream_becomes_chunks(replay: Any) -> None:
    translator = adapter.stream_translator(model="gemini", include_usage=True)
    chunks = replay("gemini_stream_text.sse", translator, piece=5)
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert "".join(filter(None, contents)) == (
        "The sky appears blue because of Rayleigh scattering of sunlight.\n"
    )
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 6, "completion_tokens": 13, "total_tokens": 19}
    assert {c["id"] for c in chunks} == {"mtRvaNfvDd2Dz7IP8-fRkAk"}
    assert {c["model"] for c in chunks} == {"gemini-2.0-flash"}
    assert translator.done


def test_streamed_function_calls_become_indexed_tool_call_deltas(replay: Any) -> None:
    translator = adapter.stream_translator(model="gemini", include_usage=False)
    chunks = replay("gemini_stream_function_calls.sse", translator)
    calls = chunks[0]["choices"][0]["delta"]["tool_calls"]
    assert [c["index"] for c in calls] == [0, 1]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"location": "Paris"},
        {"location": "London"},
    ]
    assert all(c["id"] and c["type"] == "function" for c in calls)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage == {"prompt_tokens": 60, "completion_tokens": 16, "total_tokens": 76}


def test_a_stream_cut_before_the_finish_reason_is_not_done(payload: Any) -> None:
    raw = payload("gemini_stream_text.sse").split(b"\r\n\r\n")[0]
    translator = adapter.stream_translator(model="gemini", include_usage=True)
    chunks = translator.feed(SSEEvent(None, raw.decode().removeprefix("data: ")))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "The"}
    assert not translator.done


def test_an_error_inside_the_stream_raises() -> None:
    translator = adapter.stream_translator(model="gemini", include_usage=False)
    event = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(UpstreamError) as caught:
        translator.feed(SSEEvent(None, json.dumps(event)))
    assert caught.value.retryable
    assert caught.value.message == "The model is overloaded."


# --- errors ------------------------------------------------------------------------------


def error_for(status: int, name: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    return adapter.classify_error(status, json.dumps(payload(name)).encode(), headers or {})


def test_resource_exhausted_is_retried_after_the_retry_info_delay(payload: Any) -> None:
    error = error_for(429, "gemini_error_rate_limited.json", payload)
    assert error.retryable
    assert error.status == 429
    assert error.retry_after == 22.0
    assert error.message.startswith("You exceeded your current quota")


def test_a_retry_after_header_counts_when_there_is_no_retry_info() -> None:
    body = json.dumps({"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}})
    error = adapter.classify_error(429, body.encode(), {"Retry-After": "3"})
    assert error.retry_after == 3.0


def test_an_invalid_key_is_a_credential_problem_despite_its_400(payload: Any) -> None:
    error = error_for(400, "gemini_error_api_key_invalid.json", payload)
    assert (error.auth, error.retryable, error.status) == (True, True, 502)
    assert error.code == "upstream_auth_failed"


def test_an_invalid_argument_is_not_retried(payload: Any) -> None:
    error = error_for(400, "gemini_error_invalid_argument.json", payload)
    assert (error.retryable, error.status, error.auth) == (False, 400, False)
    assert "contents is not specified" in error.message


def test_unavailable_is_retried() -> None:
    body = json.dumps({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
    assert adapter.classify_error(503, body.encode(), {}).retryable


def test_a_deprecated_function_message_answers_by_name() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "function", "name": "get_time", "content": "noon"},
    ]
    parts = build(messages=messages).json["contents"][0]["parts"]
    assert parts[1] == {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}}


def test_a_response_that_is_not_an_object_is_a_retryable_upstream_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_response([], model="g")  # type: ignore[arg-type]
    assert caught.value.retryable
