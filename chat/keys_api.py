"""The keys API (/api/keys): provisioning, changing, rotating and revoking gateway keys.

Operators — holders of the ApiKey permission the method implies, superusers, admin-scope
keys — see and manage every key. Any other logged-in user manages only the keys they own
(self-service): `chat` scope only, at most MAX_KEYS_PER_USER active ones. A user's own
chat key is not accepted here (config.auth.AdminKey answers 403). The secret is in the
create and rotate responses only; every change moves the change signal, so /v1 follows
within about a second in every process.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, DecimalField, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status
from ninja.errors import AuthorizationError

from chat.models import ApiKey, Scope
from chat.schemas import KeyCreated, KeyIn, KeyOut, KeyPatch, RotateIn
from config.auth import holds, model_permission, user_auth

router = Router(tags=["keys"], auth=user_auth)

NOT_NULL = ("name", "scopes", "is_active")


def is_key_operator(request: HttpRequest, action: str) -> bool:
    return holds(request, model_permission(ApiKey, action))


def caller_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.id if user is not None and user.is_authenticated else None


def manageable(request: HttpRequest, action: str) -> QuerySet[ApiKey]:
    """Every key for an operator; one's own keys for anyone else (others' answer 404)."""
    keys = ApiKey.objects.select_related("owner").annotate(
        spent_usd=Coalesce(
            Sum("usage__cost_usd"), Value(0), output_field=DecimalField(max_digits=16)
        ),
        requests=Count("usage"),
    )
    if is_key_operator(request, action):
        return keys
    return keys.filter(owner_id=caller_id(request))


def out(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    data = {
        field: getattr(key, field)
        for field in KeyOut.model_fields
        if field not in ("owner", "spent_usd", "requests")
    }
    data["owner"] = key.owner.get_username() if key.owner_id and key.owner else None
    data["spent_usd"] = getattr(key, "spent_usd", 0) or 0
    data["requests"] = getattr(key, "requests", 0) or 0
    if secret is not None:
        data["key"] = secret
    return data


def self_service_checks(request: HttpRequest, scopes: list[str] | None, owner_id: Any) -> None:
    """What a user without ApiKey permissions may not do with their own keys."""
    if scopes is not None and set(scopes) != {Scope.CHAT}:
        raise AuthorizationError(message="scopes: your own keys have the 'chat' scope only.")
    if owner_id is not None and owner_id != caller_id(request):
        raise AuthorizationError(message="owner_id: your keys are yours; ask an operator.")


def check_cap(owner_id: int | None, excluding: int | None = None) -> None:
    if owner_id is None:
        return
    active = ApiKey.objects.filter(owner_id=owner_id, is_active=True)
    if excluding is not None:
        active = active.exclude(pk=excluding)
    if active.count() >= settings.MAX_KEYS_PER_USER:
        raise ValidationError(
            {
                "name": [
                    f"at most {settings.MAX_KEYS_PER_USER} active keys per user; revoke one first."
                ]
            }
        )


def check_owner(owner_id: int | None) -> None:
    if owner_id is not None and not get_user_model().objects.filter(pk=owner_id).exists():
        raise ValidationError({"owner_id": [f"no user with id {owner_id}."]})


def reloaded(request: HttpRequest, key: ApiKey) -> ApiKey:
    return manageable(request, "view").get(pk=key.pk) if key.pk else key


@router.get("", response=list[KeyOut])
def list_keys(request: HttpRequest) -> list[dict[str, Any]]:
    return [out(key) for key in manageable(request, "view")]


@router.post("", response={201: KeyCreated})
def create_key(request: HttpRequest, payload: KeyIn) -> Status[dict[str, Any]]:
    fields = payload.dict()
    if not is_key_operator(request, "add"):
        self_service_checks(request, fields["scopes"], fields["owner_id"])
        fields["owner_id"] = caller_id(request)
    check_owner(fields["owner_id"])
    check_cap(fields["owner_id"])
    key, raw = ApiKey.issue(**fields)
    return Status(201, out(reloaded(request, key), raw))


@router.get("/{int:key_id}", response=KeyOut)
def get_key(request: HttpRequest, key_id: int) -> dict[str, Any]:
    return out(get_object_or_404(manageable(request, "view"), pk=key_id))


@router.patch("/{int:key_id}", response=KeyOut)
def update_key(request: HttpRequest, key_id: int, payload: KeyPatch) -> dict[str, Any]:
    key = get_object_or_404(manageable(request, "change"), pk=key_id)
    changes = payload.dict(exclude_unset=True)
    for field in NOT_NULL:
        if field in changes and changes[field] is None:
            raise ValidationError({field: ["may not be null."]})
    if not is_key_operator(request, "change"):
        self_service_checks(request, changes.get("scopes"), changes.get("owner_id"))
        changes.pop("owner_id", None)
    check_owner(changes.get("owner_id"))
    owner_after = changes.get("owner_id", key.owner_id)
    active_after = changes.get("is_active", key.is_active)
    if active_after and (not key.is_active or owner_after != key.owner_id):
        check_cap(owner_after, excluding=key.pk)  # reactivated, or given to someone
    for field, value in changes.items():
        setattr(key, field, value)
    key.save()
    return out(reloaded(request, key))


@router.delete("/{int:key_id}", response={204: None})
def delete_key(request: HttpRequest, key_id: int) -> Status[None]:
    get_object_or_404(manageable(request, "delete"), pk=key_id).delete()
    return Status(204, None)


@router.post("/{int:key_id}/rotate", response=KeyCreated)
def rotate_key(request: HttpRequest, key_id: int, payload: RotateIn) -> dict[str, Any]:
    key = get_object_or_404(manageable(request, "change"), pk=key_id)
    raw = key.rotate(payload.grace_seconds)
    return out(reloaded(request, key), raw)
