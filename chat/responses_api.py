"""POST /v1/responses, GET and DELETE /v1/responses/{id}: OpenAI's Responses API
(DESIGN.md "Other dialects"), for the openai SDK's responses.create, the Agents SDK and
Codex.

Admission is chat.api.admit, as for chat completions; each attempt of the one loop
(chat.gateway.run_attempts) picks its way by the candidate's kind: an `openai` provider
gets the request on its own /responses (chat.ingress.responses_passthrough), any other
the request translated by chat.ingress.responses into chat completions. `store` (the
default) keeps the conversation so far and the answer as a chat.StoredResponse, owned by
the key that made it; `previous_response_id` continues one. Errors use OpenAI's shape.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from ninja import Router

from chat import gateway
from chat.api import (
    RecordedResponse,
    Refused,
    _headers,
    admit,
    authenticate,
    error_response,
    request_id,
)
from chat.errors import GatewayError
from chat.gateway import CallContext, Stream
from chat.ingress import responses as dialect
from chat.ingress import responses_passthrough as native
from chat.keys import KeyInfo
from chat.models import StoredResponse
from routing.engine import Candidate

router = Router(tags=["openai"])

JSON = "application/json"


@dataclass(slots=True)
class Call:
    """One Responses request: its body (input as items), the earlier turns, the key."""

    body: dict[str, Any]
    history: list[dict[str, Any]]
    key_id: int | None

    @property
    def store(self) -> bool:
        return bool(self.body.get("store", True))


def _not_found(response_id: str, param: str | None = None) -> GatewayError:
    return GatewayError(
        404, f"No response with id '{response_id}'.", code="response_not_found", param=param
    )


def _history(previous: str, key_id: int | None) -> list[dict[str, Any]]:
    stored = StoredResponse.objects.live().owned_by(key_id).filter(id=previous).first()
    if stored is None:
        raise _not_found(previous, "previous_response_id")
    return [*stored.input_items, *stored.output_items]


def _save(call: Call, response: dict[str, Any]) -> None:
    days = settings.RESPONSES_RETENTION_DAYS
    kept = {k: v for k, v in response.items() if k not in ("output", "usage")}
    StoredResponse.objects.update_or_create(
        id=str(response["id"]),
        defaults={
            "api_key_id": call.key_id,
            "model": str(response.get("model") or call.body["model"]),
            "input_items": [*call.history, *call.body["input"]],
            "output_items": response.get("output") or [],
            "usage": response.get("usage") or {},
            "response": kept,
            "expires_at": timezone.now() + timedelta(days=days),
        },
    )


async def _keep(call: Call, response: dict[str, Any]) -> None:
    """Stored before the client has the answer, so a follow-up can continue it at once."""
    if call.store and response.get("id"):
        await sync_to_async(_save)(call, response)


@router.post("/responses", auth=None)
async def create_response(request: HttpRequest) -> HttpResponseBase:
    rid = request_id(request)
    try:
        admitted = await admit(
            request,
            source="responses",
            parse=dialect.parse_request,
            estimate=dialect.estimate_input_tokens,
        )
    except Refused as refused:
        return error_response(refused.error, rid, refused.ctx)
    ctx, body = admitted.ctx, admitted.body
    key_id = admitted.key.id if admitted.key else None
    try:
        previous = body.get("previous_response_id")
        history = await sync_to_async(_history)(previous, key_id) if previous else []
    except GatewayError as error:
        return error_response(error, rid, ctx)
    call = Call(body, history, key_id)
    try:
        if body.get("stream"):
            return await _stream(call, ctx)
        return await _complete(call, ctx)
    except GatewayError as error:
        return error_response(error, rid, ctx)  # run_attempts has recorded the call


# --- non-streaming ---------------------------------------------------------------------


@dataclass(slots=True)
class Translated:
    body: dict[str, Any]
    completion: dict[str, Any]


async def _complete(call: Call, ctx: CallContext) -> HttpResponse:
    ctx.draft.stream = False

    async def attempt(candidate: Candidate, number: int) -> dict[str, Any] | Translated:
        if candidate.provider.kind == native.PASSTHROUGH_KIND:
            sent = native.upstream_body(call.body, call.history, candidate.model)
            return await native.try_response(sent, candidate)
        body = dialect.to_chat(call.body, call.history)
        return Translated(body, await gateway.try_complete(body, candidate))

    answer, candidate, attempts = await gateway.run_attempts(call.body, ctx, attempt)
    if isinstance(answer, Translated):
        gateway.apply_completion_usage(ctx, answer.completion, answer.body)
        response = dialect.from_completion(
            answer.completion, call.body, dialect.response_id(), candidate.model
        )
    else:
        native.apply_usage(ctx, answer.get("usage"), call.body)
        response = _as_continued(answer, call)
    await _keep(call, response)
    out = RecordedResponse(orjson.dumps(response), ctx)
    _headers(out, ctx, candidate.provider.name, candidate.model, attempts)
    return out


# --- streaming -------------------------------------------------------------------------


async def _stream(call: Call, ctx: CallContext) -> HttpResponseBase:
    ctx.draft.stream = True

    async def attempt(candidate: Candidate, number: int) -> native.RawStream | Stream:
        if candidate.provider.kind == native.PASSTHROUGH_KIND:
            sent = native.upstream_body(call.body, call.history, candidate.model)
            opened = await native.try_stream(sent, candidate)
            return native.RawStream(ctx, candidate, opened, call.body, _failure_event)
        body = dialect.to_chat(call.body, call.history)
        return await gateway.try_stream(body, ctx, candidate, number)

    stream, candidate, attempts = await gateway.run_attempts(call.body, ctx, attempt)
    ctx.draft.ttft_ms = int((time.perf_counter() - ctx.started) * 1000)
    if isinstance(stream, native.RawStream):
        events = _relay_raw(stream, call)
    else:
        events = _translate(stream, call)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    _headers(response, ctx, candidate.provider.name, candidate.model, attempts)
    return response


def _as_continued(response: dict[str, Any], call: Call) -> dict[str, Any]:
    """An upstream's response object, naming the previous response the client continued
    (the upstream was sent the earlier turns themselves)."""
    return {**response, "previous_response_id": call.body.get("previous_response_id")}


def _failure_event(error: GatewayError, sequence: int) -> bytes:
    """The event a relayed stream ends with when the upstream breaks off."""
    failed = {"id": None, "object": "response", "status": "failed", "output": []}
    data = {
        "type": "response.failed",
        "sequence_number": sequence,
        "response": dialect.failed(failed, error),
    }
    return dialect.event(data)


async def _relay_raw(stream: native.RawStream, call: Call) -> AsyncIterator[bytes]:
    stored = False
    try:
        async for data in stream.chunks():
            if not stored and stream.response is not None:
                stored = True  # the final event is in `data`: store before it leaves
                await _keep(call, _as_continued(stream.response, call))
            yield data
    finally:
        await stream.aclose()


async def _translate(stream: Stream, call: Call) -> AsyncIterator[bytes]:
    """Internal chunks as Responses events; response.completed only after a clean end,
    response.failed after a failure. No [DONE]."""
    encoder = dialect.EventEncoder(call.body, dialect.response_id(), stream.model)
    try:
        async for batch in stream.batches():
            if out := encoder.feed(batch):
                yield out
        last = encoder.finish()
        await _keep(call, encoder.response)
        yield last
    except GatewayError as error:
        yield encoder.fail(error)
    finally:
        await stream.aclose()


# --- stored responses ------------------------------------------------------------------


def _find(response_id: str, key: KeyInfo | None) -> dict[str, Any] | None:
    stored = StoredResponse.objects.live().owned_by(key.id if key else None)
    found = stored.filter(id=response_id).first()
    return found.as_response() if found else None


def _input_items(response_id: str, key: KeyInfo | None) -> list[dict[str, Any]] | None:
    stored = StoredResponse.objects.live().owned_by(key.id if key else None)
    found = stored.filter(id=response_id).first()
    return list(found.input_items) if found else None


def _delete(response_id: str, key: KeyInfo | None) -> bool:
    stored = StoredResponse.objects.live().owned_by(key.id if key else None)
    deleted, _ = stored.filter(id=response_id).delete()
    return deleted > 0


def _json(data: dict[str, Any], rid: str) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), content_type=JSON)
    response["x-request-id"] = rid
    return response


@router.get("/responses/{response_id}", auth=None)
async def get_response(request: HttpRequest, response_id: str) -> HttpResponse:
    """A stored response, to the key that made it; any other key gets 404."""
    rid = request_id(request)
    try:
        key = await authenticate(request)
        found = await sync_to_async(_find)(response_id, key)
        if found is None:
            raise _not_found(response_id)
    except GatewayError as error:
        return error_response(error, rid)
    return _json(found, rid)


@router.get("/responses/{response_id}/input_items", auth=None)
async def list_input_items(request: HttpRequest, response_id: str) -> HttpResponse:
    """The conversation a stored response answered, newest first as OpenAI lists it
    (`order=asc` for oldest first)."""
    rid = request_id(request)
    try:
        key = await authenticate(request)
        items = await sync_to_async(_input_items)(response_id, key)
        if items is None:
            raise _not_found(response_id)
    except GatewayError as error:
        return error_response(error, rid)
    if request.GET.get("order") != "asc":
        items.reverse()
    ids = [item.get("id") for item in items]
    listing = {
        "object": "list",
        "data": items,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
        "has_more": False,
    }
    return _json(listing, rid)


@router.delete("/responses/{response_id}", auth=None)
async def delete_response(request: HttpRequest, response_id: str) -> HttpResponse:
    rid = request_id(request)
    try:
        key = await authenticate(request)
        if not await sync_to_async(_delete)(response_id, key):
            raise _not_found(response_id)
    except GatewayError as error:
        return error_response(error, rid)
    return _json({"id": response_id, "object": "response.deleted", "deleted": True}, rid)
