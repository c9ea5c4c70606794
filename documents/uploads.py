"""Receiving an upload: the size limit holds while bytes arrive, not after.

Three layers, each cheap:
- `guard_upload_size` (ASGI): Django's ASGI handler buffers the whole body before any
  view runs, so under uvicorn/daphne the limit must act below Django. It answers 413 on
  an oversized Content-Length without reading, and stops a chunked body at the limit.
- `install_upload_limit` (request): refuses an oversized CONTENT_LENGTH up front and
  swaps in `StoringUploadHandler` before anything (the CSRF check included) parses the
  multipart body.
- `StoringUploadHandler`: streams the file into DATA_DIR/uploads under a generated
  name while hashing it, and stops reading past UPLOAD_MAX_BYTES.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from ninja.errors import HttpError

from documents.models import uploads_dir

UPLOAD_PATH = "/api/documents/upload"
# Room for the multipart boundary and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
HEAD_BYTES = 8192

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class UploadTooLarge(HttpError):
    def __init__(self) -> None:
        super().__init__(413, too_large_message())


def too_large_message() -> str:
    return f"file: the upload exceeds the limit of {settings.UPLOAD_MAX_BYTES} bytes."


class IncomingFile(UploadedFile):
    """A file streamed to DATA_DIR/uploads/.incoming; deleted on close unless claimed."""

    def __init__(self, path: Path, label: str, size: int, sha256: str, head: bytes) -> None:
        self.stream = path.open("rb")
        super().__init__(self.stream, name=label, size=size)
        self.path = path
        self.sha256 = sha256
        self.head = head
        self.claimed = False

    def claim(self, destination: Path) -> None:
        self.stream.close()
        self.path.replace(destination)
        self.claimed = True

    def close(self) -> None:
        self.stream.close()
        if not self.claimed:
            self.path.unlink(missing_ok=True)


class StoringUploadHandler(FileUploadHandler):
    """Writes each file straight to disk, hashing and counting; stops past the limit."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit: int = settings.UPLOAD_MAX_BYTES
        self.exceeded = False
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        incoming = uploads_dir() / ".incoming"
        incoming.mkdir(exist_ok=True)
        self.path = incoming / f"{uuid.uuid4().hex}.part"
        self.handle = self.path.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        self.received += len(raw_data)
        if self.size > self.limit:
            self.exceeded = True
            self.handle.close()
            self.path.unlink(missing_ok=True)
            # connection_reset: stop reading the body instead of draining the rest of it.
            raise StopUpload(connection_reset=True)
        if len(self.head) < HEAD_BYTES:
            self.head += raw_data[: HEAD_BYTES - len(self.head)]
        self.digest.update(raw_data)
        self.handle.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> IncomingFile:
        self.handle.close()
        return IncomingFile(
            self.path, self.file_name or "", self.size, self.digest.hexdigest(), self.head
        )

    def upload_interrupted(self) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.close()
            self.path.unlink(missing_ok=True)


def install_upload_limit(request: HttpRequest) -> None:
    """Refuse an oversized declared length; make the limited handler the only one.

    Called by the upload auth before the CSRF check, which reads request.POST and would
    otherwise parse the body with Django's default handlers.
    """
    if hasattr(request, "_files"):
        return  # already parsed; the view will find the handler's verdict
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD:
        raise UploadTooLarge()
    request.upload_handlers = [StoringUploadHandler(request)]


def received_file(request: HttpRequest) -> IncomingFile:
    """The `file` part, fully received and within the limit, or an HttpError."""
    install_upload_limit(request)
    uploaded = request.FILES.get("file")
    if any(getattr(handler, "exceeded", False) for handler in request.upload_handlers):
        raise UploadTooLarge()
    if uploaded is None:
        raise HttpError(422, "file: a multipart field named 'file' is required.")
    if not isinstance(uploaded, IncomingFile):
        raise HttpError(400, "file: the upload could not be received; try again.")
    return uploaded


def guard_upload_size(app: AsgiApp) -> AsgiApp:
    """ASGI middleware: 413 for upload bodies over the limit, before Django buffers them."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != UPLOAD_PATH:
            await app(scope, receive, send)
            return
        limit = settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(send)
            return
        await app(scope, _counting(receive, send, limit), send)

    return guarded


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _counting(receive: Receive, send: Send, limit: int) -> Receive:
    """A receive that answers 413 itself once the body passes `limit`, then tells Django
    the client went away (Django's handler returns quietly on RequestAborted)."""
    seen = 0
    refused = False

    async def counted() -> Message:
        nonlocal seen, refused
        if refused:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                refused = True
                await _send_too_large(send)
                return {"type": "http.disconnect"}
        return message

    return counted


async def _send_too_large(send: Send) -> None:
    body = json.dumps({"detail": too_large_message()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
