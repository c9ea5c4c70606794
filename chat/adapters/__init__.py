"""Wire-format adapters: Provider.kind → the stateless Adapter that speaks its format."""

from __future__ import annotations

from chat.adapters.anthropic import AnthropicAdapter
from chat.adapters.base import Adapter, StreamTranslator, UpstreamError, UpstreamRequest
from chat.adapters.gemini import GeminiAdapter
from chat.adapters.openai import OpenAIAdapter, OpenAICompatibleAdapter, OpenRouterAdapter
from chat.adapters.sse import SSEEvent, SSEParser

__all__ = [
    "Adapter",
    "SSEEvent",
    "SSEParser",
    "StreamTranslator",
    "UpstreamError",
    "UpstreamRequest",
    "for_kind",
]

ADAPTERS: dict[str, Adapter] = {
    adapter.kind: adapter
    for adapter in (
        OpenAIAdapter(),
        OpenRouterAdapter(),
        OpenAICompatibleAdapter(),
        AnthropicAdapter(),
        GeminiAdapter(),
    )
}


def for_kind(kind: str) -> Adapter:
    """The adapter for a Provider.kind; an empty kind (not yet detected) speaks OpenAI's."""
    adapter = ADAPTERS.get(kind or "openai_compatible")
    if adapter is None:
        raise ValueError(f"no adapter for provider kind {kind!r}")
    return adapter
