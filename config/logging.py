"""Structured logging: JSON lines, a request id on every line, secrets redacted first."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REDACTED = "[REDACTED]"

# Key shapes the project handles: OpenAI/OpenRouter/Anthropic/our gateway keys (sk-...),
# Google keys (AIza...), bearer tokens, and key-ish fields in JSON, headers or query strings.
_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"),
    re.compile(
        r"(?i)([\"']?(?:api[_-]?key|x-api-key|x-goog-api-key|authorization|password|secret)"
        r"[\"']?\s*[:=]\s*[\"']?)([^\"'\s,}&]+)"
    ),
]

_known_secrets: set[str] = set()
_known_lock = threading.Lock()
_MAX_KNOWN = 10_000


def register_secret(value: str | None) -> None:
    """Remember a secret seen in this process (a decrypted provider key) so that any
    log line carrying it is redacted even when its shape matches no pattern."""
    if not value or len(value) < 6:
        return
    with _known_lock:
        if len(_known_secrets) < _MAX_KNOWN:
            _known_secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) + REDACTED) if m.lastindex else REDACTED, text)
    return text


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Renders the message (args included) and the traceback, then redacts both, so no
    handler ever sees the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg = redact(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS:
                continue
            if isinstance(value, str):
                setattr(record, key, redact(value))
            elif isinstance(value, dict | list):
                setattr(record, key, json.loads(redact(json.dumps(value, default=str))))
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)
