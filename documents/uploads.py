"""Receiving an upload: the size limit holds while bytes arrive, not after.

Three layers, each cheap:
- config.body_limits (ASGI): Django's ASGI handler buffers the whole body before any
  view runs, so under uvicorn/daphne the limit must act below Django. It answers 413 on
  an oversized Content-Length without reading, and stops a chunked body at the limit
  (UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD on UPLOAD_PATH).
- `install_upload_limit` (request): refuses an oversized CONTENT_LENGTH up front and
  swaps in `StoringUploadHandler` before anything (the CSRF check included) parses the
  multipart body.
- `StoringUploadHandler`: streams the file into DATA_DIR/uploads under a generated
  name while hashing it, and stops reading past UPLOAD_MAX_BYTES.
"""

from __future__ import annotations

import hashlib
import uuid
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
