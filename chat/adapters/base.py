"""What every wire-format adapter shares: the upstream error, the request, chunk shapes.

Adapters translate dicts and events between OpenAI's chat completions format and an
upstream's; no ORM, no settings, no network. All I/O lives in chat/gateway.py.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from chat.adapters.sse import SSEEvent
from chat.errors import GatewayError

DEFAULT_MAX_TOKENS = 4096

# Upstream statuses worth another candidate: timeouts, conflicts, rate limits, server
# trouble (Anthropic's 529 "overloaded" included). 401/403 are handled separately.
RETRYABLE_STATUSES = frozenset({408, 409, 429})

# The OpenAI-style code given to a non-retryable upstream 4xx when it names none itself.
CODE_BY_STATUS = {
    400: "invalid_request_error",
    404: "model_not_found",
    413: "request_too_large",
    422: "invalid_request_error",
}


class UpstreamError(GatewayError):
    """An upstream failure that already knows what the attempt loop should do with it.

    `status` is what the client gets if this error ends the request; `retryable` is the
    only thing the attempt loop reads; `auth` marks a bad provider credential (the
    provider cools down with status auth_error; the client never sees a 401 for it).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "upstream_error",
        type: str = "upstream_error",
        param: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        auth: bool = False,
    ) -> None:
        super().__init__(
            status, message, code=code, type=type, param=param, retry_after=retry_after
        )
        self.retryable = retryable
        self.auth = auth

    def __repr__(self) -> str:
        return (
            f"UpstreamError(status={self.status}, code={self.code!r}, "
            f"retryable={self.retryable}, message={self.message!r})"
        )

    @classmethod
    def unreachable(cls, detail: str) -> UpstreamError:
        """Connection refused, DNS failure, reset before a response: try the next one."""
        return cls(
            502, f"Upstream unreachable: {detail}", code="upstream_unreachable", retryable=True
        )

    @classmethod
    def timeout(cls, detail: str = "no response in time") -> UpstreamError:
        return cls(504, f"Upstream timed out: {detail}", code="upstream_timeout", retryable=True)

    @classmethod
    def bad_request(cls, message: str, param: str | None = None) -> UpstreamError:
        """The client's request cannot be expressed in this upstream's format."""
        return cls(
            400, message, code="invalid_request_error", type="invalid_request_error", param=param
        )


def classify_status(
    status: int,
    message: str,
    headers: Mapping[str, str],
    *,
    code: str | None = None,
    type: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
    auth: bool = False,
) -> UpstreamError:
    """The shared retry decision of DESIGN.md "Attempts, retries, failover".

    Adapters extract the upstream's own message/code/type from its error body and call
    this; `auth=True` lets an adapter flag credential errors that come with another status
    (Gemini answers an invalid key with 400).
    """
    retry_after = retry_after if retry_after is not None else parse_retry_after(headers)
    if auth or status in (401, 403):
        return UpstreamError(
            502,
            f"Upstream rejected the provider's credential ({status}): {message}",
            code="upstream_auth_failed",
            type="upstream_error",
            retryable=True,
            retry_after=retry_after,
            auth=True,
        )
    if status == 429:
        return UpstreamError(
            429,
            message,
            code="rate_limited",
            type=type or "rate_limit_error",
            retryable=True,
            retry_after=retry_after,
        )
    if status == 408:
        return UpstreamError(
            504, message, code="upstream_timeout", retryable=True, retry_after=retry_after
        )
    if status in RETRYABLE_STATUSES or status >= 500:
        # A gateway reports upstream trouble as 502 rather than echoing a 500 that
        # would read as our own bug; the upstream's message is kept.
        return UpstreamError(
            502, message, code="upstream_error", retryable=True, retry_after=retry_after
        )
    return UpstreamError(
        status,
        message,
        code=code or CODE_BY_STATUS.get(status, "upstream_error"),
        type=type or "invalid_request_error",
        param=param,
        retryable=False,
    )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI), or `Retry-After` seconds or HTTP date."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_duration(value: object) -> float | None:
    """A google.protobuf.Duration in JSON form ("22s", "1.5s") → seconds."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    return float(match.group(1)) if match else None


def error_text(body: bytes, limit: int = 8000) -> str:
    """A non-JSON error body, short enough for a message. The gateway scrubs and cuts it
    to 500 characters later: cutting here first could leave half a key behind."""
    text = body.decode("utf-8", errors="replace").strip()
    return text[:limit] if text else "no error message from upstream"


def event_object(event: SSEEvent) -> dict[str, Any] | None:
    """The JSON object a stream event carries (None for other JSON values); a malformed
    event is an upstream failure."""
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise UpstreamError(502, "Upstream sent a malformed stream event", retryable=True) from None
    return data if isinstance(data, dict) else None


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:  # also raised for bytes that are not UTF-8
        return None


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    json: dict[str, Any]


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_dict(prompt: int, completion: int, **details: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    usage.update(details)
    return usage


class StreamTranslator:
    """Turns one upstream stream, event by event, into OpenAI chat.completion.chunk dicts.

    `feed` returns the chunks an event yields (often none: pings, block stops) and raises
    UpstreamError on an in-stream error event. `done` turns true when the upstream
    signalled a proper end; a stream that ends without it was cut. `usage` is set once the
    upstream reported it (None means the gateway has to estimate).
    """

    def __init__(self, *, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = completion_id()
        self.created = int(time.time())
        self.done = False
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self._role_sent = False

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        raise NotImplementedError

    def chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, index: int = 0
    ) -> dict[str, Any]:
        """One chunk; the first one of the stream carries role "assistant"."""
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
        }

    def usage_chunk(self) -> list[dict[str, Any]]:
        """OpenAI's final usage chunk (empty choices), only when the client asked for it."""
        if not self.include_usage or self.usage is None:
            return []
        return [
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage,
            }
        ]


class Adapter:
    """One per wire format, stateless; `chat.adapters.for_kind(kind)` picks the instance."""

    kind = ""
    supports_stream_usage = False
    # Several choices in one call (`n`); without it the gateway makes n calls.
    supports_n = False

    def build_request(
        self, *, base_url: str, api_key: str, model: str, body: dict[str, Any], stream: bool
    ) -> UpstreamRequest:
        """`body` is the client's OpenAI chat completions request, already validated."""
        raise NotImplementedError

    def parse_response(self, payload: dict[str, Any], *, model: str) -> dict[str, Any]:
        """The upstream's whole response → an OpenAI chat.completion dict."""
        raise NotImplementedError

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        raise NotImplementedError

    def stream_translator(self, *, model: str, include_usage: bool) -> StreamTranslator:
        raise NotImplementedError

    # Embeddings (POST /v1/embeddings): `body` is the client's OpenAI embeddings request,
    # its `input` already a list (of strings, or of token arrays).
    can_embed = False

    def build_embeddings_request(
        self, *, base_url: str, api_key: str, model: str, body: dict[str, Any]
    ) -> UpstreamRequest:
        raise UpstreamError(
            400,
            f"{self.kind} providers cannot create embeddings",
            code="unsupported_parameter",
            param="model",
        )

    def parse_embeddings(self, payload: Any, *, body: dict[str, Any]) -> dict[str, Any]:
        """The upstream's answer → an OpenAI embeddings list."""
        raise NotImplementedError


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


# --- reading the client's OpenAI messages -------------------------------------------------


def content_parts(content: Any, param: str) -> list[dict[str, Any]]:
    """A message's content as OpenAI parts: text and image_url; None and "" give none."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise UpstreamError.bad_request("content must be a string or a list of parts", param)
    parts = []
    for number, part in enumerate(content):
        where = f"{param}[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(part)
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            # An assistant's earlier refusal, replayed as history: it is text to others.
            parts.append({"type": "text", "text": part["refusal"]})
        elif kind == "image_url":
            parts.append({"type": "image_url", "image_url": {"url": image_url(part, where)}})
        else:
            raise UpstreamError.bad_request(
                f"unsupported content part type {kind!r} for this provider", f"{where}.type"
            )
    return parts


def image_url(part: dict[str, Any], param: str) -> str:
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str) or not url:
        raise UpstreamError.bad_request("image_url.url is required", f"{param}.image_url.url")
    return url


def text_of(content: Any, param: str) -> str:
    """The text of a content that may only hold text (system, tool results)."""
    texts = []
    for part in content_parts(content, param):
        if part["type"] != "text":
            raise UpstreamError.bad_request("only text is allowed here", param)
        texts.append(part["text"])
    return "\n\n".join(texts) if len(texts) > 1 else "".join(texts)


_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.S
)


def parse_data_url(url: str, param: str) -> tuple[str, str] | None:
    """(mime type, base64 data) for a data: URL, None for anything else."""
    if not url.startswith("data:"):
        return None
    match = _DATA_URL.match(url)
    if not match or not match.group("data"):
        raise UpstreamError.bad_request("image data URLs must be data:<mime>;base64,<data>", param)
    return match.group("mime") or "image/jpeg", match.group("data").strip()


def is_http_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def stop_sequences(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]


def max_tokens(body: dict[str, Any]) -> int | None:
    """max_completion_tokens is OpenAI's newer name for max_tokens; it wins when both are set."""
    value = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    return value if isinstance(value, int) else None


def tool_calls(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    """An assistant message's tool calls, each checked to be a function call object."""
    calls = message.get("tool_calls") or []
    for number, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            raise UpstreamError.bad_request(
                "each tool call must be an object with a function", f"{param}.tool_calls[{number}]"
            )
    return calls


def messages_of(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(param path, message) pairs of the client's messages, each checked to be an object."""
    messages = body.get("messages") or []
    pairs = []
    for number, message in enumerate(messages):
        param = f"messages[{number}]"
        if not isinstance(message, dict):
            raise UpstreamError.bad_request("each message must be an object", param)
        pairs.append((param, message))
    return pairs


def tool_arguments(call: dict[str, Any], param: str) -> dict[str, Any]:
    """An assistant tool call's JSON-string arguments as the object other formats want."""
    raw = (call.get("function") or {}).get("arguments") or "{}"
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise UpstreamError.bad_request(
            "tool call arguments must be a JSON object", f"{param}.function.arguments"
        ) from None
    if not isinstance(value, dict):
        raise UpstreamError.bad_request(
            "tool call arguments must be a JSON object", f"{param}.function.arguments"
        )
    return value


def function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `function` objects of the client's tools (other tool types cannot be translated)."""
    functions = []
    for number, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise UpstreamError.bad_request(
                "only function tools with a name are supported", f"tools[{number}].function"
            )
        functions.append(function)
    return functions
