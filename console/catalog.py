"""What the console's model picker offers: active routes, then catalog and provider models.

Read-only over other apps' models; any logged-in user may see names and prices (never
keys or base URLs).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from providers.models import ModelInfo, Provider


def route_entries() -> list[dict[str, Any]]:
    try:
        route_model = apps.get_model("routing", "Route")
    except LookupError:  # routes land with the routing app's models
        return []
    routes = route_model.objects.filter(is_active=True).order_by("name")
    return [{"id": r.name, "kind": "route", "name": r.name} for r in routes]


def price(value: Any) -> float | None:
    return None if value is None else float(value)


def catalog_entry(info: ModelInfo) -> dict[str, Any]:
    return {
        "id": f"{info.provider.name}/{info.model_id}",
        "kind": "model",
        "name": info.name or info.model_id,
        "provider": info.provider.name,
        "context_length": info.context_length,
        "prompt_price": price(info.prompt_price),
        "completion_price": price(info.completion_price),
        "vision": info.supports_vision,
        "reasoning": info.is_reasoning,
        "free": info.is_free,
    }


def provider_entry(provider: Provider, model: str) -> dict[str, Any]:
    return {
        "id": f"{provider.name}/{model}",
        "kind": "model",
        "name": model,
        "provider": provider.name,
        "context_length": None,
        "prompt_price": None,
        "completion_price": None,
        "vision": False,
        "reasoning": False,
        "free": False,
    }


def picker_entries() -> list[dict[str, Any]]:
    entries = route_entries()
    active = Provider.objects.filter(is_active=True)
    infos = ModelInfo.objects.filter(provider__in=active).select_related("provider")
    seen: set[str] = set()
    for info in infos:
        entry = catalog_entry(info)
        seen.add(entry["id"])
        entries.append(entry)
    for provider in active:
        for model in provider.models:
            if f"{provider.name}/{model}" not in seen:
                entries.append(provider_entry(provider, model))
    return entries
