"""The OpenAI-compatible endpoints, mounted on the /v1 NinjaAPI (config/api.py).

Each view is async end to end: key check and routing read in-memory snapshots, the upstream
call goes through chat.gateway, and the usage record is written after the response.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from ninja import Router

from chat import limits
from chat.errors import GatewayError
from chat.gateway import (
    CallContext,
    Stream,
    complete,
    estimated_prompt_tokens,
    open_stream,
    sse,
)
from chat.keys import KeyInfo, lookup
from chat.models import Scope
from chat.validation import parse_chat_request, too_large
from config.logging import request_id_var
from config.middleware import request_id_for
from routing.engine import Candidate

router = Router(tags=["openai"])

JSON = "application/json"


def request_id(request: HttpRequest) -> str:
    """The id the observability middleware gave this request (the client's x-request-id
    when it sent a sane one)."""
    rid = getattr(request, "request_id", None)
    if rid is None:  # called outside the middleware (a bare view test)
        rid = request_id_for(request)
        request_id_var.set(rid)
    return rid


async def authenticate(request: HttpRequest, *, x_api_key: bool = False) -> KeyInfo | None:
    """The caller's key (chat scope), or None when keys are optional and none was sent.
    `x_api_key`: the dialect also takes the key in `x-api-key` (Anthropic's clients)."""
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip() if scheme.lower() == "bearer" else ""
    if not raw and x_api_key:
        raw = request.headers.get("x-api-key", "").strip()
    if not raw:
        if not settings.REQUIRE_API_KEY:
            return None
        how = "'x-api-key: <key>' or " if x_api_key else ""
        raise GatewayError(
            401,
            f"Missing API key: send {how}'Authorization: Bearer <key>'.",
            code="invalid_api_key",
        )
    key = await lookup(raw)
    if key is None:
        raise GatewayError(401, "Invalid, expired or revoked API key.", code="invalid_api_key")
    if not key.has_scope(Scope.CHAT):
        raise GatewayError(
            403,
            "This API key lacks the 'chat' scope.",
            code="insufficient_scope",
            type="permission_error",
        )
    return key


@dataclass(slots=True)
class Admitted:
    ctx: CallContext
    key: KeyInfo | None
    raw: bytes
    body: dict[str, Any]


class Refused(Exception):
    """Admission said no. `ctx` is None when the caller was not authenticated (no usage
    record), else the call's context, to be recorded with the error."""

    def __init__(self, error: GatewayError, ctx: CallContext | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.ctx = ctx


async def admit(
    request: HttpRequest,
    *,
    source: str,
    parse: Callable[[bytes], dict[str, Any]],
    x_api_key: bool = False,
    estimate: Callable[[dict[str, Any]], int] = estimated_prompt_tokens,
) -> Admitted:
    """The one admission step of every /v1 dialect that calls a model: key check, the
    call's context, the body (parsed by the dialect), rpm, and the budget reservation the
    attempt loop makes once it knows the candidates (`estimate` counts the dialect's
    prompt). Raises Refused."""
    try:
        key = await authenticate(request, x_api_key=x_api_key)
    except GatewayError as error:
        raise Refused(error, None) from error
    ctx = CallContext(
        request_id=request_id(request),
        source=source,
        api_key_id=key.id if key else None,
        batch_record=True,
    )
    try:
        raw = _read_body(request)
        body = parse(raw)
        ctx.draft.requested_model = body["model"]
        if key is not None:
            await limits.check_rate(key)
            if key.budget_usd is not None:
                ctx.admit = _budget_admission(key, ctx, estimate(body), body)
    except GatewayError as error:
        raise Refused(error, ctx) from error
    return Admitted(ctx, key, raw, body)


def _budget_admission(
    key: KeyInfo, ctx: CallContext, prompt_tokens: int, body: dict[str, Any]
) -> Callable[[list[Candidate]], Awaitable[None]]:
    output = limits.output_tokens(body)

    async def reserve(candidates: list[Candidate]) -> None:
        await limits.reserve_budget(key, ctx.draft, candidates, prompt_tokens, output)

    return reserve


class RecordedResponse(HttpResponse):
    """A JSON response that writes its call's usage record once it has been sent."""

    def __init__(self, content: bytes, ctx: CallContext, status: int = 200) -> None:
        super().__init__(content, content_type=JSON, status=status)
        self.ctx = ctx

    def close(self) -> None:
        super().close()
        self.ctx.record()


def error_response(error: GatewayError, rid: str, ctx: CallContext | None = None) -> HttpResponse:
    body = orjson.dumps(error.body())
    if ctx is not None:
        ctx.fail(error)
        response: HttpResponse = RecordedResponse(body, ctx, status=error.status)
    else:
        response = HttpResponse(body, content_type=JSON, status=error.status)
    response["x-request-id"] = rid
    if error.retry_after:
        response["Retry-After"] = str(int(error.retry_after + 0.999))
    return response


def _headers(
    response: HttpResponseBase, ctx: CallContext, provider: str, model: str, attempts: int
) -> None:
    response["x-request-id"] = ctx.request_id
    response["x-switchboard-provider"] = provider
    response["x-switchboard-model"] = model
    response["x-switchboard-attempts"] = str(attempts)
    response["x-switchboard-overhead-ms"] = f"{ctx.overhead_ms():.2f}"


@router.post("/chat/completions", auth=None)
async def chat_completions(request: HttpRequest) -> HttpResponse:
    rid = request_id(request)
    try:
        admitted = await admit(request, source="v1", parse=parse_chat_request)
    except Refused as refused:
        return error_response(refused.error, rid, refused.ctx)
    ctx, body = admitted.ctx, admitted.body
    try:
        if body.get("stream"):
            return await _stream(body, ctx)
        completion = await complete(body, ctx)
    except GatewayError as error:
        return error_response(error, rid, ctx)
    response = RecordedResponse(orjson.dumps(completion.response), ctx)
    _headers(response, ctx, completion.provider, completion.model, completion.attempts)
    return response


def _read_body(request: HttpRequest) -> bytes:
    limit = settings.V1_MAX_BODY_BYTES
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise too_large(limit)
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise too_large(limit) from exc
    if len(raw) > limit:
        raise too_large(limit)
    return raw


async def _stream(body: dict[str, Any], ctx: CallContext) -> HttpResponse:
    try:
        stream = await open_stream(body, ctx)
    except GatewayError as error:
        # open_stream has already written the usage record.
        return error_response(error, ctx.request_id)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    response = StreamingHttpResponse(
        _relay(stream, include_usage), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    _headers(response, ctx, stream.provider, stream.model, stream.attempts)
    return response


async def _relay(stream: Stream, include_usage: bool) -> AsyncIterator[bytes]:
    """Upstream events leave as soon as they arrive (those that arrived together, in one
    write); [DONE] only after a clean end."""
    try:
        async for batch in stream.batches():
            out = b"".join(sse(chunk) for chunk in _for_client(batch, include_usage))
            if out:
                yield out
        yield b"data: [DONE]\n\n"
    except GatewayError as error:
        yield sse(error.body())
    finally:
        await stream.aclose()


def _for_client(batch: list[dict[str, Any]], include_usage: bool) -> list[dict[str, Any]]:
    """Usage travels in a final chunk only when the client asked for it."""
    if include_usage:
        return batch
    kept = []
    for chunk in batch:
        if "usage" in chunk:
            chunk = {k: v for k, v in chunk.items() if k != "usage"}
            if not chunk.get("choices"):
                continue
        kept.append(chunk)
    return kept


@router.get("/models", auth=None)
async def list_models(request: HttpRequest) -> HttpResponse:
    rid = request_id(request)
    try:
        await authenticate(request)
    except GatewayError as error:
        return error_response(error, rid)
    entries = await sync_to_async(_model_entries)()
    response = HttpResponse(orjson.dumps({"object": "list", "data": entries}), content_type=JSON)
    response["x-request-id"] = rid
    return response


def _model_entries() -> list[dict[str, Any]]:
    from routing import snapshot as routing_snapshot

    snapshot = routing_snapshot.current()
    created = int(time.time())
    entries: dict[str, dict[str, Any]] = {}
    for route in snapshot.routes_by_name.values():
        if route.is_active:
            entries[route.name] = {
                "id": route.name,
                "object": "model",
                "created": created,
                "owned_by": "switchboard",
            }
    for provider in snapshot.providers.values():
        if not provider.is_active:
            continue
        for model in provider.models:
            model_id = f"{provider.name}/{model}"
            entries[model_id] = {
                "id": model_id,
                "object": "model",
                "created": created,
                "owned_by": provider.name,
            }
    for model_id, owner in _catalog_ids():
        entries.setdefault(
            model_id, {"id": model_id, "object": "model", "created": created, "owned_by": owner}
        )
    return list(entries.values())


def _catalog_ids() -> list[tuple[str, str]]:
    try:
        from providers.models import ModelInfo  # type: ignore[attr-defined]
    except ImportError:
        return []
    rows = ModelInfo.objects.filter(provider__is_active=True).values_list(
        "provider__name", "model_id"
    )
    return [(f"{provider}/{model}", provider) for provider, model in rows]


def unknown_endpoint(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Anything under /v1 that is not an endpoint: a 404 in OpenAI's shape, not HTML."""
    error = GatewayError(
        404, f"Unknown endpoint: {request.method} {request.path}.", code="unknown_url"
    )
    return error_response(error, request_id(request))
