"""POST /v1/embeddings (DESIGN.md "Other dialects"), for the openai SDK, litellm and RAG
tools. Admission is chat.api.admit; the one attempt loop (chat.gateway.run_attempts)
runs over the candidates that can embed: an adapter that embeds (not Anthropic's) and a
model the catalog says embeds (ModelInfo.can_embed, or an "embed" in its id when the
catalog has no row for it). A model none can embed is 400. Errors use OpenAI's shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Router

from chat import adapters, gateway
from chat.api import RecordedResponse, Refused, _headers, admit, error_response, request_id
from chat.errors import GatewayError
from chat.gateway import CallContext
from chat.ingress import embeddings as dialect
from routing.engine import Candidate

router = Router(tags=["openai"])


def _catalog(candidates: list[Candidate]) -> dict[tuple[int, str], bool]:
    from providers.models import ModelInfo

    rows = ModelInfo.objects.filter(
        provider_id__in={c.provider.id for c in candidates},
        model_id__in={c.model for c in candidates},
    ).values_list("provider_id", "model_id", "can_embed")
    return {(provider, model): embeds for provider, model, embeds in rows}


def _embeds(candidate: Candidate, catalog: dict[tuple[int, str], bool]) -> bool:
    from providers.catalog import EMBED_HINT

    if not adapters.for_kind(candidate.provider.kind).can_embed:
        return False
    known = catalog.get((candidate.provider.id, candidate.model))
    return known if known is not None else bool(EMBED_HINT.search(candidate.model))


async def embedding_candidates(candidates: list[Candidate]) -> list[Candidate]:
    catalog = await sync_to_async(_catalog)(candidates)
    kept = [c for c in candidates if _embeds(c, catalog)]
    if not kept:
        raise GatewayError(
            400,
            "No provider of this model can create embeddings.",
            code="model_cannot_embed",
            param="model",
        )
    return kept


def _apply_usage(ctx: CallContext, answer: dict[str, Any], body: dict[str, Any]) -> None:
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    draft = ctx.draft
    draft.completion_tokens = 0
    if usage and usage.get("prompt_tokens"):
        draft.prompt_tokens, draft.estimated = int(usage["prompt_tokens"]), False
    else:
        draft.prompt_tokens, draft.estimated = dialect.estimate_input_tokens(body), True
        answer["usage"] = {
            "prompt_tokens": draft.prompt_tokens,
            "total_tokens": draft.prompt_tokens,
        }


@router.post("/embeddings", auth=None)
async def embeddings(request: HttpRequest) -> HttpResponse:
    rid = request_id(request)
    try:
        admitted = await admit(
            request,
            source="embeddings",
            parse=dialect.parse_request,
            estimate=dialect.estimate_input_tokens,
        )
    except Refused as refused:
        return error_response(refused.error, rid, refused.ctx)
    ctx, body = admitted.ctx, admitted.body
    ctx.draft.stream = False

    async def attempt(candidate: Candidate, number: int) -> dict[str, Any]:
        return await gateway.try_embed(body, candidate)

    try:
        answer, candidate, attempts = await gateway.run_attempts(
            body, ctx, attempt, keep=embedding_candidates
        )
    except GatewayError as error:
        return error_response(error, rid, ctx)
    _apply_usage(ctx, answer, body)
    response = RecordedResponse(
        orjson.dumps(dialect.for_client(answer, body, candidate.model)), ctx
    )
    _headers(response, ctx, candidate.provider.name, candidate.model, attempts)
    return response
