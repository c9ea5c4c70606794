"""Which OpenAI chat parameters an upstream format honours (DESIGN.md, "Every parameter is
honoured, translated, or refused"): an adapter that cannot carry one refuses the request
with 400 unsupported_parameter naming it, rather than dropping it without a word."""

from __future__ import annotations

from typing import Any

from chat.adapters.base import UpstreamError

# Carried by every adapter (each translates them its own way).
COMMON = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
        "user", "response_format", "reasoning_effort", "n", "top_k",
    }
)  # fmt: skip
# Meaningful only at OpenAI's own service (stored completions, its tiers): nothing in the
# answer depends on them, so other formats let them go.
OPENAI_SERVICE_ONLY = frozenset({"store", "metadata", "service_tier", "prompt_cache_key"})
# Values that ask for nothing, whatever the parameter.
NEUTRAL: tuple[Any, ...] = (None, False, 0, 0.0)


def unsupported(message: str, param: str) -> UpstreamError:
    return UpstreamError(
        400, message, code="unsupported_parameter", type="invalid_request_error", param=param
    )


def refuse_unhonoured(body: dict[str, Any], honoured: frozenset[str], provider_kind: str) -> None:
    """Raise for the first parameter that asks for something this format cannot do."""
    for name, value in body.items():
        if name in honoured or name in OPENAI_SERVICE_ONLY:
            continue
        if value in NEUTRAL and not isinstance(value, list | dict | str):
            continue
        raise unsupported(f"'{name}' is not supported by {provider_kind} providers", name)
