"""Anthropic Messages API ↔ OpenAI chat completions.

References: https://docs.anthropic.com/en/api/messages and
https://docs.anthropic.com/en/docs/build-with-claude/streaming (event flow: message_start,
content_block_start/delta/stop per block, message_delta, message_stop; ping and error any
time).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from chat.adapters.base import (
    DEFAULT_MAX_TOKENS,
    Adapter,
    StreamTranslator,
    UpstreamError,
    UpstreamRequest,
    classify_status,
    completion_id,
    content_parts,
    error_text,
    event_object,
    function_tools,
    is_http_url,
    join_url,
    load_json,
    max_tokens,
    messages_of,
    parse_data_url,
    stop_sequences,
    text_of,
    tool_arguments,
    tool_calls,
    usage_dict,
)
from chat.adapters.sse import SSEEvent

ANTHROPIC_VERSION = "2023-06-01"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# The HTTP status each documented error type comes with, for errors inside a stream.
STATUS_BY_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicAdapter(Adapter):
    kind = "anthropic"
    supports_stream_usage = True  # message_start and message_delta carry usage

    def build_request(
        self, *, base_url: str, api_key: str, model: str, body: dict[str, Any], stream: bool
    ) -> UpstreamRequest:
        system, messages = translate_messages(messages_of(body))
        payload: dict[str, Any] = {
            "model": model,
            "messages": messages,
            # Anthropic requires max_tokens; OpenAI clients often leave it out.
            "max_tokens": max_tokens(body) or DEFAULT_MAX_TOKENS,
        }
        if system:
            payload["system"] = system
        payload.update(sampling(body))
        payload.update(tools(body))
        if isinstance(body.get("user"), str):
            payload["metadata"] = {"user_id": body["user"]}
        if stream:
            payload["stream"] = True
        # response_format: the Messages API has no JSON mode or schema parameter. We do not
        # fake one (no prefill, no forced tool): the request goes as-is and the model
        # follows whatever the prompt asks.
        return UpstreamRequest(
            url=join_url(base_url, "/messages"),
            headers={
                "x-api-key": api_key,
                "anthropic-version": ANTHROPIC_VERSION,
                "Content-Type": "application/json",
            },
            json=payload,
        )

    def parse_response(self, payload: dict[str, Any], *, model: str) -> dict[str, Any]:
        if isinstance(payload, dict) and payload.get("type") == "error":
            raise in_stream_error(payload)
        blocks = payload.get("content") if isinstance(payload, dict) else None
        if not isinstance(blocks, list):
            raise UpstreamError(502, "Upstream response has no content", retryable=True)
        blocks = [block for block in blocks if isinstance(block, dict)]
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        calls = [tool_call(b) for b in blocks if b.get("type") == "tool_use"]
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = calls
        elif message["content"] is None:
            message["content"] = ""
        return {
            "id": payload.get("id") or completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model") or model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": FINISH_REASONS.get(payload.get("stop_reason") or "", "stop"),
                }
            ],
            "usage": usage(payload.get("usage") or {}),
        }

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        data = load_json(body)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return classify_status(status, error_text(body), headers)
        kind = error.get("type")
        return classify_status(
            status,
            str(error.get("message") or error_text(body)),
            headers,
            type=kind if isinstance(kind, str) else None,
        )

    def stream_translator(self, *, model: str, include_usage: bool) -> StreamTranslator:
        return AnthropicStreamTranslator(model=model, include_usage=include_usage)


# --- request ---------------------------------------------------------------------------


def translate_messages(
    messages: list[tuple[str, dict[str, Any]]],
) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI messages → (top-level system text, Anthropic messages).

    System and developer messages all go to `system` (Anthropic has no system turn);
    tool results become user turns; consecutive turns of one role are merged, which also
    puts parallel tool results together in the one user turn Anthropic expects.
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for param, message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            text = text_of(message.get("content"), f"{param}.content")
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = user_blocks(message.get("content"), f"{param}.content")
        elif role == "assistant":
            blocks = assistant_blocks(message, param)
        elif role == "tool":
            role, blocks = "user", [tool_result(message, param)]
        else:
            raise UpstreamError.bad_request(f"unsupported role {role!r}", f"{param}.role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(system), turns


def user_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    blocks = []
    for number, part in enumerate(content_parts(content, param)):
        if part["type"] == "text":
            blocks.append({"type": "text", "text": part["text"]})
        else:
            blocks.append(image_block(part["image_url"]["url"], f"{param}[{number}].image_url.url"))
    return blocks


def image_block(url: str, param: str) -> dict[str, Any]:
    data_url = parse_data_url(url, param)
    if data_url is not None:
        media_type, data = data_url
        source = {"type": "base64", "media_type": media_type, "data": data}
    elif is_http_url(url):
        source = {"type": "url", "url": url}
    else:
        raise UpstreamError.bad_request("images must be data: or http(s) URLs", param)
    return {"type": "image", "source": source}


def assistant_blocks(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    text = text_of(message.get("content"), f"{param}.content")
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for number, call in enumerate(tool_calls(message, param)):
        where = f"{param}.tool_calls[{number}]"
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{number}",
                "name": (call.get("function") or {}).get("name") or "",
                "input": tool_arguments(call, where),
            }
        )
    return blocks


def tool_result(message: dict[str, Any], param: str) -> dict[str, Any]:
    if not message.get("tool_call_id"):
        raise UpstreamError.bad_request("tool messages need tool_call_id", f"{param}.tool_call_id")
    return {
        "type": "tool_result",
        "tool_use_id": message["tool_call_id"],
        "content": text_of(message.get("content"), f"{param}.content"),
    }


def sampling(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    temperature = body.get("temperature")
    if isinstance(temperature, int | float):
        # OpenAI's scale runs to 2, Anthropic's to 1: clamp rather than fail the request.
        params["temperature"] = min(float(temperature), 1.0)
    if isinstance(body.get("top_p"), int | float):
        params["top_p"] = body["top_p"]
    if stops := stop_sequences(body):
        params["stop_sequences"] = stops
    return params


def tools(body: dict[str, Any]) -> dict[str, Any]:
    functions = function_tools(body)
    if not functions:
        return {}
    params: dict[str, Any] = {
        "tools": [
            {
                "name": function["name"],
                "description": function.get("description") or "",
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
            for function in functions
        ]
    }
    choice = tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False and choice.get("type") != "none":
        choice = {"type": "auto", **choice, "disable_parallel_tool_use": True}
    if choice:
        params["tool_choice"] = choice
    return params


def tool_choice(choice: Any) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "tool", "name": choice["function"].get("name", "")}
    return {}


# --- response ----------------------------------------------------------------------------


def tool_call(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": block.get("id", ""),
        "type": "function",
        "function": {
            "name": block.get("name", ""),
            "arguments": json.dumps(block.get("input") or {}),
        },
    }


def prompt_tokens(usage: dict[str, Any]) -> int:
    """Anthropic counts cached input apart; OpenAI's prompt_tokens includes it."""
    return sum(
        int(usage.get(key) or 0)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def usage(raw: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    cache: dict[str, int] = {}
    if raw.get("cache_read_input_tokens"):
        cache["cached_tokens"] = int(raw["cache_read_input_tokens"])
    if raw.get("cache_creation_input_tokens"):
        # OpenRouter's name for prompt tokens written to the cache (priced apart).
        cache["cache_write_tokens"] = int(raw["cache_creation_input_tokens"])
    if cache:
        details["prompt_tokens_details"] = cache
    return usage_dict(prompt_tokens(raw), int(raw.get("output_tokens") or 0), **details)


def in_stream_error(data: dict[str, Any]) -> UpstreamError:
    error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
    kind: str = error["type"] if isinstance(error.get("type"), str) else "api_error"
    message = str(error.get("message") or kind)
    return classify_status(STATUS_BY_ERROR_TYPE.get(kind, 500), message, {}, type=kind)


class AnthropicStreamTranslator(StreamTranslator):
    def __init__(self, *, model: str, include_usage: bool) -> None:
        super().__init__(model=model, include_usage=include_usage)
        self._raw_usage: dict[str, Any] = {}
        self._tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool_calls index

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = event_object(event)
        if data is None:
            return []
        handler = getattr(self, f"_on_{data.get('type') or event.event}", None)
        # Unknown event types are skipped, as Anthropic's versioning policy asks.
        return handler(data) if handler else []

    def _on_message_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        message = data.get("message") or {}
        self.id = message.get("id") or self.id
        self.model = message.get("model") or self.model
        self._count(message.get("usage") or {})
        return [self.chunk({"content": ""})]

    def _on_content_block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return [self.chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []  # thinking and server-tool blocks have no chat completions form
        index = self._tool_index[int(data.get("index", 0))] = len(self._tool_index)
        call = {
            "index": index,
            "id": block.get("id", ""),
            "type": "function",
            "function": {"name": block.get("name", ""), "arguments": ""},
        }
        return [self.chunk({"tool_calls": [call]})]

    def _on_content_block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self.chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            index = self._tool_index.get(int(data.get("index", 0)))
            if index is None:
                return []
            call = {"index": index, "function": {"arguments": delta["partial_json"]}}
            return [self.chunk({"tool_calls": [call]})]
        return []

    def _on_message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self._count(data.get("usage") or {})
        reason = (data.get("delta") or {}).get("stop_reason")
        if not reason:
            return []
        self.finish_reason = FINISH_REASONS.get(reason, "stop")
        return [self.chunk({}, self.finish_reason)]

    def _on_message_stop(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.done = True
        return self.usage_chunk()

    def _on_error(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        raise in_stream_error(data)

    def _count(self, raw: dict[str, Any]) -> None:
        # message_delta's usage is cumulative: later values replace earlier ones.
        self._raw_usage.update({k: v for k, v in raw.items() if isinstance(v, int)})
        self.usage = usage(self._raw_usage)
