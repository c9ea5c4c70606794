"""The model catalog: each provider's model list, with prices per token where known.

OpenRouter-format entries (any provider that answers in it) carry `pricing.prompt` and
`pricing.completion` as strings in USD per token, `context_length` and
`architecture.input_modalities`; other providers give ids (and maybe a display name)
only. A resync never erases what it was not told: prices set by hand survive.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from providers.health import RedirectRefused, Target, fetch_models, scrub
from providers.models import Kind, ModelInfo, Provider

FETCH_TIMEOUT_SECONDS = 30.0
PRICE_STEP = Decimal("0.000000000001")  # the column's 12 decimal places
PRICE_LIMIT = Decimal("99999999")  # 20 digits, 12 of them decimals
# OpenRouter resells first-party models as "<vendor>/<id>"; a direct provider publishing no
# price borrows that one (see price_for).
RESOLD_AS = {
    Kind.OPENAI.value: "openai/",
    Kind.ANTHROPIC.value: "anthropic/",
    Kind.GEMINI.value: "google/",
}
REASONING_HINT = re.compile(
    r"(^|[/:\-_.])(o1|o3|o4)([\-_.:]|$)|reason|thinking|(^|[/\-])r1([\-_.:]|$)|qwq",
    re.IGNORECASE,
)
VISION_HINT = re.compile(r"vision|(^|[\-_/])vl([\-_.:]|$)|gemini|gpt-4o|llava", re.IGNORECASE)


@dataclass(frozen=True)
class Listed:
    """One model as a provider listed it; None means "not said", so keep what we have."""

    model_id: str
    name: str | None = None
    context_length: int | None = None
    prompt_price: Decimal | None = None
    completion_price: Decimal | None = None
    cache_read_price: Decimal | None = None
    cache_write_price: Decimal | None = None
    supports_vision: bool | None = None
    is_reasoning: bool | None = None


@dataclass
class SyncReport:
    providers: int = 0
    models: int = 0
    created: int = 0
    updated: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "providers": self.providers,
            "models": self.models,
            "created": self.created,
            "updated": self.updated,
            "errors": self.errors,
        }


# --- parsing a /models payload ----------------------------------------------------------


def parse_price(value: Any) -> Decimal | None:
    """ "0.000003" → Decimal; OpenRouter's "-1" (price varies) and junk → unknown."""
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    if not price.is_finite() or price < 0 or price > PRICE_LIMIT:
        return None
    return price.quantize(PRICE_STEP, rounding=ROUND_HALF_UP)


def parse_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None


def entries_of(payload: Any) -> list[dict[str, Any]]:
    """OpenAI/OpenRouter/Anthropic answer {"data": [...]}, Gemini {"models": [...]}."""
    if isinstance(payload, dict):
        payload = payload.get("data", payload.get("models"))
    if not isinstance(payload, list):
        raise ValueError("the /models answer holds no model list")
    return [entry for entry in payload if isinstance(entry, dict)]


def model_id_of(entry: dict[str, Any]) -> str | None:
    raw = entry.get("id") or entry.get("name") or entry.get("model")
    if not isinstance(raw, str) or not raw.strip():
        return None
    model_id = raw.strip().removeprefix("models/")  # Gemini names are "models/<id>"
    return model_id[:200]


def parse_vision(entry: dict[str, Any]) -> bool | None:
    architecture = entry.get("architecture")
    if not isinstance(architecture, dict):
        return None
    modalities = architecture.get("input_modalities")
    if isinstance(modalities, list):
        return "image" in modalities
    modality = architecture.get("modality")  # older OpenRouter shape: "text+image->text"
    if isinstance(modality, str):
        return "image" in modality.split("->")[0]
    return None


def parse_reasoning(entry: dict[str, Any], model_id: str, name: str | None) -> bool | None:
    parameters = entry.get("supported_parameters")
    if isinstance(parameters, list):
        return bool({"reasoning", "include_reasoning"} & set(parameters)) or bool(
            REASONING_HINT.search(f"{model_id} {name or ''}")
        )
    return None


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_entry(entry: dict[str, Any]) -> Listed | None:
    model_id = model_id_of(entry)
    if model_id is None:
        return None
    methods = entry.get("supportedGenerationMethods")
    if isinstance(methods, list) and "generateContent" not in methods:
        return None  # Gemini embedding and other non-chat models
    raw_name = entry.get("name") if "id" in entry else None
    raw_name = raw_name or entry.get("display_name") or entry.get("displayName")
    name = raw_name.strip()[:200] if isinstance(raw_name, str) and raw_name.strip() else None
    pricing = mapping(entry.get("pricing"))
    top = mapping(entry.get("top_provider"))
    context = entry.get("context_length") or top.get("context_length")
    return Listed(
        model_id=model_id,
        name=name,
        context_length=parse_int(context or entry.get("inputTokenLimit")),
        prompt_price=parse_price(pricing.get("prompt")),
        completion_price=parse_price(pricing.get("completion")),
        cache_read_price=parse_price(pricing.get("input_cache_read")),
        cache_write_price=parse_price(pricing.get("input_cache_write")),
        supports_vision=parse_vision(entry),
        is_reasoning=parse_reasoning(entry, model_id, name),
    )


def parse_models(payload: Any) -> list[Listed]:
    listed: dict[str, Listed] = {}
    for entry in entries_of(payload):
        item = parse_entry(entry)
        if item is not None:
            listed.setdefault(item.model_id, item)
    return list(listed.values())


# --- fetching ----------------------------------------------------------------------------


async def fetch_one(client: httpx.AsyncClient, target: Target) -> Any:
    """The decoded /models payload, or an error sentence (never holding the key)."""
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
            response = await fetch_models(client, target)
    except (TimeoutError, httpx.TimeoutException):
        return FetchError("timed out")
    except (httpx.HTTPError, httpx.InvalidURL, RedirectRefused) as exc:
        return FetchError(scrub(f"{type(exc).__name__}: {exc}", target.api_key))
    if not response.is_success:
        return FetchError(scrub(f"HTTP {response.status_code}: {response.text}", target.api_key))
    try:
        return response.json()
    except json.JSONDecodeError:
        return FetchError("the /models answer is not JSON")


class FetchError(str):
    """A failed fetch, told apart from a payload that happens to be a string."""


async def fetch_all(targets: list[Target]) -> list[Any]:
    timeout = httpx.Timeout(FETCH_TIMEOUT_SECONDS, connect=settings.CONNECT_TIMEOUT_SECONDS)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        return list(await asyncio.gather(*(fetch_one(client, t) for t in targets)))


# --- storing -----------------------------------------------------------------------------


def apply_listed(row: ModelInfo, item: Listed) -> None:
    """Copy what the provider said onto the row; silence keeps the stored value."""
    if item.name:
        row.name = item.name
    elif not row.name:
        row.name = item.model_id
    if item.context_length is not None:
        row.context_length = item.context_length
    if item.prompt_price is not None and item.completion_price is not None:
        row.prompt_price, row.completion_price = item.prompt_price, item.completion_price
    if item.cache_read_price is not None:
        row.cache_read_price = item.cache_read_price
    if item.cache_write_price is not None:
        row.cache_write_price = item.cache_write_price
    if item.supports_vision is not None:
        row.supports_vision = item.supports_vision
    elif row.pk is None:
        row.supports_vision = bool(VISION_HINT.search(item.model_id))
    if item.is_reasoning is not None:
        row.is_reasoning = item.is_reasoning
    elif row.pk is None:
        row.is_reasoning = bool(REASONING_HINT.search(f"{item.model_id} {item.name or ''}"))


def store(provider: Provider, listed: list[Listed], report: SyncReport) -> None:
    # Models configured on the provider join the catalog too, so they can be priced by
    # hand even when the provider publishes no list.
    known = {item.model_id for item in listed}
    listed = listed + [Listed(model_id=m[:200]) for m in provider.models if m not in known]
    existing = {row.model_id: row for row in ModelInfo.objects.filter(provider=provider)}
    with transaction.atomic():
        for item in listed:
            row = existing.get(item.model_id) or ModelInfo(
                provider=provider, model_id=item.model_id
            )
            is_new = row.pk is None
            apply_listed(row, item)
            row.save()
            report.created += is_new
            report.updated += not is_new
    report.models += len(listed)


def sync_catalog(providers: list[Provider] | None = None) -> SyncReport:
    """Pull every active provider's model list (concurrently) into ModelInfo."""
    chosen = list(Provider.objects.filter(is_active=True)) if providers is None else providers
    payloads = async_to_sync(fetch_all)([Target.of(p) for p in chosen]) if chosen else []
    report = SyncReport()
    for provider, payload in zip(chosen, payloads, strict=True):
        listed: list[Listed] = []
        if isinstance(payload, FetchError):
            report.errors.append({"provider": provider.name, "detail": str(payload)})
        else:
            try:
                listed = parse_models(payload)
            except ValueError as exc:
                report.errors.append({"provider": provider.name, "detail": str(exc)})
            else:
                report.providers += 1
        store(provider, listed, report)
    return report


# --- reading -----------------------------------------------------------------------------


def priced(rows: Any) -> Any:
    return rows.filter(prompt_price__isnull=False, completion_price__isnull=False)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token; a cache price of None means "as an ordinary prompt token"."""

    prompt: Decimal
    completion: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None


def prices_for(provider_id: int, model_id: str) -> Price | None:
    """The catalog price of this provider's model, or None when unknown.

    A first-party provider (OpenAI, Anthropic, Gemini) that publishes no prices borrows
    the price OpenRouter lists for the same model ("openai/gpt-4o-mini"): same model,
    same list price. Self-hosted and other compatible servers never borrow.
    """
    row = priced(ModelInfo.objects.filter(provider_id=provider_id, model_id=model_id)).first()
    if row is None:
        kind = Provider.objects.filter(pk=provider_id).values_list("kind", flat=True).first()
        prefix = RESOLD_AS.get(kind) if kind else None
        if prefix:
            resold = ModelInfo.objects.filter(model_id=prefix + model_id)
            row = priced(resold).order_by("provider__name").first()
    if row is None:
        return None
    return Price(
        row.prompt_price, row.completion_price, row.cache_read_price, row.cache_write_price
    )


def price_for(provider_id: int, model_id: str) -> tuple[Decimal, Decimal] | None:
    """(prompt, completion) USD per token for this provider's model, or None when unknown."""
    price = prices_for(provider_id, model_id)
    return None if price is None else (price.prompt, price.completion)


# --- seeding -----------------------------------------------------------------------------

OPENROUTER_NAME = "openrouter"
OPENROUTER_URL = "https://openrouter.ai/api/v1"


def seed_openrouter(**kwargs: Any) -> Provider | None:
    """post_migrate: with OPENROUTER_API_KEY set, create the "openrouter" provider once.
    An existing one (maybe edited by hand since) is left alone."""
    if not settings.OPENROUTER_API_KEY:
        return None
    provider, _ = Provider.objects.get_or_create(
        name=OPENROUTER_NAME,
        defaults={
            "kind": Kind.OPENROUTER,
            "base_url": OPENROUTER_URL,
            "api_key": settings.OPENROUTER_API_KEY,
        },
    )
    return provider
