"""Gateway key checks for /v1 without a database read per request.

Active keys are held in an in-process table keyed by hash (coordination.versioned), rebuilt
when the change signal moves: an ApiKey saved or deleted in any process bumps it, so a new
key works and a revoked one stops working everywhere within about a second. Expiry is
checked against the clock on every request.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from chat.models import ApiKey, hash_key
from coordination import changes
from coordination.versioned import VersionedStore


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    name: str
    key_hash: str
    scopes: tuple[str, ...]
    budget_usd: Decimal | None
    rpm_limit: int | None
    expires_at: datetime | None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _load() -> dict[str, KeyInfo]:
    return {
        key.key_hash: KeyInfo(
            id=key.id,
            name=key.name,
            key_hash=key.key_hash,
            scopes=tuple(key.scopes),
            budget_usd=key.budget_usd,
            rpm_limit=key.rpm_limit,
            expires_at=key.expires_at,
        )
        for key in ApiKey.objects.filter(is_active=True)
    }


store: VersionedStore[dict[str, KeyInfo]] = VersionedStore(_load)


def bump() -> None:
    """Keys changed without a model signal (a queryset update): rebuild everywhere."""
    changes.bump()


@receiver(post_save, sender=ApiKey, dispatch_uid="chat.keys.saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="chat.keys.deleted")
def _key_changed(sender: type, **kwargs: Any) -> None:
    bump()


async def lookup(raw: str) -> KeyInfo | None:
    """The usable key matching `raw`, or None."""
    digest = hash_key(raw)
    info = (await store.acurrent()).get(digest)
    if info is None or not hmac.compare_digest(info.key_hash, digest):
        return None
    if info.expired(timezone.now()):
        return None
    return info
