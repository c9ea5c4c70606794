"""The attempt loop and all upstream I/O.

`complete()` and `open_stream()` resolve the requested model through the routing engine,
try the candidates in order (DESIGN.md "Attempts, retries, failover"), translate with the
provider's adapter, feed passive health, and account for the call in exactly one usage
record. Adapters only translate; this module does the network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import orjson
from asgiref.sync import sync_to_async
from django.conf import settings

import routing
import usage
from chat import adapters
from chat.adapters.base import UpstreamError
from chat.adapters.sse import EventTooLarge, SSEParser
from chat.errors import GatewayError
from chat.http import get_session
from chat.outbound import policy_refusal, read_capped, refuse_redirect, scrubbed
from config import metrics, tracing
from lifecycle.draining import drain
from routing import snapshot as routing_snapshot
from routing.engine import Candidate, RoutingError
from usage.recording import Draft

logger = logging.getLogger("switchboard.gateway")
T = TypeVar("T")
# Narrows the planned candidates to those that can serve the call (embeddings: providers
# that embed); raises GatewayError when none can.
Keep = Callable[[list[Candidate]], Awaitable[list[Candidate]]]

AUTH_COOLDOWN_SECONDS = 300
MAX_COOLDOWN_SECONDS = 3600
CHARS_PER_TOKEN = 4  # rough estimate when an upstream reports no usage

__all__ = [
    "CallContext",
    "Completion",
    "GatewayError",
    "Stream",
    "Usage",
    "complete",
    "open_stream",
]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = False


@dataclass
class CallContext:
    """Who is calling and what the call has learned; becomes one UsageLog."""

    request_id: str
    source: str = "v1"
    api_key_id: int | None = None
    user_id: int | None = None
    session_id: str | None = None
    # /v1 hands its record to the batching writer (usage.writer) instead of writing it.
    batch_record: bool = False
    # Called with the planned candidates before the first attempt (budget reservations);
    # a GatewayError it raises ends the call like any other.
    admit: Callable[[list[Candidate]], Awaitable[None]] | None = None
    draft: Draft = field(init=False)
    upstream_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    recorded: bool = False
    cost_usd: Decimal = Decimal(0)
    overhead_seconds: float | None = None  # fixed when the response headers go out

    def __post_init__(self) -> None:
        self.draft = Draft(
            request_id=self.request_id,
            source=self.source,
            api_key_id=self.api_key_id,
            user_id=self.user_id,
            session_id=self.session_id,
        )

    def fail(self, error: GatewayError) -> None:
        self.draft.status = "error"
        self.draft.error_code = error.code

    def record(self) -> None:
        """Account for the call once; later calls do nothing."""
        if self.recorded:
            return
        self.recorded = True
        if self.draft.latency_ms is None:
            self.draft.latency_ms = int((time.perf_counter() - self.started) * 1000)
        if self.batch_record:
            usage.record_later(self.draft)
            return
        log = usage.record(self.draft)
        if log is not None:
            self.cost_usd = log.cost_usd

    async def arecord(self) -> None:
        if self.recorded:
            return
        if self.batch_record:
            self.record()  # only a queue append: no thread hop needed
        else:
            await sync_to_async(self.record)()

    def overhead_ms(self) -> float:
        """Time spent in Switchboard rather than upstream, up to the response headers."""
        if self.overhead_seconds is None:
            elapsed = time.perf_counter() - self.started - self.upstream_seconds
            self.overhead_seconds = max(0.0, elapsed)
            metrics.GATEWAY_OVERHEAD.observe(self.overhead_seconds)
        return self.overhead_seconds * 1000

    def usage(self) -> Usage:
        d = self.draft
        return Usage(
            prompt_tokens=d.prompt_tokens,
            completion_tokens=d.completion_tokens,
            total_tokens=d.prompt_tokens + d.completion_tokens,
            cost_usd=float(self.cost_usd),
            estimated=d.estimated,
        )


@dataclass(slots=True)
class Completion:
    response: dict[str, Any]
    provider: str
    model: str
    attempts: int
    usage: Usage


def _transport_error(exc: BaseException, provider: str) -> UpstreamError:
    """A failure below HTTP (no status): connect errors and timeouts are worth the next
    candidate."""
    refused = policy_refusal(exc, provider)
    if refused is not None:
        return refused
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return UpstreamError.unreachable(f"could not connect to {provider}")
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamError.timeout(f"{provider} did not answer in time")
    return UpstreamError.unreachable(f"the connection to {provider} failed ({type(exc).__name__})")


# What aiohttp raises below HTTP: its own errors and (read) timeouts.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def _client_error(error: UpstreamError) -> GatewayError:
    """What the client sees when `error` ended the request. A rejected provider key is the
    operator's problem, said without the upstream's text (it may quote the key)."""
    if error.auth:
        return GatewayError(
            502,
            "Every provider for this model rejected Switchboard's credentials; "
            "an operator must fix the provider keys.",
            code="upstream_auth_failed",
            type="upstream_error",
        )
    return error


async def _scrubbed(error: UpstreamError) -> UpstreamError:
    """Upstream text scrubbed of every configured provider key before anyone sees it."""
    current = await routing_snapshot.acurrent()
    return scrubbed(error, tuple(p.api_key for p in current.providers.values() if p.api_key))


# --- passive health: real traffic is a health signal ----------------------------------

_background: set[asyncio.Task[Any]] = set()
# Providers that failed in this process since their last success; a success then resets
# their failure count in the database. Other processes keep their own view, which can only
# delay a reset, never open a circuit wrongly.
_failed_recently: set[int] = set()


def _spawn(func: Callable[..., Any], *args: Any) -> None:
    """A health update in the background; the request does not wait for it."""
    task = asyncio.get_running_loop().create_task(_health().run_update(func, *args))
    _background.add(task)
    task.add_done_callback(_background.discard)


def _health() -> Any:
    from providers import health

    return health


async def _on_failure(candidate: Candidate, failure: UpstreamError) -> None:
    provider_id = candidate.provider.id
    _failed_recently.add(provider_id)
    health = _health()
    if failure.auth:
        await health.run_update(
            health.start_cooldown, provider_id, AUTH_COOLDOWN_SECONDS, "auth_error"
        )
    elif failure.status == 429 and failure.retry_after:
        seconds = min(failure.retry_after, MAX_COOLDOWN_SECONDS)
        await health.run_update(health.start_cooldown, provider_id, seconds, "rate_limited")
    elif failure.retryable:
        await health.run_update(health.mark_failure, provider_id, failure.code)


def _on_success(candidate: Candidate, latency_ms: int) -> None:
    provider = candidate.provider
    if provider.id in _failed_recently or not provider.is_healthy:
        _failed_recently.discard(provider.id)
        _spawn(_health().mark_success, provider.id, latency_ms)


def _log_attempt(candidate: Candidate, attempt: int, outcome: str, seconds: float) -> None:
    logger.info(
        "upstream attempt %s %s/%s: %s",
        attempt,
        candidate.provider.name,
        candidate.model,
        outcome,
        extra={
            "provider": candidate.provider.name,
            "model": candidate.model,
            "attempt": attempt,
            "outcome": outcome,
            "latency_ms": round(seconds * 1000, 1),
        },
    )


# --- shared steps ------------------------------------------------------------------------


async def _plan(body: dict[str, Any], ctx: CallContext) -> list[Candidate]:
    model = body.get("model") or ""
    ctx.draft.requested_model = model
    try:
        return await routing.aselect(model, limit=settings.GATEWAY_MAX_ATTEMPTS)
    except RoutingError as exc:
        raise GatewayError(
            exc.status,
            exc.message,
            code=exc.reason,
            type="invalid_request_error",
            param="model",
        ) from exc


def _begin_attempt(ctx: CallContext, candidate: Candidate, attempt: int) -> None:
    draft = ctx.draft
    draft.attempts = attempt
    draft.provider = candidate.provider.name
    draft.provider_id = candidate.provider.id
    draft.model = candidate.model
    draft.route = candidate.route_name or ""


def _estimate_tokens(text_length: int) -> int:
    return max(1, text_length // CHARS_PER_TOKEN) if text_length else 0


def estimated_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough count of the prompt's tokens, before any upstream has counted them."""
    return _estimate_tokens(_prompt_length(body))


def _prompt_length(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(part.get("text", "")) for part in content if isinstance(part, dict))
    return total


def _apply_usage(
    ctx: CallContext, reported: dict[str, Any] | None, body: dict[str, Any], completion_chars: int
) -> None:
    draft = ctx.draft
    if reported and (reported.get("prompt_tokens") or reported.get("completion_tokens")):
        draft.prompt_tokens = int(reported.get("prompt_tokens") or 0)
        draft.completion_tokens = int(reported.get("completion_tokens") or 0)
        draft.cache_read_tokens, draft.cache_write_tokens = cache_tokens(reported)
        draft.estimated = False
        return
    draft.prompt_tokens = _estimate_tokens(_prompt_length(body))
    draft.completion_tokens = _estimate_tokens(completion_chars)
    draft.estimated = True


def cache_tokens(reported: dict[str, Any]) -> tuple[int, int]:
    """(read, write) prompt-cache tokens of an OpenAI usage object: `cached_tokens`, and
    `cache_write_tokens` as OpenRouter and the anthropic adapter report cache creation."""
    details = reported.get("prompt_tokens_details")
    if not isinstance(details, dict):
        return 0, 0
    return int(details.get("cached_tokens") or 0), int(details.get("cache_write_tokens") or 0)


def _text_length(payload: dict[str, Any], part: str = "message") -> int:
    """Characters of text and tool arguments in a completion ("message") or a chunk
    ("delta"), for estimating tokens when the upstream reports none."""
    total = 0
    for choice in payload.get("choices") or []:
        message = choice.get(part) or {}
        total += len(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            total += len((call.get("function") or {}).get("arguments") or "")
    return total


async def _finish_cancelled(ctx: CallContext) -> None:
    ctx.draft.status = "cancelled"
    # Cancelled by the client going away, or by this worker's stop once its grace ended.
    ctx.draft.error_code = ctx.draft.error_code or drain.reason or "client_disconnected"
    await asyncio.shield(ctx.arecord())


# --- non-streaming -----------------------------------------------------------------------


async def complete(body: dict[str, Any], ctx: CallContext) -> Completion:
    """One chat completion with failover. Raises GatewayError when no attempt succeeds."""
    ctx.draft.stream = False
    try:
        completion = await _complete(body, ctx)
    except GatewayError as error:
        ctx.fail(error)
        await ctx.arecord()
        raise
    except asyncio.CancelledError:
        await _finish_cancelled(ctx)
        raise
    if not ctx.batch_record:  # /v1 records once the response is sent (chat.api)
        await ctx.arecord()
        completion.usage = ctx.usage()
    return completion


async def _complete(body: dict[str, Any], ctx: CallContext) -> Completion:
    result, candidate, attempt = await _run_attempts(
        body, ctx, lambda candidate, attempt: _try_complete(body, candidate)
    )
    _apply_usage(ctx, result.get("usage"), body, _text_length(result))
    result["model"] = candidate.model
    return Completion(
        response=result,
        provider=candidate.provider.name,
        model=candidate.model,
        attempts=attempt,
        usage=ctx.usage(),
    )


def _upstream_request(candidate: Candidate, body: dict[str, Any], stream: bool) -> Any:
    adapter = adapters.for_kind(candidate.provider.kind)
    request = adapter.build_request(
        base_url=candidate.provider.base_url,
        api_key=candidate.provider.api_key,
        model=candidate.model,
        body=body,
        stream=stream,
    )
    return adapter, request


def _choices_wanted(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


async def _fan_out(body: dict[str, Any], candidate: Candidate, n: int) -> dict[str, Any]:
    """n > 1 for a format without `n` (Anthropic): n calls at once, merged into one
    completion whose usage is what the n calls cost together."""
    single = {**body, "n": 1}
    results = await asyncio.gather(*(_try_complete(single, candidate) for _ in range(n)))
    merged = dict(results[0])
    merged["choices"] = [
        {**(result.get("choices") or [{}])[0], "index": index}
        for index, result in enumerate(results)
    ]
    totals: dict[str, int] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for result in results:
        for name in totals:
            totals[name] += int((result.get("usage") or {}).get(name) or 0)
    merged["usage"] = totals
    return merged


async def _try_complete(body: dict[str, Any], candidate: Candidate) -> dict[str, Any]:
    """One non-streaming attempt. Raises UpstreamError."""
    n = _choices_wanted(body)
    if n > 1 and not adapters.for_kind(candidate.provider.kind).supports_n:
        return await _fan_out(body, candidate, n)
    adapter, request = _upstream_request(candidate, body, stream=False)
    try:
        async with get_session().post(
            request.url, json=request.json, headers=request.headers, allow_redirects=False
        ) as response:
            refuse_redirect(response, candidate.provider.name)
            content = await read_capped(response, candidate.provider.name)
    except TRANSPORT_ERRORS as exc:
        raise _transport_error(exc, candidate.provider.name) from exc
    if response.status >= 400:
        raise adapter.classify_error(response.status, content, response.headers)
    try:
        payload = orjson.loads(content)
    except ValueError as exc:
        raise UpstreamError(
            502,
            f"{candidate.provider.name} sent an unreadable response.",
            code="upstream_invalid_response",
            retryable=True,
        ) from exc
    return adapter.parse_response(payload, model=candidate.model)


async def _run_attempts(
    body: dict[str, Any],
    ctx: CallContext,
    attempt_once: Callable[[Candidate, int], Awaitable[T]],
    keep: Keep | None = None,
) -> tuple[T, Candidate, int]:
    """Try the routing engine's candidates in order until one succeeds or a failure is not
    worth retrying. Returns the result with the candidate and attempt number that made it."""
    candidates = await _plan(body, ctx)
    if keep is not None:
        candidates = await keep(candidates)
    if ctx.admit is not None:
        await ctx.admit(candidates)
    last_failure: UpstreamError | None = None
    for attempt, candidate in enumerate(candidates, start=1):
        _begin_attempt(ctx, candidate, attempt)
        started = time.perf_counter()
        failure: UpstreamError | None = None
        with tracing.attempt_span(candidate.provider.name, candidate.model, attempt) as span:
            try:
                result = await attempt_once(candidate, attempt)
            except UpstreamError as error:
                failure = await _scrubbed(error)
                tracing.set_outcome(span, failure.code)
            else:
                tracing.set_outcome(span, "ok")
        elapsed = time.perf_counter() - started
        ctx.upstream_seconds += elapsed
        outcome = failure.code if failure else "ok"
        _log_attempt(candidate, attempt, outcome, elapsed)
        metrics.record_attempt(candidate.provider.name, candidate.model, outcome, elapsed)
        if failure is None:
            _on_success(candidate, int(elapsed * 1000))
            return result, candidate, attempt
        last_failure = failure
        await _on_failure(candidate, failure)
        if not failure.retryable:
            break
    assert last_failure is not None  # the engine returns at least one candidate or raises
    raise _client_error(last_failure)


# --- streaming ---------------------------------------------------------------------------


def _has_content(chunk: dict[str, Any]) -> bool:
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if (
            delta.get("content")
            or delta.get("tool_calls")
            or delta.get("reasoning_content")
            or choice.get("finish_reason")
        ):
            return True
    return False


class Stream:
    """An open upstream stream that has produced its first content.

    Iterating yields OpenAI chat.completion.chunk dicts as they arrive and raises
    GatewayError when the upstream fails mid-stream. `aclose()` must always be called: it
    closes the upstream (cancelling it when the caller stops early) and writes the usage
    record.
    """

    def __init__(
        self,
        ctx: CallContext,
        candidate: Candidate,
        attempt: int,
        response: aiohttp.ClientResponse,
        chunks: AsyncIterator[list[dict[str, Any]]],
        translator: Any,
        pending: list[dict[str, Any]],
        body: dict[str, Any],
    ) -> None:
        self.ctx = ctx
        self.provider = candidate.provider.name
        self.model = candidate.model
        self.attempts = attempt
        self.error: GatewayError | None = None
        self._candidate = candidate
        self._response = response
        self._chunks = chunks
        self._translator = translator
        self._pending = pending
        self._body = body
        self._chars = sum(_text_length(c, "delta") for c in pending)
        self._finished = False
        self._closed = False
        self._interrupted = ""  # why Switchboard ended the stream itself (lifecycle.draining)
        drain.open(self)

    @property
    def usage(self) -> Usage:
        return self.ctx.usage()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for chunk in batch:
                yield chunk

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The chunks of each upstream network read together, as soon as it arrives:
        events that arrived together can leave in one write."""
        pending, self._pending = self._pending, []
        if pending:
            yield pending
        try:
            async for batch in self._chunks:
                self._chars += sum(_text_length(chunk, "delta") for chunk in batch)
                yield batch
        except (*TRANSPORT_ERRORS, UpstreamError) as exc:
            self.error = self._interruption() or self._mid_stream_error(exc)
            if isinstance(self.error, UpstreamError):
                await _scrubbed(self.error)
            raise self.error from None  # the cause may quote the upstream unscrubbed
        interruption = self._interruption()
        if interruption is not None:
            self.error = interruption
            raise interruption
        if not self._translator.done:
            self.error = GatewayError(
                502,
                f"{self.provider} ended the stream before it was complete.",
                code="upstream_stream_incomplete",
                type="upstream_error",
            )
            raise self.error
        self._finished = True

    def interrupt(self, code: str) -> None:
        """End the stream from outside (this worker is stopping): the upstream is closed,
        so the pending read ends and the client gets one error event with `code`."""
        if not self._finished and not self._closed:
            self._interrupted = code
            self._response.close()

    def _interruption(self) -> GatewayError | None:
        if not self._interrupted:
            return None
        why = "is restoring a backup" if self._interrupted == "maintenance" else "is shutting down"
        return GatewayError(
            503,
            f"Switchboard {why}; this stream was ended early. Retry the request.",
            code=self._interrupted,
            type="server_error",
        )

    def _mid_stream_error(self, exc: Exception) -> GatewayError:
        if isinstance(exc, UpstreamError):
            return exc
        return GatewayError(
            502,
            f"The connection to {self.provider} broke mid-stream.",
            code="upstream_stream_error",
            type="upstream_error",
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        drain.closed(self)
        try:
            if self._finished:
                self._response.release()  # back to the pool for the next request
            else:
                self._response.close()  # cancels the upstream: it sees the connection go
        finally:
            draft = self.ctx.draft
            _apply_usage(self.ctx, self._translator.usage, self._body, self._chars)
            if self._interrupted:  # not the provider's fault: no health penalty
                draft.status, draft.error_code = "cancelled", self._interrupted
            elif self.error is not None:
                self.ctx.fail(self.error)
                _failed_recently.add(self._candidate.provider.id)
                _spawn(_health().mark_failure, self._candidate.provider.id, self.error.code)
            elif not self._finished:
                draft.status, draft.error_code = "cancelled", "client_disconnected"
            await asyncio.shield(self.ctx.arecord())


async def _events(
    response: aiohttp.ClientResponse, translator: Any
) -> AsyncIterator[list[dict[str, Any]]]:
    """OpenAI chunks per network read of the upstream body."""
    parser = SSEParser()
    async for raw in response.content.iter_any():
        try:
            events = parser.feed(raw)
        except EventTooLarge as exc:
            raise UpstreamError(
                502, str(exc), code="upstream_event_too_large", retryable=True
            ) from exc
        chunks = [chunk for event in events for chunk in translator.feed(event)]
        if chunks:
            yield chunks
        if translator.done:
            return
    # A last event the server did not end with a blank line.
    chunks = [chunk for event in parser.close() for chunk in translator.feed(event)]
    if chunks:
        yield chunks


async def open_stream(body: dict[str, Any], ctx: CallContext) -> Stream:
    """Open a stream with failover before the first content. Raises GatewayError when no
    attempt gets that far (the usage record is then already written)."""
    ctx.draft.stream = True
    try:
        return await _open_stream(body, ctx)
    except GatewayError as error:
        ctx.fail(error)
        await ctx.arecord()
        raise
    except asyncio.CancelledError:
        await _finish_cancelled(ctx)
        raise


async def _open_stream(body: dict[str, Any], ctx: CallContext) -> Stream:
    stream, _, _ = await _run_attempts(
        body, ctx, lambda candidate, attempt: _try_stream(body, ctx, candidate, attempt)
    )
    ctx.draft.ttft_ms = int((time.perf_counter() - ctx.started) * 1000)
    return stream


async def _try_stream(
    body: dict[str, Any], ctx: CallContext, candidate: Candidate, attempt: int
) -> Stream:
    """Open the upstream stream and read up to its first content (or its end).
    Raises UpstreamError."""
    adapter, request = _upstream_request(candidate, body, stream=True)
    if _choices_wanted(body) > 1 and not adapter.supports_n:
        raise UpstreamError(
            400,
            f"n > 1 cannot be streamed from {candidate.provider.kind} providers",
            code="unsupported_parameter",
            type="invalid_request_error",
            param="n",
        )
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    response: aiohttp.ClientResponse | None = None
    try:
        response = await get_session().post(
            request.url, json=request.json, headers=request.headers, allow_redirects=False
        )
        refuse_redirect(response, candidate.provider.name)
        if response.status >= 400:
            content = await read_capped(response, candidate.provider.name)
            raise adapter.classify_error(response.status, content, response.headers)
        translator = adapter.stream_translator(model=candidate.model, include_usage=include_usage)
        chunks = _events(response, translator)
        pending: list[dict[str, Any]] = []
        # Hold back role-only and empty deltas: until real content arrives, failing over
        # is still invisible to the client.
        async for batch in chunks:
            pending.extend(batch)
            if any(_has_content(chunk) for chunk in batch):
                break
        else:
            if not translator.done:
                raise UpstreamError(
                    502,
                    f"{candidate.provider.name} ended the stream without an answer.",
                    code="upstream_stream_incomplete",
                    retryable=True,
                )
        return Stream(ctx, candidate, attempt, response, chunks, translator, pending, body)
    except TRANSPORT_ERRORS as exc:
        _close(response)
        raise _transport_error(exc, candidate.provider.name) from exc
    except BaseException:
        _close(response)
        raise


def _close(response: aiohttp.ClientResponse | None) -> None:
    """Drop the upstream connection: the upstream sees its client leave."""
    if response is not None:
        response.close()


def sse(data: dict[str, Any]) -> bytes:
    """One server-sent event. orjson: encoding every chunk again is the relay's main cost."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


# --- for the other dialects (chat/ingress) ----------------------------------------------


async def run_attempts(
    body: dict[str, Any],
    ctx: CallContext,
    attempt_once: Callable[[Candidate, int], Awaitable[T]],
    *,
    keep: Keep | None = None,
) -> tuple[T, Candidate, int]:
    """The one attempt loop, for an ingress that picks its own attempt per candidate (a
    passthrough or a translated call). As complete() and open_stream() do, the usage
    record is written here when no attempt succeeds or the client leaves."""
    try:
        return await _run_attempts(body, ctx, attempt_once, keep)
    except GatewayError as error:
        ctx.fail(error)
        await ctx.arecord()
        raise
    except asyncio.CancelledError:
        await _finish_cancelled(ctx)
        raise


async def try_complete(body: dict[str, Any], candidate: Candidate) -> dict[str, Any]:
    """One non-streaming attempt through the candidate's adapter (for run_attempts)."""
    return await _try_complete(body, candidate)


async def try_stream(
    body: dict[str, Any], ctx: CallContext, candidate: Candidate, attempt: int
) -> Stream:
    """One streaming attempt through the candidate's adapter, up to its first content."""
    return await _try_stream(body, ctx, candidate, attempt)


async def try_embed(body: dict[str, Any], candidate: Candidate) -> dict[str, Any]:
    """One embeddings attempt through the candidate's adapter. Raises UpstreamError."""
    adapter = adapters.for_kind(candidate.provider.kind)
    request = adapter.build_embeddings_request(
        base_url=candidate.provider.base_url,
        api_key=candidate.provider.api_key,
        model=candidate.model,
        body=body,
    )
    try:
        async with get_session().post(
            request.url, json=request.json, headers=request.headers, allow_redirects=False
        ) as response:
            refuse_redirect(response, candidate.provider.name)
            content = await read_capped(response, candidate.provider.name)
    except TRANSPORT_ERRORS as exc:
        raise _transport_error(exc, candidate.provider.name) from exc
    if response.status >= 400:
        raise adapter.classify_error(response.status, content, response.headers)
    try:
        payload = orjson.loads(content)
    except ValueError as exc:
        raise UpstreamError(
            502,
            f"{candidate.provider.name} sent an unreadable response.",
            code="upstream_invalid_response",
            retryable=True,
        ) from exc
    return adapter.parse_embeddings(payload, body=body)


def apply_completion_usage(
    ctx: CallContext, completion: dict[str, Any], body: dict[str, Any]
) -> None:
    """A translated non-streaming call's usage, as complete() applies it (an estimate when
    the upstream reported none)."""
    _apply_usage(ctx, completion.get("usage"), body, _text_length(completion))


def transport_error(exc: BaseException, provider: str) -> UpstreamError:
    return _transport_error(exc, provider)


def note_stream_failure(candidate: Candidate, error: GatewayError) -> None:
    """An upstream that broke after the first byte counts against its health, as in
    Stream.aclose()."""
    _failed_recently.add(candidate.provider.id)
    _spawn(_health().mark_failure, candidate.provider.id, error.code)
