"""Question answering over documents: retrieve, build a grounded prompt, ask the gateway.

The model sees only numbered excerpts and is told to cite them as [n]; citations in the
answer are mapped back to chunks. When retrieval finds nothing the model is not called
at all: an answer invented from nothing is worse than saying so.

Default model when the request names none: the first active route (by name), else the
first model of the first active provider (by name). Both go through the gateway, so
routing, failover and usage apply as for any request.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from ninja.errors import HttpError

from chat import limits, outbound
from chat.gateway import CallContext, GatewayError, Stream, complete, open_stream
from documents.retrieval import Hit, query_terms, search

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
    """A question with its retrieved context; `body` is None when nothing was found."""

    text: str
    hits: list[Hit]
    body: dict[str, Any] | None


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
    """The excerpts the answer cites as [n]; all excerpts given when it cites none."""
    cited: list[int] = []
    for group in _CITATION.findall(answer):
        for number in (int(part) for part in group.split(",")):
            if 1 <= number <= len(question.hits) and number not in cited:
                cited.append(number)
    numbers = cited or list(range(1, len(question.hits) + 1))
    terms = query_terms(question.text)
    return [citation(question.hits[number - 1], terms, number) for number in numbers]


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
    """`{answer, citations}`; raises GatewayError when the gateway cannot answer."""
    if question.body is None:
        return {"answer": NOTHING_FOUND, "citations": []}
    limits.admit_user(ctx, question.body)
    result = await complete(question.body, ctx)
    choices = result.response.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content") or ""
    return {
        "answer": text,
        "citations": citations(text, question),
        "model": result.model,
        "provider": result.provider,
    }


def http_error(exc: GatewayError) -> HttpError:
    """A failed answer for the console: the code's plain message; the detail to the log."""
    outbound.log_for_operator(exc, "documents question")
    return HttpError(exc.status, outbound.plain_message(exc))


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def relay(question: Question, stream: Stream | None) -> AsyncIterator[str]:
    """SSE for the console: `token`… then `citations`, `usage`, `done`; or `error`."""
    if stream is None:
        yield sse("token", {"text": NOTHING_FOUND})
        yield sse("citations", {"citations": []})
        yield sse("done", {"answer": NOTHING_FOUND, "citations": []})
        return
    parts: list[str] = []
    try:
        async for chunk in stream:
            delta = ((chunk.get("choices") or [{}])[0].get("delta") or {}).get("content")
            if delta:
                parts.append(delta)
                yield sse("token", {"text": delta})
    except GatewayError as exc:
        outbound.log_for_operator(exc, "documents question")
        yield sse("error", {"message": outbound.plain_message(exc), "code": exc.code})
        return
    finally:
        await stream.aclose()
    text = "".join(parts)
    cited = citations(text, question)  # chunks were loaded with their documents
    usage = stream.usage
    yield sse("citations", {"citations": cited})
    yield sse(
        "usage",
        {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": usage.cost_usd,
        },
    )
    yield sse("done", {"answer": text, "citations": cited, "model": stream.model})


async def open_answer_stream(question: Question, ctx: CallContext) -> Stream | None:
    """Open the upstream before the response starts, so a failure is still a status."""
    if question.body is None:
        return None
    body = {**question.body, "stream": True, "stream_options": {"include_usage": True}}
    limits.admit_user(ctx, body)
    return await open_stream(body, ctx)
