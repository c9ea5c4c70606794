from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import pytest

from chat.adapters import for_kind
from chat.adapters.anthropic import AnthropicAdapter
from chat.adapters.base import UpstreamError
from chat.adapters.gemini import GeminiAdapter
from chat.adapters.openai import OpenAIAdapter, OpenAICompatibleAdapter, OpenRouterAdapter
from chat.adapters.sse import SSEEvent

BODY: dict[str, Any] = {
    "model": "smart",
    "messages": [{"role": "user", "content": "Hi"}],
    "temperature": 0.2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
}


def build(kind: str = "openai", stream: bool = False, body: dict[str, Any] | None = None) -> Any:
    return for_kind(kind).build_request(
        base_url="https://api.openai.com/v1/", api_key="sk-up", model="gpt-4o",
        body=body or BODY, stream=stream,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "adapter"),
    [
        ("openai", OpenAIAdapter),
        ("openrouter", OpenRouterAdapter),
        ("openai_compatible", OpenAICompatibleAdapter),
        ("", OpenAICompatibleAdapter),
        ("anthropic", AnthropicAdapter),
        ("gemini", GeminiAdapter),
    ],
)
def test_each_provider_kind_has_its_adapter(kind: str, adapter: type) -> None:
    assert isinstance(for_kind(kind), adapter)


def test_an_unknown_kind_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="bedrock"):
        for_kind("bedrock")


def test_the_body_passes_through_with_the_upstream_model() -> None:
    request = build()
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-up"
    assert request.json == {**BODY, "model": "gpt-4o"}
    assert BODY["model"] == "smart"  # the client's dict is not modified


def test_streams_ask_the_upstream_for_usage_and_keep_other_stream_options() -> None:
    body = {**BODY, "stream": True, "stream_options": {"include_obfuscation": False}}
    request = build(stream=True, body=body)
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_obfuscation": False, "include_usage": True}


def test_a_non_stream_request_carries_no_stream_options() -> None:
    body = {**BODY, "stream": False, "stream_options": {"include_usage": True}}
    request = build(body=body)
    assert "stream" not in request.json
    assert "stream_options" not in request.json


def test_openrouter_requests_carry_attribution_headers() -> None:
    headers = build("openrouter").headers
    assert headers["HTTP-Referer"]
    assert headers["X-Title"] == "Switchboard"
    assert headers["Authorization"] == "Bearer sk-up"
    assert "HTTP-Referer" not in build("openai").headers


def test_a_keyless_local_server_gets_no_authorization_header() -> None:
    request = for_kind("openai_compatible").build_request(
        base_url="http://127.0.0.1:11434/v1", api_key="", model="llama3", body=BODY, stream=False
    )
    assert "Authorization" not in request.headers


def test_a_recorded_completion_parses_unchanged(payload: Any) -> None:
    recorded = payload("openai_chat_completion.json")
    parsed = OpenAIAdapter().parse_response(recorded, model="gpt-4.1")
    assert parsed == recorded


def test_a_completion_missing_fields_gets_them_filled() -> None:
    parsed = OpenAIAdapter().parse_response(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]},
        model="llama3",
    )
    assert parsed["id"].startswith("chatcmpl-")
    assert parsed["object"] == "chat.completion"
    assert parsed["model"] == "llama3"
    assert isinstance(parsed["created"], int)


def test_an_error_object_inside_a_200_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        OpenAIAdapter().parse_response(
            {"error": {"code": 502, "message": "Provider returned error"}}, model="m"
        )
    assert caught.value.retryable
    assert caught.value.message == "Provider returned error"


def test_a_recorded_stream_becomes_the_same_chunks_plus_usage(replay: Any) -> None:
    translator = OpenAIAdapter().stream_translator(model="gpt-4o-mini", include_usage=True)
    chunks = replay("openai_stream_text.sse", translator)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[:-1]] == [
        "",
        "Hello",
        "!",
        None,
    ]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 11
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert {c["id"] for c in chunks} == {"chatcmpl-BDmFsYvU2aKFx3m5cUn3Ue1ZQRTu5"}
    assert translator.done
    assert translator.finish_reason == "stop"
    assert translator.usage == chunks[-1]["usage"]


def test_the_usage_chunk_reaches_only_clients_that_asked_for_it(replay: Any) -> None:
    translator = OpenAIAdapter().stream_translator(model="gpt-4o-mini", include_usage=False)
    chunks = replay("openai_stream_text.sse", translator)
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert translator.usage is not None
    assert translator.usage["prompt_tokens"] == 9


def test_tool_call_deltas_pass_through(replay: Any) -> None:
    translator = OpenAIAdapter().stream_translator(model="gpt-4o", include_usage=True)
    chunks = replay("openai_stream_tool_calls.sse", translator)
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[:3]]
    assert calls[0]["function"]["name"] == "get_weather"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"location":"Paris"}'
    assert translator.finish_reason == "tool_calls"
    assert translator.usage is None  # this upstream sent none: the gateway estimates
    assert translator.done


def test_openrouter_keepalive_comments_are_skipped_and_usage_read(replay: Any) -> None:
    translator = OpenRouterAdapter().stream_translator(model="x", include_usage=False)
    chunks = replay("openrouter_stream_with_comments.sse", translator, piece=3)
    assert chunks[0]["choices"][0]["delta"]["content"] == "Hi"
    assert translator.usage == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert translator.finish_reason == "stop"
    assert translator.done


def test_an_error_in_the_stream_raises_after_the_chunks_before_it(replay: Any) -> None:
    translator = OpenRouterAdapter().stream_translator(model="x", include_usage=False)
    with pytest.raises(UpstreamError) as caught:
        replay("openrouter_stream_error.sse", translator)
    assert caught.value.message == "Provider disconnected unexpectedly"
    assert caught.value.retryable
    assert not translator.done


def test_a_malformed_stream_event_is_an_upstream_error() -> None:
    translator = OpenAIAdapter().stream_translator(model="x", include_usage=False)
    with pytest.raises(UpstreamError, match="malformed"):
        translator.feed(SSEEvent(None, "{not json"))


# --- error classification ------------------------------------------------------------


def classify(status: int, name_or_body: str | bytes, headers: dict[str, str], payload: Any) -> Any:
    body = payload(name_or_body) if isinstance(name_or_body, str) else name_or_body
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return OpenAIAdapter().classify_error(status, body, headers)


def test_429_is_retried_after_retry_after_ms(payload: Any) -> None:
    error = classify(429, "openai_error_rate_limit.json", {"retry-after-ms": "120"}, payload)
    assert error.retryable
    assert error.status == 429
    assert error.code == "rate_limited"
    assert error.retry_after == pytest.approx(0.12)
    assert error.message.startswith("Rate limit reached for gpt-4o")


def test_retry_after_in_seconds_is_read(payload: Any) -> None:
    error = classify(429, "openai_error_rate_limit.json", {"Retry-After": "30"}, payload)
    assert error.retry_after == 30


def test_retry_after_as_an_http_date_is_read(payload: Any) -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    error = classify(429, "openai_error_rate_limit.json", {"Retry-After": when}, payload)
    assert 55 <= error.retry_after <= 60


def test_a_400_is_not_retried_and_keeps_the_upstreams_words(payload: Any) -> None:
    error = classify(400, "openai_error_context_length.json", {}, payload)
    assert not error.retryable
    assert error.status == 400
    assert error.code == "context_length_exceeded"
    assert error.param == "messages"
    assert error.type == "invalid_request_error"
    assert "maximum context length" in error.message
    assert error.body()["error"]["code"] == "context_length_exceeded"


def test_a_401_means_this_providers_key_is_bad_not_the_clients(payload: Any) -> None:
    error = classify(401, "openai_error_invalid_key.json", {}, payload)
    assert error.auth
    assert error.retryable
    assert error.status == 502
    assert error.code == "upstream_auth_failed"


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504, 529])
def test_timeouts_conflicts_and_server_errors_are_retried(status: int) -> None:
    error = OpenAIAdapter().classify_error(status, b"<html>Bad Gateway</html>", {})
    assert error.retryable
    assert not error.auth
    assert error.message == "<html>Bad Gateway</html>"


@pytest.mark.parametrize(("status", "code"), [(404, "model_not_found"), (413, "request_too_large"),
                                              (422, "invalid_request_error")])  # fmt: skip
def test_other_client_errors_keep_their_status(status: int, code: str) -> None:
    error = OpenAIAdapter().classify_error(status, b"", {})
    assert (error.status, error.code, error.retryable) == (status, code, False)
    assert error.message == "no error message from upstream"


def test_a_plain_string_error_from_a_compatible_server_is_kept() -> None:
    error = OpenAIAdapter().classify_error(404, b'{"error": "model \\"llama9\\" not found"}', {})
    assert error.message == 'model "llama9" not found'
    assert not error.retryable


def test_connection_failures_and_timeouts_have_ready_made_errors() -> None:
    refused = UpstreamError.unreachable("connection refused")
    late = UpstreamError.timeout()
    assert refused.retryable and late.retryable
    assert (refused.status, late.status) == (502, 504)
