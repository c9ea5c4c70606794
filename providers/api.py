from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from config.auth import permitted
from providers import catalog, health
from providers.models import ModelInfo, Provider
from providers.schemas import (
    DirectProbeIn,
    HealthIn,
    ModelFilters,
    ModelInfoOut,
    ModelInfoPatch,
    ModelPage,
    ProbeOut,
    ProviderIn,
    ProviderOut,
    ProviderPatch,
    SyncOut,
)

router = Router(tags=["providers"], auth=permitted(Provider))
# Probing and the health override act on a provider: they need change_provider.
changing_provider = permitted(Provider, action="change")


def save_provider(provider: Provider) -> Provider:
    """Validate (unique name, URL, models) and save; a DjangoValidationError names the field."""
    provider.full_clean()
    provider.save()
    return provider


@router.get("", response=list[ProviderOut])
def list_providers(request: HttpRequest) -> list[Provider]:
    return list(Provider.objects.all())


@router.post("", response={201: ProviderOut})
def create_provider(request: HttpRequest, payload: ProviderIn) -> Status[Provider]:
    data = payload.dict()
    data["kind"] = data["kind"] or ""
    return Status(201, save_provider(Provider(**data)))


@router.get("/{int:provider_id}", response=ProviderOut)
def get_provider(request: HttpRequest, provider_id: int) -> Provider:
    return get_object_or_404(Provider, pk=provider_id)


@router.patch("/{int:provider_id}", response=ProviderOut)
def update_provider(request: HttpRequest, provider_id: int, payload: ProviderPatch) -> Provider:
    provider = get_object_or_404(Provider, pk=provider_id)
    changes = payload.dict(exclude_unset=True)
    if "kind" in changes:
        changes["kind"] = changes["kind"] or ""  # empty or null: detect it again on save
    if changes.get("base_url") is not None:
        provider.point_at(changes.pop("base_url"), changes.pop("api_key", None))
    for field, value in changes.items():
        if value is not None:
            setattr(provider, field, value)
    return save_provider(provider)


@router.delete("/{int:provider_id}", response={204: None})
def delete_provider(request: HttpRequest, provider_id: int) -> Status[None]:
    get_object_or_404(Provider, pk=provider_id).delete()
    return Status(204, None)


@router.post("/{int:provider_id}/test", response=ProbeOut, auth=changing_provider)
def test_provider(request: HttpRequest, provider_id: int) -> dict[str, Any]:
    provider = get_object_or_404(Provider, pk=provider_id)
    [(_, result)] = health.probe_providers([provider])
    return result.as_dict()


@router.post("/test-direct", response=ProbeOut, auth=changing_provider)
def test_direct(request: HttpRequest, payload: DirectProbeIn) -> dict[str, Any]:
    unsaved = Provider(
        name=payload.name, base_url=payload.base_url.rstrip("/"), api_key=payload.api_key
    )
    unsaved.kind = payload.kind or ""
    [result] = health.probe_now([health.Target.of(unsaved)])
    return result.as_dict()


@router.patch("/{int:provider_id}/health", response=ProviderOut, auth=changing_provider)
def override_health(request: HttpRequest, provider_id: int, payload: HealthIn) -> Provider:
    get_object_or_404(Provider, pk=provider_id)
    return health.set_health(provider_id, payload.is_healthy)


catalog_router = Router(tags=["models"], auth=permitted(ModelInfo))


def filter_models(filters: ModelFilters) -> QuerySet[ModelInfo]:
    rows = ModelInfo.objects.select_related("provider")
    if filters.search:
        rows = rows.filter(
            Q(model_id__icontains=filters.search) | Q(name__icontains=filters.search)
        )
    if filters.provider:
        rows = rows.filter(provider__name=filters.provider)
    for flag, column in (
        (filters.free, "is_free"),
        (filters.vision, "supports_vision"),
        (filters.reasoning, "is_reasoning"),
    ):
        if flag is not None:
            rows = rows.filter(**{column: flag})
    return rows


@catalog_router.get("", response=ModelPage)
def list_models(request: HttpRequest, filters: Query[ModelFilters]) -> dict[str, Any]:
    """Needs view_modelinfo; the console's picker reads /api/chat/models instead."""
    rows = filter_models(filters)
    page = rows[filters.offset : filters.offset + filters.limit]
    return {"items": list(page), "count": rows.count()}


@catalog_router.post("/sync", response=SyncOut, auth=permitted(ModelInfo, action="change"))
def sync_models(request: HttpRequest) -> dict[str, Any]:
    """Inline: a provider list is one request each, all concurrent."""
    return catalog.sync_catalog().as_dict()


# Fields a PATCH may clear with null (unknown again).
NULLABLE = (
    "prompt_price",
    "completion_price",
    "cache_read_price",
    "cache_write_price",
    "context_length",
)


@catalog_router.patch("/{int:model_pk}", response=ModelInfoOut)
def update_model(request: HttpRequest, model_pk: int, payload: ModelInfoPatch) -> ModelInfo:
    row = get_object_or_404(ModelInfo.objects.select_related("provider"), pk=model_pk)
    for field, value in payload.dict(exclude_unset=True).items():
        if value is not None or field in NULLABLE:
            setattr(row, field, value)
    row.full_clean()
    row.save()
    return row
