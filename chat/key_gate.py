"""The /v1 key check, made on the request headers before any of the body is read.

An unauthenticated client must not be able to make the gateway receive (and spool) a
large body: the gate answers 401 from the headers alone. It also throttles key guessing:
an address that sent `KEY_FAILURES_ALLOWED` wrong keys within `KEY_FAILURE_WINDOW_SECONDS`
gets 429 with Retry-After for the rest of that window, without any key being checked.

The throttle is per process and in memory (no cache or database round trip on the hot
path): with N web workers an address gets at most N times the allowance, still far too
few guesses for a 256-bit key, and the count resets when a worker restarts.

The views check the key again (chat.api.authenticate): the gate only refuses early, it
grants nothing.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

from chat.keys import lookup

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KEY_FAILURES_ALLOWED = 20
KEY_FAILURE_WINDOW_SECONDS = 60.0
MAX_TRACKED_ADDRESSES = 10_000


class FailureThrottle:
    """Failed key checks per client address in fixed windows."""

    def __init__(
        self,
        allowed: int = KEY_FAILURES_ALLOWED,
        window: float = KEY_FAILURE_WINDOW_SECONDS,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        self.allowed = allowed
        self.window = window
        self.max_addresses = max_addresses
        self._windows: dict[str, tuple[float, int]] = {}  # address → (window start, failures)

    def retry_after(self, address: str, now: float) -> float | None:
        """Seconds until `address` may try again, or None when it may now."""
        entry = self._windows.get(address)
        if entry is None:
            return None
        start, failures = entry
        if now - start >= self.window:
            del self._windows[address]
            return None
        return start + self.window - now if failures >= self.allowed else None

    def failed(self, address: str, now: float) -> None:
        start, failures = self._windows.get(address, (now, 0))
        if now - start >= self.window:
            start, failures = now, 0
        if address not in self._windows and len(self._windows) >= self.max_addresses:
            self._forget_expired(now)
        self._windows[address] = (start, failures + 1)

    def _forget_expired(self, now: float) -> None:
        expired = [a for a, (start, _) in self._windows.items() if now - start >= self.window]
        for address in expired:
            del self._windows[address]
        if len(self._windows) >= self.max_addresses:
            # A flood of addresses: dropping the oldest windows lets a few guesses through
            # again, which beats holding unbounded memory.
            for address in sorted(self._windows, key=lambda a: self._windows[a][0])[
                : self.max_addresses // 10
            ]:
                del self._windows[address]


throttle = FailureThrottle()


def presented_key(scope: Scope) -> str:
    """The key a client sent: `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic)."""
    for name, value in scope.get("headers", []):
        lowered = name.lower()
        if lowered == b"authorization":
            scheme, _, raw = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and raw.strip():
                return raw.strip()
        elif lowered == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return ""


def _refusal(path: str, status: int, message: str, code: str) -> bytes:
    """The error in the dialect's shape: Anthropic's for /v1/messages, OpenAI's elsewhere."""
    if path.startswith("/v1/messages"):
        kind = "rate_limit_error" if status == 429 else "authentication_error"
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    kind = "rate_limit_error" if status == 429 else "invalid_request_error"
    error = {"message": message, "type": kind, "param": None, "code": code}
    return json.dumps({"error": error}).encode()


def guard_keys(app: AsgiApp, send_refusal: Callable[..., Awaitable[None]]) -> AsgiApp:
    """ASGI middleware for /v1: refuse a missing or wrong key (and a throttled address)
    from the headers, before the body is received."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        address = (scope.get("client") or ("unknown",))[0]
        now = time.monotonic()
        wait = throttle.retry_after(address, now)
        headers = [(b"x-request-id", uuid.uuid4().hex.encode())]
        if wait is not None:
            message = "Too many failed API key checks from this address; try again later."
            retry = [(b"retry-after", str(math.ceil(wait)).encode())]
            body = _refusal(path, 429, message, "too_many_key_failures")
            await send_refusal(send, 429, body, headers + retry)
            return
        raw = presented_key(scope)
        if not raw:
            if settings.REQUIRE_API_KEY:
                message = (
                    "Missing API key: send 'x-api-key: <key>' or 'Authorization: Bearer <key>'."
                    if path.startswith("/v1/messages")
                    else "Missing API key: send 'Authorization: Bearer <key>'."
                )
                await send_refusal(
                    send, 401, _refusal(path, 401, message, "invalid_api_key"), headers
                )
                return
        elif await lookup(raw) is None:
            throttle.failed(address, now)
            message = "Invalid, expired or revoked API key."
            await send_refusal(send, 401, _refusal(path, 401, message, "invalid_api_key"), headers)
            return
        await app(scope, receive, send)

    return guarded
