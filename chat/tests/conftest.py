"""chat test fixtures. The fake upstream servers live in chat/tests/upstreams.py (other apps
import them from there); the recorded wire-format payloads in chat/tests/payloads/."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chat.adapters.base import StreamTranslator
from chat.adapters.sse import SSEParser
from chat.tests.claude_upstream import fake_claude
from chat.tests.upstreams import closed_port, fake_anthropic, fake_gemini, fake_openai

__all__ = ["closed_port", "fake_anthropic", "fake_claude", "fake_gemini", "fake_openai"]

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture
def payload() -> Callable[[str], Any]:
    """A recorded payload by file name: .json parsed, anything else as bytes."""

    def load(name: str) -> Any:
        raw = (PAYLOADS / name).read_bytes()
        return json.loads(raw) if name.endswith(".json") else raw

    return load


@pytest.fixture
def replay(payload: Callable[[str], Any]) -> Callable[..., list[dict[str, Any]]]:
    """Feed a recorded .sse stream through a translator in small network-like pieces and
    return every chunk it produced (odd piece sizes split lines, CRLFs and characters)."""

    def run(name: str, translator: StreamTranslator, piece: int = 7) -> list[dict[str, Any]]:
        raw, parser, chunks = payload(name), SSEParser(), []
        for start in range(0, len(raw), piece):
            for event in parser.feed(raw[start : start + piece]):
                chunks.extend(translator.feed(event))
        for event in parser.close():
            chunks.extend(translator.feed(event))
        return chunks

    return run
