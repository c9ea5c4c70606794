"""Messages to an `anthropic` provider: the client's bytes go up, the upstream's come back.

The body is sent as the client wrote it with only the value of `model` replaced (in the
raw text, so key order, spacing and every field we do not know survive), with the
client's `anthropic-version` and `anthropic-beta`. The answer, and each stream event, is
relayed as received: thinking signatures, redacted_thinking, cache_control, citations and
server-tool blocks cannot be altered in transit. Usage is read from the events as they
pass, never re-encoded. These are attempt functions for chat.gateway.run_attempts, so
failover, cooldowns, passive health and the usage record are the loop's, as for any call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson

import redaction
from chat import adapters
from chat.adapters.anthropic import in_stream_error
from chat.adapters.base import UpstreamError, event_object, join_url
from chat.adapters.sse import SSEEvent, SSEParser
from chat.errors import GatewayError, bad_request
from chat.gateway import (
    TRANSPORT_ERRORS,
    CallContext,
    note_stream_failure,
    transport_error,
)
from chat.http import get_session
from chat.ingress.anthropic_messages import (
    ANTHROPIC_VERSION,
    UNSIGNED,
    error_event,
    estimate_input_tokens,
    without_unsigned_thinking,
)
from chat.outbound import read_capped, refuse_redirect
from routing.engine import Candidate

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
# Events that show the upstream has started answering: from here on a failure can no
# longer move to another provider unseen.
ANSWERING = frozenset({"content_block_delta", "message_delta", "message_stop"})


@dataclass(frozen=True, slots=True)
class Passthrough:
    """What the client sent, for relaying."""

    raw: bytes
    body: dict[str, Any]
    headers: dict[str, str]

    @classmethod
    def of(cls, raw: bytes, body: dict[str, Any], headers: Mapping[str, str]) -> Passthrough:
        forwarded = {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}
        forwarded.setdefault("anthropic-version", ANTHROPIC_VERSION)
        if UNSIGNED.encode() in raw:
            # Reasoning another provider gave an earlier turn (after a failover): Anthropic
            # would refuse its made-up signature. Only then is the body re-encoded (same
            # keys, same order).
            raw = orjson.dumps(without_unsigned_thinking(body))
        return cls(raw, body, forwarded)

    def upstream_headers(self, candidate: Candidate) -> dict[str, str]:
        return {
            **self.headers,
            "x-api-key": candidate.provider.api_key,
            "Content-Type": "application/json",
        }


def with_model(raw: bytes, model: str) -> bytes:
    """`raw` (a JSON object) with the value of its top-level "model" replaced and every
    other byte kept. The last "model" key counts, as in the parse that validated it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request("The request body must be UTF-8 JSON.") from exc
    decoder = json.JSONDecoder()
    position = _skip(text, 0)
    if text[position : position + 1] != "{":
        raise bad_request("The request body must be a JSON object.")
    position = _skip(text, position + 1)
    span: tuple[int, int] | None = None
    while text[position : position + 1] == '"':
        key, position = decoder.raw_decode(text, position)
        position = _skip(text, _skip(text, position) + 1)  # past the colon
        start = position
        _, position = decoder.raw_decode(text, start)
        if key == "model":
            span = (start, position)
        position = _skip(text, position)
        if text[position : position + 1] == ",":
            position = _skip(text, position + 1)
    if span is None:
        raise bad_request("model: must be a non-empty string.", "model")
    return (text[: span[0]] + json.dumps(model) + text[span[1] :]).encode("utf-8")


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def classify(status: int, content: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """The anthropic adapter's decision, except that 529 reaches the client as 529
    overloaded_error (Claude Code backs off on it) rather than as a generic 502."""
    error = adapters.for_kind("anthropic").classify_error(status, content, headers)
    return _overloaded(error) if status == 529 else error


def _overloaded(error: UpstreamError) -> UpstreamError:
    return UpstreamError(
        529,
        error.message,
        code="overloaded",
        type="overloaded_error",
        retryable=True,
        retry_after=error.retry_after,
    )


def _event_error(data: dict[str, Any]) -> UpstreamError:
    error = in_stream_error(data)
    kind = (data.get("error") or {}).get("type") if isinstance(data.get("error"), dict) else None
    return _overloaded(error) if kind == "overloaded_error" else error


# --- usage -------------------------------------------------------------------------------


def apply_usage(ctx: CallContext, raw: dict[str, Any], body: dict[str, Any]) -> None:
    """Anthropic's usage on the draft: prompt_tokens counts all input, cached included
    (as the adapters report it), the cache parts kept apart for pricing."""
    draft = ctx.draft
    read = int(raw.get("cache_read_input_tokens") or 0)
    write = int(raw.get("cache_creation_input_tokens") or 0)
    fresh = int(raw.get("input_tokens") or 0)
    output = int(raw.get("output_tokens") or 0)
    if fresh or read or write or output:
        draft.prompt_tokens = fresh + read + write
        draft.completion_tokens = output
        draft.cache_read_tokens, draft.cache_write_tokens = read, write
        draft.estimated = False
    else:
        draft.prompt_tokens = estimate_input_tokens(body)
        draft.completion_tokens = 0
        draft.estimated = True


class EventScanner:
    """Watches the relayed events: usage (message_start, then message_delta's running
    totals), whether the answer has begun, its proper end, an in-stream error. Only
    those events' JSON is read."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.usage: dict[str, Any] = {}
        self.answering = False
        self.done = False
        self.error: UpstreamError | None = None
        self.failed_first = False  # the error came before any of the answer

    def feed(self, data: bytes) -> None:
        for event in self._parser.feed(data):
            self._event(event)

    def _event(self, event: SSEEvent) -> None:
        if self.error is not None:
            return  # the stream has failed; what a server sends after that counts for nothing
        name = event.event
        if name is None:  # a server that names events only in their data
            name = str(_object(event).get("type", ""))
        if name in ANSWERING:
            self.answering = True
        if name == "message_start":
            message = _object(event).get("message")
            self._count(message.get("usage") if isinstance(message, dict) else None)
        elif name == "message_delta":
            self._count(_object(event).get("usage"))
        elif name == "message_stop":
            self.done = True
        elif name == "error":
            self.error = _event_error(_object(event))
            self.failed_first = not self.answering

    def _count(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.usage.update({k: v for k, v in usage.items() if isinstance(v, int)})


def _object(event: SSEEvent) -> dict[str, Any]:
    """An event's JSON object; an event that is not one is an upstream failure."""
    data = event_object(event)
    if data is None:
        raise UpstreamError(502, "Upstream sent a malformed stream event", retryable=True)
    return data


def event_end(data: bytes) -> int:
    """Where the last complete event in `data` ends (0: none yet)."""
    ends = [0]
    for separator in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        found = data.rfind(separator)
        if found >= 0:
            ends.append(found + len(separator))
    return max(ends)


class Scanning(Protocol):
    """What `whole_events` needs of a dialect's event scanner."""

    error: UpstreamError | None

    @property
    def done(self) -> bool: ...

    def feed(self, data: bytes) -> None: ...


async def whole_events(response: aiohttp.ClientResponse, scanner: Scanning) -> AsyncIterator[bytes]:
    """The upstream body as received, cut only at event boundaries, so that an error
    event of ours after a broken connection never lands inside a half-sent one."""
    tail = b""
    async for data in response.content.iter_any():
        data = tail + data
        end = event_end(data)
        if not end:
            tail = data
            continue
        whole, tail = data[:end], data[end:]
        scanner.feed(whole)
        if scanner.error is not None:
            # The upstream's own error event, relayed as an event but never with a key in
            # its text (redaction: the keys this process holds and every key shape).
            whole = redaction.redact(whole.decode(errors="replace")).encode()
        yield whole
        if scanner.done or scanner.error:
            return
    if tail.strip():  # a last event the server did not end with a blank line
        tail += b"\n\n"
        scanner.feed(tail)
        yield tail


# --- attempts ------------------------------------------------------------------------------


@dataclass(slots=True)
class RawAnswer:
    content: bytes
    usage: dict[str, Any]


async def try_message(call: Passthrough, candidate: Candidate) -> RawAnswer:
    """One non-streaming attempt. Raises UpstreamError."""
    content = await _post(call, candidate, "/messages")
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        raise UpstreamError(
            502,
            f"{candidate.provider.name} sent an unreadable response.",
            code="upstream_invalid_response",
            retryable=True,
        )
    if payload.get("type") == "error":
        raise _event_error(payload)
    usage = payload.get("usage")
    return RawAnswer(content, usage if isinstance(usage, dict) else {})


async def try_count(call: Passthrough, candidate: Candidate) -> bytes:
    return await _post(call, candidate, "/messages/count_tokens")


async def _post(call: Passthrough, candidate: Candidate, path: str) -> bytes:
    url = join_url(candidate.provider.base_url, path)
    data = with_model(call.raw, candidate.model)
    try:
        async with get_session().post(
            url, data=data, headers=call.upstream_headers(candidate), allow_redirects=False
        ) as response:
            refuse_redirect(response, candidate.provider.name)
            content = await read_capped(response, candidate.provider.name)
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc, candidate.provider.name) from exc
    if response.status >= 400:
        raise classify(response.status, content, response.headers)
    return content


async def try_stream(
    call: Passthrough, ctx: CallContext, candidate: Candidate, attempt: int
) -> RawStream:
    """Open the upstream stream and hold its events back until the answer begins, so a
    failure up to then moves on unseen. Raises UpstreamError."""
    url = join_url(candidate.provider.base_url, "/messages")
    data = with_model(call.raw, candidate.model)
    response: aiohttp.ClientResponse | None = None
    try:
        response = await get_session().post(
            url, data=data, headers=call.upstream_headers(candidate), allow_redirects=False
        )
        refuse_redirect(response, candidate.provider.name)
        if response.status >= 400:
            content = await read_capped(response, candidate.provider.name)
            raise classify(response.status, content, response.headers)
        scanner = EventScanner()
        reads = whole_events(response, scanner)
        held: list[bytes] = []
        async for whole in reads:
            held.append(whole)
            if scanner.answering or scanner.done or scanner.error:
                break
        if scanner.error and scanner.failed_first:
            raise scanner.error
        if not (scanner.answering or scanner.done):
            raise UpstreamError(
                502,
                f"{candidate.provider.name} ended the stream without an answer.",
                code="upstream_stream_incomplete",
                retryable=True,
            )
        return RawStream(ctx, candidate, attempt, response, reads, scanner, b"".join(held), call)
    except TRANSPORT_ERRORS as exc:
        if response is not None:
            response.close()
        raise transport_error(exc, candidate.provider.name) from exc
    except ValueError as exc:  # an event line past the parser's limit
        if response is not None:
            response.close()
        raise UpstreamError(
            502, f"{candidate.provider.name} sent an unreadable stream.", retryable=True
        ) from exc
    except BaseException:
        if response is not None:
            response.close()
        raise


class RawStream:
    """An open upstream Messages stream that has begun its answer. `chunks()` yields the
    upstream's bytes as received, ending with one error event of ours when the upstream
    breaks off; `aclose()` must always be called (it writes the usage record)."""

    def __init__(
        self,
        ctx: CallContext,
        candidate: Candidate,
        attempt: int,
        response: aiohttp.ClientResponse,
        reads: AsyncIterator[bytes],
        scanner: EventScanner,
        held: bytes,
        call: Passthrough,
    ) -> None:
        self.ctx = ctx
        self.provider = candidate.provider.name
        self.model = candidate.model
        self.attempts = attempt
        self.error: GatewayError | None = None
        self._candidate = candidate
        self._response = response
        self._reads = reads
        self._scanner = scanner
        self._held = held
        self._call = call
        self._finished = False
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        held, self._held = self._held, b""
        yield held
        try:
            async for whole in self._reads:
                yield whole
        except (*TRANSPORT_ERRORS, ValueError, UpstreamError) as exc:
            self.error = GatewayError(
                502,
                f"The connection to {self.provider} broke mid-stream ({type(exc).__name__}).",
                code="upstream_stream_error",
                type="upstream_error",
            )
            yield error_event(self.error)
            return
        if self._scanner.error is not None:
            self.error = self._scanner.error  # the upstream's own error event went out
        elif not self._scanner.done:
            self.error = GatewayError(
                502,
                f"{self.provider} ended the stream before it was complete.",
                code="upstream_stream_incomplete",
                type="upstream_error",
            )
            yield error_event(self.error)
        else:
            self._finished = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._finished:
                self._response.release()
            else:
                self._response.close()
        finally:
            apply_usage(self.ctx, self._scanner.usage, self._call.body)
            draft = self.ctx.draft
            if self.error is not None:
                self.ctx.fail(self.error)
                note_stream_failure(self._candidate, self.error)
            elif not self._finished:
                draft.status, draft.error_code = "cancelled", "client_disconnected"
            await asyncio.shield(self.ctx.arecord())
