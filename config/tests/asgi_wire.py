"""ASGI ends for tests that call an application directly and count what it read."""

from __future__ import annotations

import asyncio
from typing import Any


def http_scope(
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    client: str = "127.0.0.1",
    method: str = "POST",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *(headers or [])],
        "client": (client, 5000),
        "server": ("127.0.0.1", 8000),
    }


class Wire:
    """receive/send for a chunked body of `total` bytes in 64 KB messages."""

    def __init__(self, total: int = 0) -> None:
        self.total = total
        self.delivered = 0
        self.finished = False
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.finished:  # like a client that waits for its answer
            await asyncio.Event().wait()
        self.finished = self.delivered + 65536 >= self.total
        size = min(65536, self.total - self.delivered)
        self.delivered += size
        return {
            "type": "http.request",
            "body": b"y" * size,
            "more_body": self.delivered < self.total,
        }

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return {k.decode(): v.decode() for k, v in start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
