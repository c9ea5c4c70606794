"""Structured logging: JSON lines, a request id on every line, secrets redacted first."""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redaction
from redaction import register_secret  # noqa: F401  (re-exported: older imports)

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """A log line's text with every known secret and key-like pattern replaced
    (redaction holds the patterns and the process's registry of decrypted keys)."""
    return redaction.redact(text, marker=REDACTED)


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


# --- named loggers with documented extra fields ------------------------------------

# "switchboard.access": one line per HTTP request, extra fields method, path, route,
# status, duration_ms (written by config.middleware).
access_logger = logging.getLogger("switchboard.access")
# "switchboard.gateway": one line per upstream attempt, extra fields provider, model,
# outcome, latency_ms, attempt (written through log_attempt).
gateway_logger = logging.getLogger("switchboard.gateway")


def log_attempt(
    provider: str,
    model: str,
    outcome: str,
    latency_ms: float,
    attempt: int,
    **extra: Any,
) -> None:
    """Log one upstream attempt. `outcome` is a short word (`ok`, `timeout`, `http_503`,
    `connect_error`...); extra keyword fields land in the JSON line as they are."""
    level = logging.INFO if outcome == "ok" else logging.WARNING
    gateway_logger.log(
        level,
        "attempt %d %s/%s %s in %.0f ms",
        attempt,
        provider,
        model,
        outcome,
        latency_ms,
        extra={
            "provider": provider,
            "model": model,
            "outcome": outcome,
            "latency_ms": round(latency_ms, 1),
            "attempt": attempt,
            **extra,
        },
    )


# --- reading back the log file (for /api/admin/logs) -------------------------------


def log_file_path() -> Path | None:
    """The file the configured rotating handler writes. Fixed when logging is configured
    at start, so it is read from the handler rather than from settings.DATA_DIR."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    return None


def _tail_lines(path: Path, limit: int, chunk: int = 64 * 1024) -> list[str]:
    """The last `limit` lines of a file, read backwards so a 10 MB log costs little."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= limit:
            step = min(chunk, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-limit:]


def recent_records(limit: int) -> list[dict[str, Any]]:
    """The newest `limit` JSON records of the log file, newest first. Lines that are not
    JSON (a human-format file) come back as {"message": line}."""
    path = log_file_path()
    if path is None or not path.exists():
        return []
    records: list[dict[str, Any]] = []
    for line in reversed(_tail_lines(path, limit)):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = {"message": redact(line)}
        records.append(parsed if isinstance(parsed, dict) else {"message": parsed})
    return records
