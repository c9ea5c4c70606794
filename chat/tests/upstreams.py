"""Fake upstream LLM servers for tests: real HTTP on 127.0.0.1, real wire formats.

Three servers speak the three wire formats Switchboard translates to: `FakeOpenAI`
(POST /v1/chat/completions, GET /v1/models), `FakeAnthropic` (POST /v1/messages,
GET /v1/models) and `FakeGemini` (POST /v1beta/models/{model}:generateContent and
:streamGenerateContent?alt=sse, GET /v1beta/models). Each runs aiohttp.web on an ephemeral
port in a background thread with its own event loop, so the code under test (sync or
async, any loop) talks to it over a real socket.

Fixtures (function scope; a server starts in a few milliseconds): `fake_openai`,
`fake_anthropic`, `fake_gemini`, and `closed_port` (a port with nothing listening).
Tests outside chat/ get them by importing into their own conftest.py::

    from chat.tests.upstreams import (  # noqa: F401
        closed_port, fake_anthropic, fake_gemini, fake_openai,
    )

Using one::

    def test_it_fails_over_on_503(fake_openai):
        fake_openai.fail(503).reply(text="second time lucky")
        ...  # a Provider with base_url=fake_openai.base_url, any api key
        assert len(fake_openai.requests) == 2
        assert fake_openai.requests[0]["headers"]["authorization"] == "Bearer sk-test"

What a server offers:

- `.base_url` — what a Provider stores (".../v1", or ".../v1beta" for Gemini).
- `.requests` — every chat request received, in order: dicts with `method`, `path`,
  `query`, `headers` (case-insensitive), `json` (None if the body was not JSON).
  Model-list requests are in `.model_requests`.
- A script of behaviours, each used by one chat request, in order (methods chain):
  `reply(text=..., tool_calls=[{"name", "arguments", "id"?}], usage=(prompt, completion)
  or None, finish_reason=...)`; `fail(status, body=None, headers=None, message=...)`
  (body: dict → JSON, str/bytes → as is, None → the format's own error object);
  `delay(seconds)` (the default reply, late); `stream(chunks=[...], delay_between=0,
  cut_after=None)` (chunks are text pieces, or dicts sent as raw events of the format;
  `cut_after=N` drops the connection after N chunks); `hang()` (never answers). Every
  behaviour also takes `delay=` seconds before it starts. A streaming request (OpenAI and
  Anthropic `"stream": true`, Gemini :streamGenerateContent) gets `reply` as a stream of
  word pieces and `stream` as written; a non-streaming one gets `stream` as one reply.
- When the script is empty: `reply(text=DEFAULT_TEXT)`, or `.default` when set.
- `.disconnects` — how many clients closed the connection before their response was
  complete (the proof that the gateway cancelled upstream); `wait_for_disconnect(timeout)`
  from sync code, `await until_disconnect(timeout)` from async code.
- `.api_key` — when set, requests carrying another key get the format's 401.
- `.models` — what the model list endpoint returns (ids, or dicts sent as they are);
  `.models_status` — set to an error status to make the model list (what health probes
  fetch) fail with the format's error body.
- `.reset()` clears script, records and counters.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import pytest
from aiohttp import web
from multidict import CIMultiDict

DEFAULT_TEXT = "Hello from the fake upstream."
DEFAULT_PROMPT_TOKENS = 10


@dataclass
class Reply:
    text: str = DEFAULT_TEXT
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: tuple[int, int] | None | str = "auto"
    finish_reason: str | None = None
    delay: float = 0.0

    def pieces(self) -> list[str]:
        """The text as stream pieces: one per word, spaces kept."""
        words = self.text.split(" ")
        return [word + " " for word in words[:-1]] + [words[-1]] if self.text else []

    def token_counts(self) -> tuple[int, int] | None:
        if self.usage == "auto":
            return DEFAULT_PROMPT_TOKENS, max(len(self.pieces()), 1)
        return self.usage if isinstance(self.usage, tuple) else None


@dataclass
class Fail:
    status: int
    body: dict[str, Any] | str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    delay: float = 0.0


@dataclass
class Stream:
    chunks: list[str | dict[str, Any] | bytes]
    delay_between: float = 0.0
    cut_after: int | None = None
    usage: tuple[int, int] | None | str = "auto"
    finish_reason: str | None = None
    delay: float = 0.0

    def as_reply(self) -> Reply:
        text = "".join(c for c in self.chunks if isinstance(c, str))
        return Reply(text=text, usage=self.usage, finish_reason=self.finish_reason)


@dataclass
class Hang:
    delay: float = 0.0


Behaviour = Reply | Fail | Stream | Hang


class FakeUpstream:
    """The server machinery; subclasses render one wire format."""

    kind = ""
    prefix = "/v1"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.model_requests: list[dict[str, Any]] = []
        self.models: list[str | dict[str, Any]] = [f"{self.kind}-model"]
        self.models_status = 200
        self.api_key: str | None = None
        self.default: Behaviour | None = None
        self.disconnects = 0
        self._script: deque[Behaviour] = deque()
        self._disconnected = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = False
        self.port = 0

    # --- scripting -------------------------------------------------------------------

    def reply(
        self,
        text: str = DEFAULT_TEXT,
        *,
        tool_calls: list[dict[str, Any]] | None = None,
        usage: tuple[int, int] | None | str = "auto",
        finish_reason: str | None = None,
        delay: float = 0.0,
    ) -> Self:
        self._script.append(Reply(text, tool_calls or [], usage, finish_reason, delay))
        return self

    def fail(
        self,
        status: int,
        body: dict[str, Any] | str | bytes | None = None,
        *,
        headers: dict[str, str] | None = None,
        message: str | None = None,
        delay: float = 0.0,
    ) -> Self:
        self._script.append(Fail(status, body, headers or {}, message, delay))
        return self

    def delay(self, seconds: float) -> Self:
        self._script.append(Reply(delay=seconds))
        return self

    def stream(
        self,
        chunks: list[str | dict[str, Any] | bytes],
        *,
        delay_between: float = 0.0,
        cut_after: int | None = None,
        usage: tuple[int, int] | None | str = "auto",
        finish_reason: str | None = None,
        delay: float = 0.0,
    ) -> Self:
        self._script.append(
            Stream(list(chunks), delay_between, cut_after, usage, finish_reason, delay)
        )
        return self

    def hang(self) -> Self:
        self._script.append(Hang())
        return self

    def reset(self) -> None:
        self._script.clear()
        self.requests.clear()
        self.model_requests.clear()
        self.disconnects = 0
        self._disconnected.clear()
        self.default = None
        self.api_key = None

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Block until a client dropped a connection mid-response (True) or time ran out."""
        return self._disconnected.wait(timeout)

    async def until_disconnect(self, timeout: float = 5.0) -> bool:
        """The async form, which does not block the caller's event loop."""
        deadline = time.monotonic() + timeout
        while not self._disconnected.is_set():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=f"fake-{self.kind}", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.kind} upstream did not start")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        ready.set()
        self._loop.run_forever()
        assert self._runner is not None
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that goes away cancels its handler, which is how
        # a disconnect during a delay or a hang gets counted.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    # --- serving ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request)
        route = self.route(request.method, request.path)
        if route == "models":
            self.model_requests.append(record)
            if self.models_status >= 400:
                return self._error(self.models_status, "The model list is failing")
            return web.json_response(self.models_body())
        if route != "chat":
            return self._error(404, f"No route for {request.method} {request.path}")
        self.requests.append(record)
        if self.api_key is not None and self.key_of(request) != self.api_key:
            return self._error(401, "Invalid API key")
        behaviour = self._script.popleft() if self._script else (self.default or Reply())
        try:
            return await self._act(behaviour, request, record)
        except asyncio.CancelledError:
            self._count_disconnect()
            raise

    async def _act(
        self, behaviour: Behaviour, request: web.Request, record: dict[str, Any]
    ) -> web.StreamResponse:
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if isinstance(behaviour, Hang):
            await asyncio.Event().wait()  # until the client leaves or the server stops
        if isinstance(behaviour, Fail):
            return self._fail(behaviour)
        model = self.model_of(request, record)
        streaming = self.wants_stream(request, record)
        if isinstance(behaviour, Stream):
            if not streaming:
                return web.json_response(self.reply_body(behaviour.as_reply(), model))
            return await self._stream(request, behaviour, model, record)
        assert isinstance(behaviour, Reply)
        if streaming:
            stream = Stream(
                list(behaviour.pieces()),
                usage=behaviour.usage,
                finish_reason=behaviour.finish_reason,
            )
            return await self._stream(request, stream, model, record, behaviour.tool_calls)
        return web.json_response(self.reply_body(behaviour, model))

    async def _stream(
        self,
        request: web.Request,
        stream: Stream,
        model: str,
        record: dict[str, Any],
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        sent = 0
        cut_after = stream.cut_after
        try:
            for data, is_chunk in self.stream_events(stream, model, record, tool_calls or []):
                if is_chunk and cut_after is not None and sent >= cut_after:
                    return self._cut(request, response)
                await response.write(data)
                if not is_chunk:
                    continue
                sent += 1
                if cut_after is not None and sent >= cut_after:
                    return self._cut(request, response)
                if stream.delay_between:
                    await asyncio.sleep(stream.delay_between)
            await response.write_eof()
        except ConnectionError:
            self._count_disconnect()
        return response

    def _cut(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """Drop the connection mid-body (what was written still goes out first): the client
        sees a chunked body that never ends properly."""
        assert request.transport is not None
        request.transport.close()
        return response

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": CIMultiDict(request.headers),
            "json": body,
        }

    def _count_disconnect(self) -> None:
        if not self._stopping:
            self.disconnects += 1
            self._disconnected.set()

    def _fail(self, fail: Fail) -> web.Response:
        if fail.body is None:
            return self._error(fail.status, fail.message, fail.headers)
        if isinstance(fail.body, dict):
            return web.json_response(fail.body, status=fail.status, headers=fail.headers)
        body = fail.body.encode() if isinstance(fail.body, str) else fail.body
        return web.Response(body=body, status=fail.status, headers=fail.headers)

    def _error(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = self.error_body(status, message or f"fake {self.kind} upstream error {status}")
        return web.json_response(body, status=status, headers=headers or {})

    # --- the wire format (subclasses) ------------------------------------------------

    def route(self, method: str, path: str) -> str | None:
        raise NotImplementedError

    def key_of(self, request: web.Request) -> str | None:
        raise NotImplementedError

    def model_of(self, request: web.Request, record: dict[str, Any]) -> str:
        return str((record["json"] or {}).get("model") or "unknown-model")

    def wants_stream(self, request: web.Request, record: dict[str, Any]) -> bool:
        return bool((record["json"] or {}).get("stream"))

    def reply_body(self, reply: Reply, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def stream_events(
        self, stream: Stream, model: str, record: dict[str, Any], tool_calls: list[dict[str, Any]]
    ) -> Iterator[tuple[bytes, bool]]:
        """(bytes to write, whether it counts as one of the stream's chunks)."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def models_body(self) -> dict[str, Any]:
        raise NotImplementedError


def arguments_json(call: dict[str, Any]) -> str:
    arguments = call.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def arguments_dict(call: dict[str, Any]) -> dict[str, Any]:
    arguments = call.get("arguments", {})
    return json.loads(arguments) if isinstance(arguments, str) else dict(arguments)


def sse(data: Any, event: str | None = None, newline: str = "\n") -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {text}{newline}{newline}".encode()


class FakeOpenAI(FakeUpstream):
    kind = "openai"

    def route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/chat/completions":
            return "chat"
        return "models" if method == "GET" and path == "/v1/models" else None

    def key_of(self, request: web.Request) -> str | None:
        return request.headers.get("Authorization", "").removeprefix("Bearer ") or None

    def reply_body(self, reply: Reply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        calls = self._calls(reply.tool_calls)
        if calls:
            message["tool_calls"] = calls
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        body: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "system_fingerprint": "fp_fake",
        }
        if counts := reply.token_counts():
            body["usage"] = _openai_usage(counts)
        return body

    def _calls(self, tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": call.get("id") or f"call_{n}",
                "type": "function",
                "function": {"name": call["name"], "arguments": arguments_json(call)},
            }
            for n, call in enumerate(tool_calls)
        ]

    def stream_events(
        self, stream: Stream, model: str, record: dict[str, Any], tool_calls: list[dict[str, Any]]
    ) -> Iterator[tuple[bytes, bool]]:
        body = record["json"] or {}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            data = {**base, "choices": [choice]}
            if include_usage:
                data["usage"] = None
            return sse(data)

        yield chunk({"role": "assistant", "content": "", "refusal": None}), False
        for piece in stream.chunks:
            if isinstance(piece, bytes):
                yield piece, True
            elif isinstance(piece, dict):
                yield sse(piece), True
            else:
                yield chunk({"content": piece}), True
        for index, call in enumerate(self._calls(tool_calls)):
            start = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
            yield chunk({"tool_calls": [{"index": index, **start}]}), True
            arguments = {"arguments": call["function"]["arguments"]}
            yield chunk({"tool_calls": [{"index": index, "function": arguments}]}), True
        finish = stream.finish_reason or ("tool_calls" if tool_calls else "stop")
        yield chunk({}, finish), False
        counts = stream.usage if isinstance(stream.usage, tuple) else None
        if stream.usage == "auto":
            counts = (DEFAULT_PROMPT_TOKENS, max(len(stream.chunks), 1))
        if include_usage and counts:
            yield sse({**base, "choices": [], "usage": _openai_usage(counts)}), False
        yield sse("[DONE]"), False

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kinds = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
        kind = "invalid_request_error" if status < 500 else "server_error"
        return {
            "error": {"message": message, "type": kind, "param": None, "code": kinds.get(status)}
        }

    def models_body(self) -> dict[str, Any]:
        data = [
            m
            if isinstance(m, dict)
            else {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
            for m in self.models
        ]
        return {"object": "list", "data": data}


def _openai_usage(counts: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": counts[0], "completion_tokens": counts[1], "total_tokens": sum(counts)}


ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class FakeAnthropic(FakeUpstream):
    kind = "anthropic"

    def route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == "/v1/messages":
            return "chat"
        return "models" if method == "GET" and path == "/v1/models" else None

    def key_of(self, request: web.Request) -> str | None:
        return request.headers.get("x-api-key")

    def reply_body(self, reply: Reply, model: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content += [
            {"type": "tool_use", "id": call.get("id") or f"toolu_{n}", "name": call["name"],
             "input": arguments_dict(call)}
            for n, call in enumerate(reply.tool_calls)
        ]  # fmt: skip
        counts = reply.token_counts() or (0, 0)
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": counts[0], "output_tokens": counts[1]},
        }

    def stream_events(
        self, stream: Stream, model: str, record: dict[str, Any], tool_calls: list[dict[str, Any]]
    ) -> Iterator[tuple[bytes, bool]]:
        counts = stream.usage if isinstance(stream.usage, tuple) else (0, 0)
        if stream.usage == "auto":
            counts = (DEFAULT_PROMPT_TOKENS, max(len(stream.chunks), 1))
        message: dict[str, Any] = {
            "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": counts[0], "output_tokens": 1},
        }  # fmt: skip
        yield _event("message_start", message=message), False
        yield (
            _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
            False,
        )
        yield _event("ping"), False
        for piece in stream.chunks:
            if isinstance(piece, bytes):
                yield piece, True
            elif isinstance(piece, dict):
                yield sse(piece, event=piece.get("type")), True
            else:
                delta = {"type": "text_delta", "text": piece}
                yield _event("content_block_delta", index=0, delta=delta), True
        yield _event("content_block_stop", index=0), False
        for number, call in enumerate(tool_calls, start=1):
            block = {"type": "tool_use", "id": call.get("id") or f"toolu_{number}",
                     "name": call["name"], "input": {}}  # fmt: skip
            yield _event("content_block_start", index=number, content_block=block), True
            delta = {"type": "input_json_delta", "partial_json": arguments_json(call)}
            yield _event("content_block_delta", index=number, delta=delta), True
            yield _event("content_block_stop", index=number), False
        reason = stream.finish_reason or ("tool_use" if tool_calls else "end_turn")
        yield (
            _event(
                "message_delta",
                delta={"stop_reason": reason, "stop_sequence": None},
                usage={"output_tokens": counts[1]},
            ),
            False,
        )
        yield _event("message_stop"), False

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def models_body(self) -> dict[str, Any]:
        data = [
            m if isinstance(m, dict) else {"type": "model", "id": m, "display_name": m,
                                           "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]  # fmt: skip
        return {"data": data, "has_more": False, "first_id": None, "last_id": None}


def _event(kind: str, **fields: Any) -> bytes:
    return sse({"type": kind, **fields}, event=kind)


GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
GEMINI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


class FakeGemini(FakeUpstream):
    kind = "gemini"
    prefix = "/v1beta"

    def route(self, method: str, path: str) -> str | None:
        if (
            method == "POST"
            and path.startswith("/v1beta/models/")
            and path.endswith((":generateContent", ":streamGenerateContent"))
        ):
            return "chat"
        return "models" if method == "GET" and path == "/v1beta/models" else None

    def key_of(self, request: web.Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query.get("key")

    def model_of(self, request: web.Request, record: dict[str, Any]) -> str:
        return request.path.removeprefix("/v1beta/models/").rpartition(":")[0]

    def wants_stream(self, request: web.Request, record: dict[str, Any]) -> bool:
        return request.path.endswith(":streamGenerateContent")

    def reply_body(self, reply: Reply, model: str) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
        parts += [
            {"functionCall": {"name": c["name"], "args": arguments_dict(c)}}
            for c in reply.tool_calls
        ]
        finish = GEMINI_FINISH.get(reply.finish_reason or "stop", "STOP")
        return self._response(parts, finish, reply.token_counts(), model)

    def _response(
        self, parts: list[dict[str, Any]], finish: str | None, counts: tuple[int, int] | None,
        model: str, response_id: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        body: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": model,
            "responseId": response_id or uuid.uuid4().hex[:22],
        }
        if counts:
            body["usageMetadata"] = {
                "promptTokenCount": counts[0],
                "candidatesTokenCount": counts[1],
                "totalTokenCount": sum(counts),
            }
        return body

    def stream_events(
        self, stream: Stream, model: str, record: dict[str, Any], tool_calls: list[dict[str, Any]]
    ) -> Iterator[tuple[bytes, bool]]:
        response_id = uuid.uuid4().hex[:22]
        counts = stream.usage if isinstance(stream.usage, tuple) else None
        if stream.usage == "auto":
            counts = (DEFAULT_PROMPT_TOKENS, max(len(stream.chunks), 1))
        # Gemini separates its SSE events with CRLF pairs.
        for piece in stream.chunks:
            if isinstance(piece, bytes):
                yield piece, True
            elif isinstance(piece, dict):
                yield sse(piece, newline="\r\n"), True
            else:
                body = self._response([{"text": piece}], None, counts, model, response_id)
                yield sse(body, newline="\r\n"), True
        calls = [
            {"functionCall": {"name": c["name"], "args": arguments_dict(c)}} for c in tool_calls
        ]
        finish = GEMINI_FINISH.get(stream.finish_reason or "stop", "STOP")
        last = self._response(calls, finish, counts, model, response_id)
        yield sse(last, newline="\r\n"), bool(calls)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        state = GOOGLE_STATUSES.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": state}}

    def models_body(self) -> dict[str, Any]:
        models = [
            m if isinstance(m, dict) else {
                "name": f"models/{m}", "displayName": m, "inputTokenLimit": 1048576,
                "outputTokenLimit": 8192, "supportedGenerationMethods": ["generateContent"],
            }
            for m in self.models
        ]  # fmt: skip
        return {"models": models}


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
