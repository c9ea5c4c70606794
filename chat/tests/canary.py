"""A provider key that hostile upstreams quote back, and the bodies they quote it in.

The canary has no recognisable shape (no sk-, no AIza), so only the scrub of configured
provider keys can catch it.
"""

from __future__ import annotations

from typing import Any

CANARY = "canary-3f9a0c71e2b84d55"
OTHER_CANARY = "other-canary-77d1e0aa9c"


def echo_body(kind: str, status: int) -> dict[str, Any]:
    """The format's own error object, quoting both keys (and the header forms)."""
    text = (
        f"Incorrect API key provided: {CANARY}. You can find your API key at "
        f"https://example.test/keys (also tried {OTHER_CANARY}; x-api-key: {CANARY})"
    )
    if kind == "anthropic":
        return {"type": "error", "error": {"type": "invalid_request_error", "message": text}}
    if kind == "gemini":
        return {"error": {"code": status, "message": text, "status": "INVALID_ARGUMENT"}}
    return {"error": {"message": text, "type": "invalid_request_error", "code": None}}


PLAIN_ECHO = f"upstream trouble for key {CANARY} / {OTHER_CANARY}"


def in_stream_error(kind: str) -> dict[str, Any]:
    """What each format sends inside a stream when the key is bad."""
    text = f"invalid key {CANARY} (or {OTHER_CANARY})"
    if kind == "anthropic":
        return {"type": "error", "error": {"type": "authentication_error", "message": text}}
    if kind == "gemini":
        return {
            "error": {
                "code": 400,
                "message": f"API key not valid: {text}",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            }
        }
    return {"error": {"code": 401, "message": text}}  # OpenRouter's in-band form


def assert_no_canary(text: str) -> None:
    assert CANARY not in text, text
    assert OTHER_CANARY not in text, text
