"""Secrets out of any text a person or a log will read.

Below the apps on purpose: chat, providers, console, documents and config's logging all
scrub with this one module, and none of them has to import another for it.

Two uses:
- `scrub(text, secrets)` for upstream text that reaches a person (an `/v1` error body, a
  probe detail, a console error): every provider key given or seen in this process, the
  header forms (`Bearer …`, `x-api-key: …`, `x-goog-api-key: …`, `key=…`) and common key
  shapes (`sk-…`, `AIza…`) become `[redacted]`, then the text is cut to 500 characters.
- `redact(text, marker=...)` for log lines: the same replacements, no cut.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

REDACTED = "[redacted]"
SCRUB_LIMIT = 500
# Shorter values are too likely to be ordinary words to replace everywhere.
MIN_SECRET_LENGTH = 6
# Scrubbing works on at most this much text: a 50 MB error body is not read to the end to
# produce a 500-character message (what lies beyond the cut can never be shown).
_SCAN_LIMIT = 64 * 1024

# Key shapes the project handles: OpenAI/OpenRouter/Anthropic/our gateway keys (sk-...),
# Google keys (AIza...), bearer tokens, and key-ish fields in JSON, headers or query strings.
PATTERNS = [
    # sk-proj-..., sk-ant-api03-..., sk-or-v1-..., our sk-sb-...
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{16,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]+"),
    # `name: value`, `name=value`, JSON (also JSON inside a JSON string, hence `\\?`)
    # and header tuples `('x-api-key', 'value')`.
    re.compile(
        r"(?i)(\\?[\"']?(?:api[_-]?key|x-api-key|x-goog-api-key|authorization|password|secret)"
        r"\\?[\"']?(?:\s*[:=]\s*|,\s*(?=\\?[\"']))\\?[\"']?)([^\"'\\\s,}&)]+)"
    ),
    # Keys in query strings and `key=` forms (Gemini accepts ?key=).
    re.compile(r"(?i)((?:^|[?&\s(\[{,;])(?:key|api_key|token|access_token)=)([^&\s\"'#,;)\]}]+)"),
]

_known: set[str] = set()
_known_sorted: tuple[str, ...] = ()
_known_lock = threading.Lock()
_MAX_KNOWN = 10_000


def register_secret(value: str | None) -> None:
    """Remember a secret seen in this process (a decrypted provider key) so that any text
    carrying it is redacted even when its shape matches no pattern."""
    global _known_sorted
    if not value or len(value) < MIN_SECRET_LENGTH or value in _known:
        return
    with _known_lock:
        if len(_known) < _MAX_KNOWN:
            _known.add(value)
            _known_sorted = tuple(sorted(_known, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = (), *, marker: str = REDACTED) -> str:
    """`text` with the given secrets, every registered one and every key-like pattern
    replaced by `marker`."""
    given = sorted((s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
    for secret in (*given, *_known_sorted):
        if secret in text:
            text = text.replace(secret, marker)
    for pattern in PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) + marker) if m.lastindex else marker, text)
    return text


def scrub(text: str, secrets: Iterable[str] = (), *, limit: int = SCRUB_LIMIT) -> str:
    """Upstream text made fit for a person: redacted, then cut to `limit` characters."""
    text = redact(text[:_SCAN_LIMIT], secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"
