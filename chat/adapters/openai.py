"""OpenAI chat completions, and the servers that speak it (OpenRouter, vLLM, Ollama...).

The request is passed through with the model replaced; streams ask for the final usage
chunk (`stream_options.include_usage`), which reaches the client only when it asked too.
Reference: https://platform.openai.com/docs/api-reference/chat
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chat.adapters.base import (
    Adapter,
    StreamTranslator,
    UpstreamError,
    UpstreamRequest,
    classify_status,
    completion_id,
    error_text,
    event_object,
    join_url,
    load_json,
)
from chat.adapters.sse import SSEEvent

# OpenRouter attributes traffic to an app by these headers (https://openrouter.ai/docs).
OPENROUTER_REFERER = "https://github.com/switchboard"
OPENROUTER_TITLE = "Switchboard"


class OpenAIAdapter(Adapter):
    kind = "openai"
    # openai_compatible servers that ignore stream_options simply send no usage chunk;
    # the gateway then estimates, so asking costs nothing.
    supports_stream_usage = True
    supports_n = True

    def build_request(
        self, *, base_url: str, api_key: str, model: str, body: dict[str, Any], stream: bool
    ) -> UpstreamRequest:
        payload = {**body, "model": model}
        if stream:
            options = payload.get("stream_options")
            options = options if isinstance(options, dict) else {}
            payload["stream"] = True
            payload["stream_options"] = {**options, "include_usage": True}
        else:
            payload.pop("stream", None)
            payload.pop("stream_options", None)
        return UpstreamRequest(
            url=join_url(base_url, "/chat/completions"),
            headers=self.headers(api_key),
            json=payload,
        )

    def headers(self, api_key: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if api_key:  # local servers (Ollama, vLLM) often run without a key
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def parse_response(self, payload: dict[str, Any], *, model: str) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise UpstreamError(502, "Upstream response is not an object", retryable=True)
        if "choices" not in payload and isinstance(payload.get("error"), dict):
            # OpenRouter reports some upstream failures as a 200 with an error object.
            raise error_from_object(payload["error"], 502)
        if not isinstance(payload.get("choices"), list):
            raise UpstreamError(502, "Upstream response has no choices", retryable=True)
        return {
            **payload,
            "id": payload.get("id") or completion_id(),
            "object": "chat.completion",
            "created": payload.get("created") or int(time.time()),
            "model": payload.get("model") or model,
        }

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        data = load_json(body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            return classify_status(
                status,
                str(error.get("message") or error_text(body)),
                headers,
                code=code if isinstance(code, str) else None,
                type=error.get("type") if isinstance(error.get("type"), str) else None,
                param=error.get("param") if isinstance(error.get("param"), str) else None,
            )
        if isinstance(error, str):  # some compatible servers (Ollama) send {"error": "..."}
            return classify_status(status, error, headers)
        return classify_status(status, error_text(body), headers)

    def stream_translator(self, *, model: str, include_usage: bool) -> StreamTranslator:
        return OpenAIStreamTranslator(model=model, include_usage=include_usage)

    can_embed = True

    def build_embeddings_request(
        self, *, base_url: str, api_key: str, model: str, body: dict[str, Any]
    ) -> UpstreamRequest:
        """POST {base_url}/embeddings: the request as the client sent it, model replaced."""
        return UpstreamRequest(
            url=join_url(base_url, "/embeddings"),
            headers=self.headers(api_key),
            json={**body, "model": model},
        )

    def parse_embeddings(self, payload: Any, *, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise UpstreamError(502, "Upstream embeddings answer has no data", retryable=True)
        return {**payload, "object": "list", "model": payload.get("model") or body["model"]}


class OpenRouterAdapter(OpenAIAdapter):
    kind = "openrouter"

    def headers(self, api_key: str) -> dict[str, str]:
        return {
            **super().headers(api_key),
            "HTTP-Referer": OPENROUTER_REFERER,
            "X-Title": OPENROUTER_TITLE,
        }


class OpenAICompatibleAdapter(OpenAIAdapter):
    kind = "openai_compatible"


class OpenAIStreamTranslator(StreamTranslator):
    """Chunks are already OpenAI's: fill what lax servers omit, note usage and finish."""

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        chunk = event_object(event)
        if chunk is None:
            return []
        if isinstance(chunk.get("error"), dict):
            raise error_from_object(chunk["error"], 502)
        usage = chunk.pop("usage", None)
        if isinstance(usage, dict):
            self.usage = usage
        choices = chunk.get("choices") or []
        for choice in choices:
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if not choices:
            # The usage-only chunk OpenAI sends last when include_usage was asked for.
            return self.usage_chunk() if usage else []
        # Adopt the upstream's id and model so our own usage chunk matches its chunks.
        self.id = chunk.get("id") or self.id
        self.created = chunk.get("created") or self.created
        self.model = chunk.get("model") or self.model
        chunk.update(
            id=self.id, object="chat.completion.chunk", created=self.created, model=self.model
        )
        if self.include_usage and isinstance(usage, dict):
            chunk["usage"] = usage  # some servers put usage on the last content chunk
        return [chunk]


def error_from_object(error: dict[str, Any], default_status: int) -> UpstreamError:
    """An error object inside a 200 body or a stream: retryable unless it says client error."""
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else default_status
    message = str(error.get("message") or "Upstream reported an error")
    kind = error.get("type")
    return classify_status(status, message, {}, type=kind if isinstance(kind, str) else None)
