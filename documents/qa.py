"""Question answering over documents: retrieve, build a grounded prompt, ask the gateway.

The model sees only numbered excerpts and is told to cite them as [n]; citations in the
answer are mapped back to chunks. When retrieval finds nothing the model is not called
at all: an answer invented from nothing is worse than saying so.

Default model when the request names none: the first active route (by name), else the
first model of the first active provider (by name). Both go through the gateway, so
routing, failover and usage apply as for any request.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps
from ninja.errors import HttpError

from chat import limits, outbound
from chat.gateway import CallContext, GatewayError, Stream, complete, open_stream
from console.models import MessageStatus
from documents.retrieval import Hit, query_terms, search
from documents.transcript import Transcript

TOP_K = 6
QUOTE_CHARS = 300
NOTHING_FOUND = (
    "I could not find anything about that in the selected documents, so I cannot answer from them."
)
SYSTEM_PROMPT = (
    "You answer questions using only the numbered excerpts from the user's documents. "
    "Cite every excerpt you rely on by its number in square brackets, like [1] or [2][3]. "
    "If the excerpts do not contain the answer, say that the documents do not say; "
    "never guess or use outside knowledge."
)

_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class Question:
    """A question with its retrieved context; `body` is None when nothing was found.
    With a `transcript` the question and its answer are kept in a console session."""

    text: str
    hits: list[Hit]
    body: dict[str, Any] | None
    transcript: Transcript | None = None


def default_model() -> str | None:
    Route = apps.get_model("routing", "Route")
    route = Route.objects.filter(is_active=True).order_by("name").values_list("name", flat=True)
    if first := route.first():
        return str(first)
    Provider = apps.get_model("providers", "Provider")
    for models in (
        Provider.objects.filter(is_active=True).order_by("name").values_list("models", flat=True)
    ):
        if models:
            return str(models[0])
    return None


def prepare(text: str, document_ids: Sequence[int], model: str) -> Question:
    hits = search(text, document_ids, k=TOP_K)
    if not hits:
        return Question(text, [], None)
    body = {"model": model, "messages": grounded_messages(text, hits), "temperature": 0.1}
    return Question(text, hits, body)


def grounded_messages(question: str, hits: list[Hit]) -> list[dict[str, str]]:
    excerpts = "\n\n".join(
        f"[{number}] ({hit.chunk.document.title}, {hit.chunk.page_or_section})\n{hit.chunk.text}"
        for number, hit in enumerate(hits, start=1)
    )
    user = f"Excerpts:\n\n{excerpts}\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def citations(answer: str, question: Question) -> list[dict[str, Any]]:
    """The excerpts the answer cites as [n]; all excerpts given when it cites none. One
    citation per distinct passage: overlapping chunks often yield the same sentence."""
    cited: list[int] = []
    for group in _CITATION.findall(answer):
        for number in (int(part) for part in group.split(",")):
            if 1 <= number <= len(question.hits) and number not in cited:
                cited.append(number)
    numbers = cited or list(range(1, len(question.hits) + 1))
    terms = query_terms(question.text)
    found = [citation(question.hits[number - 1], terms, number) for number in numbers]
    return distinct_passages(found)


def distinct_passages(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first citation of each chunk and of each quote (compared without case, spacing
    or a cut-off mark)."""
    chunks: set[int] = set()
    quotes: set[str] = set()
    kept = []
    for item in found:
        quote = " ".join(item["quote"].rstrip("…").lower().split())
        if item["chunk_id"] in chunks or quote in quotes:
            continue
        chunks.add(item["chunk_id"])
        quotes.add(quote)
        kept.append(item)
    return kept


def citation(hit: Hit, terms: list[str], number: int) -> dict[str, Any]:
    chunk = hit.chunk
    return {
        "number": number,
        "document_id": chunk.document_id,
        "document_title": chunk.document.title,
        "chunk_id": chunk.pk,
        "page_or_section": chunk.page_or_section,
        "page": chunk.page,
        "section": chunk.section,
        "quote": best_quote(chunk.text, terms),
    }


def best_quote(text: str, terms: list[str]) -> str:
    """The sentence mentioning most question terms (stem prefixes), cut to QUOTE_CHARS."""
    stems = [term[: max(4, len(term) - 2)] for term in terms]
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()] or [text]
    best = max(sentences, key=lambda s: sum(stem in s.lower() for stem in stems))
    return best if len(best) <= QUOTE_CHARS else best[: QUOTE_CHARS - 1].rstrip() + "…"


async def answer(question: Question, ctx: CallContext) -> dict[str, Any]:
    """`{answer, citations}`; raises GatewayError when the gateway cannot answer. With a
    transcript the answer, or the failure, is saved before this returns."""
    if question.body is None:
        await keep(question, NOTHING_FOUND)
        return {"answer": NOTHING_FOUND, "citations": [], **saved_ids(question)}
    try:
        limits.admit_user(ctx, question.body)
        result = await complete(question.body, ctx)
    except GatewayError as exc:
        await keep_failure(question, exc)
        raise
    choices = result.response.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content") or ""
    cited = citations(text, question)
    model, provider = result.model, result.provider
    await keep(question, text, citations=cited, model=model, provider=provider, usage=result.usage)
    return {
        "answer": text,
        "citations": cited,
        "model": model,
        "provider": provider,
        **saved_ids(question),
    }


async def keep(question: Question, text: str, **fields: Any) -> None:
    if question.transcript is not None:
        await sync_to_async(question.transcript.save)(text, **fields)


async def keep_failure(
    question: Question, exc: GatewayError, text: str = "", **fields: Any
) -> None:
    """The answer as far as it got, marked failed with the code and a plain message."""
    fields.update(error=outbound.plain_message(exc), error_code=exc.code)
    await keep(question, text, status=MessageStatus.ERROR, **fields)


def saved_ids(question: Question) -> dict[str, int]:
    return question.transcript.ids() if question.transcript is not None else {}


def http_error(exc: GatewayError) -> HttpError:
    """A failed answer for the console: the code's plain message; the detail to the log."""
    outbound.log_for_operator(exc, "documents question")
    return HttpError(exc.status, outbound.plain_message(exc))


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def relay(question: Question, stream: Stream | None) -> AsyncIterator[str]:
    """SSE for the console: `token`… then `citations`, `usage`, `done`; or `error`.

    With a transcript the answer is saved as it ends: complete, failed, or, when the client
    goes away mid-answer, stopped with what was said so far.
    """
    if stream is None:
        await keep(question, NOTHING_FOUND)
        yield sse("token", {"text": NOTHING_FOUND})
        yield sse("citations", {"citations": []})
        yield sse("done", {"answer": NOTHING_FOUND, "citations": [], **saved_ids(question)})
        return
    parts: list[str] = []
    try:
        try:
            async for chunk in stream:
                delta = ((chunk.get("choices") or [{}])[0].get("delta") or {}).get("content")
                if delta:
                    if question.transcript is not None:
                        question.transcript.first_token()
                    parts.append(delta)
                    yield sse("token", {"text": delta})
        except GatewayError as exc:
            outbound.log_for_operator(exc, "documents question")
            await stream.aclose()
            text = "".join(parts)
            await keep_failure(question, exc, text, model=stream.model, usage=stream.usage)
            yield sse("error", {**wire_error(exc), **saved_ids(question)})
            return
        await stream.aclose()  # the usage is final once closed
        text = "".join(parts)
        cited = citations(text, question)  # chunks were loaded with their documents
        usage = stream.usage
        fields = {"model": stream.model, "provider": stream.provider, "usage": usage}
        await keep(question, text, citations=cited, **fields)
        yield sse("citations", {"citations": cited})
        yield sse(
            "usage",
            {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": usage.cost_usd,
            },
        )
        done = {"answer": text, "citations": cited, "model": stream.model, **saved_ids(question)}
        yield sse("done", done)
    finally:
        # Also reached when the client goes away mid-answer (the task is being
        # cancelled): close the upstream and keep what was said, marked stopped.
        await asyncio.shield(stream.aclose())
        if question.transcript is not None and question.transcript.answer is None:
            stopped = {"status": MessageStatus.STOPPED, "model": stream.model}
            await asyncio.shield(keep(question, "".join(parts), usage=stream.usage, **stopped))


def wire_error(exc: GatewayError) -> dict[str, Any]:
    return {"message": outbound.plain_message(exc), "code": exc.code}


async def open_answer_stream(question: Question, ctx: CallContext) -> Stream | None:
    """Open the upstream before the response starts, so a failure is still a status."""
    if question.body is None:
        return None
    body = {**question.body, "stream": True, "stream_options": {"include_usage": True}}
    try:
        limits.admit_user(ctx, body)
        return await open_stream(body, ctx)
    except GatewayError as exc:
        await keep_failure(question, exc)
        raise
