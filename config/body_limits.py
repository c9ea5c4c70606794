"""Request bodies bounded before anything reads them (DESIGN.md "Security").

Django's ASGI handler spools the whole body to memory or /tmp before a view runs, so the
limit has to act below it, on the ASGI messages: a declared Content-Length over the limit
is answered 413 without reading a byte, and a chunked body is counted as it arrives and
cut off at the limit (413, then the handler is told the client went away, which Django
answers by returning quietly).

Limits by path: /v1 and the console's chat endpoints (they carry base64 images) at
V1_MAX_BODY_BYTES, the document upload at UPLOAD_MAX_BYTES, restores at RESTORE_MAX_BYTES
(plus room for the multipart framing), everything else at 1 MB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chat.validation import too_large
from config.gateway_handler import is_gateway_path
from documents.uploads import MULTIPART_OVERHEAD, UPLOAD_PATH, too_large_message

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
RESTORE_PATHS = frozenset(
    {"/api/admin/restore", "/api/admin/providers/restore", "/admin/backups/restore/"}
)
# Console endpoints whose bodies carry images as data: URLs, like /v1 requests.
_IMAGE_PATHS = re.compile(r"^/api/(?:chat/stream|sessions/[^/]+/messages)$")


@dataclass(frozen=True, slots=True)
class BodyLimit:
    max_bytes: int
    refusal: bytes  # the 413 JSON body, in the shape the path's API speaks


def limit_for(path: str) -> BodyLimit:
    if is_gateway_path(path) or _IMAGE_PATHS.match(path):
        limit = settings.V1_MAX_BODY_BYTES
        if is_gateway_path(path):
            return BodyLimit(limit, json.dumps(too_large(limit).body()).encode())
        return BodyLimit(limit, _detail(f"The request body is larger than {limit} bytes."))
    if path == UPLOAD_PATH:
        return BodyLimit(
            settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD, _detail(too_large_message())
        )
    if path in RESTORE_PATHS:
        limit = settings.RESTORE_MAX_BYTES + MULTIPART_OVERHEAD
        return BodyLimit(limit, _detail(f"file: the backup exceeds the limit of {limit} bytes."))
    limit = DEFAULT_MAX_BODY_BYTES
    return BodyLimit(limit, _detail(f"The request body is larger than {limit} bytes."))


def _detail(message: str) -> bytes:
    return json.dumps({"detail": message}).encode()


def limit_body(app: AsgiApp) -> AsgiApp:
    """ASGI middleware: every HTTP request body within limit_for(path)."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""))
        declared = declared_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await send_refusal(send, 413, limit.refusal)
            return
        await app(scope, _counting(receive, send, limit), send)

    return limited


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _counting(receive: Receive, send: Send, limit: BodyLimit) -> Receive:
    """A receive that answers 413 itself once the body passes the limit, then tells the
    application the client went away."""
    seen = 0
    refused = False

    async def counted() -> Message:
        nonlocal seen, refused
        if refused:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit.max_bytes:
                refused = True
                await send_refusal(send, 413, limit.refusal)
                return {"type": "http.disconnect"}
        return message

    return counted


async def send_refusal(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A whole JSON response that also closes the connection (the rest of the request
    body is never read, so the connection cannot carry another request)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
