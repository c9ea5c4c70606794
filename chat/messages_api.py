"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API (DESIGN.md
"Other dialects"), for Claude Code and the anthropic SDK.

Admission is chat.api.admit, as for chat completions; each attempt of the one loop
(chat.gateway.run_attempts) picks its way by the candidate's kind: an `anthropic`
provider gets the client's bytes (chat.ingress.passthrough), any other the request
translated by chat.ingress.anthropic_messages into the internal body its adapter takes.
So a route can mix kinds and fail over between them. Errors leave in Anthropic's shape.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from ninja import Router

from chat import gateway
from chat.api import RecordedResponse, Refused, _headers, admit, request_id
from chat.errors import GatewayError
from chat.gateway import CallContext, Stream
from chat.ingress import anthropic_messages as dialect
from chat.ingress import passthrough
from chat.ingress.passthrough import Passthrough, RawAnswer, RawStream
from routing.engine import Candidate

router = Router(tags=["anthropic"])

JSON = "application/json"
PASSTHROUGH_KIND = "anthropic"


def error_response(error: GatewayError, rid: str, ctx: CallContext | None = None) -> HttpResponse:
    body = orjson.dumps(dialect.error_body(error))
    if ctx is not None:
        ctx.fail(error)
        response: HttpResponse = RecordedResponse(body, ctx, status=error.status)
    else:
        response = HttpResponse(body, content_type=JSON, status=error.status)
    response["x-request-id"] = rid
    if error.retry_after:
        response["Retry-After"] = str(int(error.retry_after + 0.999))
    return response


def _parse_messages(raw: bytes) -> dict[str, Any]:
    body = dialect.parse_request(raw)
    dialect.check_generation(body)
    return body


@router.post("/messages", auth=None)
async def messages(request: HttpRequest) -> HttpResponseBase:
    rid = request_id(request)
    try:
        admitted = await admit(
            request,
            source="messages",
            parse=_parse_messages,
            x_api_key=True,
            estimate=dialect.estimate_input_tokens,
        )
    except Refused as refused:
        return error_response(refused.error, rid, refused.ctx)
    ctx = admitted.ctx
    call = Passthrough.of(admitted.raw, admitted.body, request.headers)
    try:
        if admitted.body.get("stream"):
            return await _stream(call, ctx)
        return await _complete(call, ctx)
    except GatewayError as error:
        return error_response(error, rid, ctx)  # run_attempts has recorded the call


# --- non-streaming ---------------------------------------------------------------------


@dataclass(slots=True)
class Translated:
    body: dict[str, Any]
    completion: dict[str, Any]


async def _complete(call: Passthrough, ctx: CallContext) -> HttpResponse:
    ctx.draft.stream = False

    async def attempt(candidate: Candidate, number: int) -> RawAnswer | Translated:
        if candidate.provider.kind == PASSTHROUGH_KIND:
            return await passthrough.try_message(call, candidate)
        body = dialect.to_chat(call.body, candidate.provider.kind)
        return Translated(body, await gateway.try_complete(body, candidate))

    answer, candidate, attempts = await gateway.run_attempts(call.body, ctx, attempt)
    if isinstance(answer, RawAnswer):
        passthrough.apply_usage(ctx, answer.usage, call.body)
        content = answer.content
    else:
        gateway.apply_completion_usage(ctx, answer.completion, answer.body)
        content = orjson.dumps(dialect.from_completion(answer.completion, candidate.model))
    response = RecordedResponse(content, ctx)
    _headers(response, ctx, candidate.provider.name, candidate.model, attempts)
    return response


# --- streaming -------------------------------------------------------------------------


async def _stream(call: Passthrough, ctx: CallContext) -> HttpResponseBase:
    ctx.draft.stream = True

    async def attempt(candidate: Candidate, number: int) -> RawStream | Stream:
        if candidate.provider.kind == PASSTHROUGH_KIND:
            return await passthrough.try_stream(call, ctx, candidate, number)
        body = dialect.to_chat(call.body, candidate.provider.kind)
        return await gateway.try_stream(body, ctx, candidate, number)

    stream, candidate, attempts = await gateway.run_attempts(call.body, ctx, attempt)
    ctx.draft.ttft_ms = int((time.perf_counter() - ctx.started) * 1000)
    events = _relay_raw(stream) if isinstance(stream, RawStream) else _translate(stream)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    _headers(response, ctx, candidate.provider.name, candidate.model, attempts)
    return response


async def _relay_raw(stream: RawStream) -> AsyncIterator[bytes]:
    try:
        async for data in stream.chunks():
            yield data
    finally:
        await stream.aclose()


async def _translate(stream: Stream) -> AsyncIterator[bytes]:
    """Internal chunks as Anthropic events; message_stop only after a clean end, one
    error event after a failure."""
    encoder = dialect.EventEncoder(stream.model)
    try:
        async for batch in stream.batches():
            if out := encoder.feed(batch):
                yield out
        yield encoder.finish()
    except GatewayError as error:
        yield dialect.error_event(error)
    finally:
        await stream.aclose()


# --- count_tokens ----------------------------------------------------------------------


@router.post("/messages/count_tokens", auth=None)
async def count_tokens(request: HttpRequest) -> HttpResponse:
    """Forwarded to an anthropic provider; estimated for the others, which cannot count."""
    rid = request_id(request)
    try:
        admitted = await admit(
            request, source="messages", parse=dialect.parse_request, x_api_key=True
        )
    except Refused as refused:
        return error_response(refused.error, rid, refused.ctx)
    ctx = admitted.ctx
    call = Passthrough.of(admitted.raw, admitted.body, request.headers)

    async def attempt(candidate: Candidate, number: int) -> bytes:
        if candidate.provider.kind == PASSTHROUGH_KIND:
            return await passthrough.try_count(call, candidate)
        return orjson.dumps({"input_tokens": dialect.estimate_input_tokens(call.body)})

    try:
        content, candidate, attempts = await gateway.run_attempts(call.body, ctx, attempt)
    except GatewayError as error:
        return error_response(error, rid, ctx)
    response = RecordedResponse(content, ctx)
    _headers(response, ctx, candidate.provider.name, candidate.model, attempts)
    return response
