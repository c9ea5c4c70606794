"""A fake Anthropic upstream that behaves like the real one where passthrough matters.

`FakeClaude` extends `FakeAnthropic` (chat/tests/upstreams.py) with:

- `.requests[i]["raw"]`: the body bytes exactly as received (the passthrough promise is
  about bytes);
- signed thinking: `think(thinking, text)` answers with a `thinking` block whose
  `signature` is an HMAC of its text (plus a `redacted_thinking` block), as a Message or
  as the full event stream; and every request that sends thinking blocks back is checked
  the way Anthropic checks them: a block whose text or signature changed is a 400;
- `usage=` on `think` with Anthropic's cache fields;
- POST /v1/messages/count_tokens, answered with `count_tokens_answer`.

Fixture: `fake_claude`.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import pytest
from aiohttp import web

from chat.tests.upstreams import FakeAnthropic, sse

SECRET = b"fake-claude-signing-key"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
TAMPERED = "thinking blocks in the latest assistant message cannot be modified"


def sign(thinking: str) -> str:
    return hmac.new(SECRET, thinking.encode(), hashlib.sha256).hexdigest()


@dataclass
class Think:
    thinking: str
    text: str
    usage: dict[str, int] = field(default_factory=dict)
    cut_after_thinking: bool = False
    delay: float = 0.0


class FakeClaude(FakeAnthropic):
    def __init__(self) -> None:
        super().__init__()
        self.count_tokens_answer: dict[str, Any] = {"input_tokens": 1234}

    def think(
        self,
        thinking: str,
        text: str,
        *,
        usage: dict[str, int] | None = None,
        cut_after_thinking: bool = False,
    ) -> Self:
        """Answer with signed thinking, a redacted_thinking block and text. With
        `cut_after_thinking` a stream breaks off after the thinking block."""
        counts = usage or {"input_tokens": 12, "output_tokens": 7}
        self._script.append(Think(thinking, text, counts, cut_after_thinking))  # type: ignore[arg-type]
        return self

    def route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/messages/count_tokens":
            return "count"
        return super().route(method, path)

    async def _record(self, request: web.Request) -> dict[str, Any]:
        record = await super()._record(request)
        record["raw"] = await request.read()  # aiohttp keeps the body: same bytes
        return record

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.route(request.method, request.path) == "count":
            record = await self._record(request)
            self.requests.append(record)
            return web.json_response(self.count_tokens_answer)
        return await super()._handle(request)

    async def _act(
        self, behaviour: Any, request: web.Request, record: dict[str, Any]
    ) -> web.StreamResponse:
        if problem := self._check_thinking(record["json"] or {}):
            return self._error(400, problem)
        if not isinstance(behaviour, Think):
            return await super()._act(behaviour, request, record)
        model = self.model_of(request, record)
        if not self.wants_stream(request, record):
            return web.json_response(self._message(behaviour, model))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, data in enumerate(self._events(behaviour, model)):
            await response.write(data)
            if behaviour.cut_after_thinking and index == 4:
                return self._cut(request, response)
        await response.write_eof()
        return response

    def _check_thinking(self, body: dict[str, Any]) -> str | None:
        for message in body.get("messages") or []:
            if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
                continue
            for block in message["content"]:
                if block.get("type") == "thinking" and not hmac.compare_digest(
                    str(block.get("signature", "")), sign(str(block.get("thinking", "")))
                ):
                    return TAMPERED
                if block.get("type") == "redacted_thinking" and block.get("data") != REDACTED:
                    return TAMPERED
        return None

    def _content(self, think: Think) -> list[dict[str, Any]]:
        return [
            {"type": "thinking", "thinking": think.thinking, "signature": sign(think.thinking)},
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "text", "text": think.text, "citations": None},
        ]

    def _message(self, think: Think, model: str) -> dict[str, Any]:
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": self._content(think),
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": think.usage,
        }

    def _events(self, think: Think, model: str) -> Iterator[bytes]:
        start_usage = {**think.usage, "output_tokens": 1}
        message = {**self._message(think, model), "content": [], "stop_reason": None}
        yield event("message_start", message={**message, "usage": start_usage})
        block = {"type": "thinking", "thinking": "", "signature": ""}
        yield event("content_block_start", index=0, content_block=block)
        yield event("ping")
        delta = {"type": "thinking_delta", "thinking": think.thinking}
        yield event("content_block_delta", index=0, delta=delta)
        delta = {"type": "signature_delta", "signature": sign(think.thinking)}
        yield event("content_block_delta", index=0, delta=delta)  # index 4: cut here
        yield event("content_block_stop", index=0)
        block = {"type": "redacted_thinking", "data": REDACTED}
        yield event("content_block_start", index=1, content_block=block)
        yield event("content_block_stop", index=1)
        block = {"type": "text", "text": ""}
        yield event("content_block_start", index=2, content_block=block)
        words = think.text.split(" ")
        for number, word in enumerate(words):
            piece = word if number == len(words) - 1 else word + " "
            yield event("content_block_delta", index=2, delta={"type": "text_delta", "text": piece})
        yield event("content_block_stop", index=2)
        delta = {"stop_reason": "end_turn", "stop_sequence": None}
        usage = {"output_tokens": think.usage["output_tokens"]}
        yield event("message_delta", delta=delta, usage=usage)
        yield event("message_stop")


def event(kind: str, **fields: Any) -> bytes:
    return sse({"type": kind, **fields}, event=kind)


@pytest.fixture
def fake_claude() -> Iterator[FakeClaude]:
    with FakeClaude() as server:
        yield server
