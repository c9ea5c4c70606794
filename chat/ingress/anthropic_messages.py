"""Anthropic's Messages API as a client dialect (DESIGN.md "Other dialects").

For upstreams that do not speak Messages: a Messages request becomes the internal OpenAI
chat completions body (which the adapters take), and the internal completion or chunk
stream becomes a Message or Anthropic's event sequence (message_start,
content_block_start / _delta / _stop, message_delta, message_stop). Errors use
Anthropic's shape. References: https://docs.anthropic.com/en/api/messages,
https://docs.anthropic.com/en/docs/build-with-claude/streaming, /en/api/errors.
No I/O here.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson

from chat.adapters.base import UpstreamError
from chat.errors import GatewayError, bad_request

ANTHROPIC_VERSION = "2023-06-01"
CHARS_PER_TOKEN = 4
# The signature of a thinking block made from another provider's reasoning text. Only
# Anthropic can sign; the passthrough leaves such blocks out when a later turn goes to
# an Anthropic provider, which would refuse them.
UNSIGNED = "switchboard-unsigned"

# Anthropic's error type for each status it documents; other 5xx are api_error.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Top-level fields a translated request carries over (each handled in to_chat), and
# those that only steer Anthropic's own service (caching, region, speed tier,
# diagnostics) and mean nothing to another provider.
TRANSLATED = frozenset(
    {
        "model", "messages", "system", "max_tokens", "stop_sequences", "stream",
        "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "metadata",
        "output_config",
    }
)  # fmt: skip
ANTHROPIC_ONLY = frozenset(
    {
        "service_tier", "context_management", "cache_control", "inference_geo", "speed",
        "diagnostics", "workspace_id", "user_profile_id",
    }
)  # fmt: skip

# thinking.budget_tokens → OpenAI's reasoning_effort (which Gemini's adapter maps back
# to a thinkingBudget); output_config.effort's levels beyond OpenAI's are its "high".
EFFORT_STEPS = ((2048, "low"), (8192, "medium"))
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


# --- errors ---------------------------------------------------------------------------


def error_body(error: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(error.status), "message": error.message}}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def error_event(error: GatewayError) -> bytes:
    """The one event a stream ends with when the upstream fails after the first byte."""
    return event("error", error_body(error))


# --- the request ------------------------------------------------------------------------


def parse_request(raw: bytes) -> dict[str, Any]:
    """The client's Messages body, checked as far as every upstream needs; unknown fields
    stay (a passthrough sends them on)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("model: must be a non-empty string.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: must be a non-empty array.", "messages")
    for number, message in enumerate(messages):
        where = f"messages.{number}"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise bad_request(f"{where}.role: must be 'user' or 'assistant'.", f"{where}.role")
        _content(message.get("content"), f"{where}.content")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        _content(system, "system")
    return body


def check_generation(body: dict[str, Any]) -> None:
    """What /v1/messages needs beyond count_tokens: max_tokens, stream, sampling."""
    limit = body.get("max_tokens")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise bad_request("max_tokens: must be a positive integer.", "max_tokens")
    if not isinstance(body.get("stream", False), bool):
        raise bad_request("stream: must be a boolean.", "stream")
    for name, high in (("temperature", 1), ("top_p", 1)):
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high
        ):
            raise bad_request(f"{name}: must be a number between 0 and {high}.", name)
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise bad_request("stop_sequences: must be an array of strings.", "stop_sequences")


def _content(content: Any, param: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(f"{param}: must be a string or an array of content blocks.", param)
    for number, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            where = f"{param}.{number}"
            raise bad_request(f"{where}: must be a content block with a 'type'.", where)


def to_chat(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """The internal (OpenAI chat completions) request for a provider of `kind` that does
    not speak Messages. Raises UpstreamError (400) for what that format cannot carry."""
    for name in body:
        if name not in TRANSLATED and name not in ANTHROPIC_ONLY:
            raise _unsupported(f"{name} cannot be translated for this provider", name)
    chat: dict[str, Any] = {"model": body["model"], "messages": _chat_messages(body)}
    chat["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("top_k") is not None:
        if kind == "openai":
            raise _unsupported("OpenAI has no top_k", "top_k")
        chat["top_k"] = body["top_k"]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    if body.get("tools"):
        chat["tools"] = [_chat_tool(tool, f"tools.{n}") for n, tool in enumerate(body["tools"])]
        chat.update(_chat_tool_choice(body.get("tool_choice")))
    config = body.get("output_config")
    output: dict[str, Any] = config if isinstance(config, dict) else {}
    if effort := EFFORTS.get(output.get("effort") or "") or reasoning_effort(body.get("thinking")):
        chat["reasoning_effort"] = effort
    if isinstance(output.get("format"), dict):
        chat["response_format"] = _response_format(output["format"])
    user = (
        (body.get("metadata") or {}).get("user_id")
        if isinstance(body.get("metadata"), dict)
        else None
    )
    if isinstance(user, str) and user:
        chat["user"] = user
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # message_delta carries usage
    return chat


def _unsupported(message: str, param: str) -> UpstreamError:
    return UpstreamError(
        400, message, code="unsupported_parameter", type="invalid_request_error", param=param
    )


def _response_format(spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("type") != "json_schema" or not isinstance(spec.get("schema"), dict):
        raise _unsupported("only json_schema output formats translate", "output_config.format")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": spec["schema"]}}


def reasoning_effort(thinking: Any) -> str | None:
    if not isinstance(thinking, dict) or thinking.get("type") in (None, "disabled"):
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return "medium"
    for limit, effort in EFFORT_STEPS:
        if budget <= limit:
            return effort
    return "high"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n\n".join(b.get("text", "") for b in content or [] if b.get("type") == "text")


def _chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if system := _text(body.get("system")):
        messages.append({"role": "system", "content": system})
    for number, message in enumerate(body["messages"]):
        where = f"messages.{number}.content"
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if message["role"] == "assistant":
            messages.append(_assistant(blocks, where))
        else:
            messages.extend(_user(blocks, where))
    return messages


def _assistant(blocks: list[dict[str, Any]], where: str) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for number, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            text.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id") or f"toolu_{number}",
                    "type": "function",
                    "function": {
                        "name": block.get("name") or "",
                        "arguments": json.dumps(block.get("input") or {}),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # earlier reasoning: chat completions has no way to send it back
        else:
            raise _unsupported(
                f"{kind} blocks cannot be translated for this provider", f"{where}.{number}.type"
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(blocks: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Tool results become tool messages (which must follow the assistant's calls); the
    rest, and any images a tool returned, one user message after them."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for number, block in enumerate(blocks):
        param = f"{where}.{number}"
        kind = block["type"]
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text") or ""})
        elif kind == "image":
            parts.append(_image(block, param))
        elif kind == "tool_result":
            results.append(_tool_result(block, param, parts))
        else:
            raise _unsupported(f"{kind} blocks cannot be translated for this provider", param)
    messages = results
    if parts:
        messages.append({"role": "user", "content": parts})
    return messages


def _tool_result(block: dict[str, Any], param: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    content = block.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    for number, inner in enumerate(content if isinstance(content, list) else []):
        if not isinstance(inner, dict):
            continue
        if inner.get("type") == "text":
            texts.append(inner.get("text") or "")
        elif inner.get("type") == "image":
            parts.append(_image(inner, f"{param}.content.{number}"))
        else:
            raise _unsupported(
                "tool results may hold text and images only", f"{param}.content.{number}"
            )
    text = "\n\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id") or "", "content": text}


def _image(block: dict[str, Any], param: str) -> dict[str, Any]:
    source: dict[str, Any] = block["source"] if isinstance(block.get("source"), dict) else {}
    if source.get("type") == "base64" and source.get("data"):
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"
    elif source.get("type") == "url" and source.get("url"):
        url = source["url"]
    else:
        raise _unsupported("images must have a base64 or url source", f"{param}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _chat_tool(tool: Any, param: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or not tool.get("name"):
        raise bad_request(f"{param}: a tool needs a name.", param)
    if tool.get("type") not in (None, "custom"):
        # Server tools (web search, code execution...) run at Anthropic only.
        raise _unsupported(f"{tool['type']} tools run only at Anthropic", f"{param}.type")
    function = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: Any) -> dict[str, Any]:
    if not isinstance(choice, dict):
        return {}
    kind = choice.get("type")
    params: dict[str, Any] = {}
    if kind == "auto":
        params["tool_choice"] = "auto"
    elif kind == "any":
        params["tool_choice"] = "required"
    elif kind == "none":
        params["tool_choice"] = "none"
    elif kind == "tool":
        params["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
    if choice.get("disable_parallel_tool_use"):
        params["parallel_tool_calls"] = False
    return params


def without_unsigned_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """The body without thinking blocks of ours (UNSIGNED); an assistant turn left empty
    goes too (the Messages API merges the turns around it)."""
    messages = []
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            kept = [
                block
                for block in content
                if not (block.get("type") == "thinking" and block.get("signature") == UNSIGNED)
            ]
            if not kept:
                continue
            message = {**message, "content": kept}
        messages.append(message)
    return {**body, "messages": messages}


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """A rough count of what the request puts in the context (count_tokens for providers
    that cannot count): four characters a token over system, messages and tools."""
    counted = {key: body.get(key) for key in ("system", "messages", "tools")}
    return max(1, len(orjson.dumps(counted)) // CHARS_PER_TOKEN)


# --- the answer -------------------------------------------------------------------------


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def usage_of(reported: dict[str, Any] | None) -> dict[str, int]:
    """OpenAI usage → Anthropic's, where input_tokens excludes the cached parts."""
    reported = reported or {}
    details = reported.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    read = int(details.get("cached_tokens") or 0)
    write = int(details.get("cache_write_tokens") or 0)
    prompt = int(reported.get("prompt_tokens") or 0)
    return {
        "input_tokens": max(prompt - read - write, 0),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "output_tokens": int(reported.get("completion_tokens") or 0),
    }


def _reasoning(part: dict[str, Any]) -> str:
    """Reasoning text as OpenAI-format servers send it (DeepSeek and vLLM say
    reasoning_content, OpenRouter reasoning)."""
    value = part.get("reasoning_content") or part.get("reasoning")
    return value if isinstance(value, str) else ""


def from_completion(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """An internal chat.completion → a Message."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if thinking := _reasoning(message):
        content.append({"type": "thinking", "thinking": thinking, "signature": UNSIGNED})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:20]}",
                "name": function.get("name") or "",
                "input": _arguments(function.get("arguments")),
            }
        )
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": usage_of(completion.get("usage")),
    }


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class EventEncoder:
    """Internal chat.completion.chunk dicts → Anthropic stream events (bytes).

    Blocks open as the deltas change kind (reasoning → thinking, content → text, each new
    tool call → tool_use); message_delta and message_stop wait for `finish()`, since
    usage arrives in the last chunk, after the finish reason.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._started = False
        self._index = -1
        self._open: str | None = None  # the kind of the open block
        self._tools: dict[int, int] = {}  # tool_calls index → block index
        self._stop_reason = "end_turn"
        self._usage: dict[str, Any] | None = None

    def feed(self, chunks: list[dict[str, Any]]) -> bytes:
        out: list[bytes] = []
        for chunk in chunks:
            if not self._started:
                out.append(self._message_start())
            if isinstance(chunk.get("usage"), dict):
                self._usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                out.extend(self._choice(choice))
        return b"".join(out)

    def finish(self) -> bytes:
        out = [self._message_start()] if not self._started else []
        out.extend(self._close())
        usage = usage_of(self._usage)
        delta = {"stop_reason": self._stop_reason, "stop_sequence": None}
        out.append(
            event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def _message_start(self) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def _choice(self, choice: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        delta = choice.get("delta") or {}
        if thinking := _reasoning(delta):
            out.extend(self._open_block("thinking", {"thinking": "", "signature": ""}))
            out.append(self._delta({"type": "thinking_delta", "thinking": thinking}))
        if delta.get("content"):
            out.extend(self._open_block("text", {"text": ""}))
            out.append(self._delta({"type": "text_delta", "text": delta["content"]}))
        for call in delta.get("tool_calls") or []:
            out.extend(self._tool_call(call))
        if choice.get("finish_reason"):
            self._stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return out

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        number = int(call.get("index") or 0)
        function = call.get("function") or {}
        if number not in self._tools:
            block: dict[str, Any] = {
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:20]}",
                "name": function.get("name") or "",
                "input": {},
            }
            out.extend(self._open_block("tool_use", block, force=True))
            self._tools[number] = self._index
        if function.get("arguments") and self._tools[number] == self._index:
            delta = {"type": "input_json_delta", "partial_json": function["arguments"]}
            out.append(self._delta(delta))
        return out

    def _open_block(self, kind: str, fields: dict[str, Any], force: bool = False) -> list[bytes]:
        if self._open == kind and not force:
            return []
        out = self._close()
        self._index += 1
        self._open = kind
        block = {"type": kind, **fields}
        data = {"type": "content_block_start", "index": self._index, "content_block": block}
        out.append(event("content_block_start", data))
        return out

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        out = []
        if self._open == "thinking":  # a thinking block ends with its signature, as at Anthropic
            out.append(self._delta({"type": "signature_delta", "signature": UNSIGNED}))
        self._open = None
        stop = {"type": "content_block_stop", "index": self._index}
        return [*out, event("content_block_stop", stop)]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        data = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return event("content_block_delta", data)
