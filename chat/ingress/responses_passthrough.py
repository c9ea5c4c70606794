"""Responses to an `openai` provider: its own POST {base_url}/responses.

The body goes up as the client sent it, with `model` replaced and the earlier turns of
`previous_response_id` (Switchboard's, which the upstream does not know) spelled out in
`input`. The answer, and each stream event, is relayed as received; the final response
object is read on the way for usage and for storing. These are attempt functions for
chat.gateway.run_attempts, so failover, cooldowns, passive health and the usage record
are the loop's, as for any call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from chat import adapters
from chat.adapters.base import UpstreamError, join_url
from chat.adapters.sse import SSEEvent, SSEParser
from chat.errors import GatewayError
from chat.gateway import TRANSPORT_ERRORS, CallContext, note_stream_failure, transport_error
from chat.http import get_session
from chat.ingress.passthrough import whole_events
from chat.ingress.responses import OWN_REASONING, estimate_input_tokens
from chat.outbound import read_capped, refuse_redirect
from routing.engine import Candidate

PASSTHROUGH_KIND = "openai"
# Events that show the upstream has started answering: from here on a failure can no
# longer move to another provider unseen.
ANSWERING = frozenset(
    {
        "response.output_text.delta", "response.function_call_arguments.delta",
        "response.output_item.done", "response.reasoning_summary_text.delta",
    }
)  # fmt: skip
ENDS = frozenset({"response.completed", "response.incomplete"})
FAILS = frozenset({"response.failed", "error"})


def upstream_body(
    body: dict[str, Any], history: list[dict[str, Any]], model: str
) -> dict[str, Any]:
    sent = {k: v for k, v in body.items() if k != "previous_response_id"}
    sent["model"] = model
    earlier = [item for item in history if not str(item.get("id", "")).startswith(OWN_REASONING)]
    sent["input"] = [*earlier, *body["input"]]
    return sent


def apply_usage(ctx: CallContext, usage: dict[str, Any] | None, body: dict[str, Any]) -> None:
    draft = ctx.draft
    usage = usage or {}
    prompt = int(usage.get("input_tokens") or 0)
    output = int(usage.get("output_tokens") or 0)
    if prompt or output:
        details = usage.get("input_tokens_details")
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        draft.prompt_tokens, draft.completion_tokens = prompt, output
        draft.cache_read_tokens = cached
        draft.estimated = False
    else:
        draft.prompt_tokens = estimate_input_tokens(body)
        draft.completion_tokens = 0
        draft.estimated = True


def _headers(candidate: Candidate) -> dict[str, str]:
    return adapters.for_kind(candidate.provider.kind).headers(candidate.provider.api_key)  # type: ignore[attr-defined,no-any-return]


def _classify(candidate: Candidate, status: int, content: bytes, headers: Any) -> UpstreamError:
    return adapters.for_kind(candidate.provider.kind).classify_error(status, content, headers)


def _response_error(response: dict[str, Any]) -> UpstreamError:
    error = response.get("error") if isinstance(response.get("error"), dict) else {}
    message = str((error or {}).get("message") or "The upstream response failed.")
    return UpstreamError(502, message, code="upstream_error", retryable=True)


async def try_response(sent: dict[str, Any], candidate: Candidate) -> dict[str, Any]:
    """One non-streaming attempt: the upstream's response object. Raises UpstreamError."""
    url = join_url(candidate.provider.base_url, "/responses")
    try:
        async with get_session().post(
            url, data=orjson.dumps(sent), headers=_headers(candidate), allow_redirects=False
        ) as response:
            refuse_redirect(response, candidate.provider.name)
            content = await read_capped(response, candidate.provider.name)
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc, candidate.provider.name) from exc
    if response.status >= 400:
        raise _classify(candidate, response.status, content, response.headers)
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("output"), list):
        raise UpstreamError(
            502,
            f"{candidate.provider.name} sent an unreadable response.",
            code="upstream_invalid_response",
            retryable=True,
        )
    if payload.get("status") == "failed":
        raise _response_error(payload)
    return payload


class EventScanner:
    """Watches the relayed events: whether the answer has begun, the final response
    object (usage, output), a failure. Only those events' JSON is read."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self.answering = False
        self.response: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self.failed_first = False
        self.next_sequence = 0  # for an event of ours after the upstream's last

    @property
    def done(self) -> bool:
        return self.response is not None

    def feed(self, data: bytes) -> None:
        for event in self._parser.feed(data):
            self._event(event)

    def _event(self, event: SSEEvent) -> None:
        if self.error is not None or self.response is not None:
            return
        data = _object(event)
        if isinstance(data.get("sequence_number"), int):
            self.next_sequence = data["sequence_number"] + 1
        name = event.event or str(data.get("type", ""))
        if name in ANSWERING:
            self.answering = True
        if name in ENDS and isinstance(data.get("response"), dict):
            self.response = data["response"]
        elif name in FAILS:
            failed = data.get("response") if isinstance(data.get("response"), dict) else data
            self.error = _response_error(failed)
            self.failed_first = not self.answering


def _object(event: SSEEvent) -> dict[str, Any]:
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamError(502, "Upstream sent a malformed stream event", retryable=True)
    return data


@dataclass(slots=True)
class Opened:
    response: aiohttp.ClientResponse
    reads: AsyncIterator[bytes]
    scanner: EventScanner
    held: bytes


async def try_stream(sent: dict[str, Any], candidate: Candidate) -> Opened:
    """Open the upstream stream and hold its events back until the answer begins, so a
    failure up to then moves on unseen. Raises UpstreamError."""
    url = join_url(candidate.provider.base_url, "/responses")
    response: aiohttp.ClientResponse | None = None
    try:
        response = await get_session().post(
            url,
            data=orjson.dumps({**sent, "stream": True}),
            headers=_headers(candidate),
            allow_redirects=False,
        )
        refuse_redirect(response, candidate.provider.name)
        if response.status >= 400:
            content = await read_capped(response, candidate.provider.name)
            raise _classify(candidate, response.status, content, response.headers)
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
        return Opened(response, reads, scanner, b"".join(held))
    except TRANSPORT_ERRORS as exc:
        if response is not None:
            response.close()
        raise transport_error(exc, candidate.provider.name) from exc
    except BaseException:
        if response is not None:
            response.close()
        raise


class RawStream:
    """An open upstream Responses stream that has begun its answer. `chunks()` yields the
    upstream's bytes as received (ending with one response.failed of ours when the
    upstream breaks off); `aclose()` must always be called (it writes the usage record)."""

    def __init__(
        self,
        ctx: CallContext,
        candidate: Candidate,
        opened: Opened,
        body: dict[str, Any],
        failure_event: Callable[[GatewayError, int], bytes],
    ) -> None:
        self.ctx = ctx
        self.error: GatewayError | None = None
        self._candidate = candidate
        self._opened = opened
        self._body = body
        # (GatewayError, sequence number) → bytes: the API module's response.failed
        self._failure_event = failure_event
        self._finished = False
        self._closed = False

    @property
    def response(self) -> dict[str, Any] | None:
        return self._opened.scanner.response

    async def chunks(self) -> AsyncIterator[bytes]:
        held, self._opened.held = self._opened.held, b""
        yield held
        scanner = self._opened.scanner
        try:
            async for whole in self._opened.reads:
                yield whole
        except (*TRANSPORT_ERRORS, ValueError, UpstreamError) as exc:
            self.error = GatewayError(
                502,
                f"The connection to {self._candidate.provider.name} broke mid-stream "
                f"({type(exc).__name__}).",
                code="upstream_stream_error",
                type="upstream_error",
            )
            yield self._failure_event(self.error, scanner.next_sequence)
            return
        if scanner.error is not None:
            self.error = scanner.error  # the upstream's own failure event went out
        elif not scanner.done:
            self.error = GatewayError(
                502,
                f"{self._candidate.provider.name} ended the stream before it was complete.",
                code="upstream_stream_incomplete",
                type="upstream_error",
            )
            yield self._failure_event(self.error, scanner.next_sequence)
        else:
            self._finished = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._finished:
                self._opened.response.release()
            else:
                self._opened.response.close()
        finally:
            final = self._opened.scanner.response or {}
            apply_usage(self.ctx, final.get("usage"), self._body)
            draft = self.ctx.draft
            if self.error is not None:
                self.ctx.fail(self.error)
                note_stream_failure(self._candidate, self.error)
            elif not self._finished:
                draft.status, draft.error_code = "cancelled", "client_disconnected"
            await asyncio.shield(self.ctx.arecord())
