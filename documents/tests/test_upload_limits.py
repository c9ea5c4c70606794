"""The size limit acts while the body arrives: nothing past it is read or stored."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

from config.body_limits import limit_body as guard_upload_size
from documents import uploads
from documents.models import Document

pytestmark = pytest.mark.django_db


class CountingBody:
    """A wsgi.input of `size` bytes generated on demand, counting what is read."""

    def __init__(self, head: bytes, size: int) -> None:
        self.head = head
        self.size = size
        self.read_bytes = 0

    def _take(self, wanted: int) -> bytes:
        wanted = min(wanted, self.size - self.read_bytes)
        out = bytearray()
        while len(out) < wanted:
            position = self.read_bytes + len(out)
            if position < len(self.head):
                out += self.head[position : position + wanted - len(out)]
            else:
                out += b"x" * (wanted - len(out))
        self.read_bytes += len(out)
        return bytes(out)

    def read(self, size: int = -1) -> bytes:
        return self._take(self.size - self.read_bytes if size is None or size < 0 else size)

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


BOUNDARY = "limitboundary"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
).encode()


def post_streamed(client: Client, body: CountingBody) -> Any:
    return client.post(
        "/api/documents/upload",
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        **{"wsgi.input": body, "CONTENT_LENGTH": str(body.size)},
    )


def uploads_files() -> list[Path]:
    root = Path(settings.DATA_DIR) / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_an_oversized_content_length_is_refused_before_any_byte_is_read(
    as_alice: Client,
) -> None:
    body = CountingBody(PART_HEAD, settings.UPLOAD_MAX_BYTES + 1024 * 1024)

    response = post_streamed(as_alice, body)

    assert response.status_code == 413
    assert "exceeds the limit" in response.json()["detail"]
    assert body.read_bytes == 0
    assert uploads_files() == []


def test_the_upload_handler_stops_reading_once_the_file_passes_the_limit(
    as_alice: Client, settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # A small limit and a generous allowance for the declared length, so the body gets
    # past the up-front check and the streaming handler has to catch it.
    settings.UPLOAD_MAX_BYTES = 100_000
    monkeypatch.setattr(uploads, "MULTIPART_OVERHEAD", 50 * 1024 * 1024)
    body = CountingBody(PART_HEAD, 20 * 1024 * 1024)

    response = post_streamed(as_alice, body)

    assert response.status_code == 413
    assert body.read_bytes < 400_000  # a few 64 KB reads, not 20 MB
    assert Document.objects.count() == 0
    assert uploads_files() == []


def test_the_upload_handler_also_guards_admin_key_uploads(
    api: Client, settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    settings.UPLOAD_MAX_BYTES = 100_000
    monkeypatch.setattr(uploads, "MULTIPART_OVERHEAD", 50 * 1024 * 1024)
    body = CountingBody(PART_HEAD, 20 * 1024 * 1024)

    response = post_streamed(api, body)

    assert response.status_code == 413
    assert body.read_bytes < 400_000
    assert uploads_files() == []


def test_a_file_exactly_at_the_limit_is_accepted(as_alice: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.UPLOAD_MAX_BYTES = 5000
    from documents.tests.conftest import upload

    assert upload(as_alice, "fits.txt", b"a" * 5000).status_code == 201
    assert upload(as_alice, "over.txt", b"a" * 5001).status_code == 413


# --- below Django: the ASGI guard --------------------------------------------------


def http_scope(headers: list[tuple[bytes, bytes]], path: str = "/api/documents/upload") -> dict:  # type: ignore[type-arg]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


class Wire:
    """ASGI receive/send ends: a chunked body of `total` bytes in 64 KB messages."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.delivered = 0
        self.sent: list[dict] = []  # type: ignore[type-arg]

    async def receive(self) -> dict:  # type: ignore[type-arg]
        size = min(65536, self.total - self.delivered)
        self.delivered += size
        return {
            "type": "http.request",
            "body": b"y" * size,
            "more_body": self.delivered < self.total,
        }

    async def send(self, message: dict) -> None:  # type: ignore[type-arg]
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")


async def test_the_asgi_guard_answers_413_on_a_large_content_length_without_reading() -> None:
    wire = Wire(settings.UPLOAD_MAX_BYTES * 2)
    app = guard_upload_size(ASGIHandler())
    headers = [(b"content-length", str(wire.total).encode())]

    await app(http_scope(headers), wire.receive, wire.send)

    assert wire.status == 413
    assert wire.delivered == 0
    body = json.loads(wire.sent[-1]["body"])
    assert "exceeds the limit" in body["detail"]


async def test_the_asgi_guard_stops_a_chunked_body_at_the_limit() -> None:
    wire = Wire(settings.UPLOAD_MAX_BYTES * 3)
    app = guard_upload_size(ASGIHandler())

    await app(http_scope([(b"transfer-encoding", b"chunked")]), wire.receive, wire.send)

    assert wire.status == 413
    limit = settings.UPLOAD_MAX_BYTES + uploads.MULTIPART_OVERHEAD
    assert limit < wire.delivered <= limit + 65536
    assert [m["type"] for m in wire.sent] == ["http.response.start", "http.response.body"]


async def test_a_restore_has_its_own_larger_limit(settings) -> None:  # type: ignore[no-untyped-def]
    seen = []

    async def inner(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append(scope["path"])

    app = guard_upload_size(inner)
    backup = [(b"content-length", str(settings.UPLOAD_MAX_BYTES * 2).encode())]
    await app(http_scope(backup, path="/api/admin/restore"), Wire(0).receive, Wire(0).send)
    assert seen == ["/api/admin/restore"]

    wire = Wire(0)
    huge = [(b"content-length", str(10**12).encode())]
    await app(http_scope(huge, path="/api/admin/restore"), wire.receive, wire.send)
    assert wire.status == 413 and seen == ["/api/admin/restore"]


@pytest.fixture
def live_guard() -> Iterator[tuple[str, int]]:
    """uvicorn on 127.0.0.1 serving the guarded Django ASGI handler."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(guard_upload_size(ASGIHandler()), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield sock.getsockname()
    server.should_exit = True
    thread.join(5)


def test_a_live_server_answers_413_while_most_of_the_body_is_still_unsent(
    live_guard: tuple[str, int],
) -> None:
    declared = 50 * 1024 * 1024
    with socket.create_connection(live_guard, timeout=10) as conn:
        conn.sendall(
            b"POST /api/documents/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode() + b"\r\n"
            b"Content-Length: " + str(declared).encode() + b"\r\n\r\n" + PART_HEAD + b"z" * 4096
        )
        reply = b""
        while b"exceeds" not in reply and (data := conn.recv(65536)):
            reply += data

    reply_text = reply.decode()
    assert reply_text.startswith("HTTP/1.1 413")
    assert "exceeds the limit" in reply_text


async def test_the_served_asgi_application_applies_the_guard() -> None:
    from config.asgi import application

    wire = Wire(settings.UPLOAD_MAX_BYTES * 2)
    headers = [(b"content-length", str(wire.total).encode())]

    await application(http_scope(headers), wire.receive, wire.send)

    assert wire.status == 413
    assert wire.delivered == 0
