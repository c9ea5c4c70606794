"""The fake upstream servers behave like the real ones, as seen through our adapters."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chat.adapters import for_kind
from chat.adapters.base import UpstreamError
from chat.adapters.sse import SSEParser
from chat.tests.upstreams import DEFAULT_TEXT, FakeUpstream

BODY: dict[str, Any] = {"model": "smart", "messages": [{"role": "user", "content": "Hi"}]}


# One client for the module: building one per request (TLS context) costs ~50 ms each.
HTTP = httpx.Client(timeout=10)


@pytest.fixture(params=["openai", "anthropic", "gemini"])
def fake(request: pytest.FixtureRequest) -> FakeUpstream:
    return request.getfixturevalue(f"fake_{request.param}")


def upstream_request(fake: FakeUpstream, stream: bool, body: dict[str, Any] | None = None) -> Any:
    return for_kind(fake.kind).build_request(
        base_url=fake.base_url, api_key="sk-up", model=f"{fake.kind}-model",
        body=body or BODY, stream=stream,
    )  # fmt: skip


def call(fake: FakeUpstream, stream: bool = False, **kwargs: Any) -> httpx.Response:
    request = upstream_request(fake, stream)
    return HTTP.post(request.url, headers=request.headers, json=request.json, **kwargs)


def translate_stream(fake: FakeUpstream, include_usage: bool = True) -> tuple[Any, list[Any]]:
    request = upstream_request(fake, stream=True)
    translator = for_kind(fake.kind).stream_translator(model="m", include_usage=include_usage)
    parser, chunks = SSEParser(), []
    with HTTP.stream("POST", request.url, headers=request.headers, json=request.json) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            for event in parser.feed(piece):
                chunks.extend(translator.feed(event))
    return translator, chunks


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_the_default_reply_parses_as_a_completion(fake: FakeUpstream) -> None:
    response = call(fake)
    assert response.status_code == 200
    completion = for_kind(fake.kind).parse_response(response.json(), model="m")
    assert completion["choices"][0]["message"]["content"] == DEFAULT_TEXT
    assert completion["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def test_the_default_stream_translates_to_the_same_text_and_usage(fake: FakeUpstream) -> None:
    translator, chunks = translate_stream(fake)
    assert content_of(chunks) == DEFAULT_TEXT
    assert len(chunks) > 3  # word by word, not one blob
    assert translator.done
    assert translator.finish_reason == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def test_scripted_tool_calls_come_through_whole_and_streamed(fake: FakeUpstream) -> None:
    call_spec = {"name": "get_weather", "arguments": {"city": "Paris"}}
    fake.reply("", tool_calls=[call_spec]).reply("", tool_calls=[call_spec])
    completion = for_kind(fake.kind).parse_response(call(fake).json(), model="m")
    [tool_call] = completion["choices"][0]["message"]["tool_calls"]
    assert tool_call["function"]["name"] == "get_weather"
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    translator, chunks = translate_stream(fake)
    deltas = [
        d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert deltas[0]["function"]["name"] == "get_weather"
    arguments = "".join(d["function"].get("arguments", "") for d in deltas)
    assert json.loads(arguments) == {"city": "Paris"}
    assert translator.finish_reason == "tool_calls"


def test_requests_are_recorded_with_path_headers_and_json(fake_anthropic: FakeUpstream) -> None:
    call(fake_anthropic)
    [seen] = fake_anthropic.requests
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/messages"
    assert seen["headers"]["X-Api-Key"] == "sk-up"  # case-insensitive
    assert seen["headers"]["anthropic-version"] == "2023-06-01"
    assert seen["json"]["max_tokens"] == 4096


def test_gemini_requests_record_the_model_path_and_query(fake_gemini: FakeUpstream) -> None:
    translate_stream(fake_gemini)
    [seen] = fake_gemini.requests
    assert seen["path"] == "/v1beta/models/gemini-model:streamGenerateContent"
    assert seen["query"] == {"alt": "sse"}
    assert seen["headers"]["x-goog-api-key"] == "sk-up"


def test_the_script_is_used_in_order_then_the_default(fake: FakeUpstream) -> None:
    fake.fail(503).reply("second")
    first = call(fake)
    assert first.status_code == 503
    error = for_kind(fake.kind).classify_error(503, first.content, first.headers)
    assert error.retryable
    second = for_kind(fake.kind).parse_response(call(fake).json(), model="m")
    assert second["choices"][0]["message"]["content"] == "second"
    assert call(fake).status_code == 200
    assert len(fake.requests) == 3


def test_a_429_carries_its_retry_after_header(fake: FakeUpstream) -> None:
    fake.fail(429, headers={"Retry-After": "7"})
    response = call(fake)
    error = for_kind(fake.kind).classify_error(429, response.content, response.headers)
    assert (response.status_code, error.retryable, error.retry_after) == (429, True, 7.0)


def test_a_401_in_the_formats_own_shape_reads_as_a_bad_provider_key(fake: FakeUpstream) -> None:
    fake.api_key = "the-right-key"
    response = call(fake)
    assert response.status_code == 401
    assert for_kind(fake.kind).classify_error(401, response.content, response.headers).auth


def test_a_custom_error_body_is_sent_as_given(fake_openai: FakeUpstream) -> None:
    fake_openai.fail(400, {"error": {"message": "bad things", "code": "nope"}})
    fake_openai.fail(502, "<html>proxy error</html>")
    assert call(fake_openai).json() == {"error": {"message": "bad things", "code": "nope"}}
    assert call(fake_openai).text == "<html>proxy error</html>"


def test_a_stream_cut_after_n_chunks_drops_the_connection(fake: FakeUpstream) -> None:
    fake.stream(["one ", "two ", "three ", "four"], cut_after=2)
    with pytest.raises(httpx.RemoteProtocolError):
        translate_stream(fake)
    fake.stream(["one ", "two ", "three ", "four"], cut_after=2)
    request = upstream_request(fake, stream=True)
    translator = for_kind(fake.kind).stream_translator(model="m", include_usage=False)
    parser, chunks = SSEParser(), []
    with HTTP.stream("POST", request.url, headers=request.headers, json=request.json) as response:
        try:
            for piece in response.iter_raw():
                for event in parser.feed(piece):
                    chunks.extend(translator.feed(event))
        except httpx.RemoteProtocolError:
            pass
    assert content_of(chunks) == "one two "
    assert not translator.done
    assert fake.disconnects == 0  # the server hung up, not the client


def test_raw_events_can_be_scripted_into_a_stream(fake_anthropic: FakeUpstream) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake_anthropic.stream(["partial ", overloaded])
    with pytest.raises(UpstreamError, match="Overloaded"):
        translate_stream(fake_anthropic)


def test_a_stream_scripted_for_a_plain_request_is_one_reply(fake_openai: FakeUpstream) -> None:
    fake_openai.stream(["a", "b"])
    assert call(fake_openai).json()["choices"][0]["message"]["content"] == "ab"


def test_usage_none_sends_no_usage(fake: FakeUpstream) -> None:
    fake.reply("x", usage=None)
    translator, chunks = translate_stream(fake)
    if fake.kind == "anthropic":  # Anthropic always reports usage; the fake reports zeros
        assert translator.usage == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    else:
        assert translator.usage is None


def test_a_delay_holds_the_answer_back(fake_openai: FakeUpstream) -> None:
    fake_openai.delay(5)
    with pytest.raises(httpx.ReadTimeout):
        call(fake_openai, timeout=1.0)
    assert fake_openai.wait_for_disconnect(5)
    assert fake_openai.disconnects == 1


def test_a_client_giving_up_on_a_hang_is_seen_as_a_disconnect(fake: FakeUpstream) -> None:
    fake.hang()
    with pytest.raises(httpx.ReadTimeout):
        call(fake, timeout=1.0)
    assert fake.wait_for_disconnect(5)
    assert fake.disconnects == 1


def test_a_client_leaving_mid_stream_is_seen_as_a_disconnect(fake_gemini: FakeUpstream) -> None:
    fake_gemini.stream(["a"] * 50, delay_between=0.05)
    request = upstream_request(fake_gemini, stream=True)
    with HTTP.stream("POST", request.url, headers=request.headers, json=request.json) as response:
        next(response.iter_raw())
    assert fake_gemini.wait_for_disconnect(5)


def test_a_complete_response_is_not_a_disconnect(fake: FakeUpstream) -> None:
    call(fake)
    translate_stream(fake)
    assert not fake.wait_for_disconnect(0.1)
    assert fake.disconnects == 0


async def test_async_code_can_await_a_disconnect(fake_openai: FakeUpstream) -> None:
    fake_openai.hang()
    request = upstream_request(fake_openai, stream=False)
    async with httpx.AsyncClient(timeout=1.0) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(request.url, headers=request.headers, json=request.json)
    assert await fake_openai.until_disconnect(5)


def test_model_lists_come_in_each_formats_shape(fake: FakeUpstream) -> None:
    fake.models = ["m-1", "m-2"]
    listing = HTTP.get(f"{fake.base_url}/models").json()
    ids = {
        "openai": lambda: [m["id"] for m in listing["data"]],
        "anthropic": lambda: [m["id"] for m in listing["data"]],
        "gemini": lambda: [m["name"] for m in listing["models"]],
    }[fake.kind]()
    assert ids in (["m-1", "m-2"], ["models/m-1", "models/m-2"])
    assert fake.requests == []
    assert len(fake.model_requests) == 1


def test_unknown_paths_are_404s_and_not_recorded_as_chat(fake_openai: FakeUpstream) -> None:
    assert HTTP.post(f"{fake_openai.base_url}/completions", json={}).status_code == 404
    assert fake_openai.requests == []


def test_reset_forgets_script_records_and_counters(fake_openai: FakeUpstream) -> None:
    fake_openai.fail(500)
    call(fake_openai, timeout=5)
    fake_openai.fail(500)
    fake_openai.reset()
    assert call(fake_openai).status_code == 200
    assert len(fake_openai.requests) == 1


def test_the_closed_port_refuses_connections(closed_port: int) -> None:
    with pytest.raises(httpx.ConnectError):
        HTTP.post(f"http://127.0.0.1:{closed_port}/v1/chat/completions", json=BODY)
