"""Checks on a /v1 chat request body, naming the first bad field as OpenAI does (`param`).

The body is otherwise passed on as the client sent it: adapters read what they need.
"""

from __future__ import annotations

import json
from typing import Any

from chat.errors import GatewayError, bad_request

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad_request(f"'{name}' must be a number between {low:g} and {high:g}.", name)


def _positive_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_request(f"'{name}' must be a positive integer.", name)


def _content(content: Any, param: str, role: str) -> None:
    if content is None:
        if role in ("assistant", "function"):
            return
        raise bad_request(f"'{param}' is required for {role} messages.", param)
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(f"'{param}' must be a string or an array of content parts.", param)
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
            raise bad_request(f"'{where}' must be a content part with a known 'type'.", where)
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise bad_request(f"'{where}.text' must be a string.", f"{where}.text")
        if part["type"] == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or not url:
                raise bad_request(
                    f"'{where}.image_url.url' must be a URL.", f"{where}.image_url.url"
                )


def _messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array of messages.", "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad_request(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role not in ROLES:
            raise bad_request(
                f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.", f"{where}.role"
            )
        has_tool_calls = bool(message.get("tool_calls"))
        if has_tool_calls and not isinstance(message["tool_calls"], list):
            raise bad_request(f"'{where}.tool_calls' must be an array.", f"{where}.tool_calls")
        _content(message.get("content"), f"{where}.content", role)


# Deeper JSON than any real request needs; past it encoders and validators recurse into
# RecursionError (a 500) instead of answering.
MAX_JSON_DEPTH = 100


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays/objects nest more than `limit` levels. Walks containers only, one
    level at a time (no recursion), so a long conversation costs little."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        children: list[Any] = []
        for item in level:
            values = item.values() if isinstance(item, dict) else item
            children.extend(child for child in values if isinstance(child, dict | list))
        level = children
    return False


def parse_chat_request(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from exc
    except RecursionError:
        body = None  # nested past what the parser can follow: refused just below
    if body is None or too_deep(body):
        raise bad_request(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' must be a non-empty string.", "model")
    _messages(body.get("messages"))
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise bad_request("'stream' must be a boolean.", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", "stream_options")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _positive_int(body, "max_tokens")
    _positive_int(body, "max_completion_tokens")
    _positive_int(body, "n")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise bad_request("'stop' must be a string or an array of strings.", "stop")
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) for t in tools)
    ):
        raise bad_request("'tools' must be an array of tool objects.", "tools")
    response_format = body.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise bad_request("'response_format' must be an object.", "response_format")
    return body


def too_large(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"The request body is larger than the {limit // (1024 * 1024)} MB limit.",
        code="request_too_large",
    )
