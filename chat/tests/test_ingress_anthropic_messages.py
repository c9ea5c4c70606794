"""The Messages ingress's pure parts: translation to the internal body, the event
encoder, the raw model swap, and cache-token pricing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from chat.adapters.base import UpstreamError
from chat.errors import GatewayError
from chat.ingress import anthropic_messages as dialect
from chat.ingress.passthrough import EventScanner, event_end, with_model
from providers.catalog import Price, parse_entry
from usage.recording import Draft, cost_of


def request(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]} | extra


# --- to_chat -----------------------------------------------------------------------------


def test_tool_results_come_first_and_their_images_follow_as_a_user_message() -> None:
    image = {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    messages = [
        {"role": "user", "content": "Screenshot please"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call it.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Taking it."},
            {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {"x": 1}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": [
                {"type": "text", "text": "partial"}, {"type": "image", "source": image},
            ]},
            {"type": "text", "text": "What do you see?"},
        ]},
    ]  # fmt: skip

    chat = dialect.to_chat(request(messages=messages), "openai")

    assert chat["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Taking it.",  # earlier thinking has no chat completions form
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "screenshot", "arguments": '{"x": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: partial"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "What do you see?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("extra", "kind", "param"),
    [
        ({"tools": [{"type": "web_search_20250305", "name": "search"}]}, "openai", "tools.0.type"),
        ({"container": "cntr_1"}, "gemini", "container"),
        ({"top_k": 5}, "openai", "top_k"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
         "gemini", "messages.0.content.0"),
    ],
)  # fmt: skip
def test_what_cannot_be_translated_is_refused_by_name(
    extra: dict[str, Any], kind: str, param: str
) -> None:
    with pytest.raises(UpstreamError) as refused:
        dialect.to_chat(request(**extra), kind)
    assert (refused.value.status, refused.value.param) == (400, param)
    assert refused.value.code == "unsupported_parameter"
    assert not refused.value.retryable


def test_service_hints_are_not_sent_elsewhere() -> None:
    chat = dialect.to_chat(
        request(cache_control={"type": "ephemeral"}, service_tier="auto", speed="fast"), "openai"
    )
    assert set(chat) == {"model", "messages", "max_tokens"}


def test_tool_choice_and_structured_output_translate() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = dialect.to_chat(
        request(
            tools=[{"name": "f", "input_schema": schema}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            output_config={"format": {"type": "json_schema", "schema": schema}},
            thinking={"type": "enabled", "budget_tokens": 20000},
        ),
        "openai",
    )
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    assert (chat["tool_choice"], chat["parallel_tool_calls"]) == ("required", False)
    assert chat["response_format"]["json_schema"]["schema"] == schema
    assert chat["reasoning_effort"] == "high"


# --- the answer --------------------------------------------------------------------------


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if block:
            head, data = block.split("\n", 1)
            out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_the_encoder_opens_one_block_per_kind_and_tool_call() -> None:
    encoder = dialect.EventEncoder("gpt")
    calls = [
        {"index": 0, "id": "c0", "function": {"name": "a", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"x":'}},
        {"index": 0, "function": {"arguments": "1}"}},
        {"index": 1, "id": "c1", "function": {"name": "b", "arguments": "{}"}},
    ]
    raw = encoder.feed(
        [chunk({"role": "assistant", "reasoning_content": "Hmm."}), chunk({"content": "Ok"})]
        + [chunk({"tool_calls": [call]}) for call in calls]
        + [chunk({}, "tool_calls")]
    )
    usage = {"prompt_tokens": 100, "completion_tokens": 9,
             "prompt_tokens_details": {"cached_tokens": 60}}  # fmt: skip
    raw += encoder.feed([{"choices": [], "usage": usage}]) + encoder.finish()

    seen = events(raw)
    assert [(name, data.get("index")) for name, data in seen] == [
        ("message_start", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_stop", 1),
        ("content_block_start", 2), ("content_block_delta", 2), ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("content_block_start", 3), ("content_block_delta", 3), ("content_block_stop", 3),
        ("message_delta", None), ("message_stop", None),
    ]  # fmt: skip
    assert seen[1][1]["content_block"]["type"] == "thinking"
    assert seen[3][1]["delta"] == {"type": "signature_delta", "signature": dialect.UNSIGNED}
    assert seen[8][1]["content_block"] == {"type": "tool_use", "id": "c0", "name": "a", "input": {}}
    assert seen[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert seen[-2][1]["usage"] == {
        "input_tokens": 40,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 60,
        "output_tokens": 9,
    }


def test_errors_take_anthropics_types() -> None:
    def kind(status: int) -> str:
        return dialect.error_body(GatewayError(status, "x", code="c"))["error"]["type"]

    assert [kind(s) for s in (400, 401, 403, 404, 413, 429, 500, 502, 504, 529)] == [
        "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
        "request_too_large", "rate_limit_error", "api_error", "api_error", "timeout_error",
        "overloaded_error",
    ]  # fmt: skip


# --- passthrough pieces -------------------------------------------------------------------


def test_with_model_changes_only_the_top_level_model_value() -> None:
    raw = (
        b'{\n  "messages" : [{"role":"user","content":"caf\\u00e9 \xe2\x9c\x93",'
        b'"model":"inner"}],\n  "model":"a",\t"x":1.50, "model" : "b"}'
    )
    assert with_model(raw, "claude-\u00e9") == raw.replace(
        b'"model" : "b"', b'"model" : "claude-\\u00e9"'
    )


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"event: ping\ndata: {}", 0),
        (b"event: ping\ndata: {}\n", 0),
        (b"event: a\ndata: {}\n\nevent: b\nda", len(b"event: a\ndata: {}\n\n")),
        (b"event: a\r\ndata: {}\r\n\r\n", len(b"event: a\r\ndata: {}\r\n\r\n")),
        (b"event: a\rdata: {}\r\r", len(b"event: a\rdata: {}\r\r")),
    ],
)
def test_relayed_bytes_are_cut_only_after_a_whole_event(data: bytes, end: int) -> None:
    assert event_end(data) == end


def test_the_scanner_reads_usage_and_a_late_error() -> None:
    scanner = EventScanner()
    scanner.feed(
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
        b'{"input_tokens":5,"cache_read_input_tokens":7,"output_tokens":1}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\n'
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'
    )
    assert scanner.usage == {"input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 9}
    assert scanner.answering and not scanner.failed_first
    assert scanner.error is not None and scanner.error.status == 529


# --- cache pricing -------------------------------------------------------------------------


def test_cached_tokens_cost_the_prompt_price_when_no_cache_price_is_known() -> None:
    draft = Draft(request_id="r", prompt_tokens=100, completion_tokens=10, cache_read_tokens=80)
    unknown = Price(Decimal("0.01"), Decimal("0.1"))
    known = Price(Decimal("0.01"), Decimal("0.1"), cache_read=Decimal("0.001"))
    assert cost_of(draft, unknown) == (Decimal("2.00"), True)
    assert cost_of(draft, known) == (Decimal("0.2") + Decimal("0.08") + Decimal("1.0"), True)


def test_openrouter_cache_prices_are_read() -> None:
    listed = parse_entry(
        {
            "id": "anthropic/claude-sonnet-4.5",
            "pricing": {
                "prompt": "0.000003",
                "completion": "0.000015",
                "input_cache_read": "0.0000003",
                "input_cache_write": "0.00000375",
            },
        }
    )
    assert listed is not None
    assert (listed.cache_read_price, listed.cache_write_price) == (
        Decimal("0.000000300000"),
        Decimal("0.000003750000"),
    )
