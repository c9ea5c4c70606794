from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from providers.models import Provider
from providers.schemas import ProviderIn, ProviderOut, ProviderPatch

router = Router(tags=["providers"])


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
    for field, value in changes.items():
        if value is not None:
            setattr(provider, field, value)
    return save_provider(provider)


@router.delete("/{int:provider_id}", response={204: None})
def delete_provider(request: HttpRequest, provider_id: int) -> Status[None]:
    get_object_or_404(Provider, pk=provider_id).delete()
    return Status(204, None)


catalog_router = Router(tags=["models"])
